"""Issue 6's data generator: fill a database at city scale, restartably, for the load scenarios.

    .venv/bin/python -m bench.citygen --database-url postgresql://postgres@127.0.0.1:5432/city --create
    .venv/bin/python -m bench.citygen --database-url sqlite:////tmp/city_tiny.db --scale tiny

Scales (every count × 1/10 from one to the next): city = 1 center, 20 institutes, 2,000 stations,
1,000,000 volunteers (phone, password, volunteer grant, profile, time book), 50,000 residents,
1,000,000 orders across every state (with their assignments), 10,000,000 ledger transfers (two entries
each, hash-chained, balances and lifetime minutes consistent: `flask timebank verify` passes);
small = 1/10, tiny = 1/100.

The database named by the URL is used as it is (migrated first if it has no tables; `--create` creates
it on the server). Work is split into phases recorded in `bench_progress(phase, rows, seconds,
finished_at)`: a rerun skips the phases done. Every phase but the ledger is one transaction, so an
interrupted phase leaves nothing behind; the ledger commits in chunks of transfers (with their entries)
and resumes after the last committed transfer, rebuilding the running balances from the entries.
Results: bench/results/citygen_<scale>.md (per phase rows, seconds, rows/s, database size, machine)
and bench/results/citygen_<scale>.json (ids a load test needs).
"""

from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from array import array
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import sqlalchemy as sa

from bench import harness

RESULTS = harness.ROOT / "bench" / "results"
PASSWORD = "bench-password-2026"
SCALES = {"city": 1.0, "small": 0.1, "tiny": 0.01}
CHUNK = 50_000  # ledger transfers per committed chunk (--chunk)
PHASES = ("sites", "users", "books", "orders", "ledger", "balances", "finish")

# Order kinds: (name, share ‰, status, mode, capacity, taken, assignment status, when).
# when: "future" (1–7 days ahead), "now" (started an hour ago), "recent" (1–2 days ago), "past" (the
# past year). Each order has at most one assignment, so `taken` counts it when it holds a slot.
# fmt: off
KINDS = (
    ("submitted", 50, "submitted", None, 0, 0, None, "future"),
    ("rejected", 20, "rejected", None, 0, 0, None, "past"),
    ("open grab pool", 80, "dispatched", "grab", 3, 1, "held", "future"),
    ("offered", 30, "dispatched", "assign", 1, 0, "offered", "future"),
    ("staffed", 50, "staffed", "grab", 1, 1, "held", "future"),
    ("in service", 20, "in_service", "grab", 1, 1, "checked_in", "now"),
    ("completed", 50, "completed", "grab", 1, 1, "checked_out", "recent"),
    ("closed", 550, "closed", "grab", 1, 1, "audited", "past"),
    ("cancelled", 80, "cancelled", None, 0, 0, None, "past"),
    ("expired", 70, "expired", "grab", 2, 0, None, "past"),
)
# fmt: on
assert sum(k[1] for k in KINDS) == 1000


# ---- layout -------------------------------------------------------------------------------------------


def layout(scale: str) -> dict[str, int]:
    f = SCALES[scale]
    stations = int(2000 * f)
    return {
        "institutes": max(1, int(20 * f)),
        "stations": stations,
        "volunteers": int(1_000_000 * f),
        "residents": int(50_000 * f),
        "orders": int(1_000_000 * f),
        "transfers": int(10_000_000 * f),
        "per_station": int(1_000_000 * f) // stations,
    }


def station_lat(k: str) -> str:
    return f"(30.0 + ({k} % 50) * 0.01)"


def station_lng(k: str) -> str:
    return f"(120.0 + ({k} / 50) * 0.01)"


def shift(dialect: str, base: str, minutes: str) -> str:
    """SQL: timestamp `base` (a bound parameter or column) plus `minutes` (an integer expression)."""
    if dialect == "postgresql":
        return f"({base} + CAST({minutes} AS INTEGER) * INTERVAL '1 minute')"
    return f"strftime('%Y-%m-%d %H:%M:%f', {base}, ({minutes}) || ' minutes')"


# ---- progress -----------------------------------------------------------------------------------------


def ensure_tables(conn) -> None:
    conn.execute(
        sa.text(
            "CREATE TABLE IF NOT EXISTS bench_progress (phase VARCHAR(32) PRIMARY KEY, rows BIGINT, "
            "seconds DOUBLE PRECISION, finished_at VARCHAR(40))"
        )
    )
    conn.execute(
        sa.text("CREATE TABLE IF NOT EXISTS bench_layout (name VARCHAR(32) PRIMARY KEY, value BIGINT)")
    )


def done_phases(conn) -> dict[str, tuple[int, float, str]]:
    rows = conn.execute(sa.text("SELECT phase, rows, seconds, finished_at FROM bench_progress"))
    return {phase: (n, s, at) for phase, n, s, at in rows}


def record(conn, phase: str, rows: int, seconds: float) -> None:
    conn.execute(
        sa.text("INSERT INTO bench_progress (phase, rows, seconds, finished_at) VALUES (:p, :r, :s, :at)"),
        {"p": phase, "r": rows, "s": seconds, "at": datetime.now(UTC).isoformat(timespec="seconds")},
    )


def get_layout(conn) -> dict[str, int]:
    return dict(conn.execute(sa.text("SELECT name, value FROM bench_layout")).all())


def put_layout(conn, values: dict[str, int]) -> None:
    for name, value in values.items():
        conn.execute(
            sa.text("INSERT INTO bench_layout (name, value) VALUES (:n, :v)"), {"n": name, "v": value}
        )


# ---- phases -------------------------------------------------------------------------------------------


def phase_sites(conn, lay: dict, now: datetime) -> int:
    from volunteer_app.db import UTCDateTime

    ts = {"t0": UTCDateTime}
    t0 = {"t0": now - timedelta(days=400)}
    me = "(CAST(:base AS BIGINT) + i)"
    center = harness.insert_series(
        conn,
        "sites",
        1,
        {"kind": "'center'", "name": "'城市实践中心'", "code": "'CG-C'", "path": f"'/' || {me} || '/'",
         "lat": "30.25", "lng": "120.25", "settings": "'{}'", "created_at": ":t0"},
        t0, ts,
    )  # fmt: skip
    institute = harness.insert_series(
        conn,
        "sites",
        lay["institutes"],
        {"kind": "'institute'", "name": "'实践所' || i", "code": "'CG-I' || i", "parent_id": str(center),
         "path": f"'/{center}/' || {me} || '/'", "lat": "30.25", "lng": "120.25", "settings": "'{}'",
         "created_at": ":t0"},
        t0, ts,
    )  # fmt: skip
    parent = f"({institute} + (i % {lay['institutes']}))"
    station = harness.insert_series(
        conn,
        "sites",
        lay["stations"],
        {"kind": "'station'", "name": "'实践站' || i", "code": "'CG-S' || i", "parent_id": parent,
         "path": f"'/{center}/' || {parent} || '/' || {me} || '/'", "address": "'实践站路' || i || '号'",
         "lat": station_lat("i"), "lng": station_lng("i"), "settings": "'{}'", "created_at": ":t0"},
        t0, ts,
    )  # fmt: skip
    category = conn.execute(sa.text("SELECT MIN(id) FROM categories WHERE active")).scalar()
    put_layout(conn, {"center": center, "institute": institute, "station": station, "category": category})
    return 1 + lay["institutes"] + lay["stations"]


def phase_users(conn, lay: dict, now: datetime) -> int:
    from volunteer_app.auth.passwords import hash_password
    from volunteer_app.db import UTCDateTime

    base = get_layout(conn)
    password = hash_password(PASSWORD)  # once: every bench user shares it
    ts = {"t0": UTCDateTime}
    me = "(CAST(:base AS BIGINT) + i)"

    def people(count: int, name: str, home: str | None) -> int:
        return harness.insert_series(
            conn,
            "users",
            count,
            {"phone": f"'+86' || (13900000000 + {me})", "password_hash": ":pw", "name": f"'{name}' || i",
             "home_site_id": home or "NULL", "is_active": "TRUE", "created_at": ":t0", "updated_at": ":t0"},
            {"t0": now - timedelta(days=400), "pw": password},
            ts,
        )  # fmt: skip

    st, per = base["station"], lay["per_station"]
    ids = {
        "admin": people(1, "管理员", None),
        "center_mgr": people(2, "中心主任", None),
        "institute_mgr": people(2 * lay["institutes"], "所长", None),
        "station_mgr": people(lay["stations"], "站长", f"({st} + i)"),
        "resident": people(lay["residents"], "居民", f"({st} + i % {lay['stations']})"),
        "volunteer": people(lay["volunteers"], "志愿者", f"({st} + i / {per})"),
    }
    users = 1 + 2 + 2 * lay["institutes"] + lay["stations"] + lay["residents"] + lay["volunteers"]

    made = [users]

    def grants(role: str, site: str | None, first: int, count: int) -> None:
        scope = f"'site:' || {site}" if site else "'-'"
        made[0] += conn.execute(
            sa.text(
                "INSERT INTO role_grants (user_id, role, scope, site_id, created_at) "
                f"SELECT id, '{role}', {scope}, {site or 'NULL'}, created_at FROM users "
                "WHERE id BETWEEN :first AND :last"
            ),
            {"first": first, "last": first + count - 1},
        ).rowcount

    grants("resident", None, ids["admin"], users)  # everyone registered is a resident
    grants("admin", None, ids["admin"], 1)
    grants("manager", str(base["center"]), ids["center_mgr"], 2)
    grants("manager", f"({base['institute']} + (id - {ids['institute_mgr']}) / 2)", ids["institute_mgr"],
           2 * lay["institutes"])  # fmt: skip
    grants("manager", "home_site_id", ids["station_mgr"], lay["stations"])
    grants("volunteer", "home_site_id", ids["volunteer"], lay["volunteers"])
    made[0] += conn.execute(
        sa.text(
            "INSERT INTO volunteer_profiles "
            "(user_id, site_id, volunteer_no, skills, category_ids, approved_at) "
            "SELECT id, home_site_id, 'ZY' || id, '[]', '[]', created_at FROM users "
            "WHERE id BETWEEN :first AND :last"
        ),
        {"first": ids["volunteer"], "last": ids["volunteer"] + lay["volunteers"] - 1},
    ).rowcount
    put_layout(conn, ids)
    return made[0]


def phase_books(conn, lay: dict, now: datetime) -> int:
    """One time book per volunteer (issued by the home station), an issuance and a donation account per
    station, the redemption account. Balances are set by the `balances` phase."""
    from volunteer_app.db import UTCDateTime

    base = get_layout(conn)
    if conn.dialect.name == "postgresql":
        no = "'SJ' || lpad(CAST(home_site_id AS TEXT), 6, '0') || lpad(CAST(id AS TEXT), 10, '0')"
    else:
        no = "'SJ' || printf('%06d', home_site_id) || printf('%010d', id)"
    book = harness.next_id(conn, "time_accounts")
    conn.execute(
        sa.text(
            "INSERT INTO time_accounts (id, key, kind, user_id, site_id, book_no, balance, lifetime_minutes, "
            "star_level, created_at) "
            f"SELECT :book + id - :first, 'book:' || id, 'book', id, home_site_id, {no}, "
            "0, 0, 0, created_at FROM users WHERE id BETWEEN :first AND :last"
        ),
        {"book": book, "first": base["volunteer"], "last": base["volunteer"] + lay["volunteers"] - 1},
    )
    ts = {"t0": UTCDateTime}
    t0 = {"t0": now - timedelta(days=400)}
    site = f"({base['station']} + i)"
    common = {"balance": "0", "lifetime_minutes": "0", "star_level": "0", "created_at": ":t0"}
    issuance = harness.insert_series(
        conn, "time_accounts", lay["stations"],
        {"key": f"'issuance:' || {site}", "kind": "'issuance'", "site_id": site, **common}, t0, ts,
    )  # fmt: skip
    donation = harness.insert_series(
        conn, "time_accounts", lay["stations"],
        {"key": f"'donation:' || {site}", "kind": "'donation'", "site_id": site, **common}, t0, ts,
    )  # fmt: skip
    redemption = harness.insert_series(
        conn, "time_accounts", 1, {"key": "'redemption'", "kind": "'redemption'", **common}, t0, ts
    )
    put_layout(conn, {"book": book, "issuance": issuance, "donation": donation, "redemption": redemption})
    return lay["volunteers"] + 2 * lay["stations"] + 1


def phase_orders(conn, lay: dict, now: datetime) -> int:
    from volunteer_app.db import UTCDateTime

    base = get_layout(conn)
    d = conn.dialect.name
    stations, per = lay["stations"], lay["per_station"]
    first_order = harness.next_id(conn, "orders")
    put_layout(conn, {"order": first_order})
    offset, made = 0, 0
    counts = [lay["orders"] * share // 1000 for _, share, *_ in KINDS]
    counts[KINDS.index(next(k for k in KINDS if k[0] == "closed"))] += lay["orders"] - sum(counts)
    for (name, _, status, mode, capacity, taken, assignment, when), count in zip(KINDS, counts, strict=True):
        g = f"({offset} + i)"
        k = f"({g} % {stations})"
        start = {
            "future": f"(1440 + ({g} % 7) * 1440 + ({g} % 10) * 60)",
            "now": "(-60)",
            "recent": f"(-1440 * (1 + {g} % 2))",
            "past": f"(-1440 * (3 + {g} % 360) + ({g} % 10) * 60)",
        }[when]
        at = lambda minutes, start=start: shift(d, ":now", f"({start} + {minutes})")  # noqa: E731
        created = shift(d, ":now", f"(-1440 - {g} % 1440)") if when in ("future", "now") else at(-2880)
        manager = f"({base['station_mgr']} + {k})"
        columns = {
            "site_id": f"({base['station']} + {k})",
            "dispatch_site_id": f"({base['station']} + {k})",
            "resident_id": f"({base['resident']} + {k} + {stations} * (({g} / {stations}) % "
            f"{max(1, lay['residents'] // stations)}))",
            "category_id": str(base["category"]),
            "title": f"'{name}服务' || {g}",
            "address": f"'实践站路' || {k} || '号附近'",
            # Within ~300 m of the station.
            "lat": f"({station_lat(k)} + ({g} % 7 - 3) * 0.001)",
            "lng": f"({station_lng(k)} + ({g} % 5 - 2) * 0.001)",
            "window_start": at(0),
            "window_end": at(120),
            "checkin_due_at": at(30),
            "checkout_due_at": at(150),
            "volunteers_needed": str(max(capacity, 1)),
            "target_groups": "'[\"elderly_alone\"]'",
            "status": f"'{status}'",
            "mode": f"'{mode}'" if mode else "NULL",
            "capacity": str(capacity),
            "taken": str(taken),
            "created_at": created,
            "updated_at": created,
        }
        if status == "submitted":
            columns["dispatch_due_at"] = shift(d, ":now", f"(60 + {g} % 600)")
        if mode:
            columns["dispatched_by_id"] = manager
            columns["fill_due_at"] = at(-120)
        if status in ("rejected", "cancelled"):
            columns["reason"] = "'不在服务范围'" if status == "rejected" else "'居民取消'"
            columns["closed_at"] = at(-600)
        if status == "expired":
            columns["closed_at"] = at(-90)
        if status in ("completed", "closed"):
            columns["completed_at"] = at(120)
        if status == "completed":
            columns["audit_due_at"] = at(120 + 3 * 1440)
            columns["rating_state"] = "'pending'"
            columns["rating_due_at"] = at(120 + 7 * 1440)
        if status == "closed":
            columns["audited_by_id"] = manager
            columns["closed_at"] = at(1440)
            columns["rating_state"] = f"CASE WHEN {g} % 3 = 0 THEN 'rated' ELSE 'unrated' END"
            columns["rating_stars"] = f"CASE WHEN {g} % 3 = 0 THEN 4 + {g} % 2 END"
            columns["rated_at"] = f"CASE WHEN {g} % 3 = 0 THEN {at(2000)} END"
        first = harness.insert_series(conn, "orders", count, columns, {"now": now}, {"now": UTCDateTime})
        made += count
        if assignment and count:
            made += assign(conn, assignment, first, count, base, first_order, stations, per)
        offset += count
    return made


def assign(conn, status: str, first: int, count: int, base: dict, first_order: int, stations: int, per: int):
    """One assignment per order, for a volunteer of the order's station (never twice the same pair)."""
    who = (
        f"{base['volunteer']} + (site_id - {base['station']}) * {per} "
        f"+ ((id - {first_order}) / {stations}) % {per}"
    )
    stamp = {"offered_by_id": "dispatched_by_id"} if status == "offered" else {"held_at": "created_at"}
    if status in ("checked_in", "checked_out", "audited"):
        stamp.update(checkin_at="window_start", checkin_distance_m="35", checkin_ok="TRUE")
    if status in ("checked_out", "audited"):
        stamp.update(
            checkout_at="window_end", checkout_distance_m="40", checkout_ok="TRUE", minutes_computed="120"
        )
    if status == "audited":
        stamp.update(minutes_confirmed="120")
    kind = "offer" if status == "offered" else "grab"
    return conn.execute(
        sa.text(
            f"INSERT INTO assignments (order_id, site_id, volunteer_id, kind, status, {', '.join(stamp)}, "
            f"created_at, updated_at) SELECT id, site_id, {who}, '{kind}', '{status}', "
            f"{', '.join(stamp.values())}, created_at, updated_at FROM orders "
            "WHERE id BETWEEN :first AND :last"
        ),
        {"first": first, "last": first + count - 1},
    ).rowcount


# ---- the ledger ---------------------------------------------------------------------------------------

TRANSFER_COLUMNS = (
    "id", "kind", "from_account_id", "to_account_id", "minutes", "reference", "reverses_id", "memo",
    "service_date", "site_id", "actor_id", "created_at", "prev_hash", "hash",
)  # fmt: skip
ENTRY_COLUMNS = ("id", "transfer_id", "account_id", "amount", "balance_after", "created_at")
MINUTES = (30, 60, 60, 90, 120, 120, 180, 240)


def phase_ledger(engine, lay: dict, now: datetime, log, chunk: int = CHUNK) -> tuple[int, float]:
    """Transfers 1 … T in chunks, each committed with its entries; resumes after the last committed one.
    Returns the transfers and the seconds spent on them over every invocation."""
    from volunteer_app.timebank.ledger import transfer_hash
    from volunteer_app.timebank.models import GENESIS_HASH

    with engine.connect() as conn:
        base = get_layout(conn)
        done = conn.execute(sa.text("SELECT COALESCE(MAX(id), 0) FROM time_transfers")).scalar()
        prev = GENESIS_HASH
        if done:
            prev = conn.execute(
                sa.text("SELECT hash FROM time_transfers WHERE id = :id"), {"id": done}
            ).scalar()
        n_books = lay["volunteers"]
        per = lay["per_station"]
        balance = array("q", bytes(8 * n_books))  # running balances of the books, by book index
        if done:
            rows = conn.execute(
                sa.text(
                    "SELECT account_id, SUM(amount) FROM time_entries WHERE account_id BETWEEN :a AND :b "
                    "GROUP BY account_id"
                ),
                {"a": base["book"], "b": base["book"] + n_books - 1},
            )
            for account_id, total in rows:
                balance[account_id - base["book"]] = total
            log(f"ledger: resuming after transfer {done}")
    total = lay["transfers"]
    start = now - timedelta(days=365)
    step_us = max(1, int(365 * 86400 * 1e6) // max(total, 1))
    book, iss, don, red = base["book"], base["issuance"], base["donation"], base["redemption"]
    postgres = engine.dialect.name == "postgresql"
    superuser = False
    if postgres:
        with engine.connect() as conn:
            superuser = conn.execute(
                sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar()
    made = 0
    clock = time.perf_counter()
    while done < total:
        last = min(done + chunk, total)
        rng = random.Random(last)  # the chunk's draws depend on its place only
        transfers, entries = [], []
        for n in range(done + 1, last + 1):
            v = rng.randrange(n_books)
            k = v // per
            r = rng.random()
            minutes = MINUTES[rng.randrange(len(MINUTES))]
            kind = "credit"
            if r >= 0.70 and balance[v] >= minutes:
                kind = (
                    "redeem" if r < 0.85 else "gift" if r < 0.92 else "donate" if r < 0.97 else "adjustment"
                )
            created = start + timedelta(microseconds=n * step_us)
            if kind in ("credit", "adjustment"):
                if kind == "adjustment":
                    minutes = 30
                src, dst, dst_book = iss + k, book + v, v
                balance[v] += minutes
                src_after, dst_after = None, balance[v]
            elif kind == "gift":
                w = k * per + (v % per + 1 + rng.randrange(per - 1)) % per if per > 1 else v
                if w == v:
                    kind, src, dst, dst_book = "donate", book + v, don + k, None
                else:
                    src, dst, dst_book = book + v, book + w, w
            elif kind == "donate":
                src, dst, dst_book = book + v, don + k, None
            else:
                src, dst, dst_book = book + v, red, None
            if kind in ("redeem", "gift", "donate"):
                balance[v] -= minutes
                src_after = balance[v]
                if dst_book is not None:
                    balance[dst_book] += minutes
                    dst_after = balance[dst_book]
                else:
                    dst_after = None  # not a book: filled in below from the running sums
            t = SimpleNamespace(
                id=n,
                kind=kind,
                from_account_id=src,
                to_account_id=dst,
                minutes=minutes,
                reference=f"service:bench:{n}" if kind == "credit" else None,
                reverses_id=None,
                memo={
                    "credit": "志愿服务",
                    "adjustment": "补录时长",
                    "redeem": "兑换",
                    "gift": "赠与家人",
                    "donate": "捐赠",
                }[kind],
                service_date=(created + timedelta(hours=8)).date()
                if kind in ("credit", "adjustment")
                else None,
                site_id=base["station"] + k,
                actor_id=base["station_mgr"] + k
                if kind in ("credit", "adjustment")
                else v + base["volunteer"],
                created_at=created,
                prev_hash=prev,
            )
            t.hash = prev = transfer_hash(t)
            transfers.append(t)
            entries.append((2 * n - 1, n, src, -minutes, src_after, created))
            entries.append((2 * n, n, dst, minutes, dst_after, created))
        with engine.begin() as conn:
            _fill_site_balances(conn, entries, book, n_books)
            if postgres:
                # Skip the foreign-key triggers for this bulk load (ids are consistent by construction;
                # needs a superuser, as the bench server's postgres is) and do not wait for the WAL flush.
                if superuser:
                    conn.execute(sa.text("SET LOCAL session_replication_role = replica"))
                conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
                _copy(
                    conn,
                    "time_transfers",
                    TRANSFER_COLUMNS,
                    ([getattr(t, c) for c in TRANSFER_COLUMNS] for t in transfers),
                )
                _copy(conn, "time_entries", ENTRY_COLUMNS, entries)
            else:
                from volunteer_app.timebank.models import Entry, Transfer

                conn.execute(
                    Transfer.__table__.insert(),
                    [{c: getattr(t, c) for c in TRANSFER_COLUMNS} for t in transfers],
                )
                conn.execute(
                    Entry.__table__.insert(), [dict(zip(ENTRY_COLUMNS, e, strict=True)) for e in entries]
                )
            # The phase's time, summed over the invocations that worked on it, committed with the chunk.
            spent = get_layout(conn).get("ledger_ms", 0) + int((time.perf_counter() - clock) * 1000)
            conn.execute(sa.text("DELETE FROM bench_layout WHERE name = 'ledger_ms'"))
            put_layout(conn, {"ledger_ms": spent})
        clock = time.perf_counter()
        made += last - done
        done = last
        log(f"ledger: {done:,} / {total:,}")
    if made:
        log(f"ledger: {made:,} transfers in this invocation")
    with engine.connect() as conn:
        return total, get_layout(conn).get("ledger_ms", 0) / 1000


_site_balances: dict[int, int] = {}


def _fill_site_balances(conn, entries: list, book: int, n_books: int) -> None:
    """Balance-after for the non-book accounts (issuance, donation, redemption): kept in a dict that is
    (re)loaded from the entries on the first chunk of a run."""
    if not _site_balances:
        _site_balances[-1] = 0  # loaded marker
        rows = conn.execute(
            sa.text(
                "SELECT account_id, SUM(amount) FROM time_entries WHERE account_id < :a OR account_id > :b "
                "GROUP BY account_id"
            ),
            {"a": book, "b": book + n_books - 1},
        )
        _site_balances.update(dict(rows.all()))
    for index, (eid, tid, account, amount, after, created) in enumerate(entries):
        if after is None:
            value = _site_balances.get(account, 0) + amount
            _site_balances[account] = value
            entries[index] = (eid, tid, account, amount, value, created)


def _copy(conn, table: str, columns, rows) -> None:
    """COPY rows into `table` (PostgreSQL, psycopg 3) through the connection's own transaction."""
    raw = conn.connection.driver_connection
    buffer = io.StringIO()

    def text(value) -> str:
        if value is None:
            return "\\N"
        if isinstance(value, datetime):
            return value.isoformat()
        return str(value)

    for row in rows:
        buffer.write("\t".join(text(v) for v in row))
        buffer.write("\n")
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())


def phase_balances(conn, lay: dict, now: datetime) -> int:
    """Cached balances and lifetime minutes from the entries, and the chain head."""
    conn.execute(
        sa.text(
            "UPDATE time_accounts SET balance = s.total FROM (SELECT account_id, SUM(amount) AS total "
            "FROM time_entries GROUP BY account_id) AS s WHERE s.account_id = time_accounts.id"
        )
    )
    conn.execute(
        sa.text(
            "UPDATE time_accounts SET lifetime_minutes = s.total FROM (SELECT to_account_id, SUM(minutes) "
            "AS total FROM time_transfers WHERE kind IN ('credit', 'adjustment', 'demo') "
            "GROUP BY to_account_id) AS s "
            "WHERE s.to_account_id = time_accounts.id AND time_accounts.kind = 'book'"
        )
    )
    last = conn.execute(sa.text("SELECT id, hash FROM time_transfers ORDER BY id DESC LIMIT 1")).first()
    conn.execute(sa.text("DELETE FROM time_ledger_head"))
    if last is not None:
        conn.execute(
            sa.text("INSERT INTO time_ledger_head (id, last_transfer_id, last_hash) VALUES (1, :id, :h)"),
            {"id": last[0], "h": last[1]},
        )
    return conn.execute(sa.text("SELECT COUNT(*) FROM time_accounts")).scalar()


def phase_finish(conn, lay: dict, now: datetime) -> int:
    harness.fix_sequences(
        conn, ["sites", "users", "time_accounts", "orders", "time_transfers", "time_entries"]
    )
    conn.execute(sa.text("ANALYZE"))
    return 0


# ---- running ------------------------------------------------------------------------------------------


def ensure_database(url: str, create: bool) -> None:
    parsed = harness.psycopg_url(url)
    if parsed.get_backend_name() != "postgresql" or not create:
        return
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": parsed.database}
        ).first()
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
    admin.dispose()


def drop_database(url: str) -> None:
    parsed = harness.psycopg_url(url)
    admin = sa.create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')
    admin.dispose()


def db_size(conn) -> int | None:
    if conn.dialect.name == "postgresql":
        return conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar()
    path = conn.engine.url.database
    return Path(path).stat().st_size if path and Path(path).exists() else None


def run(args) -> int:
    from volunteer_app.extensions import db

    ensure_database(args.database_url, args.create)
    app = harness.make_app(args.database_url)
    lay = layout(args.scale)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    with app.app_context():
        engine = db.engine
        if "alembic_version" not in sa.inspect(engine).get_table_names():
            log("migrating an empty database")
            harness.migrate(app)
        with engine.begin() as conn:
            ensure_tables(conn)
            known = get_layout(conn)
            if "scale" in known and known["scale"] != int(SCALES[args.scale] * 1000):
                raise SystemExit(f"this database was filled at another scale ({known['scale'] / 1000})")
            if not done_phases(conn) and conn.execute(sa.text("SELECT COUNT(*) FROM users")).scalar():
                raise SystemExit("the database has users but no bench_progress: not a citygen database")
            if "scale" not in known:
                put_layout(conn, {"scale": int(SCALES[args.scale] * 1000)})
            # One clock for every phase and every rerun: a resumed ledger continues the same timeline.
            if "now" not in known:
                put_layout(conn, {"now": int(datetime.now(UTC).timestamp())})
            now = datetime.fromtimestamp(get_layout(conn)["now"], UTC)
        started_all = time.perf_counter()
        steps = {"sites": phase_sites, "users": phase_users, "books": phase_books, "orders": phase_orders,
                 "balances": phase_balances, "finish": phase_finish}  # fmt: skip
        for phase in PHASES:
            with engine.connect() as conn:
                if phase in done_phases(conn):
                    log(f"{phase}: done before, skipped")
                    continue
            log(f"{phase}: …")
            started = time.perf_counter()
            if phase == "ledger":
                rows, seconds = phase_ledger(engine, lay, now, log, args.chunk)
                with engine.begin() as conn:
                    record(conn, phase, rows, seconds)
            else:
                with engine.begin() as conn:
                    rows = steps[phase](conn, lay, now)
                    record(conn, phase, rows, time.perf_counter() - started)
            log(f"{phase}: {rows:,} rows in {time.perf_counter() - started:.1f} s")
        verify_result = None
        if args.verify:
            from volunteer_app.timebank.verify import verify

            started = time.perf_counter()
            report = verify()
            verify_result = (
                report.ok,
                report.transfers,
                report.accounts,
                time.perf_counter() - started,
                report.problems[:3],
            )
            db.session.rollback()
            log(f"verify: ok={report.ok} transfers={report.transfers} in {verify_result[3]:.1f} s")
        with engine.connect() as conn:
            progress = done_phases(conn)
            size = db_size(conn)
            info = harness.machine(conn)
            facts = load_facts(conn, lay)
        write_results(
            args, lay, progress, size, info, verify_result, time.perf_counter() - started_all, facts
        )
    return 0 if verify_result is None or verify_result[0] else 1


def load_facts(conn, lay: dict) -> dict:
    """Ids a load test needs."""
    base = get_layout(conn)
    one = lambda sql, **p: conn.execute(sa.text(sql), p).first()  # noqa: E731
    pool = one(
        "SELECT o.id, o.site_id, s.lat, s.lng, a.volunteer_id FROM orders o JOIN sites s ON s.id = o.site_id "
        "JOIN assignments a ON a.order_id = o.id WHERE o.status = 'dispatched' AND o.mode = 'grab' "
        "ORDER BY o.id LIMIT 1"
    )
    station = pool[1] if pool else base["station"]
    volunteers = [
        r[0]
        for r in conn.execute(
            sa.text("SELECT id FROM users WHERE home_site_id = :s AND id >= :v ORDER BY id LIMIT 5"),
            {"s": station, "v": base["volunteer"]},
        )
    ]
    rich = one(
        "SELECT user_id, balance FROM time_accounts WHERE kind = 'book' ORDER BY balance DESC, id LIMIT 1"
    )
    open_near = conn.execute(
        sa.text("SELECT COUNT(*) FROM orders WHERE status = 'dispatched' AND mode = 'grab' AND site_id = :s"),
        {"s": station},
    ).scalar()
    return {
        "password": PASSWORD,
        "phone_of_user": "+86 + (13900000000 + user id)",
        "admin_id": base["admin"],
        "center_id": base["center"],
        "center_manager_id": base["center_mgr"],
        "station_id": station,
        "station_manager_id": base["station_mgr"] + station - base["station"],
        "station_lat": pool[2] if pool else None,
        "station_lng": pool[3] if pool else None,
        "open_pools_at_station": open_near,
        "volunteer_ids": volunteers,
        "open_pool_order_id": pool[0] if pool else None,
        "volunteer_holding_that_order": pool[4] if pool else None,
        "resident_id": base["resident"],
        "richest_book_user_id": rich[0] if rich else None,
        "richest_book_balance": rich[1] if rich else None,
        "category_id": base["category"],
        "first_ids": base,
        "counts": lay,
    }


def write_results(args, lay, progress, size, info, verify_result, seconds, facts) -> None:
    rows = []
    total_rows = total_s = 0
    for phase in PHASES:
        if phase in progress:
            n, s, at = progress[phase]
            rows.append([phase, n, s, n / s if s and n else None, at])
            total_rows += n
            total_s += s
    rows.append(["**all**", total_rows, total_s, total_rows / total_s if total_s else None, ""])
    db_name = sa.make_url(args.database_url).get_backend_name()
    lines = [
        f"# citygen {args.scale} on {db_name}",
        "",
        f"Run {info['date']} with `python -m bench.citygen --scale {args.scale}` ({seconds:.0f} s in this "
        "invocation; phase seconds are summed over the invocations that did them).",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items() if k != "date") + ".",
        "",
        f"Counts: {lay['stations']:,} stations, {lay['volunteers']:,} volunteers, {lay['residents']:,} "
        f"residents, {lay['orders']:,} orders, {lay['transfers']:,} transfers.",
        "",
        harness.markdown_table(["phase", "rows", "seconds", "rows/s", "finished at"], rows),
        "",
        f"Database size: {size / 2**20:,.0f} MiB." if size else "Database size: ?",
    ]
    if verify_result is not None:
        ok, transfers, accounts, vs, problems = verify_result
        lines.append(
            f"\n`timebank verify`: {'ok' if ok else 'FAILED ' + '; '.join(problems)} "
            f"({transfers:,} transfers, {accounts:,} accounts) in {vs:.1f} s."
        )
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "" if db_name == "postgresql" else f"_{db_name}"
    (RESULTS / f"citygen_{args.scale}{suffix}.md").write_text(text)
    (RESULTS / f"citygen_{args.scale}{suffix}.json").write_text(
        json.dumps(facts, indent=2, default=str) + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.citygen", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", required=True, help="the database to fill (postgresql:// or sqlite:///)"
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="city")
    parser.add_argument("--create", action="store_true", help="create the PostgreSQL database if missing")
    parser.add_argument("--verify", action="store_true", help="run the ledger verification at the end")
    parser.add_argument("--chunk", type=int, default=CHUNK, help="ledger transfers per committed chunk")
    parser.add_argument("--drop", action="store_true", help="drop the PostgreSQL database at the end")
    args = parser.parse_args(argv)
    try:
        return run(args)
    finally:
        if args.drop and harness.psycopg_url(args.database_url).get_backend_name() == "postgresql":
            drop_database(args.database_url)


if __name__ == "__main__":
    sys.exit(main())
