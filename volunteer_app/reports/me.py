"""A volunteer's own summary (GET /me/stats): the last N calendar months, this one included, on the
clock of their home station.

- **Service minutes and sessions by month of service**: their attendances as docs/statistics.md counts
  them (an assignment audited with more than 0 minutes, on a closed order or activity), in the month of
  the service day at the site that owns the session: the same rows as the leaderboard's.
- **Minutes credited by posting month**: the `credit` transfers into their time book, and the `appeal`
  ones (what an upheld appeal granted over an audit), by the month they were posted (a service on
  30 November audited on 2 December is November's service, December's credit).
- **Star level**: their book's level, lifetime minutes, the next threshold (`star_thresholds_hours` of
  the issuing station) and the minutes still to go (null at the top level).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from volunteer_app.accounts.models import VolunteerProfile
from volunteer_app.activities.models import Activity
from volunteer_app.activities.states import ActivityStatus
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order, OrderStatus
from volunteer_app.reports.counting import CREDITED_KINDS, local_day
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.timebank import ledger
from volunteer_app.timebank import service as timebank
from volunteer_app.timebank.models import Entry, Transfer

MAX_MONTHS = 36


def _months(today: date, count: int) -> list[date]:
    """The first days of the `count` months ending with today's, oldest first."""
    first = today.replace(day=1)
    months = [first]
    for _ in range(count - 1):
        months.append((months[-1] - timedelta(days=1)).replace(day=1))
    return months[::-1]


def _next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def _service(user_id: int, lo: datetime, hi: datetime) -> list[tuple[int, datetime, int]]:
    """(owning site, service start, minutes) of the volunteer's attendances starting in [lo, hi)."""
    audited = (
        Assignment.volunteer_id == user_id,
        Assignment.status == AssignmentStatus.AUDITED,
        Assignment.minutes_confirmed > 0,
    )
    orders = db.session.execute(
        select(Order.site_id, Order.window_start, Assignment.minutes_confirmed)
        .join(Order, Order.id == Assignment.order_id)
        .where(
            *audited, Order.status == OrderStatus.CLOSED, Order.window_start >= lo, Order.window_start < hi
        )
    ).all()
    activities = db.session.execute(
        select(Activity.site_id, Activity.start_at, Assignment.minutes_confirmed)
        .join(Activity, Activity.id == Assignment.activity_id)
        .where(
            *audited,
            Activity.status == ActivityStatus.CLOSED,
            Activity.start_at >= lo,
            Activity.start_at < hi,
        )
    ).all()
    return [tuple(row) for row in (*orders, *activities)]


def my_stats(*, who, months: int) -> dict:
    user = who.user
    profile = db.session.get(VolunteerProfile, user.id)
    book = ledger.existing_book(user.id)
    clock_site_id = book.site_id if book else (profile.site_id if profile else user.home_site_id)
    clock_site = db.session.get(Site, clock_site_id) if clock_site_id else None
    zone = ZoneInfo(sites.effective_settings(clock_site)["timezone"])
    keys = _months(sites.local_time(clock_site).date(), months)
    first, after = keys[0], _next_month(keys[-1])
    lo = datetime.combine(first, time(), zone).astimezone(UTC)
    hi = datetime.combine(after, time(), zone).astimezone(UTC)

    minutes, sessions, credited = Counter(), Counter(), Counter()
    # A site of another time zone may put a service a day off this clock's month edges: read a day more.
    rows = _service(user.id, lo - timedelta(days=1), hi + timedelta(days=1))
    zones = {site: ZoneInfo(tz) for site, tz in sites.zones_of({r[0] for r in rows}).items()}
    for site_id, start, served in rows:
        month = local_day(start, zones[site_id]).replace(day=1)
        minutes[month] += served
        sessions[month] += 1
    if book is not None:
        for created_at, amount in db.session.execute(
            select(Entry.created_at, Entry.amount)
            .join(Transfer, Transfer.id == Entry.transfer_id)
            .where(
                Entry.account_id == book.id,
                Transfer.kind.in_(CREDITED_KINDS),
                Entry.created_at >= lo,
                Entry.created_at < hi,
            )
        ):
            credited[local_day(created_at, zone).replace(day=1)] += amount

    series = [_month(m, minutes[m], sessions[m], credited[m]) for m in keys]
    totals = _month(first, *(sum(c[m] for m in keys) for c in (minutes, sessions, credited)))
    del totals["month"]
    return {
        "timezone": zone.key,
        "start": first,
        "end": after - timedelta(days=1),
        "months": series,
        "totals": totals,
        "star": _star(who),
    }


def _month(month: date, minutes: int, sessions: int, credited: int) -> dict:
    return {
        "month": f"{month:%Y-%m}",
        "service_minutes": minutes,
        "service_hours": timebank.hours(minutes),
        "sessions": sessions,
        "credited_minutes": credited,
        "credited_hours": timebank.hours(credited),
    }


def _star(who) -> dict:
    book = timebank.timebook(who=who)
    lifetime, next_hours = book["lifetime_minutes"], book["next_star_hours"]
    return {
        "level": book["star_level"],
        "lifetime_minutes": lifetime,
        "lifetime_hours": timebank.hours(lifetime),
        "next_level": None if next_hours is None else book["star_level"] + 1,
        "next_threshold_hours": next_hours,
        "minutes_to_next": None if next_hours is None else max(0, next_hours * 60 - lifetime),
    }
