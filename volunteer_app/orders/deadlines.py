"""The deadline job: one function applies everything due at a given time. The scheduler calls it.

Each step is one set-based UPDATE per batch whose WHERE repeats the state and the deadline, so it is
safe to run concurrently and repeatedly: a row another sweeper already moved no longer matches.
A waiting order first escalates (its dispatch site's parent managers are told), then, still late
`order_escalation_minutes` later, expires. Service already done is never expired: a late check-out
or audit is only escalated. Each batch commits with its events and notifications.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select, update

from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.notifications.service import Message
from volunteer_app.orders.models import DEADLINES, Order, OrderStatus, RatingState
from volunteer_app.orders.states import WAITING, transition_many
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site

RETURNING = (Order.title, Order.resident_id, Order.dispatch_site_id)


def apply_deadlines(*, now: datetime | None = None, batch: int = 1000) -> dict[str, int]:
    """Apply every deadline passed at `now`; returns how many orders each step moved. Commits per batch."""
    now = now or utcnow()
    esc = timedelta(minutes=current_app.config["APP"]["order_escalation_minutes"])
    counts: dict[str, int] = defaultdict(int)

    def run(name: str, step) -> None:
        while True:
            moved = step()
            db.session.commit()
            counts[name] += moved
            if moved < batch:
                return

    for status, column in DEADLINES.items():
        due = getattr(Order, column)
        late = [due.is_not(None), due <= now]
        if status == OrderStatus.DISPATCHED:
            # A pool whose deadline passed with some places held closes: those volunteers go.
            run("close_pool", lambda late=late, due=due: _close_pool(late, due, now, batch))
            late = [*late, Order.taken == 0]
        run(f"escalate:{status}", lambda s=status, late=late, due=due: _escalate(s, late, due, now, batch))
        if status in WAITING:
            run(
                f"expire:{status}",
                lambda s=status, late=late, due=due: _expire(s, late, due, now - esc, now, batch),
            )
    run("rating_lapsed", lambda: _rating_lapsed(now, batch))
    run("reminded", lambda: _remind(now, batch))
    return {k: v for k, v in counts.items() if v}


def _close_pool(late: list, due, now: datetime, batch: int) -> int:
    rows = transition_many(
        "close_pool",
        OrderStatus.DISPATCHED,
        where=[*late, Order.taken > 0],
        order_by=(due,),
        values={"capacity": Order.taken},
        now=now,
        limit=batch,
        returning=RETURNING,
    )
    managers = notifications.managers_of_sites({row.dispatch_site_id for row in rows})
    notifications.notify_many(
        Message(
            managers.get(row.dispatch_site_id, []), "order.filled", {"title": row.title}, ("order", row.id)
        )
        for row in rows
    )
    return len(rows)


def _escalate(status: str, late: list, due, now: datetime, batch: int) -> int:
    rows = transition_many(
        "escalate",
        status,
        where=[*late, Order.escalated_at.is_(None)],
        order_by=(Order.escalated_at, due),
        values={"escalated_at": now},
        now=now,
        limit=batch,
        returning=RETURNING,
    )
    parents = escalation_managers({row.dispatch_site_id for row in rows})
    notifications.notify_many(
        Message(
            parents.get(row.dispatch_site_id, []),
            "order.escalated",
            {"title": row.title, "state": status},
            ("order", row.id),
        )
        for row in rows
    )
    return len(rows)


def escalation_managers(site_ids: set[int]) -> dict[int, list[int]]:
    """For each site (an order's dispatch site, a supervision item's site): the managers of its parent site (a
    center's own managers at the top)."""
    if not site_ids:
        return {}
    parent = dict(db.session.execute(select(Site.id, Site.parent_id).where(Site.id.in_(site_ids))).all())
    upper = {sid: parent.get(sid) or sid for sid in site_ids}
    managers = notifications.managers_of_sites(set(upper.values()))
    return {sid: managers.get(up, []) for sid, up in upper.items()}


def _expire(status: str, late: list, due, escalated_before: datetime, now: datetime, batch: int) -> int:
    rows = transition_many(
        "expire",
        status,
        where=[*late, Order.escalated_at.is_not(None), Order.escalated_at <= escalated_before],
        order_by=(Order.escalated_at, due),
        values={},
        now=now,
        limit=batch,
        returning=RETURNING,
    )
    if not rows:
        return 0
    ids = [row.id for row in rows]
    attendance.settle_absent(ids, now)
    notifications.notify_many(
        Message([row.resident_id], "order.expired", {"title": row.title}, ("order", row.id)) for row in rows
    )
    return len(rows)


def _rating_lapsed(now: datetime, batch: int) -> int:
    moved = 0
    for status in (OrderStatus.COMPLETED, OrderStatus.CLOSED):
        moved += len(
            transition_many(
                "rating_lapsed",
                status,
                where=[Order.rating_state == RatingState.PENDING, Order.rating_due_at <= now],
                order_by=(Order.rating_due_at,),
                values={"rating_state": RatingState.UNRATED},
                now=now,
                limit=batch,
            )
        )
    return moved


def _remind(now: datetime, batch: int) -> int:
    """Tell holders their service starts soon (once per order; not a change of state, so no event)."""
    ahead = timedelta(minutes=current_app.config["APP"]["order_reminder_minutes"])
    due = (
        select(Order.id)
        .where(
            Order.status.in_((OrderStatus.DISPATCHED, OrderStatus.STAFFED)),
            Order.window_start > now,
            Order.window_start <= now + ahead,
            Order.reminded_at.is_(None),
        )
        .limit(batch)
    )
    rows = db.session.execute(
        update(Order)
        .where(Order.id.in_(due.scalar_subquery()), Order.reminded_at.is_(None))
        .values(reminded_at=now)
        .returning(Order.id, Order.title, Order.window_start, Order.site_id)
        .execution_options(synchronize_session=False)
    ).all()
    if not rows:
        return 0
    holders: dict[int, list[int]] = defaultdict(list)
    for order_id, volunteer_id in db.session.execute(
        select(Assignment.order_id, Assignment.volunteer_id).where(
            Assignment.order_id.in_([r.id for r in rows]), Assignment.status == "held"
        )
    ):
        holders[order_id].append(volunteer_id)
    zones = sites.zones_of({row.site_id for row in rows})  # the start as the station's clock shows it

    def start(row) -> str:
        return row.window_start.astimezone(ZoneInfo(zones[row.site_id])).strftime("%m-%d %H:%M")

    notifications.notify_many(
        Message(
            holders[row.id], "order.reminder", {"title": row.title, "start": start(row)}, ("order", row.id)
        )
        for row in rows
    )
    return len(rows)
