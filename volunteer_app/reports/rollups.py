"""Keeping the rollups exact: count again what changed (refresh), count everything (rebuild), and
compare the stored rollups with a fresh count from the raw rows (verify).

Every writer of the rollups first locks the one `report_state` row, so two never interleave: a count
made from an older snapshot can never overwrite a newer one. A refresh takes the logged changes
(volunteer_app/changes.py) in id order, finds the (site, local day) keys they touch, counts those keys
again from the raw rows (reports/counting.py), replaces their day rows, people rows and month rows,
and deletes exactly the change rows it read, all in one transaction. A change committed meanwhile keeps
its row and is counted by the next refresh.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, insert, literal, or_, select, text, update
from sqlalchemy.orm import aliased

from volunteer_app.accounts.models import VolunteerProfile
from volunteer_app.activities.models import Activity
from volunteer_app.attendance.models import Assignment
from volunteer_app.changes import Change
from volunteer_app.db import dialect_insert, utcnow
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order, OrderEvent
from volunteer_app.reports import counting
from volunteer_app.reports.counting import METRICS, Tally
from volunteer_app.reports.models import report_days, report_months, report_people, report_state
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.timebank.models import TimeAccount, Transfer

log = logging.getLogger(__name__)

IN_CHUNK = 1000  # ids per IN (...) list
REFRESH_BATCH = 5000  # change rows per refresh transaction
REBUILD_SITES = 50  # sites per rebuild transaction

Days = dict[int, set[date]]  # site id → local days


# ---- the lock -------------------------------------------------------------------------------------


def _lock(wait: bool = True) -> bool:
    """Lock the `report_state` row for this transaction (creating it if missing). PostgreSQL: FOR UPDATE,
    or SKIP LOCKED without `wait` (False when another writer holds it). SQLite: the first statement is
    a write, which takes the one write lock before anything is read, so the counts read the newest rows."""
    dialect = db.session.get_bind().dialect.name
    upsert = dialect_insert(dialect)
    db.session.execute(upsert(report_state).values(id=1).on_conflict_do_nothing())
    if dialect == "sqlite":
        return True
    query = select(report_state.c.id).where(report_state.c.id == 1).with_for_update(skip_locked=not wait)
    return db.session.execute(query).first() is not None


def state() -> dict:
    row = db.session.execute(select(report_state)).mappings().first()
    return dict(row) if row else {"refreshed_at": None, "rebuilt_at": None}


def state_for_answer() -> dict:
    """What an answer says about its freshness: the figures include every change logged before `as_of`;
    `pending_changes` were logged since and are not counted yet (0 when the answer is exact)."""
    return {"as_of": state()["refreshed_at"], "pending_changes": pending_changes()}


def pending_changes() -> int:
    return db.session.scalar(select(func.count()).select_from(Change)) or 0


# ---- counting raw rows ----------------------------------------------------------------------------


def _chunks(ids: list[int], size: int = IN_CHUNK) -> Iterator[list[int]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


def _utc_range(days: set[date], zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC instants from the first day's local midnight to the day after the last one's."""
    start = datetime.combine(min(days), time(), zone).astimezone(UTC)
    end = datetime.combine(max(days) + timedelta(days=1), time(), zone).astimezone(UTC)
    return start, end


ORDER_COLUMNS = (
    Order.id,
    Order.site_id,
    Order.category_id,
    Order.resident_id,
    Order.status,
    Order.created_at,
    Order.window_start,
    Order.target_groups,
    Order.rating_state,
    Order.rating_stars,
)
ASSIGNMENT_COLUMNS = (
    Assignment.order_id,
    Assignment.activity_id,
    Assignment.volunteer_id,
    Assignment.status,
    Assignment.minutes_confirmed,
)


def _count_orders(tally: Tally, orders: list, zones: dict[int, ZoneInfo]) -> None:
    """Count orders with the timeline events the figures read and, for closed ones, their assignments."""
    for batch in _chunks(orders):
        ids = [o.id for o in batch]
        events, held = defaultdict(list), defaultdict(list)
        for e in db.session.execute(
            select(
                OrderEvent.id, OrderEvent.order_id, OrderEvent.action, OrderEvent.to_status, OrderEvent.at
            ).where(OrderEvent.order_id.in_(ids), OrderEvent.action.in_(counting.EVENT_ACTIONS))
        ):
            events[e.order_id].append(e)
        closed = [o.id for o in batch if o.status == "closed"]
        if closed:
            for a in db.session.execute(select(*ASSIGNMENT_COLUMNS).where(Assignment.order_id.in_(closed))):
                held[a.order_id].append(a)
        for order in batch:
            counting.count_order(tally, order, events[order.id], held[order.id], zones[order.site_id])


def _count_activities(tally: Tally, activities: list, zones: dict[int, ZoneInfo]) -> None:
    held = defaultdict(list)
    for ids in _chunks([a.id for a in activities if a.status == "closed"]):
        for a in db.session.execute(select(*ASSIGNMENT_COLUMNS).where(Assignment.activity_id.in_(ids))):
            held[a.activity_id].append(a)
    for activity in activities:
        counting.count_activity(tally, activity, held[activity.id], zones[activity.site_id])


ACTIVITY_COLUMNS = (Activity.id, Activity.site_id, Activity.category_id, Activity.status, Activity.start_at)
_to = aliased(TimeAccount)
TRANSFER_COLUMNS = (
    Transfer.id,
    Transfer.kind,
    Transfer.site_id,
    Transfer.minutes,
    Transfer.created_at,
    (_to.kind == "book").label("into_book"),
)


def _count_transfers(tally: Tally, rows: Iterable, zones: dict[int, ZoneInfo]) -> None:
    for t in rows:
        counting.count_transfer(tally, t, bool(t.into_book), zones[t.site_id])


PROFILE_COLUMNS = (VolunteerProfile.user_id, VolunteerProfile.site_id, VolunteerProfile.approved_at)
BOOK_COLUMNS = (TimeAccount.id, TimeAccount.kind, TimeAccount.site_id, TimeAccount.created_at)


def _count_people(tally: Tally, zones: dict[int, ZoneInfo], profiles: Iterable, books: Iterable) -> None:
    for profile in profiles:
        counting.count_volunteer(tally, profile, zones[profile.site_id])
    for book in books:
        counting.count_book(tally, book, zones[book.site_id])


def _profiles(*where):
    return select(*PROFILE_COLUMNS).where(*where).execution_options(yield_per=10_000)


def _books(*where):
    return select(*BOOK_COLUMNS).where(TimeAccount.kind == "book", *where).execution_options(yield_per=10_000)


def _transfers(*where):
    return (
        select(*TRANSFER_COLUMNS)
        .join(_to, _to.id == Transfer.to_account_id)
        .where(Transfer.kind.in_(counting.LEDGER_KINDS), *where)
        .execution_options(yield_per=10_000)
    )


def _between(lo: datetime, hi: datetime, column):
    return and_(column >= lo, column < hi)


def count_days(days: Days) -> Tally:
    """Count the keys `days` again from the raw rows (a refresh: a few days of a few sites)."""
    zones = _zones(days)
    tally = Tally(keep=lambda site, day: day in days.get(site, ()))
    for site_id, site_days in days.items():
        lo, hi = _utc_range(site_days, zones[site_id])
        orders = db.session.execute(
            select(*ORDER_COLUMNS).where(
                Order.site_id == site_id,
                or_(_between(lo, hi, Order.created_at), _between(lo, hi, Order.window_start)),
            )
        ).all()
        _count_orders(tally, orders, zones)
        activities = db.session.execute(
            select(*ACTIVITY_COLUMNS).where(Activity.site_id == site_id, _between(lo, hi, Activity.start_at))
        ).all()
        _count_activities(tally, activities, zones)
        _count_transfers(
            tally,
            db.session.execute(
                _transfers(Transfer.site_id == site_id, _between(lo, hi, Transfer.created_at))
            ),
            zones,
        )
        _count_people(
            tally,
            zones,
            db.session.execute(
                _profiles(VolunteerProfile.site_id == site_id, _between(lo, hi, VolunteerProfile.approved_at))
            ),
            db.session.execute(
                _books(TimeAccount.site_id == site_id, _between(lo, hi, TimeAccount.created_at))
            ),
        )
    return tally


def count_sites(site_ids: list[int]) -> Tally:
    """Count every day of these sites from the raw rows (a rebuild or a verification)."""
    zones = _zones({s: set() for s in site_ids})
    tally = Tally()
    orders = db.session.execute(select(*ORDER_COLUMNS).where(Order.site_id.in_(site_ids))).all()
    _count_orders(tally, orders, zones)
    activities = db.session.execute(select(*ACTIVITY_COLUMNS).where(Activity.site_id.in_(site_ids))).all()
    _count_activities(tally, activities, zones)
    _count_transfers(tally, db.session.execute(_transfers(Transfer.site_id.in_(site_ids))), zones)
    _count_people(
        tally,
        zones,
        db.session.execute(_profiles(VolunteerProfile.site_id.in_(site_ids))),
        db.session.execute(_books(TimeAccount.site_id.in_(site_ids))),
    )
    return tally


def _zones(days: Days) -> dict[int, ZoneInfo]:
    return {site: ZoneInfo(zone) for site, zone in sites.zones_of(set(days)).items()}


# ---- writing --------------------------------------------------------------------------------------


def month_of(day: date) -> date:
    return day.replace(day=1)


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def _write_days(tally: Tally, days: Days) -> None:
    """Replace the day and people rows of the keys `days` with the tally's."""
    for site_id, site_days in days.items():
        for some in _chunks(sorted(site_days)):
            for table in (report_days, report_people):
                db.session.execute(delete(table).where(table.c.site_id == site_id, table.c.day.in_(some)))
    _insert_tally(tally)


def _insert_tally(tally: Tally) -> None:
    rows = [
        {"site_id": s, "day": d, "category_id": c, **values} for (s, d, c), values in tally.nonzero().items()
    ]
    for i in range(0, len(rows), 2000):
        db.session.execute(insert(report_days), [_full(r) for r in rows[i : i + 2000]])
    people = [
        {"site_id": s, "day": d, "kind": k, "person_id": p, "minutes": m, "sessions": n}
        for (s, d, k, p), (m, n) in tally.people.items()
    ]
    for i in range(0, len(people), 5000):
        db.session.execute(insert(report_people), people[i : i + 5000])


def _full(row: dict) -> dict:
    return {**dict.fromkeys(METRICS, 0), **row}


def _write_months(months: set[tuple[int, date]]) -> None:
    """Replace each (site, month) row set with the sum of its day rows."""
    sums = [func.sum(report_days.c[name]) for name in METRICS]
    for site_id, month in sorted(months):
        db.session.execute(
            delete(report_months).where(report_months.c.site_id == site_id, report_months.c.month == month)
        )
        db.session.execute(
            insert(report_months).from_select(
                ["site_id", "month", "category_id", *METRICS],
                select(
                    report_days.c.site_id,
                    literal(month, report_months.c.month.type),
                    report_days.c.category_id,
                    *sums,
                )
                .where(
                    report_days.c.site_id == site_id,
                    report_days.c.day >= month,
                    report_days.c.day < _next_month(month),
                )
                .group_by(report_days.c.site_id, report_days.c.category_id),
            )
        )


def month_rows(tally: Tally) -> dict[tuple[int, date, int], dict[str, int]]:
    """The tally's day rows summed per month (a rebuild writes these; verify compares them)."""
    months: dict = defaultdict(lambda: defaultdict(int))
    for (site, day, category), values in tally.nonzero().items():
        target = months[(site, month_of(day), category)]
        for name, value in values.items():
            target[name] += value
    return {
        key: {k: v for k, v in values.items() if v} for key, values in months.items() if any(values.values())
    }


# ---- refresh, rebuild ---------------------------------------------------------------------------


def _keys_of(changes: list) -> Days:
    """The (site, local day) keys the changed rows stand for."""
    ids: dict[str, set[int]] = defaultdict(set)
    for change in changes:
        ids[change.kind].add(change.ref_id)
    moments: list[tuple[int, datetime]] = []
    for chunk in _chunks(sorted(ids["order"])):
        for o in db.session.execute(
            select(Order.site_id, Order.created_at, Order.window_start).where(Order.id.in_(chunk))
        ):
            moments += [(o.site_id, o.created_at), (o.site_id, o.window_start)]
    for chunk in _chunks(sorted(ids["activity"])):
        for a in db.session.execute(
            select(Activity.site_id, Activity.start_at).where(Activity.id.in_(chunk))
        ):
            moments.append((a.site_id, a.start_at))
    for chunk in _chunks(sorted(ids["transfer"])):
        for t in db.session.execute(
            select(Transfer.site_id, Transfer.created_at).where(Transfer.id.in_(chunk))
        ):
            if t.site_id is not None:
                moments.append((t.site_id, t.created_at))
    for chunk in _chunks(sorted(ids["volunteer"])):
        for v in db.session.execute(select(*PROFILE_COLUMNS).where(VolunteerProfile.user_id.in_(chunk))):
            moments.append((v.site_id, v.approved_at))
    for chunk in _chunks(sorted(ids["book"])):
        for b in db.session.execute(select(*BOOK_COLUMNS).where(TimeAccount.id.in_(chunk))):
            if b.site_id is not None:
                moments.append((b.site_id, b.created_at))
    zones = _zones({site: set() for site, _ in moments})
    days: Days = defaultdict(set)
    for site, moment in moments:
        days[site].add(counting.local_day(moment, zones[site]))
    return dict(days)


def refresh(*, limit: int = REFRESH_BATCH, wait: bool = True, now: datetime | None = None) -> int | None:
    """Count again what the change log names, up to `limit` change rows, and commit. Returns how many
    change rows it consumed, or None when another writer held the lock and `wait` is False."""
    if not _lock(wait):
        db.session.rollback()
        return None
    changes = db.session.execute(
        select(Change.id, Change.kind, Change.ref_id).order_by(Change.id).limit(limit)
    ).all()
    if changes:
        # A site whose time zone changed: all its days are other days now (sites.update_settings).
        whole = sorted({c.ref_id for c in changes if c.kind == "site"})
        for chunk in _chunks(whole, REBUILD_SITES):
            _replace_sites(chunk)
        days = {
            site: d
            for site, d in _keys_of([c for c in changes if c.kind != "site"]).items()
            if site not in whole
        }
        _write_days(count_days(days), days)
        _write_months({(site, month_of(day)) for site, site_days in days.items() for day in site_days})
        for ids in _chunks([c.id for c in changes]):
            db.session.execute(delete(Change).where(Change.id.in_(ids)))
    db.session.execute(
        update(report_state).where(report_state.c.id == 1).values(refreshed_at=now or utcnow())
    )
    db.session.commit()
    return len(changes)


def refresh_all(now: datetime | None = None) -> int:
    """Refresh until the change log is empty (the scheduler's job; tests). Returns the rows consumed."""
    total = 0
    while n := refresh(now=now):
        total += n
    return total


def all_site_ids() -> list[int]:
    return list(db.session.scalars(select(Site.id).order_by(Site.id)))


def _replace_sites(site_ids: list[int]) -> None:
    """Every row of these sites, counted again from the raw rows (the caller holds the lock)."""
    for table in (report_days, report_people, report_months):
        db.session.execute(delete(table).where(table.c.site_id.in_(site_ids)))
    tally = count_sites(site_ids)
    _insert_tally(tally)
    months = [{"site_id": s, "month": m, "category_id": c, **v} for (s, m, c), v in month_rows(tally).items()]
    for i in range(0, len(months), 2000):
        db.session.execute(insert(report_months), [_full(r) for r in months[i : i + 2000]])


def rebuild(progress: Callable[[int, int], None] | None = None, now: datetime | None = None) -> int:
    """Count everything again from the raw rows, REBUILD_SITES sites per transaction. The change log is
    left alone: a later refresh counts its rows again, which is harmless. Returns the sites counted."""
    site_ids = all_site_ids()
    for done, chunk in enumerate(_chunks(site_ids, REBUILD_SITES)):
        _lock()
        _replace_sites(chunk)
        db.session.commit()
        if progress:
            progress(min((done + 1) * REBUILD_SITES, len(site_ids)), len(site_ids))
    # Sites deleted since: nothing of theirs may stay (sites are not deleted today; this keeps it true).
    _lock()
    for table in (report_days, report_people, report_months):
        db.session.execute(delete(table).where(table.c.site_id.not_in(select(Site.id))))
    db.session.execute(update(report_state).where(report_state.c.id == 1).values(rebuilt_at=now or utcnow()))
    db.session.commit()
    if db.session.get_bind().dialect.name == "postgresql":
        # A rollup filled in one go: fresh statistics for the planner (it would plan for an empty table)
        # and a visibility map, so distinct people are counted by an index-only scan (autovacuum keeps
        # both up after that; a refresh changes few pages).
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in (report_days, report_months, report_people):
                conn.execute(text(f"VACUUM ANALYZE {table.name}"))
    return len(site_ids)


# ---- verify -------------------------------------------------------------------------------------


@dataclass
class Difference:
    table: str
    key: tuple
    stored: dict
    counted: dict


@dataclass
class Verification:
    sites: int = 0
    differences: list[Difference] = field(default_factory=list)


def _stored(table, key_columns: tuple, site_ids: list[int], values: tuple) -> dict:
    rows = db.session.execute(select(table).where(table.c.site_id.in_(site_ids))).mappings()
    return {
        tuple(row[c] for c in key_columns): {name: row[name] for name in values if row[name]} for row in rows
    }


def verify(progress: Callable[[int, int], None] | None = None, limit: int = 20) -> Verification:
    """Refresh, then compare every stored rollup row with a fresh count from the raw rows. Keys whose
    raw rows changed during the comparison are counted again after one more refresh before they are
    called different."""
    refresh_all()
    result = Verification()
    site_ids = all_site_ids()
    for chunk in _chunks(site_ids, REBUILD_SITES):
        for difference in _compare(chunk):
            if len(result.differences) < limit:
                result.differences.append(difference)
        db.session.rollback()
        result.sites += len(chunk)
        if progress:
            progress(result.sites, len(site_ids))
    if result.differences:
        # A change committed while comparing: count its keys again and look once more.
        refresh_all()
        chunks = sorted({d.key[0] for d in result.differences})
        result.differences = [d for d in _compare(chunks)][:limit]
        db.session.rollback()
    return result


def _compare(site_ids: list[int]) -> list[Difference]:
    tally = count_sites(site_ids)
    found = []
    people_values = ("minutes", "sessions")
    checks = (
        (
            "report_days",
            _stored(report_days, ("site_id", "day", "category_id"), site_ids, METRICS),
            tally.nonzero(),
        ),
        (
            "report_months",
            _stored(report_months, ("site_id", "month", "category_id"), site_ids, METRICS),
            month_rows(tally),
        ),
        (
            "report_people",
            _stored(report_people, ("site_id", "day", "kind", "person_id"), site_ids, people_values),
            {
                k: {n: v for n, v in zip(people_values, mv, strict=True) if v}
                for k, mv in tally.people.items()
            },
        ),
    )
    for name, stored, counted in checks:
        for key in sorted(set(stored) | set(counted), key=repr):
            if stored.get(key) != counted.get(key):
                found.append(Difference(name, key, stored.get(key) or {}, counted.get(key) or {}))
    return found
