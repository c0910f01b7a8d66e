"""Issue 16's "a new pool near you": the cost of choosing the volunteers to tell (orders/nearby.py) with
many volunteers, as a ratio against a primary-key select in the same run, and its EXPLAIN.

    .venv/bin/python -m bench.pool_nearby                          # 2,000 stations, 1,000,000 volunteers
    .venv/bin/python -m bench.pool_nearby --stations 200 --volunteers 100000

On a fresh PostgreSQL database migrated with the project's migrations it writes, set-based (INSERT …
SELECT over generate_series): stations on a grid 1.5 km apart (≈ 13 within the default 3 km), the
volunteers spread evenly over them (a third naming no category, a third the order's, a third another),
and every 10th volunteer holding an order whose window overlaps the new pool's (busy). Then, in one
process, it times `nearby_volunteers` for orders at random stations' places (median and p90 of 50
runs, after 5 warm-ups) against `SELECT … FROM users WHERE id = :id` (the same number of runs), and
writes the table and the plan to bench/results/pool_nearby.md.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench import harness

RUNS, WARM = 50, 5
SPACING = 0.0135  # degrees of latitude between stations: 1.5 km
LAT0, LNG0 = 30.0, 120.0


def fill(conn, stations: int, volunteers: int) -> dict:
    """The center, the stations, the users, profiles, a few orders and the busy volunteers' slots."""
    now = datetime.now(UTC)
    side = int(stations**0.5) + 1
    cats = [row[0] for row in conn.execute(sa.text("SELECT id FROM categories ORDER BY id LIMIT 2"))]
    conn.execute(
        sa.text(
            "INSERT INTO sites (id, kind, name, path, lat, lng, settings, created_at)"
            " VALUES (1, 'center', '中心', '/1/', :lat, :lng, '{}', :now)"
        ),
        {"lat": LAT0, "lng": LNG0, "now": now},
    )
    harness.insert_series(
        conn,
        "sites",
        stations,
        {
            "kind": "'station'",
            "name": "'站' || CAST(i AS TEXT)",
            "parent_id": "1",
            "path": "'/1/' || CAST(i + 2 AS TEXT) || '/'",
            "lat": f"{LAT0} + (i / {side}) * {SPACING}",
            "lng": f"{LNG0} + (i % {side}) * {SPACING * 1.16}",  # 1.5 km at 30° N
            "settings": "'{}'",
            "created_at": ":now",
        },
        {"now": now},
    )
    users = harness.insert_series(
        conn,
        "users",
        volunteers + 1,
        {
            "phone": "'+86137' || LPAD(CAST(i AS TEXT), 8, '0')",
            "name": "'志愿者'",
            "is_active": "true",
            "show_name_on_leaderboard": "false",
            "created_at": ":now",
            "updated_at": ":now",
        },
        {"now": now},
    )
    resident = users + volunteers
    conn.execute(
        sa.text(
            "INSERT INTO volunteer_profiles"
            " (user_id, site_id, volunteer_no, skills, category_ids, approved_at)"
            " SELECT :base + i, 2 + (i % :stations), 'V' || CAST(i AS TEXT), '[]',"
            " CAST(CASE i % 3 WHEN 0 THEN '[]' WHEN 1 THEN :mine ELSE :other END AS JSON), :now"
            " FROM generate_series(0, :n - 1) AS s(i)"
        ),
        {
            "base": users,
            "stations": stations,
            "n": volunteers,
            "mine": f"[{cats[0]}]",
            "other": f"[{cats[1]}]",
            "now": now,
        },
    )
    start = now + timedelta(hours=2)
    busy = volunteers // 10
    orders = harness.insert_series(
        conn,
        "orders",
        busy,
        {
            "site_id": "2 + (i % :stations)",
            "dispatch_site_id": "2 + (i % :stations)",
            "resident_id": ":resident",
            "category_id": ":cat",
            "title": "'陪护'",
            "address": "'某街道'",
            "lat": f"{LAT0}",
            "lng": f"{LNG0}",
            "window_start": ":start",
            "window_end": ":end",
            "volunteers_needed": "1",
            "target_groups": "'[]'",
            "status": "'staffed'",
            "mode": "'grab'",
            "capacity": "1",
            "taken": "1",
            "checkin_due_at": ":end",
            "checkout_due_at": ":end",
            "created_at": ":now",
            "updated_at": ":now",
        },
        {
            "stations": stations,
            "resident": resident,
            "cat": cats[0],
            "start": start - timedelta(minutes=30),
            "end": start + timedelta(minutes=30),
            "now": now,
        },
    )
    harness.insert_series(
        conn,
        "assignments",
        busy,
        {
            "order_id": ":orders + i",
            "site_id": "2 + (i % :stations)",
            "volunteer_id": ":users + (i * 7919) % :volunteers",  # spread over every station
            "kind": "'grab'",
            "status": "'held'",
            "created_at": ":now",
            "updated_at": ":now",
        },
        {"orders": orders, "stations": stations, "users": users, "volunteers": volunteers, "now": now},
    )
    harness.fix_sequences(conn, ["sites", "users", "orders", "assignments"])
    return {"category": cats[0], "resident": resident, "start": start, "users": users}


def run(database_url: str, stations: int, volunteers: int) -> dict:
    from volunteer_app.extensions import db
    from volunteer_app.orders import nearby
    from volunteer_app.orders.models import Order

    app = harness.make_app(database_url)
    harness.migrate(app)
    with app.app_context():
        began = time.monotonic()
        with db.engine.begin() as conn:
            made = fill(conn, stations, volunteers)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
            info = harness.machine(conn)
        filled = time.monotonic() - began
        rng = random.Random(16)
        places = db.session.execute(sa.text("SELECT lat, lng FROM sites WHERE kind = 'station'")).all()

        def order_at(lat, lng) -> Order:
            return Order(
                id=0,
                lat=lat + 0.002,
                lng=lng + 0.002,
                category_id=made["category"],
                resident_id=made["resident"],
                window_start=made["start"],
                window_end=made["start"] + timedelta(hours=2),
            )

        orders = [order_at(*rng.choice(places)) for _ in range(RUNS + WARM)]
        ids = [made["users"] + rng.randrange(volunteers) for _ in range(RUNS + WARM)]
        pk = sa.text("SELECT id, phone, name FROM users WHERE id = :id")

        def timed(fn, args) -> list[float]:
            times = []
            for arg in args:
                began = time.perf_counter()
                fn(arg)
                times.append(time.perf_counter() - began)
                db.session.rollback()
            return sorted(times[WARM:])

        told = []
        base = timed(lambda i: db.session.execute(pk, {"id": i}).all(), ids)
        pick = timed(lambda o: told.append(len(nearby.nearby_volunteers(o, radius_m=3000, limit=50))), orders)
        stmt, params = nearby.selection(orders[0], radius_m=3000, limit=50)

        seen = []

        def capture(conn, cursor, statement, parameters, context, executemany):
            seen.append((statement, parameters))

        sa.event.listen(db.engine, "before_cursor_execute", capture)
        try:
            db.session.execute(stmt, params).all()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", capture)
        cursor = db.session.connection().connection.dbapi_connection.cursor()
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + seen[-1][0], seen[-1][1])
        plan = "\n".join(row[0] for row in cursor.fetchall())
        db.session.rollback()
    return {
        "info": info,
        "filled_s": filled,
        "base": base,
        "pick": pick,
        "told": told,
        "plan": plan,
        "stations": stations,
        "volunteers": volunteers,
    }


def report(r: dict) -> str:
    def ms(values, q):
        return statistics.quantiles(values, n=10)[8] * 1000 if q == 90 else statistics.median(values) * 1000

    rows = [
        ["primary-key select (baseline)", ms(r["base"], 50), ms(r["base"], 90), 1.0],
        [
            "nearby_volunteers (3 km, 50)",
            ms(r["pick"], 50),
            ms(r["pick"], 90),
            statistics.median(r["pick"]) / statistics.median(r["base"]),
        ],
    ]
    info = ", ".join(f"{k}: {v}" for k, v in r["info"].items())
    return (
        f"# pool_nearby\n\n{info}\n\n{r['stations']:,} stations 1.5 km apart, {r['volunteers']:,} volunteers"
        f" (every 10th busy), filled in {r['filled_s']:.0f} s; {RUNS} runs each, orders at random stations'"
        f" places; told per run: median {statistics.median(r['told']):.0f}, min {min(r['told'])},"
        f" max {max(r['told'])}.\n\n"
        + harness.markdown_table(["query", "p50 ms", "p90 ms", "p50 / baseline"], rows)
        + "\n\n## EXPLAIN (ANALYZE, BUFFERS)\n\n```\n"
        + r["plan"]
        + "\n```\n"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default=harness.DEFAULT_SERVER)
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--volunteers", type=int, default=1_000_000)
    parser.add_argument("--output", default=str(harness.ROOT / "bench" / "results" / "pool_nearby.md"))
    args = parser.parse_args(argv)
    with harness.postgres_database(args.server, harness.unique_name("bench_pool")) as url:
        result = run(url, args.stations, args.volunteers)
    text = report(result)
    Path(args.output).write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
