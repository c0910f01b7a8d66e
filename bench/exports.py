"""Exports at scale: 1,000,000 orders exported as CSV and as XLSX by a worker process, measured.

    python -m bench.exports [--orders 1000000] [--server postgresql://postgres@127.0.0.1:5432/postgres]
                            [--city postgresql://postgres@127.0.0.1:5432/city] [--keep]

1. A throwaway PostgreSQL database migrated to head (the city database is shared and its schema is
   not this branch's: it is only read, in step 4) is filled set-based: a center, an institute, 20
   stations, 1,000 residents, 200 volunteers and `--orders` orders submitted through 2026 (a third
   closed, rated and audited with one volunteer's minutes; a tenth escalated).
2. For each format an admin asks for the center's orders of 2026 (exports.service.request_export, as
   the API does), and a fresh child process (`--child work`) runs `Worker.run_once()`: the export
   streams the rows (server-side cursor), writes the file to a temporary file, and the queue stores
   it in 1 MiB chunks. The child reports its idle RSS (the app built, connected, XlsxWriter imported)
   and its peak (VmHWM) and the time of the run; rows/s counts the rows over that whole run.
3. A child (`--child download`) streams each file back through GET /jobs/{id}/result (the test
   client, chunk by chunk) and reports the same two figures.
4. With `--city`, a child streams the city database's center's orders of a year into each format
   (read only, no queue): the same code on the generated city's data.

Results: bench/results/exports.md (tables and the machine).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa

from bench import harness

RESULTS = harness.ROOT / "bench" / "results"
STATIONS = 20
RESIDENTS = 50  # per station
VOLUNTEERS = 10  # per station
PERIOD = {"from": date(2026, 1, 1), "to": date(2026, 12, 31)}
T0 = datetime(2025, 12, 31, 16, 0, tzinfo=UTC)  # 2026-01-01 00:00 in UTC+8


def vm(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


# ---- the database ---------------------------------------------------------------------------------------


def fill(conn, orders: int) -> dict:
    from volunteer_app.db import UTCDateTime

    insert = harness.insert_series
    me = "(CAST(:base AS BIGINT) + i)"
    ts = {"t0": UTCDateTime}
    p = {"t0": T0}
    category = conn.execute(sa.text("SELECT MIN(id) FROM categories")).scalar()
    site = {"lat": "30.25", "lng": "120.15", "settings": "'{}'", "created_at": ":t0"}
    center = insert(
        conn,
        "sites",
        1,
        {"kind": "'center'", "name": "'基准中心'", "code": "'XC'", "path": f"'/' || {me} || '/'", **site},
        p,
        ts,
    )
    institute = insert(
        conn,
        "sites",
        1,
        {
            "kind": "'institute'",
            "name": "'基准所'",
            "code": "'XI'",
            "parent_id": str(center),
            "path": f"'/{center}/' || {me} || '/'",
            **site,
        },
        p,
        ts,
    )
    station = insert(
        conn,
        "sites",
        STATIONS,
        {
            "kind": "'station'",
            "name": "'实践站' || i",
            "code": "'XS' || i",
            "parent_id": str(institute),
            "path": f"'/{center}/{institute}/' || {me} || '/'",
            **site,
        },
        p,
        ts,
    )

    def people(count: int, name: str, home: str) -> int:
        return insert(
            conn,
            "users",
            count,
            {
                "phone": f"'+86' || (13900000000 + {me})",
                "name": f"'{name}' || i",
                "home_site_id": home,
                "is_active": "TRUE",
                "created_at": ":t0",
                "updated_at": ":t0",
            },
            p,
            ts,
        )

    admin = people(1, "管理员", "NULL")
    conn.execute(
        sa.text(
            "INSERT INTO role_grants (user_id, role, scope, created_at) "
            f"VALUES ({admin}, 'admin', '-', now())"
        )
    )
    resident = people(STATIONS * RESIDENTS, "居民", f"({station} + i / {RESIDENTS})")
    volunteer = people(STATIONS * VOLUNTEERS, "志愿者", f"({station} + i / {VOLUNTEERS})")
    conn.execute(
        sa.text(
            "INSERT INTO volunteer_profiles "
            "(user_id, site_id, volunteer_no, skills, category_ids, approved_at) "
            f"SELECT id, home_site_id, 'ZY' || id, '[]', '[]', now() FROM users WHERE id >= {volunteer}"
        )
    )
    k = f"(i % {STATIONS})"
    closed = "i % 3 = 0"
    first = insert(
        conn,
        "orders",
        orders,
        {
            "site_id": f"({station} + {k})",
            "dispatch_site_id": f"({station} + {k})",
            "resident_id": f"({resident} + {k} * {RESIDENTS} + (i / {STATIONS}) % {RESIDENTS})",
            "category_id": str(category),
            "title": "'陪独居老人就医 ' || i",
            "address": "'基准路1号'",
            "lat": "30.25",
            "lng": "120.15",
            "window_start": ":t0 + (i * 30 + 86400) * INTERVAL '1 second'",
            "window_end": ":t0 + (i * 30 + 93600) * INTERVAL '1 second'",
            "volunteers_needed": "1",
            "target_groups": "'[]'",
            "status": f"CASE WHEN {closed} THEN 'closed' WHEN i % 3 = 1 THEN 'submitted' "
            "ELSE 'cancelled' END",
            "mode": f"CASE WHEN {closed} THEN 'grab' ELSE NULL END",
            "capacity": f"CASE WHEN {closed} THEN 1 ELSE 0 END",
            "taken": f"CASE WHEN {closed} THEN 1 ELSE 0 END",
            "checkin_due_at": ":t0 + (i * 30 + 88200) * INTERVAL '1 second'",
            "checkout_due_at": ":t0 + (i * 30 + 97200) * INTERVAL '1 second'",
            "closed_at": f"CASE WHEN {closed} THEN :t0 + (i * 30 + 180000) * INTERVAL '1 second' END",
            "rating_state": f"CASE WHEN {closed} THEN "
            "(CASE WHEN i % 2 = 0 THEN 'rated' ELSE 'unrated' END) END",
            "rating_stars": f"CASE WHEN {closed} AND i % 2 = 0 THEN 3 + i % 3 END",
            "created_at": ":t0 + (i * 30) * INTERVAL '1 second'",
            "updated_at": ":t0",
        },
        p,
        ts,
    )
    conn.execute(
        sa.text(
            "INSERT INTO assignments (order_id, site_id, volunteer_id, kind, status, minutes_computed, "
            "minutes_confirmed, created_at, updated_at) "
            f"SELECT id, site_id, {volunteer} + (id % {STATIONS * VOLUNTEERS}), 'grab', 'audited', 120, 120, "
            "created_at, created_at FROM orders WHERE status = 'closed'"
        )
    )
    conn.execute(
        sa.text(
            "INSERT INTO order_events (order_id, action, from_status, to_status, at) "
            f"SELECT id, 'escalate', status, status, created_at FROM orders WHERE (id - {first}) % 10 = 0"
        )
    )
    harness.fix_sequences(conn, ["sites", "users", "orders"])
    conn.execute(sa.text("ANALYZE"))
    return {"center": center, "admin": admin}


# ---- the children ---------------------------------------------------------------------------------------


def child(step: str, url: str, arg: str) -> None:
    import xlsxwriter  # noqa: F401  (imported before the idle figure, as a running worker has it)

    from volunteer_app.exports import service  # noqa: F401
    from volunteer_app.extensions import db
    from volunteer_app.worker import queue
    from volunteer_app.worker.runner import Worker

    stored = {"seconds": 0.0}
    store = queue._store_chunks

    def timed_store(item_id, path):
        started = time.perf_counter()
        store(item_id, path)
        stored["seconds"] += time.perf_counter() - started

    queue._store_chunks = timed_store
    app = harness.make_app(url)
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))
        db.session.rollback()
        idle = vm("VmRSS")
        # Reset VmHWM to the current RSS (Linux: clear_refs 5), so the peak is this step's own.
        Path("/proc/self/clear_refs").write_text("5")
        started = time.perf_counter()
        if step == "work":
            result = {"ran": Worker(app).run_once(), "store_seconds": stored["seconds"]}
        elif step == "download":
            result = download(app, int(arg))
        else:
            result = city(int(arg))
        seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "idle_mib": idle, "peak_mib": vm("VmHWM"), "result": result}))


def download(app, job_id: int) -> dict:
    from volunteer_app.accounts.models import User
    from volunteer_app.auth import service as auth_service
    from volunteer_app.extensions import db
    from volunteer_app.worker.models import WorkItem

    owner = db.session.get(WorkItem, job_id).owner_id
    with app.test_request_context():
        token = auth_service.start_session(db.session.get(User, owner))["access_token"]
        db.session.commit()
    size = 0
    with app.test_client() as client:
        response = client.get(
            f"/api/v1/jobs/{job_id}/result", headers={"Authorization": f"Bearer {token}"}, buffered=False
        )
        for piece in response.response:
            size += len(piece)
        response.close()
    return {"bytes": size, "status": response.status_code}


def city(site_id: int) -> dict:
    """The city's center's orders of a year into each format: the export's rows and writers, no queue."""
    import os
    import tempfile

    from volunteer_app.exports import kinds, writers
    from volunteer_app.extensions import db
    from volunteer_app.sites.models import Site

    site = db.session.get(Site, site_id)
    args = {"from": "2026-01-01", "to": "2026-12-31", "lang": "zh", "tz": "Asia/Shanghai"}
    db.session.expunge(site)
    db.session.rollback()
    out = {}
    for fmt in ("csv", "xlsx"):
        path = tempfile.mktemp(suffix=f".{fmt}")
        started = time.perf_counter()
        writer = writers.open_writer(fmt, path, "订单", kinds.ORDER_HEADERS["zh"])
        for row in kinds.order_rows(None, site, args):
            writer.row(row)
        written = writer.close()
        seconds = time.perf_counter() - started
        out[fmt] = {
            "rows": written["rows"],
            "seconds": seconds,
            "bytes": os.path.getsize(path),
            "peak_mib": vm("VmHWM"),
        }
        os.unlink(path)
    return out


def run_child(step: str, url: str, arg: str, log: Path) -> dict:
    import subprocess

    command = [sys.executable, "-m", "bench.exports", "--child", step, "--url", url, "--arg", arg]
    with log.open("ab") as err:
        out = subprocess.run(command, cwd=harness.ROOT, stdout=subprocess.PIPE, stderr=err, check=True).stdout
    return json.loads(out.decode().strip().splitlines()[-1])


# ---- the parent -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--server", default=harness.DEFAULT_SERVER)
    parser.add_argument("--city", default=None, help="also stream a city database's orders (read only)")
    parser.add_argument("--city-site", type=int, default=None, help="the city's site to export (a center)")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--child", default=None)
    parser.add_argument("--url", default=None)
    parser.add_argument("--arg", default="")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.url, args.arg)
        return 0

    RESULTS.mkdir(parents=True, exist_ok=True)
    log = Path(tempfile.gettempdir()) / "bench_exports.log"  # the children's stderr
    print(f"children's stderr: {log}", file=sys.stderr)
    rows: list[list] = []
    with harness.postgres_database(args.server, harness.unique_name("bench_exports"), keep=args.keep) as url:
        app = harness.make_app(url)
        harness.migrate(app)
        from volunteer_app.demo.world import principal
        from volunteer_app.exports import service
        from volunteer_app.extensions import db

        with app.app_context():
            started = time.perf_counter()
            with db.engine.begin() as conn:
                built = fill(conn, args.orders)
            print(f"filled {args.orders} orders in {time.perf_counter() - started:.0f} s", file=sys.stderr)
            machine = harness.machine(db.session.connection())
            db.session.rollback()
        for fmt in ("csv", "xlsx"):
            with app.test_request_context():
                from volunteer_app.accounts.models import User

                who = principal(db.session.get(User, built["admin"]))
                job = service.request_export(
                    who=who,
                    site_id=built["center"],
                    data={"kind": "orders", "format": fmt, **PERIOD},
                    lang="zh",
                )
            work = run_child("work", url, "", log)
            with app.app_context():
                from volunteer_app.worker.models import WorkItem

                item = db.session.get(WorkItem, job["id"])
                state, result, size, chunks = item.state, item.result, item.result_size, item.result_chunks
                db.session.rollback()
            assert state == "done", (state, item.last_error)
            got = run_child("download", url, str(job["id"]), log)
            assert got["result"]["bytes"] == size, (got, size)
            n = result["rows"]
            rows.append(
                [
                    fmt,
                    f"{n:,}",
                    f"{work['seconds']:.1f} ({work['result']['store_seconds']:.1f})",
                    f"{n / work['seconds']:,.0f}",
                    f"{size / 2**20:.0f} MiB",
                    chunks,
                    f"{work['idle_mib']:.0f}",
                    f"{work['peak_mib']:.0f}",
                    f"{work['peak_mib'] - work['idle_mib']:.0f}",
                    f"{got['peak_mib'] - got['idle_mib']:.0f}",
                    ", ".join(result["sheets"]),
                ]
            )
            print(rows[-1], file=sys.stderr)
    city_rows: list[list] = []
    if args.city:
        got = run_child("city", str(harness.psycopg_url(args.city)), str(args.city_site), log)
        for fmt, r in got["result"].items():
            city_rows.append(
                [
                    fmt,
                    f"{r['rows']:,}",
                    f"{r['seconds']:.1f}",
                    f"{r['rows'] / r['seconds']:,.0f}",
                    f"{r['bytes'] / 2**20:.0f} MiB",
                ]
            )
        city_rows.append(
            ["(both)", "", "", "", f"idle {got['idle_mib']:.0f} MiB, peak {got['peak_mib']:.0f} MiB"]
        )
    args.load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    report(rows, city_rows, machine, args)
    return 0


def report(rows, city_rows, machine, args) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = [
        "# Exports at scale",
        "",
        f"`python -m bench.exports --orders {args.orders}`, {when}. A worker process (`Worker.run_once()`",
        "in a fresh child) makes the export of the center's orders of 2026 through the queue: rows streamed",
        "from a server-side cursor, written to a temporary file, stored in 1 MiB chunks. RSS in MiB: idle is",
        "the child with the app built and connected; peak is its VmHWM, reset to the idle RSS just before",
        "the step (/proc/self/clear_refs), so it is the step's own. rows/s counts the whole job: the count,",
        "the rows, the file, and storing it in the database. The download is GET /jobs/{id}/result",
        f"streamed through the test client in another fresh child. Load average during the run: {args.load}.",
        "",
        harness.markdown_table(
            [
                "format",
                "rows",
                "seconds (of which storing)",
                "rows/s",
                "file",
                "chunks",
                "idle RSS",
                "peak RSS",
                "peak − idle",
                "download peak − idle",
                "sheets",
            ],
            rows,
        ),
        "",
    ]
    if city_rows:
        text += [
            f"The city database (`{args.city}`, site {args.city_site}, read only, no queue): the orders",
            "kind's rows and writers alone, one child for both formats.",
            "",
            harness.markdown_table(["format", "rows", "seconds", "rows/s", "file / RSS"], city_rows),
            "",
        ]
    text += ["Machine:", "", *[f"- {k}: {v}" for k, v in machine.items()], ""]
    (RESULTS / "exports.md").write_text("\n".join(text))
    print("\n".join(text))


if __name__ == "__main__":
    sys.exit(main())
