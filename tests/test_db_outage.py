"""A database outage is a clean 503: every API answer stays JSON in the one error format, every failure is
503 `server.unavailable` with `Retry-After`, and the service recovers by itself when the database returns.

Unit tests (both databases) make the driver fail inside a request: in a view, in the token loader, in an
after_request hook, and in the session cleanup at teardown (which escapes Flask's error handling).
The outage test stops a throwaway PostgreSQL cluster of its own under gunicorn and a stream of requests.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

from tests import pg_cluster
from volunteer_app.db import is_outage
from volunteer_app.extensions import db

ROOT = Path(__file__).resolve().parent.parent


# ---- unit level: the driver fails inside a request ----


def _dialect(app):
    with app.app_context():
        return db.engine.dialect


def _dead_connection_error(dialect) -> Exception:
    """What the driver raises on a connection whose database went away: psycopg's client-side
    OperationalError (no SQLSTATE), sqlite3's error for a closed database."""
    if dialect.name == "postgresql":
        return dialect.loaded_dbapi.OperationalError("consuming input failed: server closed the connection")
    return dialect.loaded_dbapi.ProgrammingError("Cannot operate on a closed database.")


@contextlib.contextmanager
def _failing(app, method: str, times: int = 10**6):
    """Make the dialect's `method` (do_execute, do_rollback) raise the driver's own error for a dead
    connection `times` times."""
    dialect = _dialect(app)
    calls = {"failed": 0}

    def fail(*_args, **_kwargs):
        if calls["failed"] < times:
            calls["failed"] += 1
            raise _dead_connection_error(dialect)
        return original(*_args, **_kwargs)

    original = getattr(dialect, method)
    setattr(dialect, method, fail)
    try:
        yield calls
    finally:
        delattr(dialect, method)  # back to the class's method


def _assert_unavailable(resp) -> None:
    assert resp.status_code == 503, resp.get_data(as_text=True)
    assert resp.is_json
    body = resp.get_json()
    assert body["error"] == "server.unavailable"
    assert body["code"] == 503 and body["status"] == "Service Unavailable"
    assert body["message"]
    assert int(resp.headers["Retry-After"]) > 0


def test_a_query_on_a_dead_connection_is_a_503_in_the_one_format(app, client, world):
    with _failing(app, "do_execute"):
        public = client.get("/api/v1/sites?kind=station")
        authenticated = client.get("/api/v1/me", headers=world.vol_s1.headers)  # the token loader
    _assert_unavailable(public)
    _assert_unavailable(authenticated)
    # The next request, on a database that answers again, is served.
    assert client.get("/api/v1/me", headers=world.vol_s1.headers).status_code == 200


def test_a_write_on_a_dead_connection_is_a_503(app, client, world):
    with _failing(app, "do_execute"):
        resp = client.post("/api/v1/auth/login", json={"phone": world.vol_s1.phone, "password": "x" * 10})
    _assert_unavailable(resp)


def test_the_503_speaks_the_callers_language(app, client):
    with _failing(app, "do_execute"):
        english = client.get("/api/v1/sites?kind=station", headers={"Accept-Language": "en"})
        chinese = client.get("/api/v1/sites?kind=station")
    _assert_unavailable(english)
    _assert_unavailable(chinese)
    assert english.get_json()["message"] == "Service unavailable, try again shortly"
    assert chinese.get_json()["message"] == "服务暂不可用，请稍后重试"


def test_a_failing_session_cleanup_at_teardown_is_not_an_error(app, client, world):
    """The session's rollback at the end of the request fails (its connection died after the view ran):
    the answer already made stands, and the next request gets a working connection."""
    with app.app_context():
        pool = db.engine.pool
    with _failing(app, "do_rollback", times=1) as calls:
        resp = client.get("/api/v1/me", headers=world.vol_s1.headers)
    assert calls["failed"] == 1  # the teardown did meet the dead connection
    assert resp.status_code == 200
    assert pool.checkedout() == 0  # the connection went back to the pool (or was replaced), not leaked
    assert client.get("/api/v1/me", headers=world.vol_s1.headers).status_code == 200


def test_an_outage_in_an_after_request_hook_is_a_503(app, client):
    """A hook after the view fails on the database: not the generic 500 (production does not
    propagate exceptions; Flask turns them into a 500 whose original error is the outage)."""

    def hook(response):
        db.session.execute(db.select(1))
        return response

    hooks = app.after_request_funcs.setdefault(None, [])
    hooks.append(hook)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        with _failing(app, "do_execute"):
            resp = client.get("/healthz")
    finally:
        hooks.remove(hook)
        app.config["PROPAGATE_EXCEPTIONS"] = None
    _assert_unavailable(resp)


def test_other_database_errors_stay_500(app, client):
    """Only an unreachable database is a 503: a programming error is still the generic 500."""
    dialect = _dialect(app)

    def broken(*_args, **_kwargs):
        raise dialect.loaded_dbapi.ProgrammingError("no such column")

    dialect.do_execute = broken
    app.config["PROPAGATE_EXCEPTIONS"] = False
    try:
        resp = client.get("/api/v1/sites?kind=station")
    finally:
        del dialect.do_execute
        app.config["PROPAGATE_EXCEPTIONS"] = None
    assert resp.status_code == 500
    assert resp.get_json()["error"] == "server.error"
    assert "Retry-After" not in resp.headers


def _real_sqlite_error(path: str, sql: str = "SELECT 1") -> Exception:
    """The error sqlite3 itself raises (with its sqlite_errorname) for `sql` on the database at `path`."""
    try:
        sqlite3.connect(path).execute(sql)
    except sqlite3.Error as error:
        return error
    raise AssertionError("no error")


@pytest.mark.parametrize(
    ("make", "outage"),
    [
        (
            lambda: sa_exc.OperationalError("SELECT 1", {}, psycopg.OperationalError("connection refused")),
            True,
        ),
        (
            lambda: sa_exc.InterfaceError("SELECT 1", {}, psycopg.InterfaceError("the connection is closed")),
            True,
        ),
        (lambda: sa_exc.OperationalError("SELECT 1", {}, psycopg.errors.AdminShutdown()), True),
        (lambda: sa_exc.OperationalError("SELECT 1", {}, psycopg.errors.CannotConnectNow()), True),
        (lambda: sa_exc.OperationalError("SELECT 1", {}, psycopg.errors.TooManyConnections()), True),
        (
            lambda: sa_exc.OperationalError(
                "x", {}, psycopg.errors.DeadlockDetected(), connection_invalidated=True
            ),
            True,
        ),
        (lambda: sa_exc.TimeoutError("QueuePool limit reached"), True),
        (lambda: sa_exc.OperationalError("SELECT 1", {}, _real_sqlite_error("/nonexistent/dir/x.db")), True),
        # the statement, not the server: a bug or a conflict, still a 500
        (lambda: sa_exc.OperationalError("SELECT 1", {}, psycopg.errors.DeadlockDetected()), False),
        (lambda: sa_exc.OperationalError("SELECT 1", {}, psycopg.errors.QueryCanceled()), False),
        (lambda: sa_exc.ProgrammingError("SELECT 1", {}, psycopg.errors.UndefinedColumn()), False),
        (
            lambda: sa_exc.ProgrammingError("SELECT 1", {}, psycopg.ProgrammingError("wrong parameters")),
            False,
        ),
        (lambda: sa_exc.IntegrityError("INSERT", {}, psycopg.errors.UniqueViolation()), False),
        (
            lambda: sa_exc.OperationalError(
                "SELECT", {}, _real_sqlite_error(":memory:", "SELECT * FROM nope")
            ),
            False,
        ),
        (lambda: ValueError("not a database error"), False),
    ],
)
def test_what_counts_as_an_outage(make, outage):
    assert is_outage(make()) is outage


# ---- the outage: a throwaway PostgreSQL cluster stopped under gunicorn and a stream of requests ----


@dataclass
class Answer:
    started: float
    kind: str
    status: int
    content_type: str
    body: bytes
    retry_after: str | None


KINDS = ("me", "sites", "login")  # an authenticated read, a public read, a write


class Stream:
    """Threads calling the API without pause, each answer recorded with when its request started."""

    def __init__(self, port: int, token: str, phone: str, password: str):
        self.port, self.token, self.phone, self.password = port, token, phone, password
        self.answers: list[Answer] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, args=(kind,), daemon=True) for kind in KINDS]

    def _request(self, kind: str) -> tuple[int, str, bytes, str | None]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            if kind == "me":
                conn.request("GET", "/api/v1/me", headers={"Authorization": f"Bearer {self.token}"})
            elif kind == "sites":
                conn.request("GET", "/api/v1/sites?kind=station&limit=5")
            else:
                body = json.dumps({"phone": self.phone, "password": self.password})
                conn.request("POST", "/api/v1/auth/login", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type", ""), resp.read(), resp.getheader("Retry-After")
        finally:
            conn.close()

    def _loop(self, kind: str) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                status, content_type, body, retry_after = self._request(kind)
            except (OSError, http.client.HTTPException) as exc:  # a dropped connection is an answer too
                with self._lock:
                    self.errors.append(f"{kind}: {exc!r}")
                time.sleep(0.05)
                continue
            with self._lock:
                self.answers.append(Answer(started, kind, status, content_type, body, retry_after))
            time.sleep(0.02 if kind != "login" else 0.1)

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=20)


PHONE, PASSWORD = "13900000077", "outage-pass-2026"


@contextlib.contextmanager
def _gunicorn(cluster: pg_cluster.Cluster) -> Iterator[tuple[int, Path]]:
    """This checkout deployed on the cluster (`flask deploy`, an admin to log in as) and served by
    gunicorn as in production (2 workers, app preloaded); yields its port and its log file."""
    instance = Path(tempfile.mkdtemp(prefix="volunteer-outage-app-"))
    port = pg_cluster.free_port()
    env = dict(os.environ)
    env.pop("VOLUNTEER_CONFIG", None)
    env.update(
        DATABASE_URL=cluster.url,
        VOLUNTEER_INSTANCE_DIR=str(instance),
        FLASK_APP="volunteer_app",
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        PYTHONPATH=str(ROOT),
        VOLUNTEER_LOGIN_LIMIT_PER_IP="100000/minute",  # the stream logs in many times a second
        VOLUNTEER_SCHEDULER_MODE="off",
    )
    _flask(env, "deploy")
    _flask(env, "users", "create-admin", "--phone", PHONE, "--name", "管理员", "--password", PASSWORD)
    command = ["-m", "gunicorn", "-c", "python:volunteer_app.config.gunicorn", "volunteer_app:create_app()"]
    log_path = instance / "gunicorn.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen([sys.executable, *command], env=env, cwd=instance, stdout=log, stderr=log)
        try:
            _wait_until_serving(port, server)
            yield port, log_path
        finally:
            server.terminate()
            server.wait(timeout=20)


def _flask(env: dict[str, str], *args: str) -> None:
    command = [sys.executable, "-m", "flask", *args]
    cwd = env["VOLUNTEER_INSTANCE_DIR"]
    done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"flask {' '.join(args)}: {done.stdout}\n{done.stderr}"


def _wait_until_serving(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert server.poll() is None, "gunicorn exited"
        with contextlib.suppress(OSError):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        time.sleep(0.2)
    raise AssertionError("gunicorn did not become ready in 30 s")


def _login(port: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"phone": PHONE, "password": PASSWORD})
    conn.request("POST", "/api/v1/auth/login", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    assert resp.status == 200, resp.read()
    return json.loads(resp.read())["access_token"]


def _check_answer(answer: Answer) -> str | None:
    """What is wrong with one answer, if anything: JSON always; a failure is 503 in the one format."""
    if not answer.content_type.startswith("application/json"):
        return f"{answer.kind}: {answer.status} {answer.content_type!r} {answer.body[:120]!r}"
    body = json.loads(answer.body)
    if answer.status < 400:
        return None
    if answer.status != 503 or body.get("error") != "server.unavailable" or body.get("code") != 503:
        return f"{answer.kind}: {answer.status} {body}"
    if not (answer.retry_after or "").isdigit() or not body.get("message"):
        return f"{answer.kind}: 503 without Retry-After or message: {body}"
    return None


def _outage_skip_reason() -> str | None:
    if not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"):
        return "the outage test runs once, in the PostgreSQL run (TEST_DATABASE_URL=postgresql://…)"
    return pg_cluster.unavailable_reason()


def _outage(cluster: pg_cluster.Cluster, port: int) -> tuple[Stream, float, float]:
    """Healthy traffic, the database stopped (immediate: connections die mid-use) for 4 s, then back;
    returns the stream and when the database went down and came back."""
    stream = Stream(port, _login(port), PHONE, PASSWORD)
    stream.start()
    try:
        time.sleep(2)  # the workers now hold pooled connections that are about to die
        cluster.stop()
        down = time.monotonic()
        time.sleep(4)
        cluster.start()
        back = time.monotonic()
        time.sleep(7)
    finally:
        stream.stop()
    return stream, down, back


@pytest.mark.skipif(_outage_skip_reason() is not None, reason=_outage_skip_reason() or "")
def test_a_database_outage_under_load_is_a_clean_503_and_recovers():
    cluster = pg_cluster.Cluster()
    try:
        cluster.init()
        cluster.start()
        cluster.create_database()
        with _gunicorn(cluster) as (port, log_path):
            stream, down, back = _outage(cluster, port)
        gunicorn_log = log_path.read_text(errors="replace")
        shutil.rmtree(log_path.parent, ignore_errors=True)
    finally:
        cluster.remove()

    answers = stream.answers
    assert not stream.errors, stream.errors[:5]
    wrong = [problem for answer in answers if (problem := _check_answer(answer))]
    assert not wrong, f"{len(wrong)} answers out of {len(answers)} are not clean: {wrong[:5]}"
    during = [a for a in answers if down + 0.5 < a.started < back - 0.5]
    assert during and all(a.status == 503 for a in during), "the outage was not seen"
    assert {a.kind for a in during} == set(KINDS)
    # Back within 5 s: each kind of request is served again within 5 s of the database's return ...
    served = [a for a in answers if a.started > back and a.status < 300]
    recovered = {k: min((a.started - back for a in served if a.kind == k), default=99) for k in KINDS}
    assert max(recovered.values()) < 5, recovered
    # ... and from then on every request is served.
    later = [a for a in answers if a.started > back + 5]
    assert later and all(200 <= a.status < 300 for a in later), [a.status for a in later][:20]
    assert {a.kind for a in later} == set(KINDS)
    print(f"served again {recovered} s after the database's return; {len(answers)} answers")
    # One warning line per failed request, no traceback.
    assert "Traceback" not in gunicorn_log, gunicorn_log[-3000:]


# ---- the idle-connection ping (db.ping_when_idle) ----


def _kill_pooled_backends(app) -> int:
    """Terminate, from a connection of its own, every backend of the app's pool (as a restart or a
    proxy would); returns how many."""
    with app.app_context():
        url = db.engine.url.set(drivername="postgresql")
    with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as admin:
        return admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_type = 'client backend'"
        ).fetchone()[0]


def _age_pool(app, seconds: float) -> None:
    """Make every connection resting in the pool look idle for `seconds` longer."""
    with app.app_context():
        pool = db.engine.pool
    for record in list(pool._pool.queue):
        record.info["idle_since"] -= seconds


def test_an_idle_dead_connection_is_pinged_and_replaced(app, client, world):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no connection to lose")
    assert client.get("/api/v1/me", headers=world.vol_s1.headers).status_code == 200
    assert _kill_pooled_backends(app) >= 1
    _age_pool(app, 60)
    # The ping finds the connection dead: the request gets a fresh one and never sees the failure.
    assert client.get("/api/v1/me", headers=world.vol_s1.headers).status_code == 200


def test_a_connection_killed_right_after_use_costs_one_503(app, client, world):
    """The price of not pinging on every checkout: a connection killed from outside within
    IDLE_PING_SECONDS of its last use fails the next request with a clean 503; the one after is served."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no connection to lose")
    assert client.get("/api/v1/me", headers=world.vol_s1.headers).status_code == 200
    assert _kill_pooled_backends(app) >= 1
    _assert_unavailable(client.get("/api/v1/me", headers=world.vol_s1.headers))
    assert client.get("/api/v1/me", headers=world.vol_s1.headers).status_code == 200
