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
import pwd
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from glob import glob
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

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


def _pg_bin() -> Path | None:
    """The newest PostgreSQL server binaries on the machine (initdb and pg_ctl), if any."""
    found = [Path(p) for p in glob("/usr/lib/postgresql/*/bin") if Path(p, "initdb").exists()]
    if found:
        return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def _outage_skip_reason() -> str | None:
    server = os.environ.get("TEST_DATABASE_URL", "")
    if not server.startswith("postgres"):
        return "the outage test runs once, in the PostgreSQL run (TEST_DATABASE_URL=postgresql://…)"
    if _pg_bin() is None:
        return "no PostgreSQL server binaries (initdb, pg_ctl) on this machine"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root (initdb refuses) and there is no postgres OS user to run the cluster as"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Cluster:
    """A PostgreSQL cluster of the test's own in a temporary directory, on a free port (never 5432)."""

    def __init__(self):
        self.bin = _pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="volunteer-outage-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        # initdb refuses to run as root: then the cluster belongs to the postgres OS user.
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/volunteer"

    def _run(self, tool: str, *args: str) -> None:
        cmd = [str(self.bin / tool), *args]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"{tool} failed: {done.stdout}\n{done.stderr}"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_database(self) -> None:
        import sqlalchemy as sa

        admin = sa.create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as conn:
            conn.exec_driver_sql("CREATE DATABASE volunteer")
        admin.dispose()

    def remove(self) -> None:
        with contextlib.suppress(AssertionError, subprocess.SubprocessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class Answer:
    started: float
    kind: str
    status: int
    content_type: str
    body: bytes
    retry_after: str | None


class Stream:
    """Threads calling the API without pause, each answer recorded with when its request started."""

    def __init__(self, port: int, token: str, phone: str, password: str):
        self.port, self.token, self.phone, self.password = port, token, phone, password
        self.answers: list[Answer] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._loop, args=(kind,), daemon=True)
            for kind in ("me", "sites", "login")
        ]

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


def _env(cluster: Cluster, instance: Path, port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=cluster.url,
        VOLUNTEER_INSTANCE_DIR=str(instance),
        FLASK_APP="volunteer_app",
        BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="2",
        PYTHONPATH=str(ROOT),
        VOLUNTEER_LOGIN_LIMIT_PER_IP="100000/minute",
        VOLUNTEER_SCHEDULER_MODE="off",
    )
    env.pop("VOLUNTEER_CONFIG", None)
    return env


def _flask(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flask", *args],
        env=env,
        cwd=env["VOLUNTEER_INSTANCE_DIR"],
        capture_output=True,
        text=True,
        timeout=120,
    )
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


def _login(port: int, phone: str, password: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    body = json.dumps({"phone": phone, "password": password})
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


@pytest.mark.skipif(_outage_skip_reason() is not None, reason=_outage_skip_reason() or "")
def test_a_database_outage_under_load_is_a_clean_503_and_recovers():
    cluster = Cluster()
    instance = Path(tempfile.mkdtemp(prefix="volunteer-outage-app-"))
    port = _free_port()
    server = None
    try:
        cluster.init()
        cluster.start()
        cluster.create_database()
        env = _env(cluster, instance, port)
        _flask(env, "deploy")
        phone, password = "13900000077", "outage-pass-2026"
        _flask(env, "users", "create-admin", "--phone", phone, "--name", "管理员", "--password", password)
        log = open(instance / "gunicorn.log", "wb")  # noqa: SIM115 (closed with the server)
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "python:volunteer_app.config.gunicorn",
                "volunteer_app:create_app()",
            ],
            env=env,
            cwd=instance,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        _wait_until_serving(port, server)
        stream = Stream(port, _login(port, phone, password), phone, password)
        stream.start()
        time.sleep(2)  # healthy traffic first: the workers hold pooled connections that will die
        cluster.stop()
        down = time.monotonic()
        time.sleep(4)
        cluster.start()
        back = time.monotonic()
        time.sleep(7)
        stream.stop()
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        cluster.remove()
    gunicorn_log = (instance / "gunicorn.log").read_text(errors="replace")
    shutil.rmtree(instance, ignore_errors=True)

    answers = stream.answers
    assert not stream.errors, stream.errors[:5]
    wrong = [problem for answer in answers if (problem := _check_answer(answer))]
    assert not wrong, f"{len(wrong)} answers out of {len(answers)} are not clean: {wrong[:5]}"
    during = [a for a in answers if down + 0.5 < a.started < back - 0.5]
    assert during and all(a.status == 503 for a in during), "the outage was not seen"
    assert {a.kind for a in during} == {"me", "sites", "login"}
    # Back within 5 s: every request started 5 s after the database's return is served, of every kind.
    later = [a for a in answers if a.started > back + 5]
    assert later and all(200 <= a.status < 300 for a in later), [a.status for a in later][:20]
    assert {a.kind for a in later} == {"me", "sites", "login"}
    assert "Traceback" not in gunicorn_log, gunicorn_log[-3000:]
