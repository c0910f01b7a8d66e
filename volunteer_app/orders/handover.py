"""转派 / 上报: a station that cannot serve an order passes it on, with a reason: to a sibling station
under the same parent (its managers accept or decline), or up to its parent site (at once).

The hop is one `hand_over` move of the state table (orders/states.py): the dispatch site changes, the
dispatch deadline restarts on the new holder's `dispatch_within_minutes`, an escalation is cleared, and
a dispatched order nobody holds a place in (`taken == 0`) ends its open offers or pool and is submitted
again. The sites it left keep reading it (orders/common.py, the orders' reach), not acting on it.
Every command locks the order row first, then the handover (as every order command does).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, select

from volunteer_app.attendance import service as attendance
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, NotFound, Unprocessable, register_messages
from volunteer_app.extensions import db
from volunteer_app.field_messages import register_field_messages
from volunteer_app.notifications import service as notifications
from volunteer_app.orders import states
from volunteer_app.orders.common import act_condition, locked, managed, may
from volunteer_app.orders.models import HandoverKind, HandoverStatus, Order, OrderHandover, OrderStatus
from volunteer_app.orders.states import MANAGER, transition
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, get_in_reach, reach_condition

register_messages(
    {
        "handover.bad_target": (
            "只能转派给同一上级下的其他站点，或上报给上级站点",
            "An order goes only to a sibling station under the same parent, or up to the parent site",
        ),
        "handover.not_station": (
            "只有站点可以转派或上报订单（该订单由{kind}派单）",
            "Only a station passes an order on (this one is dispatched by a {kind})",
        ),
        "handover.pending": (
            "该订单已有待处理的转派申请",
            "This order already has a handover waiting for an answer",
        ),
        "handover.held": (
            "已有志愿者接单，不能转派；请先处理已接单的志愿者",
            "Volunteers hold places in this order: it cannot be passed on",
        ),
        "handover.not_pending": (
            "该转派申请已处理（{status}）",
            "This handover was already settled ({status})",
        ),
    }
)
NOT_SIBLING_OR_PARENT = "not a sibling station under the same parent, nor the parent site"
register_field_messages({NOT_SIBLING_OR_PARENT: "不是同一上级下的其他站点，也不是上级站点"})


def _kind(holder: Site, to_site: Site | None) -> str:
    """transfer to a sibling station, refer_up to the parent; 422 for anything else."""
    if to_site is not None and to_site.id != holder.id:
        if to_site.id == holder.parent_id:
            return HandoverKind.REFER_UP
        if to_site.kind == "station" and to_site.parent_id == holder.parent_id:
            return HandoverKind.TRANSFER
    raise Unprocessable("handover.bad_target", errors={"json": {"to_site_id": [NOT_SIBLING_OR_PARENT]}})


def _check_movable(order: Order) -> None:
    """409 unless the table lets the order be passed on now and nobody holds a place in it."""
    states.target(order.status, "hand_over", by=MANAGER)
    if order.taken:
        raise Conflict("handover.held")


def _hop(order: Order, handover: OrderHandover, *, who, now: datetime) -> None:
    """The order (the caller checked it is movable: `_check_movable`) moves to its new holder (the one
    `hand_over` event); flushes only."""
    from_site, to_site = (
        db.session.get(Site, handover.from_site_id),
        db.session.get(Site, handover.to_site_id),
    )
    settings = sites.effective_settings(to_site)
    again = {}
    if order.status == OrderStatus.DISPATCHED:  # nobody holds a place: its offers or pool end
        attendance.end_open([order.id], now)
        again = {"mode": None, "capacity": 0, "fill_due_at": None, "dispatched_by_id": None}
    transition(
        order,
        "hand_over",
        by=MANAGER,
        actor_id=who.user_id,
        note=f"{handover.kind} {from_site.name} → {to_site.name}: {handover.reason}"[:500],
        at=now,
        dispatch_site_id=to_site.id,
        dispatch_due_at=now + timedelta(minutes=settings["dispatch_within_minutes"]),
        escalated_at=None,
        **again,
    )
    handover.status = HandoverStatus.ACCEPTED
    handover.decided_at = now
    handover.decided_by_id = who.user_id
    notifications.notify(
        [order.resident_id],
        "order.handed_over",
        params={"title": order.title, "site": to_site.name},
        subject=("order", order.id),
    )


def request(*, who: Reacher, order_id: int, to_site_id: int, reason: str) -> OrderHandover:
    """Pass the order on: a manager of its dispatch site (a station) names a sibling station (pending
    until its managers accept) or the parent site (the hop happens now). Commits."""
    now = utcnow()
    order = managed(order_id, who, dispatching=True)
    _check_movable(order)  # 409 before the body's 422s
    if db.session.scalar(
        select(OrderHandover.id).where(
            OrderHandover.order_id == order.id, OrderHandover.status == HandoverStatus.PENDING
        )
    ):
        raise Conflict("handover.pending")
    holder = db.session.get(Site, order.dispatch_site_id)
    if holder.kind != "station":
        raise Unprocessable("handover.not_station", params={"kind": holder.kind})
    to_site = db.session.get(Site, to_site_id)
    kind = _kind(holder, to_site)
    handover = OrderHandover(
        order_id=order.id,
        from_site_id=holder.id,
        to_site_id=to_site.id,
        kind=kind,
        status=HandoverStatus.PENDING,
        reason=reason,
        requested_by_id=who.user_id,
        created_at=now,
    )
    db.session.add(handover)
    db.session.flush()
    referred = kind == HandoverKind.REFER_UP
    if referred:
        _hop(order, handover, who=who, now=now)
    notifications.notify(
        notifications.managers_of(to_site.id),
        "order.referred_up" if referred else "order.handover_requested",
        params={"title": order.title, "site": holder.name, "reason": reason},
        subject=("order", order.id),
    )
    db.session.commit()
    return handover


def offers(order: Order, pending: OrderHandover | None, who: Reacher) -> dict:
    """What a page may offer the caller on this order, asked without changing anything, by the rules the
    commands apply: `targets`, the sites it may be passed on to now (request's: a manager of its dispatch
    station, an order the table lets go with no place held, none pending; else none); `receives` and
    `sends`, whether the caller may answer the pending handover as its receiver (accept, decline) or
    withdraw it as its sender (cancel)."""
    found = {"targets": [], "receives": False, "sends": False}
    if pending is not None:
        for key, column in (("receives", OrderHandover.to_site_id), ("sends", OrderHandover.from_site_id)):
            found[key] = db.session.scalar(
                select(exists().where(OrderHandover.id == pending.id, reach_condition(column, who)))
            )
        return found
    try:
        _check_movable(order)
    except Conflict:
        return found
    holder = db.session.get(Site, order.dispatch_site_id)
    if holder.kind != "station" or not may(order.id, act_condition(who, dispatching=True)):
        return found
    parent = db.session.get(Site, holder.parent_id)
    siblings = db.session.scalars(
        select(Site)
        .where(Site.parent_id == parent.id, Site.kind == "station", Site.id != holder.id)
        .order_by(Site.id)
    )
    found["targets"] = [*siblings, parent]
    return found


def _settle(who: Reacher, handover_id: int, site_column) -> tuple[OrderHandover, Order]:
    """A pending handover whose `site_column` (to_site_id: the receiver; from_site_id: the requester)
    the caller reaches, and its order: the order locked first, then the handover read afresh and
    locked. 404 out of reach; 409 once settled (a second accept, or an accept after a cancel)."""
    order_id = db.session.scalar(
        select(OrderHandover.order_id).where(
            OrderHandover.id == handover_id, reach_condition(site_column, who)
        )
    )
    if order_id is None:
        raise NotFound()
    order = locked(order_id)
    handover = db.session.scalars(
        select(OrderHandover)
        .where(OrderHandover.id == handover_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    if handover.status != HandoverStatus.PENDING:
        raise Conflict("handover.not_pending", params={"status": handover.status})
    return handover, order


def accept(*, who: Reacher, handover_id: int) -> OrderHandover:
    """The receiving station's managers take the order over: the hop happens (409, and nothing
    changes, if the order can no longer be passed on). Commits."""
    now = utcnow()
    handover, order = _settle(who, handover_id, OrderHandover.to_site_id)
    _check_movable(order)
    _hop(order, handover, who=who, now=now)
    to_site = db.session.get(Site, handover.to_site_id)
    notifications.notify(
        notifications.managers_of(handover.from_site_id),
        "order.handed_over",
        params={"title": order.title, "site": to_site.name},
        subject=("order", order.id),
    )
    db.session.commit()
    return handover


def decline(*, who: Reacher, handover_id: int, reason: str) -> OrderHandover:
    """The receiving station's managers decline, with a reason; the order stays where it was. Commits."""
    handover, order = _settle(who, handover_id, OrderHandover.to_site_id)
    handover.status = HandoverStatus.DECLINED
    handover.decided_at, handover.decided_by_id, handover.decision_note = utcnow(), who.user_id, reason
    notifications.notify(
        notifications.managers_of(handover.from_site_id),
        "order.handover_declined",
        params={
            "title": order.title,
            "site": db.session.get(Site, handover.to_site_id).name,
            "reason": reason,
        },
        subject=("order", order.id),
    )
    db.session.commit()
    return handover


def cancel(*, who: Reacher, handover_id: int) -> OrderHandover:
    """The requesting station withdraws its request while it is pending. Commits."""
    handover, _ = _settle(who, handover_id, OrderHandover.from_site_id)
    handover.status = HandoverStatus.CANCELLED
    handover.decided_at, handover.decided_by_id = utcnow(), who.user_id
    db.session.commit()
    return handover


def list_for_site(
    *, who: Reacher, site_id: int, direction: str, status: str | None, limit: int, cursor: str | None
) -> dict:
    """A site's handovers, newest first: incoming (asked of it, or referred up to it) or outgoing."""
    site = get_in_reach(Site, site_id, Site.id, who)
    column = OrderHandover.to_site_id if direction == "incoming" else OrderHandover.from_site_id
    stmt = select(OrderHandover).where(column == site.id)
    if status:
        stmt = stmt.where(OrderHandover.status == status)
    return paginate(stmt, [OrderHandover.id], limit=limit, cursor=cursor, descending=True)
