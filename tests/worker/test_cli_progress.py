"""The long CLI commands report progress: a bar in a terminal, plain lines elsewhere (here: the test
runner is not a terminal). `flask timebank verify` through verify's progress callback."""

from __future__ import annotations

from tests.support import credit, make_user
from volunteer_app.timebank.verify import LATER_CHECKS, verify


def test_verify_reports_its_progress_up_to_the_whole(app, world):
    people = [make_user(app, name=f"志愿者{i}") for i in range(3)]
    for i, person in enumerate(people * 2):
        credit(app, person, world.sites["S1"], 30, key=f"progress:{i}")
    told = []
    with app.app_context():
        report = verify(batch=2, progress=lambda done, total: told.append((done, total)))
    assert report.ok and report.transfers >= 6
    total = report.last_transfer_id + LATER_CHECKS
    assert {t for _d, t in told} == {total}
    assert [d for d, _t in told] == sorted(d for d, _t in told)  # never backwards
    assert told[-1] == (total, total)
    assert len(told) >= 3 + LATER_CHECKS  # the chain moved it before the other checks did


def test_the_verify_command_prints_plain_progress_lines(app, world):
    credit(app, make_user(app, name="志愿者"), world.sites["S1"], 30, key="progress:cli")
    result = app.test_cli_runner().invoke(args=["timebank", "verify"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("verifying: ")]
    assert lines and lines[-1].split(": ")[1].split("/")[0] == lines[-1].split("/")[1], lines
