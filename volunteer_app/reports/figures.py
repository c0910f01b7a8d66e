"""Reading the figures: a site's whole subtree over a period of local dates, in total and broken down one
way (`group`): per child site one level down, per category, or as a series by day, week or month.

Sums come from the rollups: whole calendar months from `report_months`, the days before the first and
after the last whole month from `report_days`. Distinct people (residents served, active volunteers)
come from `report_people`. Approved volunteers and books issued are counted on their own tables (they
are not sums of days). A day is each site's own local day; the period's instants for the volunteer and
book counts are the asked site's.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Date, func, select

from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.orders.models import TARGET_GROUPS
from volunteer_app.reports import counting, rollups
from volunteer_app.reports import supervision as supervision_figures
from volunteer_app.reports.counting import BIN_EDGES, DISPATCH_BINS, GROUP_COLUMNS, METRICS, STAFF_BINS
from volunteer_app.reports.models import report_days, report_months, report_people
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Category, Site
from volunteer_app.timebank import service as timebank

GROUPS = ("none", "child", "category", "day", "week", "month")
INLINE_REFRESH = 2000  # change rows a read counts itself before answering (more: answered "as of")


@dataclass(frozen=True)
class Subtree:
    site: Site
    rows: list  # (id, kind, name, path) of the site and every site below it
    child_of: dict[int, int]  # site id → the child one level down that holds it (the site itself: itself)

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.rows]

    def condition(self, site_column):
        return site_column.in_(select(Site.id).where(Site.path.startswith(self.site.path, autoescape=True)))


def subtree(site: Site) -> Subtree:
    rows = db.session.execute(
        select(Site.id, Site.kind, Site.name, Site.path)
        .where(Site.path.startswith(site.path, autoescape=True))
        .order_by(Site.id)
    ).all()
    depth = len(site.ancestor_ids())
    child_of = {}
    for row in rows:
        parts = [int(p) for p in row.path.strip("/").split("/") if p]
        child_of[row.id] = parts[depth] if len(parts) > depth else site.id
    return Subtree(site, rows, child_of)


# ---- the period -----------------------------------------------------------------------------------


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def split(start: date, end: date) -> tuple[list[date], list[tuple[date, date]]]:
    """Whole calendar months inside [start, end], and the day ranges (inclusive) around them."""
    months, ranges = [], []
    cursor = start
    if cursor.day != 1:
        edge = min(end, _next_month(cursor) - timedelta(days=1))
        ranges.append((cursor, edge))
        cursor = edge + timedelta(days=1)
    while cursor <= end and _next_month(cursor) - timedelta(days=1) <= end:
        months.append(cursor)
        cursor = _next_month(cursor)
    if cursor <= end:
        ranges.append((cursor, end))
    return months, ranges


def bucket_of(group: str) -> Callable[[date], date]:
    if group == "month":
        return lambda d: d.replace(day=1)
    if group == "week":
        return lambda d: d - timedelta(days=d.weekday())  # the Monday
    return lambda d: d


# ---- sums -----------------------------------------------------------------------------------------


def sums(tree: Subtree, start: date, end: date, by: str, whole_months: bool = True) -> dict:
    """Sum every metric over the period, grouped `by` "site", "category" or "day" (whole months then
    count as their first day, unless `whole_months` is False: every day from the days table)."""
    months, ranges = split(start, end) if whole_months else ([], [(start, end)])
    out: dict = defaultdict(Counter)
    dsums = [func.sum(report_days.c[name]).label(name) for name in METRICS]
    msums = [func.sum(report_months.c[name]).label(name) for name in METRICS]
    key = {"site": "site_id", "category": "category_id"}.get(by)
    if months:
        mkey = report_months.c[key] if key else report_months.c.month
        rows = db.session.execute(
            select(mkey.label("k"), *msums)
            .where(report_months.c.month.in_(months), tree.condition(report_months.c.site_id))
            .group_by(mkey)
        ).mappings()
        _fold(out, rows)
    for first, last in ranges:
        dkey = report_days.c[key] if key else report_days.c.day
        rows = db.session.execute(
            select(dkey.label("k"), *dsums)
            .where(report_days.c.day.between(first, last), tree.condition(report_days.c.site_id))
            .group_by(dkey)
        ).mappings()
        _fold(out, rows)
    return out


def _fold(out: dict, rows) -> None:
    for row in rows:
        target = out[row["k"]]
        for name in METRICS:
            if row[name]:
                target[name] += int(row[name])


def _people(tree: Subtree, first: date, last: date, sites_condition=None) -> dict[str, int]:
    """Distinct people per kind (SERVED, ACTIVE) over [first, last] in the subtree, or only on the
    sites `sites_condition` picks (a child's subtree). DISTINCT in a subquery, one kind at a time: on
    PostgreSQL an index-only scan in person order (ix_report_people_kind_person_id) with no sort."""
    p = report_people.c
    out = {}
    for kind in (counting.SERVED, counting.ACTIVE):
        where = [p.kind == kind, p.day.between(first, last), tree.condition(p.site_id)]
        if sites_condition is not None:
            where.append(sites_condition)
        people = select(p.person_id).where(*where).distinct().subquery()
        out[kind] = db.session.scalar(select(func.count()).select_from(people)) or 0
    return out


def _grouped_in_sql() -> bool:
    """PostgreSQL counts distinct people for every group in one statement (split_part, date_trunc);
    SQLite, a development database, asks once per group."""
    return db.session.get_bind().dialect.name == "postgresql"


def _people_grouped(tree: Subtree, first: date, last: date, key, *, join_sites: bool = False) -> dict:
    """Distinct people per group `key` (an expression) and kind, in one statement: {group: {kind: n}}."""
    p = report_people.c
    stmt = select(key.label("g"), p.kind, func.count(p.person_id.distinct())).where(
        p.day.between(first, last), tree.condition(p.site_id)
    )
    if join_sites:
        stmt = stmt.select_from(report_people.join(Site, Site.id == p.site_id))
    out: dict = defaultdict(dict)
    for group, kind, n in db.session.execute(stmt.group_by(key, p.kind)):
        out[group][kind] = n
    return out


def _approved_by(tree: Subtree, end: date) -> dict[int, int]:
    """Per site: volunteers approved there up to and including `end` (every month before end's month
    from the months table, then the days of end's month)."""
    first = end.replace(day=1)
    out: dict[int, int] = defaultdict(int)
    for table, where in (
        (report_months, report_months.c.month < first),
        (report_days, report_days.c.day.between(first, end)),
    ):
        rows = db.session.execute(
            select(table.c.site_id, func.sum(table.c.volunteers_approved))
            .where(where, table.c.category_id == counting.NO_CATEGORY, tree.condition(table.c.site_id))
            .group_by(table.c.site_id)
        )
        for site_id, n in rows:
            out[site_id] += int(n or 0)
    return dict(out)


# ---- figures from sums ----------------------------------------------------------------------------


def percentile(bins: list[int], q: float) -> int | None:
    """The upper edge (minutes) of the bin holding the q-th of the values; None when there are none
    or it lies beyond the last edge (over 7 days)."""
    n = sum(bins)
    if not n:
        return None
    rank, seen = math.ceil(q * n), 0
    for i, count in enumerate(bins):
        seen += count
        if seen >= rank:
            return BIN_EDGES[i] if i < len(BIN_EDGES) else None
    return None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _hours(minutes: int) -> float:
    """Hours as the time book shows them (two decimals, halves up: a minute is 0.02, never 0.0)."""
    return timebank.hours(minutes)


def _response(c: Counter, count: str, names: tuple[str, ...]) -> dict:
    bins = [c[name] for name in names]
    return {
        "count": c[count],
        "median_within_minutes": percentile(bins, 0.5),
        "p90_within_minutes": percentile(bins, 0.9),
        "beyond_7_days": bins[-1],
    }


def figures(c: Counter, people: dict | None, approved: int | None, lang: str, *, by_category=False) -> dict:
    """The figures of one group (or the total) from its summed metrics, its distinct people and the
    volunteers approved by the end of the period (None where a figure is not given for this kind of
    group: people per category, approvals and books per category, approved per point of a series)."""
    submitted = c["orders_submitted"]
    sessions = c["sessions_orders"] + c["sessions_activities"]
    rated, closed = c["rated"], c["sessions_orders"]
    return {
        "sessions": {"total": sessions, "orders": closed, "activities": c["sessions_activities"]},
        "attendances": c["attendances"],
        "service_minutes": c["service_minutes"],
        "service_hours": _hours(c["service_minutes"]),
        "people_served": None if people is None else people.get(counting.SERVED, 0),
        "orders": {
            "submitted": submitted,
            "rejected": c["orders_rejected"],
            "cancelled": c["orders_cancelled"],
            "expired": c["orders_expired"],
            "escalated": c["orders_escalated"],
            "closed": c["orders_closed"],
            "other": submitted
            - sum(c[n] for n in ("orders_rejected", "orders_cancelled", "orders_expired", "orders_closed")),
        },
        "target_groups": [
            {"code": code, "name": TARGET_GROUPS[code][0 if lang == "zh-CN" else 1], "submitted": c[column]}
            for code, column in GROUP_COLUMNS.items()
        ],
        "satisfaction": {
            "rated": rated,
            "unrated": c["unrated"],
            "pending": closed - rated - c["unrated"],
            "mean_stars": round(c["stars_sum"] / rated, 2) if rated else None,
            "share_4_5_stars": _share(c["stars_high"], rated),
            "rating_rate": _share(rated, closed),
        },
        "response": {
            "dispatch": _response(c, "orders_dispatched", DISPATCH_BINS),
            "staffing": _response(c, "orders_staffed", STAFF_BINS),
            "escalated_share": _share(c["orders_escalated"], submitted),
            "expired_share": _share(c["orders_expired"], submitted),
        },
        "volunteers": {
            "approved": approved,
            "new": None if by_category else c["volunteers_approved"],
            "active": None if people is None else people.get(counting.ACTIVE, 0),
            "no_shows": c["no_shows"],
            "no_show_rate": _share(c["no_shows"], c["attendance_due"]),
        },
        "timebank": {
            "books_issued": None if by_category else c["books_issued"],
            "credited_minutes": c["credited_minutes"],
            "adjusted_minutes": c["adjusted_minutes"],
            "reversed_minutes": c["reversed_minutes"],
            "redeemed_minutes": c["redeemed_minutes"],
            "refunded_minutes": c["refunded_minutes"],
            "gifted_minutes": c["gifted_minutes"],
        },
    }


# ---- the whole answer -----------------------------------------------------------------------------


def catch_up() -> None:
    """Count the logged changes first when that is quick and nobody else is counting, so the answer is
    exact; otherwise answer as of the last refresh (`as_of`, `pending_changes`)."""
    if rollups.pending_changes():
        # End the read transaction first: on SQLite a read snapshot could not take the write lock.
        db.session.commit()
        rollups.refresh(limit=INLINE_REFRESH, wait=False)


def stats(site: Site, start: date, end: date, group: str, lang: str) -> dict:
    catch_up()
    tree = subtree(site)
    zone = ZoneInfo(sites.effective_settings(site)["timezone"])
    by_site = sums(tree, start, end, "site")
    approved = _approved_by(tree, end)
    total = Counter()
    for counter in by_site.values():
        total.update(counter)
    answer = {
        "site": {"id": site.id, "kind": site.kind, "name": site.name},
        "start": start,
        "end": end,
        "timezone": zone.key,
        **rollups.state_for_answer(),
        "figures": figures(total, _people(tree, start, end), sum(approved.values()), lang),
        "coverage": _coverage(tree, by_site),
        "supervision": supervision_figures.figures(
            tree.condition, *supervision_figures.instants(start, end, zone), utcnow()
        ),
        "group": group,
        "groups": _groups(tree, start, end, group, by_site, approved, lang),
    }
    return answer


def _coverage(tree: Subtree, by_site: dict) -> dict:
    stations = [r for r in tree.rows if r.kind == "station"]
    idle = [
        {"id": r.id, "name": r.name}
        for r in stations
        if not (
            by_site.get(r.id, {}).get("sessions_orders") or by_site.get(r.id, {}).get("sessions_activities")
        )
    ]
    held = len(stations) - len(idle)
    return {
        "stations": len(stations),
        "with_sessions": held,
        "share": _share(held, len(stations)),
        "idle": idle,
    }


def _groups(
    tree: Subtree, start: date, end: date, group: str, by_site: dict, approved: dict, lang: str
) -> list:
    if group == "none":
        return []
    if group == "child":
        return _by_child(tree, start, end, by_site, approved, lang)
    if group == "category":
        names = {
            c.id: c.name_zh if lang == "zh-CN" else c.name_en for c in db.session.scalars(select(Category))
        }
        by_category = sums(tree, start, end, "category")
        return [
            {
                "key": str(cid),
                "label": names.get(cid, str(cid)),
                "figures": figures(c, None, None, lang, by_category=True),
            }
            for cid, c in sorted(by_category.items())
            if cid != counting.NO_CATEGORY
        ]
    bucket = bucket_of(group)
    days = sums(tree, start, end, "day", whole_months=group == "month")
    series: dict = defaultdict(Counter)
    for day, c in days.items():
        series[bucket(day)].update(c)
    keys, cursor = [], bucket(start)
    while cursor <= end:
        keys.append(cursor)
        cursor = (
            _next_month(cursor) if group == "month" else cursor + timedelta(days=7 if group == "week" else 1)
        )
    ends = [*(k - timedelta(days=1) for k in keys[1:]), end]
    if _grouped_in_sql():
        day = report_people.c.day
        trunc = day if group == "day" else func.date_trunc(group, day).cast(Date)
        people = _people_grouped(tree, start, end, trunc)
    else:
        people = {key: _people(tree, max(key, start), last) for key, last in zip(keys, ends, strict=True)}
    return [
        {
            "key": key.isoformat(),
            "label": key.isoformat(),
            "figures": figures(series[key], people.get(key, {}), None, lang),
        }
        for key in keys
    ]


def _by_child(tree: Subtree, start: date, end: date, by_site: dict, approved: dict, lang: str) -> list:
    names = {r.id: r.name for r in tree.rows}
    kinds = {r.id: r.kind for r in tree.rows}
    totals: dict = defaultdict(Counter)
    per_child: dict = defaultdict(int)
    for site_id, c in by_site.items():
        totals[tree.child_of.get(site_id, tree.site.id)].update(c)
    for site_id, n in approved.items():
        per_child[tree.child_of.get(site_id, tree.site.id)] += n
    children = [r for r in tree.rows if r.id != tree.site.id and tree.child_of[r.id] == r.id]
    if _grouped_in_sql():
        # The child's id is the path's part after the asked site's: '/1/5/23/' split on '/' is
        # ['', '1', '5', '23', ''], so at depth d (ancestors and itself) the child is part d + 2.
        part = func.split_part(Site.path, "/", len(tree.site.ancestor_ids()) + 2)
        found = _people_grouped(tree, start, end, part, join_sites=True)
        people = {int(k) if k else tree.site.id: v for k, v in found.items()}
    else:
        people = {
            r.id: _people(
                tree,
                start,
                end,
                report_people.c.site_id.in_(
                    select(Site.id).where(Site.path.startswith(r.path, autoescape=True))
                ),
            )
            for r in children
        }
        people[tree.site.id] = _people(tree, start, end, report_people.c.site_id == tree.site.id)
    children = [r.id for r in children]
    keys = children + ([tree.site.id] if tree.site.id in totals or tree.site.id in per_child else [])
    itself = "本级" if lang == "zh-CN" else "this site itself"
    return [
        {
            "key": str(key),
            "label": itself if key == tree.site.id else names[key],
            "kind": kinds[key],
            "figures": figures(totals[key], people.get(key, {}), per_child[key], lang),
        }
        for key in keys
    ]
