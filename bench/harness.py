"""Reusable pieces for the bench/ scripts: throwaway databases, an app migrated with the project's own
migrations, set-based bulk inserts, measuring one step in a fresh child process, the machine, and a
Markdown table. Nothing here is imported by the application or the tests.

Measuring. `measure()` runs `python -m <module> --child <step> …` in a fresh process. Its peak resident
set is the child's own VmHWM (/proc/self/status, read by the child as it ends). Not ru_maxrss: on Linux
a process's ru_maxrss (RUSAGE_SELF, wait4, and RUSAGE_CHILDREN, which is moreover the largest child so
far) survives exec, so a child forked from a big parent reports at least the parent's size. Where
/proc is missing, the child's wait4 ru_maxrss is used. The child also reports its step's wall time and,
when asked, the peak of the Python heap during the step (tracemalloc, started just before the step:
it roughly doubles the step's time, so it is off by default) on its last stdout line as JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
MiB = 1024 * 1024


# ---- databases ---------------------------------------------------------------------------------------


def psycopg_url(url: str) -> sa.URL:
    """A PostgreSQL URL for SQLAlchemy with psycopg 3, whatever scheme it was given with."""
    parsed = sa.make_url(url.replace("postgres://", "postgresql://", 1))
    return (
        parsed.set(drivername="postgresql+psycopg") if parsed.get_backend_name() == "postgresql" else parsed
    )


def render(url: sa.URL) -> str:
    return url.render_as_string(hide_password=False)


@contextlib.contextmanager
def postgres_database(server: str, name: str, *, keep: bool = False) -> Iterator[str]:
    """Create database `name` on the server (refusing one that exists), yield its URL, drop it after
    unless `keep`."""
    url = psycopg_url(server)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield render(url.set(database=name))
        finally:
            if not keep:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@contextlib.contextmanager
def sqlite_database(name: str, *, keep: bool = False) -> Iterator[str]:
    """A fresh SQLite file in a temporary directory (kept, and its path printed, with `keep`)."""
    directory = Path(tempfile.mkdtemp(prefix="bench_"))
    path = directory / f"{name}.db"
    try:
        yield f"sqlite:///{path}"
    finally:
        if keep:
            print(f"kept {path}", file=sys.stderr)
        else:
            for leftover in directory.iterdir():
                leftover.unlink()
            directory.rmdir()


def unique_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:4]}"


# ---- the app -----------------------------------------------------------------------------------------


def make_app(database_url: str):
    """The app on `database_url`, built as the tests build it (tests/conftest.py make_app), not TESTING."""
    from volunteer_app import create_app

    url = psycopg_url(database_url)
    return create_app({"SQLALCHEMY_DATABASE_URI": render(url)})


def migrate(app) -> None:
    """`flask db upgrade` and the catalogue, as `flask deploy` does."""
    from flask_migrate import upgrade

    from volunteer_app.sites import service as sites

    with app.app_context():
        upgrade()
        sites.ensure_catalogue()


# ---- bulk inserts ------------------------------------------------------------------------------------


def series_cte(dialect: str) -> str:
    """`s(i)` = lo … hi (bound :lo, :hi), set-based on both databases."""
    if dialect == "postgresql":
        return "WITH s(i) AS (SELECT generate_series(CAST(:lo AS BIGINT), CAST(:hi AS BIGINT)))"
    return "WITH RECURSIVE s(i) AS (SELECT :lo UNION ALL SELECT i + 1 FROM s WHERE i < :hi)"


def next_id(conn, table: str) -> int:
    return (conn.execute(sa.text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar() or 0) + 1


def insert_series(
    conn,
    table: str,
    count: int,
    columns: dict[str, str],
    params: dict | None = None,
    types: dict | None = None,
) -> int:
    """INSERT `count` rows in one statement, row i (0-based, `i` in the expressions) getting id
    `base + i`; returns base. `columns` maps column → SQL expression over `i` and bound parameters;
    `types` gives bound parameters their SQLAlchemy types (UTCDateTime, JSON, …). Ids are explicit, so
    other tables can compute them; `fix_sequences` brings PostgreSQL's sequences past them afterwards."""
    if count <= 0:
        return next_id(conn, table)
    base = next_id(conn, table)
    names = ["id", *columns]
    exprs = ["CAST(:base AS BIGINT) + i", *columns.values()]
    stmt = sa.text(
        f"{series_cte(conn.dialect.name)} INSERT INTO {table} ({', '.join(names)}) "
        f"SELECT {', '.join(exprs)} FROM s"
    )
    binds = [sa.bindparam(name, type_=type_) for name, type_ in (types or {}).items()]
    if binds:
        stmt = stmt.bindparams(*binds)
    conn.execute(stmt, {"lo": 0, "hi": count - 1, "base": base, **(params or {})})
    return base


def fix_sequences(conn, tables: list[str]) -> None:
    """After explicit ids: move each PostgreSQL id sequence past the largest id (SQLite needs nothing)."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        conn.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
            )
        )


# ---- measuring ---------------------------------------------------------------------------------------


@dataclass
class Measurement:
    step: str
    seconds: float  # the step itself, timed inside the child
    child_seconds: float  # the whole child process: interpreter, imports, app, the step
    maxrss_mib: float  # the child's peak resident set (VmHWM; see the module docstring)
    heap_peak_mib: float | None  # Python heap peak during the step (tracemalloc), if measured
    result: dict = field(default_factory=dict)


def measure(module: str, step: str, args: list[str], *, log: Path) -> Measurement:
    """Run `python -m module --child step args…` in a fresh process; its stderr goes to `log`."""
    command = [sys.executable, "-m", module, "--child", step, *args]
    started = time.perf_counter()
    with log.open("ab") as err:
        err.write(f"\n==== {' '.join(command)}\n".encode())
        err.flush()
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=err)
        out = proc.stdout.read()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"child {step} exited with {proc.returncode}; see {log}")
    report = json.loads(out.decode().strip().splitlines()[-1])
    peak = report.get("hwm_mib") or usage.ru_maxrss * 1024 / MiB  # Linux reports ru_maxrss in KiB
    return Measurement(
        step=step,
        seconds=report["seconds"],
        child_seconds=elapsed,
        maxrss_mib=peak,
        heap_peak_mib=report.get("heap_peak_mib"),
        result=report.get("result") or {},
    )


def child_report(run: Callable[[], dict], *, heap: bool, profile: Path | None = None) -> None:
    """In the child: time `run()` (optionally with tracemalloc, optionally under cProfile) and print
    the JSON report the parent reads as the last stdout line."""
    if heap:
        tracemalloc.start()
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    if profiler is not None:
        profiler.disable()
        _write_profile(profiler, profile)
    report: dict = {"seconds": seconds, "result": result, "hwm_mib": peak_rss_mib()}
    if heap:
        report["heap_peak_mib"] = tracemalloc.get_traced_memory()[1] / MiB
        tracemalloc.stop()
    print(json.dumps(report, default=str), flush=True)


def peak_rss_mib() -> float | None:
    """This process's peak resident set since its exec (VmHWM), or None without /proc."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / MiB
    except (OSError, ValueError, IndexError):
        return None
    return None


def _write_profile(profiler, path: Path) -> None:
    import io
    import pstats

    path.parent.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(str(path.with_suffix(".prof")))
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    path.with_suffix(".txt").write_text(text.getvalue())


# ---- the machine and the table -----------------------------------------------------------------------


def machine(conn=None) -> dict[str, str]:
    """CPU model, cores, RAM, OS, Python, and the database server's version if `conn` is given."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    info = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlalchemy": sa.__version__,
    }
    if conn is not None and conn.dialect.name == "postgresql":
        info["postgresql"] = conn.execute(sa.text("SHOW server_version")).scalar()
    elif conn is not None:
        info["sqlite"] = conn.execute(sa.text("SELECT sqlite_version()")).scalar()
    return info


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(value) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:.2f}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
