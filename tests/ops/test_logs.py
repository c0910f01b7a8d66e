"""The log format (README "Logs"): one line per request with its fields, a request's lines sharing its
id, the id echoed on every response and taken from X-Request-ID only behind a trusted proxy, quiet
probes and idle runs, the worker's and the scheduler's lines bound to their item and run, werkzeug's
own request lines gone, and the redaction net."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import threading
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from werkzeug.serving import make_server

from tests.conftest import make_app
from volunteer_app import logs
from volunteer_app.extensions import db
from volunteer_app.scheduler.registry import Job, registered
from volunteer_app.scheduler.runner import run_due
from volunteer_app.settings import ConfigError, logging_settings
from volunteer_app.worker.runner import Worker

DEEP = '{"a": ' + "[" * 200 + "]" * 200 + "}"
HEX32 = re.compile(r"[0-9a-f]{32}")
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def by_request(lines: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for line in lines:
        grouped.setdefault(line.get("request_id"), []).append(line)
    return grouped


# ---- the request line --------------------------------------------------------------------------------


def test_one_line_per_request_with_its_fields(client, world, capture_logs):
    logged = capture_logs()
    order = client.post(
        "/api/v1/orders",
        json={
            "category_id": 1,
            "title": "陪老人散步",
            "address": "社区花园",
            "lat": 30.2705,
            "lng": 120.1705,
            "start_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "end_at": (datetime.now(UTC) + timedelta(days=1, hours=1)).isoformat(),
            "volunteers_needed": 1,
        },
        headers=world.resident.headers,
    )
    assert order.status_code == 201, order.json
    response = client.get(
        f"/api/v1/orders/{order.json['id']}?lat=30.2705&x=1", headers=world.resident.headers
    )
    assert response.status_code == 200
    posted, got = logged.requests()
    assert got["event"] == "request" and got["level"] == "info" and got["logger"] == "volunteer_app.request"
    assert ISO_UTC.fullmatch(got["time"])
    assert got["method"] == "GET" and got["status"] == 200
    assert got["route"] == "/api/v1/orders/<int:order_id>"  # the template: no id, no query string
    assert got["user_id"] == world.resident.id
    assert got["pid"] == os.getpid()
    assert isinstance(got["duration_ms"], float | int) and got["duration_ms"] >= 0
    assert got["request_id"] == response.headers["X-Request-ID"]
    assert HEX32.fullmatch(got["request_id"])
    assert (posted["method"], posted["route"], posted["status"]) == ("POST", "/api/v1/orders", 201)
    assert posted["request_id"] == order.headers["X-Request-ID"] != got["request_id"]
    assert "lat" not in logged.text and "x=1" not in logged.text


def test_a_requests_lines_share_its_id(client, world, capture_logs):
    logged = capture_logs()
    response = client.post(
        "/api/v1/orders", data=DEEP, content_type="application/json", headers=world.resident.headers
    )
    assert response.status_code == 400
    rid = response.headers["X-Request-ID"]
    lines = by_request(logged.lines())[rid]
    assert [line["logger"] for line in lines] == ["volunteer_app.bodies", "volunteer_app.request"]
    assert lines[0]["level"] == "warning" and lines[1]["status"] == 400
    assert set(by_request(logged.lines())) == {rid}  # no line of it without the id


def test_an_unexpected_error_logs_its_traceback_with_the_request_id(database_url, capture_logs):
    app = make_app(database_url, PROPAGATE_EXCEPTIONS=False)

    @app.get("/boom")
    def boom():
        raise RuntimeError("the view broke")

    logged = capture_logs()
    response = app.test_client().get("/boom?token=abc")
    assert response.status_code == 500 and response.json["error"] == "server.error"
    rid = response.headers["X-Request-ID"]
    lines = by_request(logged.lines())[rid]
    # Once (Flask's app.log_exception, before the error handler), not again by volunteer_app.errors.
    errors = [line for line in lines if line["level"] == "error"]
    assert len(errors) == 1 and "RuntimeError: the view broke" in errors[0]["exception"], errors
    assert "Traceback" in errors[0]["exception"]
    assert lines[-1]["event"] == "request" and lines[-1]["status"] == 500
    assert lines[-1]["level"] == "warning" and lines[-1]["route"] == "/boom"
    assert set(by_request(logged.lines())) == {rid}


def test_every_response_echoes_the_id_errors_and_304_included(client, world, capture_logs):
    logged = capture_logs()
    listed = client.get("/api/v1/orders", headers=world.resident.headers)
    etag = listed.headers["ETag"]
    answers = [
        listed,
        client.get("/api/v1/orders", headers={**world.resident.headers, "If-None-Match": etag}),
        client.get("/api/v1/orders"),  # 401
        client.get("/api/v1/no-such-thing"),  # 404
        client.delete("/healthz"),  # 405
        client.post("/api/v1/orders", data="x", content_type="text/plain", headers=world.resident.headers),
    ]
    assert [a.status_code for a in answers] == [200, 304, 401, 404, 405, 415]
    ids = [a.headers["X-Request-ID"] for a in answers]
    assert all(HEX32.fullmatch(i) for i in ids) and len(set(ids)) == len(ids)
    assert [(line["request_id"], line["status"]) for line in logged.requests()] == list(
        zip(ids, [200, 304, 401, 404, 405, 415], strict=True)
    )
    assert logged.requests()[3]["route"] is None  # an unknown URL: no template, and never the raw path


def test_an_incoming_id_is_ignored_without_a_trusted_proxy(client, capture_logs):
    logged = capture_logs()
    response = client.get("/api/v1/categories", headers={"X-Request-ID": "proxy-chosen-1"})
    assert response.headers["X-Request-ID"] != "proxy-chosen-1"
    assert HEX32.fullmatch(response.headers["X-Request-ID"])
    assert logged.requests()[0]["request_id"] == response.headers["X-Request-ID"]


@pytest.fixture
def proxied_app(database_url, monkeypatch):
    """The app behind one trusted proxy ([app] proxy_hops = 1)."""
    monkeypatch.setenv("VOLUNTEER_PROXY_HOPS", "1")
    return make_app(database_url)


@pytest.mark.parametrize(
    "incoming", ["3f2a9c1e-8b7d-4e6f-a1b2-c3d4e5f60718", "nginx.0a1b2c3d4e5f", "lb:42:7", "trace_9", "A" * 64]
)
def test_behind_a_trusted_proxy_its_id_is_used(proxied_app, capture_logs, incoming):
    logged = capture_logs()
    response = proxied_app.test_client().get("/api/v1/categories", headers={"X-Request-ID": incoming})
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == incoming
    assert logged.requests()[0]["request_id"] == incoming


@pytest.mark.parametrize(
    "incoming",
    [
        "A" * 65,  # too long
        "two words",
        'quoted"id',
        "line\\nbreak",
        "semi;colon",
        "",
        "编号1",
        "a,b",  # two proxies' values joined
    ],
)
def test_behind_a_trusted_proxy_a_bad_id_is_replaced(proxied_app, capture_logs, incoming):
    logged = capture_logs()
    response = proxied_app.test_client().get("/api/v1/categories", headers={"X-Request-ID": incoming})
    assert response.status_code == 200
    assert HEX32.fullmatch(response.headers["X-Request-ID"])
    assert logged.requests()[0]["request_id"] == response.headers["X-Request-ID"]


# ---- quiet by default --------------------------------------------------------------------------------


def test_probes_write_no_line_at_info(client, capture_logs):
    logged = capture_logs(level="INFO")
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
    assert logged.text == ""
    assert client.get("/api/v1/categories").status_code == 200  # (other requests do)
    assert [line["route"] for line in logged.requests()] == ["/api/v1/categories"]


def test_probes_are_seen_at_debug(client, capture_logs):
    logged = capture_logs(level="DEBUG")
    response = client.get("/readyz")
    assert [(line["route"], line["level"], line["request_id"]) for line in logged.requests()] == [
        ("/readyz", "debug", response.headers["X-Request-ID"])
    ]


def test_an_idle_worker_and_idle_scheduler_write_nothing(app, capture_logs):
    logged = capture_logs(level="INFO")
    with app.app_context():
        assert Worker(app).run_once() == 0
        sweeps = [job for job in registered().values() if job.cron == {"minute": "*"}]
        outcomes = run_due(datetime.now(UTC), jobs=sweeps)
    assert outcomes and {outcome for _job, _key, outcome in outcomes} == {"ran"}
    assert logged.text == "", logged.text


# ---- the worker and the scheduler --------------------------------------------------------------------


def test_a_work_item_is_followed_from_its_request_to_the_worker(app, client, world, capture_logs):
    logged = capture_logs(level="INFO")
    today = datetime.now(UTC).date()
    response = client.post(
        f"/api/v1/sites/{world.sites['S1']}/exports",
        json={
            "kind": "orders",
            "format": "csv",
            "from": (today - timedelta(days=30)).isoformat(),
            "to": today.isoformat(),
        },
        headers=world.mgr_s1.headers,
    )
    assert response.status_code == 202, response.json
    job_id = response.json["id"]
    rid = response.headers["X-Request-ID"]
    # The request's one line names the work it queued: no line of its own for it.
    (line,) = by_request(logged.lines())[rid]
    assert line["event"] == "request" and line["status"] == 202
    assert line["work_queued"] == [{"work_id": job_id, "work_kind": "exports.export"}]
    logged.clear()
    with app.app_context():
        assert Worker(app).run_once() >= 1
    mine = [line for line in logged.lines() if line.get("work_id") == job_id]
    assert mine and mine[-1]["event"].startswith(f"work {job_id} (") and mine[-1]["event"].endswith("done")
    assert {line["work_kind"] for line in mine} == {"exports.export"}
    assert all("request_id" not in line for line in logged.lines())  # the worker is no request


def test_work_queued_outside_a_request_or_its_line_gets_a_line_of_its_own(app, client, world, capture_logs):
    """Queued by the worker, the scheduler or a command: its own line. In a request whose line is not
    written at that level (the request logger set above INFO), its own line too, with the request id."""
    from volunteer_app.worker import queue

    logged = capture_logs(level="INFO")
    with app.app_context():
        item_id = queue.enqueue("exports.export", {"site_id": world.sites["S1"]})
        db.session.rollback()
    (line,) = logged.lines()
    assert line["event"] == f"work {item_id} (exports.export) queued"
    assert line["logger"] == "volunteer_app.worker.queue" and "request_id" not in line

    logged = capture_logs(level="INFO", levels={"volunteer_app.request": "WARNING"})
    try:
        today = datetime.now(UTC).date()
        response = client.post(
            f"/api/v1/sites/{world.sites['S1']}/exports",
            json={"kind": "orders", "format": "csv", "from": today.isoformat(), "to": today.isoformat()},
            headers=world.mgr_s1.headers,
        )
        assert response.status_code == 202, response.json
    finally:
        logging.getLogger("volunteer_app.request").setLevel(logging.NOTSET)
    (line,) = by_request(logged.lines())[response.headers["X-Request-ID"]]
    assert line["event"] == f"work {response.json['id']} (exports.export) queued"


def said(now: datetime) -> dict:
    logging.getLogger("tests.ops.job").info("working on it")
    return {"did": 1}


def test_a_job_runs_lines_carry_the_job_and_its_run(app, capture_logs):
    job = Job(
        id="test.logs",
        run=said,
        cron={"minute": "*"},
        catch_up=timedelta(minutes=5),
        coalesce=True,
        description="a job that says something",
    )
    logged = capture_logs(level="INFO")
    now = datetime.now(UTC)
    with app.app_context():
        [(_job, key, outcome)] = run_due(now, jobs=[job])
        assert outcome == "ran"
        run_due(now + timedelta(minutes=1), jobs=[job])
    lines = logged.lines()
    assert [line["event"] for line in lines[:2]] == ["working on it", lines[1]["event"]]
    assert lines[1]["event"].startswith(f"job test.logs occurrence {key} done")
    first = {(line["job"], line["occurrence"], line["run_id"]) for line in lines[:2]}
    assert first == {("test.logs", key, lines[0]["run_id"])}
    assert lines[2]["run_id"] != lines[0]["run_id"] and lines[2]["occurrence"] != key


# ---- formats and settings ----------------------------------------------------------------------------


def test_text_format_is_readable_and_has_no_colours_off_a_terminal(client, world, capture_logs):
    logged = capture_logs(fmt="text", level="INFO")
    response = client.get("/api/v1/me", headers=world.resident.headers)
    [line] = logged.text.splitlines()
    assert "\x1b[" not in logged.text
    assert line.startswith(datetime.now(UTC).strftime("%Y-%m-%dT"))
    assert "[info" in line and "request" in line and "[volunteer_app.request]" in line
    assert f"request_id={response.headers['X-Request-ID']}" in line
    assert "route=/api/v1/me" in line and "status=200" in line and f"user_id={world.resident.id}" in line


def test_the_format_follows_the_environment():
    assert logging_settings({"VOLUNTEER_ENV": "production"})["format"] == "json"
    assert logging_settings({})["format"] == "text"
    assert (
        logging_settings({"VOLUNTEER_ENV": "production", "VOLUNTEER_LOG_FORMAT": "text"})["format"] == "text"
    )
    assert logging_settings({"VOLUNTEER_LOG_LEVEL": "debug"})["level"] == "DEBUG"
    with pytest.raises(ConfigError, match="format"):
        logging_settings({"VOLUNTEER_LOG_FORMAT": "xml"})
    with pytest.raises(ConfigError, match="level"):
        logging_settings({"VOLUNTEER_LOG_LEVEL": "loud"})


def test_the_development_server_writes_no_request_line_of_its_own(app, capture_logs):
    """werkzeug's server (`flask run`) would write the full query string (coordinates, tokens) in colour;
    only the app's line is written."""
    logged = capture_logs(level="INFO")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/api/v1/categories?lat=30.27051&token=tok-123"
        with urllib.request.urlopen(url, timeout=10) as answer:
            assert answer.status == 200
            rid = answer.headers["X-Request-ID"]
    finally:
        server.shutdown()
        thread.join()
    assert [(line["route"], line["request_id"]) for line in logged.requests()] == [
        ("/api/v1/categories", rid)
    ]
    assert [line for line in logged.lines() if line["logger"] == "werkzeug"] == []
    assert "30.27051" not in logged.text and "tok-123" not in logged.text and "\x1b[" not in logged.text


def test_gunicorn_sends_its_error_log_through_the_app_and_has_no_access_log(monkeypatch, tmp_path):
    # Reading gunicorn's settings prepares the metrics directory and names it in the environment, as the
    # master must before the app loads: here in a directory of the test's own, forgotten afterwards (a
    # PROMETHEUS_MULTIPROC_DIR left set would put this process's /metrics in multiprocess mode).
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setenv("VOLUNTEER_METRICS_DIR_OWNER", "0")
    config = logs.gunicorn_logconfig()
    assert config["loggers"]["gunicorn.access"] == {"level": "CRITICAL", "handlers": [], "propagate": False}
    assert config["loggers"]["gunicorn.error"]["propagate"] is True
    made = logs.gunicorn_handler()
    assert isinstance(made.formatter, structlog.stdlib.ProcessorFormatter)
    from volunteer_app.config import gunicorn

    assert gunicorn.logconfig_dict == config and not hasattr(gunicorn, "accesslog")
    # … and the logger builds no access-log line for a request either (gunicorn would, given a
    # logconfig_dict, only for "gunicorn.access" to drop it).
    from gunicorn.config import Config

    cfg = Config()
    cfg.set("logger_class", gunicorn.logger_class)
    assert cfg.logger_class is gunicorn.NoAccessLogger
    logger = object.__new__(gunicorn.NoAccessLogger)  # (not set up: that would reconfigure this process)
    assert logger.access_log_enabled is False

    def atoms(*_args):
        raise AssertionError("access-log fields built")

    monkeypatch.setattr(logger, "atoms", atoms)
    assert logger.access(None, None, {}, None) is None


# ---- redaction ---------------------------------------------------------------------------------------


def test_redaction_masks_what_a_log_call_should_never_have_written(capture_logs):
    logged = capture_logs(level="INFO")
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMiJ9.c2lnbmF0dXJlLXdvdWxkLWJlLWhlcmU"
    log = logging.getLogger("tests.ops.leaky")
    log.warning(
        "user 13912345678 (+8613812345678, +447911123456) id 11010119900307123X at 30.274084,120.155070 "
        "sent Bearer %s to https://api.example.cn/x?appid=wx1&secret=s3cr3t&js_code=c0de; password=hunter2 "
        "body {'sms_code': '493817', 'lat': 30.27}",
        jwt,
        extra={"password": "hunter2", "lat": 30.274084, "phone": "13912345678", "nested": {"token": jwt}},
    )
    try:
        raise ValueError(f"refresh {jwt} for 13912345678")
    except ValueError:
        log.exception("failed")
    text = logged.text
    for secret in (
        jwt,
        "13912345678",
        "8613812345678",
        "447911123456",
        "11010119900307123X",
        "30.274084",
        "120.155070",
        "s3cr3t",
        "c0de",
        "hunter2",
        "493817",
        "30.27}",
    ):
        assert secret not in text, secret
    first, second = logged.lines()
    assert "139****5678" in first["event"] and "+86138****5678" in first["event"]
    assert first["password"] == first["lat"] == first["nested"]["token"] == "[redacted]"
    assert first["phone"] == "139****5678"
    assert "refresh [token] for 139****5678" in second["exception"]
    # Things that look like nothing secret are left alone.
    log.info("order 12 done in 0.53s at 2026-12-05T22:11:38.123456Z; hash ab12cd34ef")
    assert (
        logged.lines()[-1]["event"]
        == "order 12 done in 0.53s at 2026-12-05T22:11:38.123456Z; hash ab12cd34ef"
    )


def _records() -> list[logging.LogRecord]:
    """Plain standard-library records of every shape the app writes (the request line, a message with
    arguments, secrets in the text, in extras and nested in them, non-ASCII, a custom level), and
    what takes the chain's own way (a traceback, a stack)."""
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMiJ9.c2lnbmF0dXJlLXdvdWxkLWJlLWhlcmU"

    def record(name, level, msg, args=(), extra=None, exc_info=None, sinfo=None):
        return logging.getLogger(name).makeRecord(
            name, level, "f.py", 1, msg, args, exc_info, extra=extra, sinfo=sinfo
        )

    try:
        raise ValueError(f"refresh {jwt} for 13912345678")
    except ValueError:
        import sys

        failure = sys.exc_info()
    return [
        record(
            "volunteer_app.request",
            logging.INFO,
            "request",
            extra={
                "method": "GET",
                "route": "/api/v1/orders/<int:order_id>",
                "status": 200,
                "duration_ms": 1.2,
            },
        ),
        record(
            "volunteer_app.worker.queue",
            logging.INFO,
            "work %s (%s) queued",
            (1023, "notifications.managers"),
        ),
        record("tests.leaky", logging.WARNING, "user 13912345678 sent Bearer %s at 30.274084", (jwt,)),
        record(
            "tests.leaky",
            logging.ERROR,
            "志愿者 %s",
            ("张三",),
            extra={"password": "x", "nested": {"token": jwt, "n": [1, "13812345678"]}, "lat": 30.1, "pid": 0},
        ),
        record("tests.custom", 15, "a custom level"),
        record("tests.leaky", logging.WARNING, "warned", extra={"event": "not the event", "request_id": "x"}),
        record("tests.leaky", logging.ERROR, "failed", exc_info=failure),
        record("tests.leaky", logging.INFO, "with a stack", sinfo="Stack (most recent call last):\n  here"),
    ]


def test_a_plain_records_json_line_is_the_chains_line(monkeypatch):
    """logs._Formatter writes a plain record's JSON line in one step; it must be exactly the line the
    processor chain writes (the same fields, values, redaction and order), with request context bound."""
    fast, chain = logs.formatter("json"), logs.formatter("json")
    chain.fast_json = False
    monkeypatch.setattr(logging, "_srcfile", None)
    with structlog.contextvars.bound_contextvars(request_id="abc123", work_id=7):
        for record in _records():
            assert fast.format(record) == chain.format(record), record.msg
        line = json.loads(fast.format(_records()[0]))
        # … and the plain ones (all but the traceback and the stack) did not go through the chain.
        through_chain = []
        chain_format = structlog.stdlib.ProcessorFormatter.format
        monkeypatch.setattr(
            structlog.stdlib.ProcessorFormatter,
            "format",
            lambda self, record: through_chain.append(record.msg) or chain_format(self, record),
        )
        for record in _records():
            fast.format(record)
        assert through_chain == ["failed", "with a stack"]
    assert list(line)[:4] == ["time", "level", "logger", "event"]
    assert line["request_id"] == "abc123" and line["work_id"] == 7 and line["route"].startswith("/api/")


def test_a_fresh_handler_writes_to_the_current_stderr(monkeypatch):
    """Test runners and servers swap sys.stderr after start-up: the default handler follows it."""
    made = logs.handler({"format": "json", "level": "INFO"})
    later = io.StringIO()
    monkeypatch.setattr("sys.stderr", later)
    made.emit(logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None))
    assert json.loads(later.getvalue())["event"] == "hello"


def test_the_console_sms_sender_prints_codes_in_development_only(app, capsys, monkeypatch, capture_logs):
    """The development sender shows the code on purpose (stdout, never the log); in production nothing."""
    from volunteer_app.auth.sms import ConsoleSender

    logged = capture_logs(level="DEBUG")
    with app.app_context():
        ConsoleSender().send_login_code("+8613912345678", "482913")
        assert capsys.readouterr().out == "[sms] login code for +86139****5678: 482913\n"
        monkeypatch.setitem(app.config, "ENV_NAME", "production")
        ConsoleSender().send_login_code("+8613912345678", "482913")
        assert capsys.readouterr().out == ""
    assert "482913" not in logged.text
