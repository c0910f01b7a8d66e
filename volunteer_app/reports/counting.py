"""The figures' one definition: what each order, activity and ledger transfer adds to the statistics.

Everything the statistics show is a sum of these contributions (docs/statistics.md says the same in
words). The rollups store them per site, local day and category; `rollups` writes them and `verify`
recounts them with these same functions. A contribution lands on the site that owns the row (an order's
station, an activity's site, a transfer's site) and on a day of that site's clock:

- an order's **submission day** (created_at) carries what became of it (the cohort figures: submitted,
  rejected, cancelled, expired, closed, escalated, dispatched, fully staffed and how long each took,
  target groups);
- its **service day** (window_start), if it is closed (audited), carries the session: one session,
  its attendances (assignments audited with minutes > 0), minutes, no-shows and its rating;
- an activity's **start day**, if it is closed (audited), carries the same session figures;
- a transfer's **posting day** (created_at) carries minutes credited, adjusted, reversed, redeemed,
  refunded and given;
- a volunteer's **approval day** carries one approved volunteer at their station, and a time book's
  **opening day** one book issued at its station.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from volunteer_app.attendance.models import AssignmentStatus
from volunteer_app.orders.models import TARGET_GROUPS, OrderStatus, RatingState

# Response times are kept as counts per bin; a percentile is read as the upper edge of its bin.
# Upper edges in minutes (the last bin is "over 7 days").
BIN_EDGES = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1440, 2880, 4320, 10080)
DISPATCH_BINS = tuple(f"dispatch_b{i}" for i in range(len(BIN_EDGES) + 1))
STAFF_BINS = tuple(f"staff_b{i}" for i in range(len(BIN_EDGES) + 1))
GROUP_COLUMNS = {code: f"tg_{code}" for code in TARGET_GROUPS}

OUTCOMES = {
    OrderStatus.REJECTED: "orders_rejected",
    OrderStatus.CANCELLED: "orders_cancelled",
    OrderStatus.EXPIRED: "orders_expired",
    OrderStatus.CLOSED: "orders_closed",
}
COHORT = (
    "orders_submitted",
    *OUTCOMES.values(),
    "orders_escalated",
    "orders_dispatched",
    "orders_staffed",
    *GROUP_COLUMNS.values(),
    *DISPATCH_BINS,
    *STAFF_BINS,
)
SESSIONS = (
    "sessions_orders",
    "sessions_activities",
    "attendances",
    "service_minutes",
    "no_shows",
    "attendance_due",
    "rated",
    "stars_sum",
    "stars_high",
    "unrated",
)
# Transfer kinds → the column their minutes add to. An adjustment adds into books, or subtracts when
# it takes minutes out of one; a "demo" transfer (demo data) counts nowhere. An upheld appeal's credit
# is service minutes credited (a service kind of the ledger), counted with the audits' credits.
LEDGER_KINDS = {
    "credit": "credited_minutes",
    "appeal": "credited_minutes",
    "adjustment": "adjusted_minutes",
    "reversal": "reversed_minutes",
    "redeem": "redeemed_minutes",
    "refund": "refunded_minutes",
    "gift": "gifted_minutes",
    "donate": "gifted_minutes",
}
LEDGER = tuple(dict.fromkeys(LEDGER_KINDS.values()))
CREDITED_KINDS = tuple(kind for kind, column in LEDGER_KINDS.items() if column == "credited_minutes")
# Volunteers approved at a station and books opened there, on the day it happened (never moved since).
PEOPLE = ("volunteers_approved", "books_issued")
METRICS = COHORT + SESSIONS + LEDGER + PEOPLE

NO_CATEGORY = 0  # transfers have no category
SERVED, ACTIVE = "served", "active"  # the people rows: residents served, volunteers who served
STAFFING_ACTIONS = ("accept", "grab")  # the action that fills the last slot (not a pool closed part-full)
EVENT_ACTIONS = ("dispatch", "escalate", *STAFFING_ACTIONS)  # the timeline events the figures read

Key = tuple[int, date, int]  # (site id, local day, category id)
PersonKey = tuple[int, date, str, int]  # (site id, local day, SERVED | ACTIVE, person id)


@dataclass
class Tally:
    """Contributions, keyed like the rollup rows. `keep(site_id, day)` limits them to the keys being
    counted again (a refresh counts a few days, a rebuild every day)."""

    keep: Callable[[int, date], bool] = lambda _site, _day: True
    rows: defaultdict[Key, Counter] = field(default_factory=lambda: defaultdict(Counter))
    # person → [minutes, sessions] (minutes and sessions matter only for ACTIVE: the leaderboard)
    people: dict[PersonKey, list[int]] = field(default_factory=dict)

    def add(self, site_id: int, day: date, category_id: int, **values: int) -> None:
        if self.keep(site_id, day):
            counter = self.rows[(site_id, day, category_id)]
            for name, value in values.items():
                if value:
                    counter[name] += value

    def person(self, site_id: int, day: date, kind: str, person_id: int, minutes: int = 0) -> None:
        if self.keep(site_id, day):
            entry = self.people.setdefault((site_id, day, kind, person_id), [0, 0])
            entry[0] += minutes
            entry[1] += 1

    def nonzero(self) -> dict[Key, dict[str, int]]:
        return {key: {k: v for k, v in c.items() if v} for key, c in self.rows.items() if any(c.values())}


def local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def minutes_between(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds() // 60))


def bin_of(minutes: int) -> int:
    return bisect_left(BIN_EDGES, minutes)


def count_order(tally: Tally, order, events: Iterable, assignments: Iterable, zone: ZoneInfo) -> None:
    """An order's cohort figures on its submission day and, once closed, its session on its service day.
    `events`: its timeline events whose action is in EVENT_ACTIONS; `assignments`: all of its own."""
    site, category = order.site_id, order.category_id
    escalated, dispatched_at, staffed_at = False, None, None
    for event in sorted(events, key=lambda e: (e.at, e.id)):
        if event.action == "escalate":
            escalated = True
        elif event.action == "dispatch" and dispatched_at is None:
            dispatched_at = event.at
        elif (
            event.to_status == OrderStatus.STAFFED and event.action in STAFFING_ACTIONS and staffed_at is None
        ):
            staffed_at = event.at
    cohort = {"orders_submitted": 1, "orders_escalated": int(escalated)}
    if order.status in OUTCOMES:
        cohort[OUTCOMES[order.status]] = 1
    if dispatched_at is not None:
        cohort["orders_dispatched"] = 1
        cohort[DISPATCH_BINS[bin_of(minutes_between(order.created_at, dispatched_at))]] = 1
        if staffed_at is not None:
            cohort["orders_staffed"] = 1
            cohort[STAFF_BINS[bin_of(minutes_between(dispatched_at, staffed_at))]] = 1
    for code in set(order.target_groups or ()):
        if code in GROUP_COLUMNS:
            cohort[GROUP_COLUMNS[code]] = 1
    tally.add(site, local_day(order.created_at, zone), category, **cohort)

    if order.status != OrderStatus.CLOSED:
        return
    day = local_day(order.window_start, zone)
    session = {"sessions_orders": 1}
    if order.rating_state == RatingState.RATED and order.rating_stars:
        session.update(rated=1, stars_sum=order.rating_stars, stars_high=int(order.rating_stars >= 4))
    elif order.rating_state == RatingState.UNRATED:
        session["unrated"] = 1
    _attendance(tally, site, day, category, assignments, session)
    tally.person(site, day, SERVED, order.resident_id)


def count_activity(tally: Tally, activity, assignments: Iterable, zone: ZoneInfo) -> None:
    """An audited (closed) activity's session on its start day; any other activity counts nothing."""
    if activity.status != "closed":
        return
    day = local_day(activity.start_at, zone)
    _attendance(tally, activity.site_id, day, activity.category_id, assignments, {"sessions_activities": 1})


def _attendance(
    tally: Tally, site: int, day: date, category: int, assignments: Iterable, session: dict
) -> None:
    session.update(attendances=0, service_minutes=0, no_shows=0, attendance_due=0)
    for a in assignments:
        if a.status == AssignmentStatus.AUDITED:
            session["attendance_due"] += 1
            if a.minutes_confirmed:
                session["attendances"] += 1
                session["service_minutes"] += a.minutes_confirmed
                tally.person(site, day, ACTIVE, a.volunteer_id, a.minutes_confirmed)
        elif a.status == AssignmentStatus.NO_SHOW:
            session["attendance_due"] += 1
            session["no_shows"] += 1
    tally.add(site, day, category, **session)


def count_transfer(tally: Tally, transfer, into_book: bool, zone: ZoneInfo) -> None:
    """A transfer's minutes on its posting day, at its site. `into_book`: whether it credits a book
    (an adjustment out of a book subtracts)."""
    column = LEDGER_KINDS.get(transfer.kind)
    if column is None or transfer.site_id is None:
        return
    minutes = transfer.minutes if (transfer.kind != "adjustment" or into_book) else -transfer.minutes
    tally.add(transfer.site_id, local_day(transfer.created_at, zone), NO_CATEGORY, **{column: minutes})


def count_volunteer(tally: Tally, profile, zone: ZoneInfo) -> None:
    """An approved volunteer on the day of approval, at their station."""
    tally.add(profile.site_id, local_day(profile.approved_at, zone), NO_CATEGORY, volunteers_approved=1)


def count_book(tally: Tally, book, zone: ZoneInfo) -> None:
    """A time book on the day it was opened, at its station (books only; no site, no count)."""
    if book.kind == "book" and book.site_id is not None:
        tally.add(book.site_id, local_day(book.created_at, zone), NO_CATEGORY, books_issued=1)
