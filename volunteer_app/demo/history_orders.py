"""Past orders for the demo history: each one walks the real loop with explicit past times.

Every change of state goes through `orders.states.transition` (so the table checks each move and the
timeline gets its event, `at` the past moment); check-in, check-out, closing, no-shows and the audit go
through `attendance.service`, whose audit credits the minutes with `timebank.credit_service` exactly
as `POST /orders/{id}/audit` does. No notifications are written: four months of them would all be
sent at once by the first worker. A step whose moment is still to come (a rating or an audit due
after now) is left undone, as the loop would have left it. Service and what follows it are in
history_onsite.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.demo import history_onsite as onsite
from volunteer_app.demo.history_onsite import M, step
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order, OrderMode
from volunteer_app.orders.states import MANAGER, RESIDENT, SCHEDULER, VOLUNTEER

if TYPE_CHECKING:
    from random import Random

    from volunteer_app.demo.history import Context, Station

REJECT_REASONS = ("不属于志愿服务范围，已转交社区居委会", "需专业资质，已转介物业维修", "重复下单")
CANCEL_REASONS = ("时间冲突，不需要了", "家人已经帮忙办好了", "老人住院，服务取消")


def place_order(ctx: Context, st: Station, rng: Random, start: datetime, outcome: str) -> Order | None:
    """One past order at `st` whose service window starts at `start`, ending as `outcome` says:
    closed (through dispatch, staffing, service, rating or its lapse, audit), rejected, cancelled or
    expired. None when no volunteer was free for it."""
    code, title, groups, most, hours = rng.choice(st.kinds)
    end = start + timedelta(hours=hours)
    submitted = _daytime_before(start, st, rng)
    crew = ctx.pick(st, start, end, rng.randint(1, most), submitted, rng)
    if not crew:
        return None
    resident = rng.choice(st.residents)
    proxy = st.manager_id if rng.random() < 0.35 else None  # phoned in: staff ordered for the resident
    order = Order(
        site_id=st.id,
        dispatch_site_id=st.dispatch_site_id,
        resident_id=resident,
        proxy_id=proxy,
        category_id=ctx.category(code),
        title=title,
        description=ctx.note,
        address=f"{st.name}辖区 {rng.randint(1, 30)} 幢 {rng.randint(1, 6)} 单元",
        lat=st.lat + rng.uniform(-0.002, 0.002),
        lng=st.lng + rng.uniform(-0.002, 0.002),
        window_start=start,
        window_end=end,
        volunteers_needed=len(crew),
        target_groups=sorted(rng.sample(groups, rng.randint(1, len(groups)))) if groups else [],
        capacity=0,
        taken=0,
        created_at=submitted,
    )
    grace = timedelta(minutes=st.settings["checkin_grace_minutes"])
    step(
        order,
        "submit",
        submitted,
        by=MANAGER if proxy else RESIDENT,
        actor_id=proxy or resident,
        proxy_id=proxy,
        dispatch_due_at=submitted + timedelta(minutes=st.settings["dispatch_within_minutes"]),
        checkin_due_at=start + grace,
        checkout_due_at=end + grace,
    )
    FLOWS[outcome](ctx, st, rng, order, crew)
    return order


def _daytime_before(start: datetime, st: Station, rng: Random) -> datetime:
    """When a resident orders (or phones in): a local daytime one to three days ahead, at least 12 hours."""
    local = start.astimezone(st.tz)
    days = rng.randint(1, 3)
    at = time(rng.randint(7, 18), rng.randint(0, 59))
    while True:
        moment = datetime.combine(local.date() - timedelta(days=days), at, st.tz).astimezone(UTC)
        if start - moment >= timedelta(hours=12):
            return moment
        days += 1


def _rejected(ctx: Context, st: Station, rng: Random, order: Order, crew) -> None:
    reason = rng.choice(REJECT_REASONS)
    at = order.created_at + rng.randint(10, 180) * M
    step(order, "reject", at, by=MANAGER, actor_id=st.manager_id, note=reason, reason=reason)


def _cancelled(ctx: Context, st: Station, rng: Random, order: Order, crew) -> None:
    """Cancelled by the resident while waiting, or by the station once staffed (the places go)."""
    if rng.random() < 0.6:
        reason = rng.choice(CANCEL_REASONS[:2])
        at = order.created_at + rng.randint(20, 220) * M
        step(order, "cancel", at, by=RESIDENT, actor_id=order.resident_id, note=reason, reason=reason)
        return
    staffed = _staff(ctx, st, rng, order, crew, _dispatch(ctx, st, rng, order))
    at = staffed + (order.window_start - staffed) * rng.uniform(0.2, 0.8)
    reason = CANCEL_REASONS[2]
    step(order, "cancel", at, by=MANAGER, actor_id=st.manager_id, note=reason, reason=reason)
    attendance.end_open([order.id], at)


def _expired(ctx: Context, st: Station, rng: Random, order: Order, crew) -> None:
    """Never dispatched, or an open pool nobody grabbed: escalated at the deadline, expired later."""
    if rng.random() < 0.5:
        due = order.dispatch_due_at
    else:
        _dispatch(ctx, st, rng, order, mode=OrderMode.GRAB)
        due = order.fill_due_at
    escalated = due + rng.randint(1, 59) * M / 60
    step(order, "escalate", escalated, by=SCHEDULER, actor_id=None, escalated_at=escalated)
    expired = escalated + ctx.escalation + rng.randint(1, 59) * M / 60
    step(order, "expire", expired, by=SCHEDULER, actor_id=None)
    attendance.settle_absent([order.id], expired)


def _closed(ctx: Context, st: Station, rng: Random, order: Order, crew) -> None:
    _staff(ctx, st, rng, order, crew, _dispatch(ctx, st, rng, order))
    done = onsite.serve(ctx, st, rng, order)
    onsite.after(ctx, st, rng, order, done)


FLOWS = {"closed": _closed, "rejected": _rejected, "cancelled": _cancelled, "expired": _expired}


def _dispatch(ctx: Context, st: Station, rng: Random, order: Order, mode: str | None = None) -> datetime:
    """派单 after the station's usual delay; past the dispatch deadline the order is escalated first
    (and dispatched before it would have expired). Returns the dispatch time."""
    at = order.created_at + rng.randint(*st.plan.dispatch) * M
    due = order.dispatch_due_at
    if at > due:
        escalated = due + rng.randint(1, 59) * M / 60
        step(order, "escalate", escalated, by=SCHEDULER, actor_id=None, escalated_at=escalated)
        at = min(at, escalated + ctx.escalation - 5 * M)
    mode = mode or (OrderMode.GRAB if rng.random() < 0.6 else OrderMode.ASSIGN)
    fill_due = min(at + timedelta(minutes=st.settings["grab_window_minutes"]), order.window_start)
    staffing = {"mode": mode, "capacity": order.volunteers_needed, "fill_due_at": fill_due}
    step(
        order, "dispatch", at, by=MANAGER, actor_id=st.manager_id, dispatched_by_id=st.manager_id, **staffing
    )
    return at


def _staff(
    ctx: Context, st: Station, rng: Random, order: Order, crew: list[int], dispatched: datetime
) -> datetime:
    """The crew grabs the pool, or accepts the offers (now and then one more volunteer is offered the
    order and declines). Returns when the order was fully staffed."""
    latest = order.fill_due_at - M
    offers, moves = {}, []
    if order.mode == OrderMode.ASSIGN:
        declining = ctx.pick(
            st, order.window_start, order.window_end, 1, dispatched, rng, exclude=crew, reserve=False
        )
        for volunteer in crew + (declining if rng.random() < 0.3 else []):
            offers[volunteer] = _assignment(order, volunteer, "offer", AssignmentStatus.OFFERED, dispatched)
            offers[volunteer].offered_by_id = st.manager_id
            if volunteer not in crew:
                moves.append((min(dispatched + rng.randint(10, 300) * M, latest), volunteer, "decline"))
    action = "grab" if order.mode == OrderMode.GRAB else "accept"
    moves += [(min(dispatched + rng.randint(3, 480) * M, latest), v, action) for v in crew]
    staffed = dispatched
    for at, volunteer, action in sorted(moves):
        if action == "decline":
            offer = offers[volunteer]
            attendance.move(offer, "decline", now=at)
            offer.updated_at = at
            step(order, action, at, by=VOLUNTEER, actor_id=volunteer, assignment_id=offer.id, note="临时有事")
            continue
        if action == "grab":
            assignment = _assignment(order, volunteer, "grab", AssignmentStatus.HELD, at)
        else:
            assignment = offers[volunteer]
            attendance.move(assignment, "accept", now=at)
            assignment.updated_at = at
        order.taken += 1
        last = order.taken == order.capacity
        step(order, action, at, by=VOLUNTEER, actor_id=volunteer, last=last, assignment_id=assignment.id)
        staffed = at
    return staffed


def _assignment(order: Order, volunteer: int, kind: str, status: str, at: datetime) -> Assignment:
    assignment = Assignment(
        order_id=order.id,
        site_id=order.site_id,
        volunteer_id=volunteer,
        kind=kind,
        status=status,
        held_at=at if status == AssignmentStatus.HELD else None,
        created_at=at,
        updated_at=at,
    )
    db.session.add(assignment)
    db.session.flush()
    return assignment
