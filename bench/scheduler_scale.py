"""Issue 5's scale checks: generating a month of service days for 2,000 stations, and sweeping 100,000
late orders, each through the scheduler's exactly-once runner, timed and with its peak memory.

    .venv/bin/python -m bench.scheduler_scale            # PostgreSQL on 127.0.0.1, both sizes
    .venv/bin/python -m bench.scheduler_scale --sqlite   # and SQLite at smaller sizes

For each size (default 2,000 stations / 100,000 orders and 1/10 of it) on a fresh database migrated
with the project's migrations and filled with set-based INSERT … SELECT, it runs five fresh child
processes: a baseline (build the app, SELECT 1), `activities.generate` for next month, the same month
again (must create 0), `orders.deadlines` over the late orders, and the next minute's sweep (must move
0). It checks the counts against what the data was built to give, prints a Markdown table and writes it
to bench/results/scheduler_scale.md. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench import harness

MODULE = "bench.scheduler_scale"
INSTITUTES = 20
CENTER_MANAGERS = INSTITUTE_MANAGERS = 2  # each escalation tells the parent site's two managers
RESIDENTS = VOLUNTEERS = 5  # per station
DEFAULT_SCALES = "2000:100000,200:10000"
DEFAULT_SQLITE_SCALES = "200:10000,20:1000"
GENERATE, DEADLINES = "activities.generate", "orders.deadlines"

# Service-day rules: each station has 2 (even) or 3 (odd) of these, of different kinds.
SPECS = (
    {"kind": "days_of_month", "days": [5, 15, 25], "part_of_day": "morning"},
    {"kind": "nth_weekday", "nth": 1, "weekday": 4, "part_of_day": "afternoon"},
    {"kind": "nth_week", "nth": 3, "weekdays": [5, 6], "part_of_day": "full_day"},
    {"kind": "annual", "dates": ["03-05", "12-05"], "part_of_day": "evening", "start_time": "19:30"},
)


# ---- the late orders ---------------------------------------------------------------------------------

M, H, DAY = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class Kind:
    """One kind of late order: its share of the orders, its columns (times relative to the sweep's
    `now`), the assignment it carries, and the deadline steps it must move."""

    name: str
    share: int  # percent
    status: str
    mode: str | None
    capacity: int
    taken: int
    times: dict[str, timedelta | None]
    assignment: str | None = None  # the volunteer's assignment status, if any
    moves: tuple[str, ...] = ()
    rating: bool = False
    extra: dict = field(default_factory=dict)


TOMORROW = {
    "window_start": DAY,
    "window_end": DAY + 2 * H,
    "checkin_due_at": DAY + 30 * M,
    "checkout_due_at": DAY + 2 * H + 30 * M,
}
DONE = {  # service that took place three hours ago
    "window_start": -4 * H,
    "window_end": -2 * H,
    "checkin_due_at": -3 * H - 30 * M,
    "checkout_due_at": -H - 30 * M,
}
# fmt: off
KINDS = (
    Kind("submitted, dispatch late", 20, "submitted", None, 0, 0,
         {**TOMORROW, "dispatch_due_at": -10 * M}, moves=("escalate:submitted",)),
    Kind("submitted, escalated 3 h ago", 10, "submitted", None, 0, 0,
         {**TOMORROW, "dispatch_due_at": -4 * H, "escalated_at": -3 * H}, moves=("expire:submitted",)),
    Kind("grab pool empty, fill late", 10, "dispatched", "grab", 2, 0,
         {**TOMORROW, "fill_due_at": -10 * M}, moves=("escalate:dispatched",)),
    Kind("grab pool 1 of 2 held, fill late", 10, "dispatched", "grab", 2, 1,
         {**TOMORROW, "fill_due_at": -10 * M}, assignment="held", moves=("close_pool",)),
    Kind("offer open, escalated 3 h ago", 5, "dispatched", "assign", 1, 0,
         {**TOMORROW, "fill_due_at": -4 * H, "escalated_at": -3 * H}, assignment="offered",
         moves=("expire:dispatched",)),
    Kind("staffed, check-in late", 10, "staffed", "grab", 1, 1,
         {"window_start": -H, "window_end": H, "checkin_due_at": -30 * M, "checkout_due_at": H + 30 * M},
         assignment="held", moves=("escalate:staffed",)),
    Kind("staffed, escalated 3 h ago", 10, "staffed", "grab", 1, 1,
         {**DONE, "escalated_at": -3 * H}, assignment="held", moves=("expire:staffed",)),
    Kind("in service, check-out late", 5, "in_service", "grab", 1, 1, DONE, assignment="checked_in",
         moves=("escalate:in_service",)),
    Kind("completed, audit and rating late", 10, "completed", "grab", 1, 1,
         {**DONE, "completed_at": -2 * H, "audit_due_at": -H, "rating_due_at": -H}, assignment="checked_out",
         moves=("escalate:completed", "rating_lapsed"), rating=True),
    Kind("closed, rating late", 5, "closed", "grab", 1, 1,
         {**DONE, "completed_at": -2 * DAY, "closed_at": -DAY, "rating_due_at": -H},
         moves=("rating_lapsed",), rating=True),
    Kind("staffed, starts in 30 min", 5, "staffed", "grab", 1, 1,
         {"window_start": 30 * M, "window_end": 2 * H + 30 * M, "checkin_due_at": H,
          "checkout_due_at": 3 * H}, assignment="held", moves=("reminded",)),
)
assert sum(kind.share for kind in KINDS) == 100
TIME_COLUMNS = (
    "window_start", "window_end", "dispatch_due_at", "fill_due_at", "checkin_due_at", "checkout_due_at",
    "audit_due_at", "escalated_at", "completed_at", "closed_at", "rating_due_at",
)
# fmt: on


def kind_counts(orders: int) -> list[int]:
    counts = [orders * kind.share // 100 for kind in KINDS]
    counts[0] += orders - sum(counts)
    return counts


def expected_moves(orders: int) -> dict[str, int]:
    moves: Counter[str] = Counter()
    for kind, count in zip(KINDS, kind_counts(orders), strict=True):
        for step in kind.moves:
            moves[step] += count
    return dict(moves)


# ---- filling -----------------------------------------------------------------------------------------


@dataclass
class Built:
    stations: int
    orders: int
    rules: int
    users: int
    expected_activities: int
    seconds: float = 0.0


def fill(conn, *, stations: int, orders: int, deadline_now: datetime, generate_now: datetime) -> Built:
    """The world, set-based: 1 center, 20 institutes, `stations` stations (materialised paths), managers
    (2 per center and institute, 1 per station), 5 residents and 5 volunteers per station, 2–3
    service-day rules per station, and `orders` late orders of the KINDS with their assignments."""
    from volunteer_app.activities import rules as rule_specs
    from volunteer_app.db import UTCDateTime

    t0 = deadline_now - 2 * DAY
    ts = {"t0": UTCDateTime}
    category = conn.execute(sa.text("SELECT MIN(id) FROM categories")).scalar()
    insert = harness.insert_series
    me = "(CAST(:base AS BIGINT) + i)"

    center = insert(
        conn,
        "sites",
        1,
        {
            "kind": "'center'",
            "name": "'基准中心'",
            "code": "'BC'",
            "path": f"'/' || {me} || '/'",
            "lat": "30.25",
            "lng": "120.15",
            "settings": "'{}'",
            "created_at": ":t0",
        },
        {"t0": t0},
        ts,
    )
    institute = insert(
        conn,
        "sites",
        INSTITUTES,
        {
            "kind": "'institute'",
            "name": "'实践所' || i",
            "code": "'BI' || i",
            "parent_id": str(center),
            "path": f"'/{center}/' || {me} || '/'",
            "lat": "30.25",
            "lng": "120.15",
            "settings": "'{}'",
            "created_at": ":t0",
        },
        {"t0": t0},
        ts,
    )
    parent = f"({institute} + (i % {INSTITUTES}))"
    station = insert(
        conn,
        "sites",
        stations,
        {
            "kind": "'station'",
            "name": "'实践站' || i",
            "code": "'BS' || i",
            "parent_id": parent,
            "path": f"'/{center}/' || {parent} || '/' || {me} || '/'",
            "lat": "(30.0 + (i % 100) * 0.01)",
            "lng": "(120.0 + (i / 100) * 0.01)",
            "settings": "'{}'",
            "created_at": ":t0",
        },
        {"t0": t0},
        ts,
    )

    def people(count: int, name: str, home: str | None) -> int:
        return insert(
            conn,
            "users",
            count,
            {
                "phone": f"'+86' || (13900000000 + {me})",
                "name": f"'{name}' || i",
                "home_site_id": home or "NULL",
                "is_active": "TRUE",
                "created_at": ":t0",
                "updated_at": ":t0",
            },
            {"t0": t0},
            ts,
        )

    center_mgr = people(CENTER_MANAGERS, "中心站长", None)
    institute_mgr = people(INSTITUTES * INSTITUTE_MANAGERS, "所长", None)
    station_mgr = people(stations, "站长", None)
    resident = people(stations * RESIDENTS, "居民", f"({station} + i / {RESIDENTS})")
    volunteer = people(stations * VOLUNTEERS, "志愿者", f"({station} + i / {VOLUNTEERS})")
    users = 2 + INSTITUTES * INSTITUTE_MANAGERS + stations * (1 + RESIDENTS + VOLUNTEERS)

    def grants(role: str, site: str | None, first: int, count: int) -> None:
        scope = f"'site:' || {site}" if site else "'-'"
        conn.execute(
            sa.text(
                "INSERT INTO role_grants (user_id, role, scope, site_id, created_at) "
                f"SELECT id, '{role}', {scope}, {site or 'NULL'}, :t0 FROM users "
                "WHERE id BETWEEN :first AND :last"
            ).bindparams(sa.bindparam("t0", type_=UTCDateTime)),
            {"t0": t0, "first": first, "last": first + count - 1},
        )

    grants("resident", None, center_mgr, users)  # everyone registered is a resident
    grants("manager", str(center), center_mgr, CENTER_MANAGERS)
    grants(
        "manager",
        f"({institute} + (id - {institute_mgr}) / {INSTITUTE_MANAGERS})",
        institute_mgr,
        INSTITUTES * INSTITUTE_MANAGERS,
    )
    grants("manager", f"({station} + (id - {station_mgr}))", station_mgr, stations)
    grants("volunteer", "home_site_id", volunteer, stations * VOLUNTEERS)
    conn.execute(
        sa.text(
            "INSERT INTO volunteer_profiles "
            "(user_id, site_id, volunteer_no, skills, category_ids, approved_at) "
            "SELECT id, home_site_id, 'ZY' || id, '[]', '[]', :t0 FROM users "
            "WHERE id BETWEEN :first AND :last"
        ).bindparams(sa.bindparam("t0", type_=UTCDateTime)),
        {"t0": t0, "first": volunteer, "last": volunteer + stations * VOLUNTEERS - 1},
    )

    # Rules: station k has rule j (j = 0, 1, and 2 when k is odd) of kind (k + j) % 4.
    specs = [rule_specs.normalize(spec) for spec in SPECS]
    rule_count = 0
    per_spec: Counter[int] = Counter()
    for j in range(3):
        for c, spec in enumerate(specs):
            k = f"(id - {station})"
            where = f"kind = 'station' AND ({k} + {j}) % 4 = {c}" + (f" AND {k} % 2 = 1" if j == 2 else "")
            made = conn.execute(
                sa.text(
                    "INSERT INTO service_day_rules (site_id, spec, theme, title, category_id, address, lat, "
                    "lng, slots, waitlist_max, active, created_by_id, created_at, updated_at) "
                    f"SELECT id, :spec, '志愿服务日', name || '服务日{j}', {category}, name, lat, lng, "
                    f"20, 5, TRUE, {station_mgr} + {k}, :t0, :t0 FROM sites WHERE {where}"
                ).bindparams(sa.bindparam("t0", type_=UTCDateTime), sa.bindparam("spec", type_=sa.JSON)),
                {"t0": t0, "spec": spec},
            ).rowcount
            per_spec[c] += made
            rule_count += made

    # Orders, kind by kind; order g (over all kinds) belongs to station g % stations.
    offset = 0
    for kind, count in zip(KINDS, kind_counts(orders), strict=True):
        g = f"({offset} + i)"
        k = f"({g} % {stations})"
        site = f"({station} + {k})"
        columns = {
            "site_id": site,
            "dispatch_site_id": f"CASE WHEN {g} % 5 = 0 THEN {center} ELSE {site} END",
            "resident_id": f"({resident} + {k} * {RESIDENTS} + ({g} / {stations}) % {RESIDENTS})",
            "category_id": str(category),
            "title": f"'基准订单' || {g}",
            "address": "'基准路1号'",
            "lat": f"(30.0 + ({k} % 100) * 0.01)",
            "lng": f"(120.0 + ({k} / 100) * 0.01)",
            "volunteers_needed": str(max(kind.capacity, 1)),
            "target_groups": "'[]'",
            "status": f"'{kind.status}'",
            "mode": f"'{kind.mode}'" if kind.mode else "NULL",
            "capacity": str(kind.capacity),
            "taken": str(kind.taken),
            "rating_state": "'pending'" if kind.rating else "NULL",
            "created_at": ":t0",
            "updated_at": ":t0",
        }
        params = {"t0": t0}
        types = dict(ts)
        for column in TIME_COLUMNS:
            if kind.times.get(column) is not None:
                columns[column] = f":{column}"
                params[column] = deadline_now + kind.times[column]
                types[column] = UTCDateTime
        first = insert(conn, "orders", count, columns, params, types)
        offset += count
        if kind.assignment and count:
            assign(
                conn,
                kind,
                first,
                count,
                t0,
                deadline_now,
                station=station,
                manager=station_mgr,
                volunteer=volunteer,
            )
    harness.fix_sequences(conn, ["sites", "users", "orders"])
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("ANALYZE"))

    zone = "Asia/Shanghai"  # the deployment default; no site overrides it here
    from volunteer_app.activities import service_days

    (year, month) = service_days.next_months(generate_now, zone, 2)[1]
    expected = sum(
        per_spec[c]
        * sum(1 for o in rule_specs.occurrences_in_month(spec, zone, year, month) if o.start > generate_now)
        for c, spec in enumerate(specs)
    )
    return Built(stations, orders, rule_count, users, expected)


def assign(
    conn,
    kind: Kind,
    first: int,
    count: int,
    t0: datetime,
    now: datetime,
    *,
    station: int,
    manager: int,
    volunteer: int,
) -> None:
    """One assignment per order of this kind (orders first … first + count - 1), for one of the five
    volunteers of the order's station."""
    from volunteer_app.db import UTCDateTime

    if kind.assignment == "offered":
        stamp = {"offered_by_id": f"({manager} + site_id - {station})"}
    else:
        stamp = {"held_at": ":t0"}
        if kind.assignment in ("checked_in", "checked_out"):
            stamp.update(checkin_at=":start", checkin_ok="TRUE")
        if kind.assignment == "checked_out":
            stamp.update(checkout_at=":end", checkout_ok="TRUE", minutes_computed="120")
    times = {"t0": t0, "start": now + kind.times["window_start"], "end": now + kind.times["window_end"]}
    used = [name for name in times if f":{name}" in " ".join(stamp.values()) or name == "t0"]
    who = f"{volunteer} + (site_id - {station}) * {VOLUNTEERS} + id % {VOLUNTEERS}"
    conn.execute(
        sa.text(
            f"INSERT INTO assignments (order_id, site_id, volunteer_id, kind, status, {', '.join(stamp)}, "
            f"created_at, updated_at) SELECT id, site_id, {who}, "
            f"'{'offer' if kind.assignment == 'offered' else 'grab'}', '{kind.assignment}', "
            f"{', '.join(stamp.values())}, :t0, :t0 FROM orders WHERE id BETWEEN :first AND :last"
        ).bindparams(*(sa.bindparam(name, type_=UTCDateTime) for name in used)),
        {**{name: times[name] for name in used}, "first": first, "last": first + count - 1},
    )


# ---- the children ------------------------------------------------------------------------------------


def child(step: str, url: str, fire: str | None, heap: bool, profile: str | None) -> None:
    """One measured step in this (fresh) process; the parent reads the JSON line it prints."""
    from volunteer_app.extensions import db
    from volunteer_app.scheduler.models import JobRun
    from volunteer_app.scheduler.registry import registered
    from volunteer_app.scheduler.runner import occurrence_key, run_occurrence

    app = harness.make_app(url)
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))  # connect before the clock starts
        db.session.rollback()

        def run() -> dict:
            if step == "baseline":
                db.session.execute(sa.text("SELECT 1"))
                db.session.rollback()
                return {}
            job = registered()[step]
            fire_time = datetime.fromisoformat(fire)
            outcome = run_occurrence(job, fire_time)
            result = db.session.scalar(
                sa.select(JobRun.result).where(
                    JobRun.job == job.id, JobRun.occurrence_key == occurrence_key(fire_time)
                )
            )
            db.session.rollback()
            return {"outcome": outcome, **(result or {})}

        where = None
        if profile:
            name = f"{step}_{sa.make_url(url).database.rsplit('/', 1)[-1]}_{fire or ''}"
            where = Path(profile) / re.sub(r"[^A-Za-z0-9_-]", "", name.replace(".db", "").replace(".", "_"))
        harness.child_report(run, heap=heap, profile=where)


def counts(conn) -> dict[str, int]:
    tables = ("activities", "order_events", "notifications", "notification_outbox", "job_runs")
    return {t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar() for t in tables}


# ---- one size on one database ------------------------------------------------------------------------


@dataclass
class Row:
    database: str
    stations: int
    orders: int
    step: str
    rows: int | None
    m: harness.Measurement
    base: harness.Measurement
    check: str
    detail: str = ""


def run_size(
    url: str, label: str, stations: int, orders: int, args, log: Path
) -> tuple[list[Row], dict, dict]:
    import time

    from volunteer_app.extensions import db
    from volunteer_app.scheduler.registry import registered, scheduler_timezone
    from volunteer_app.scheduler.runner import occurrences

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    deadline_now = now
    app = harness.make_app(url)
    with app.app_context():
        # The newest monthly fire time: it generates the month after it.
        generate_now = occurrences(
            registered()[GENERATE], now - timedelta(days=62), now, tz=scheduler_timezone()
        )[-1]
    harness.migrate(app)
    with app.app_context():
        started = time.perf_counter()
        with db.engine.begin() as conn:
            built = fill(
                conn, stations=stations, orders=orders, deadline_now=deadline_now, generate_now=generate_now
            )
        built.seconds = time.perf_counter() - started
        with db.engine.connect() as conn:
            machine = harness.machine(conn)
        db.engine.dispose()
    print(
        f"[{label} {stations}/{orders}] filled in {built.seconds:.1f}s: {built.users} users, "
        f"{built.rules} rules, {orders} orders",
        file=sys.stderr,
    )

    def measure(step: str, fire: datetime | None = None) -> harness.Measurement:
        extra = ["--url", url] + (["--fire", fire.isoformat()] if fire else [])
        extra += ["--heap"] if args.heap else []
        extra += ["--profile", args.profile] if args.profile else []
        m = harness.measure(MODULE, step, extra, log=log)
        print(
            f"[{label} {stations}/{orders}] {step} {fire or ''}: {m.seconds:.2f}s, "
            f"{m.maxrss_mib:.0f} MiB, {m.result}",
            file=sys.stderr,
        )
        return m

    def after() -> dict[str, int]:
        engine = sa.create_engine(harness.render(harness.psycopg_url(url)))
        with engine.connect() as conn:
            found = counts(conn)
        engine.dispose()
        return found

    rows: list[Row] = []
    base = measure("baseline")
    rows.append(Row(label, stations, orders, "baseline (app + SELECT 1)", None, base, base, ""))

    gen = measure(GENERATE, generate_now)
    have = after()
    made = gen.result.get("activities")
    ok = gen.result.get("outcome") == "ran" and made == built.expected_activities == have["activities"]
    rows.append(
        Row(
            label,
            stations,
            orders,
            f"generate next month ({built.rules} rules)",
            made,
            gen,
            base,
            "ok" if ok else f"expected {built.expected_activities}",
        )
    )
    again = measure(GENERATE, generate_now + M)
    ok = again.result.get("outcome") == "ran" and again.result.get("activities") == 0
    rows.append(
        Row(
            label,
            stations,
            orders,
            "generate again (same month)",
            again.result.get("activities"),
            again,
            base,
            "ok" if ok else "expected 0",
        )
    )

    before = after()
    sweep = measure(DEADLINES, deadline_now)
    side = {k: v - before[k] for k, v in after().items()}
    moved = {k: v for k, v in sweep.result.items() if k != "outcome"}
    expected = expected_moves(orders)
    ok = sweep.result.get("outcome") == "ran" and moved == expected
    detail = ", ".join(f"{k} {v}" for k, v in moved.items())
    rows.append(
        Row(
            label,
            stations,
            orders,
            f"deadlines sweep ({orders} late orders)",
            sum(moved.values()),
            sweep,
            base,
            "ok" if ok else f"expected {expected}",
            detail,
        )
    )
    again = measure(DEADLINES, deadline_now + M)
    moved_again = sum(v for k, v in again.result.items() if k != "outcome")
    ok = again.result.get("outcome") == "ran" and moved_again == 0
    rows.append(
        Row(
            label,
            stations,
            orders,
            "deadlines again (next minute)",
            moved_again,
            again,
            base,
            "ok" if ok else "expected 0",
        )
    )
    return rows, machine, {"side_effects": side, "fill_seconds": built.seconds, "users": built.users}


# ---- the report --------------------------------------------------------------------------------------

HEADERS = [
    "db",
    "stations / orders",
    "step",
    "rows",
    "job s",
    "rows/s",
    "child s",
    "× base time",
    "peak RSS MiB",
    "× base RSS",
    "py heap peak MiB",
    "check",
]


def table(rows: list[Row]) -> str:
    out = []
    for r in rows:
        rate = r.rows / r.m.seconds if r.rows and r.m.seconds > 0 else None
        out.append(
            [
                r.database,
                f"{r.stations} / {r.orders}",
                r.step,
                r.rows,
                r.m.seconds,
                rate,
                r.m.child_seconds,
                r.m.child_seconds / r.base.child_seconds,
                r.m.maxrss_mib,
                r.m.maxrss_mib / r.base.maxrss_mib,
                r.m.heap_peak_mib,
                r.check or "",
            ]
        )
    headers = HEADERS
    if all(r.m.heap_peak_mib is None for r in rows):  # not measured (no --heap): drop the column
        at = HEADERS.index("py heap peak MiB")
        headers = HEADERS[:at] + HEADERS[at + 1 :]
        out = [row[:at] + row[at + 1 :] for row in out]
    return harness.markdown_table(headers, out)


def scaling(rows: list[Row]) -> list[str]:
    """For each step and database: large size against small (time should grow ~10×, memory not)."""
    lines = []
    by = {(r.database, r.stations, r.step.split(" (")[0]): r for r in rows}
    for database in dict.fromkeys(r.database for r in rows):
        sizes = sorted({r.stations for r in rows if r.database == database})
        if len(sizes) < 2:
            continue
        small, large = sizes[0], sizes[-1]
        for step in ("generate next month", "deadlines sweep"):
            a, b = by.get((database, small, step)), by.get((database, large, step))
            if not (a and b and a.m.seconds):
                continue
            lines.append(
                f"- {database}, {step}: {large}/{small} stations → time ×{b.m.seconds / a.m.seconds:.1f} "
                f"(rows ×{(b.rows or 0) / max(a.rows or 1, 1):.1f}), "
                f"peak RSS ×{b.m.maxrss_mib / a.m.maxrss_mib:.2f}"
                + (
                    f", Python heap peak ×{b.m.heap_peak_mib / a.m.heap_peak_mib:.1f} "
                    f"({a.m.heap_peak_mib:.1f} → {b.m.heap_peak_mib:.1f} MiB)"
                    if a.m.heap_peak_mib and b.m.heap_peak_mib
                    else ""
                )
            )
    return lines


def report(
    rows: list[Row], machines: dict[str, dict], notes: dict[str, dict], command: str, total: float
) -> str:
    first = next(iter(machines.values()))
    lines = [
        "# Scheduler jobs at scale (issue 5)",
        "",
        f"Run {first['date']} with `{command}` ({total / 60:.1f} min in all).",
        "",
        f"Machine: {first['cpu']}, {first['cores']} cores, {first['ram']} RAM, {first['os']}; "
        f"Python {first['python']}, SQLAlchemy {first['sqlalchemy']}"
        + "".join(f"; {db} {m[db]}" for db, m in machines.items() if db in m)
        + ".",
        "",
        table(rows),
        "",
        "Scaling (the large size against the small one):",
        "",
        *scaling(rows),
        "",
        "Deadline steps moved and side effects written:",
        "",
    ]
    for r in rows:
        if r.detail:
            side = notes[f"{r.database} {r.stations}"]["side_effects"]
            lines.append(
                f"- {r.database} {r.stations}/{r.orders}: {r.detail}; wrote {side['order_events']} events, "
                f"{side['notifications']} inbox and {side['notification_outbox']} outbox rows"
            )
    lines += [
        "",
        "Filling (not measured as a job): "
        + "; ".join(f"{k} {v['fill_seconds']:.1f}s ({v['users']} users)" for k, v in notes.items()),
        "",
    ]
    return "\n".join(lines)


# ---- main --------------------------------------------------------------------------------------------


def parse_scales(text: str) -> list[tuple[int, int]]:
    scales = []
    for part in text.split(","):
        stations, _, orders = part.partition(":")
        scales.append((int(stations), int(orders)))
    return sorted(scales)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default=harness.DEFAULT_SERVER,
        help="PostgreSQL server to create the throwaway databases on (default %(default)s)",
    )
    parser.add_argument("--scales", default=DEFAULT_SCALES, help="stations:orders,… (default %(default)s)")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--sqlite", action="store_true", help="also run on SQLite, at --sqlite-scales")
    parser.add_argument("--sqlite-scales", default=DEFAULT_SQLITE_SCALES, help="(default %(default)s)")
    parser.add_argument("--keep", action="store_true", help="keep the databases (their names are printed)")
    parser.add_argument(
        "--heap",
        action="store_true",
        help="also trace the Python heap peak (tracemalloc) in the children: roughly doubles job times",
    )
    parser.add_argument("--profile", metavar="DIR", help="run the children under cProfile, stats to DIR")
    parser.add_argument("--output", default=str(harness.ROOT / "bench/results/scheduler_scale.md"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--fire", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        child(args.child, args.url, args.fire, args.heap, args.profile)
        return 0

    import time

    started = time.perf_counter()
    log = Path(harness.ROOT / "bench/results/scheduler_scale.raw")  # the children's stderr (git-ignored)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("")
    plan = []
    if not args.no_postgres:
        plan += [("postgresql", s, o) for s, o in parse_scales(args.scales)]
    if args.sqlite:
        plan += [("sqlite", s, o) for s, o in parse_scales(args.sqlite_scales)]
    rows: list[Row] = []
    machines: dict[str, dict] = {}
    notes: dict[str, dict] = {}
    for database, stations, orders in plan:
        name = harness.unique_name(f"bench_sched_s{stations}")
        if database == "postgresql":
            place = harness.postgres_database(args.database_url, name, keep=args.keep)
        else:
            place = harness.sqlite_database(name, keep=args.keep)
        with place as url:
            if args.keep:
                print(f"database: {url}", file=sys.stderr)
            got, machine, note = run_size(url, database, stations, orders, args, log)
        rows += got
        machines[database] = machine
        notes[f"{database} {stations}"] = note
    command = "python -m bench.scheduler_scale " + " ".join(argv if argv is not None else sys.argv[1:])
    text = report(rows, machines, notes, command.strip(), time.perf_counter() - started)
    print(text)
    if not args.profile:
        Path(args.output).write_text(text)
        print(f"\nwritten to {args.output}; children's logs in {log}", file=sys.stderr)
    failed = [r for r in rows if r.check not in ("", "ok")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
