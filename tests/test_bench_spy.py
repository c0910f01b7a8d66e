"""bench/spy.py's report: py-spy's collapsed stacks summed into shares (the sampling itself needs a
server, wrk and ptrace rights, and is not run here)."""

from bench.spy import report


def test_report_sums_stacks_into_inclusive_own_and_package_shares(tmp_path):
    raw = tmp_path / "stacks.raw"
    raw.write_text(
        'process 1:"gunicorn";handle (gunicorn/workers/sync.py:175);'
        "load_principal (/work/volunteer_app/accounts/principal.py:120);"
        "execute (/venv/lib/python3.11/site-packages/psycopg/cursor.py:100) 3\n"
        'process 2:"gunicorn";handle (gunicorn/workers/sync.py:180);'
        "_request_line (/work/volunteer_app/logs.py:115) 1\n"
        "not a line\n"
    )
    text = report(raw, top=10)
    assert text.startswith("4 samples")
    inclusive, own, packages = text.split("\n\n")[1:4]
    assert "100.0 %  handle (gunicorn/workers/sync.py)" in inclusive  # both lines of its stack, once each
    assert " 75.0 %  load_principal (/work/volunteer_app/accounts/principal.py)" in inclusive
    assert "process" not in inclusive.split("\n", 1)[1]
    assert " 75.0 %  execute (/venv/lib/python3.11/site-packages/psycopg/cursor.py:100)" in own
    assert " 75.0 %  psycopg" in packages and " 25.0 %  volunteer_app" in packages


def test_report_without_samples_says_why(tmp_path):
    raw = tmp_path / "stacks.raw"
    raw.write_text("")
    assert report(raw, top=5).startswith("no samples")
