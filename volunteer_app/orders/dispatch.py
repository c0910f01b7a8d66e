"""派单: a station's managers dispatch an order (offers to named volunteers or a team, or an open pool
to grab), offer it to more volunteers, or reject it; the resident or a manager cancels it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, select

from volunteer_app.accounts.models import TeamMember, VolunteerProfile
from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, Unprocessable, invalid, register_messages
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.orders import nearby, states
from volunteer_app.orders.common import act_condition, locked, managed
from volunteer_app.orders.models import Order, OrderMode
from volunteer_app.orders.states import MANAGER, RESIDENT, transition
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site, Team
from volunteer_app.sites.reach import Reacher, reach_condition

register_messages({"order.no_volunteers": ("没有可派单的志愿者", "No volunteers to dispatch to")})

MAX_OFFERS = 50


def _volunteers_to_offer(who: Reacher, volunteer_ids: list[int] | None, team_id: int | None) -> list[int]:
    """Approved volunteers of stations in reach, named or a team's members."""
    if team_id is not None:
        # A team named in the body that is absent or out of reach is bad input (the order was found).
        team = db.session.scalars(sites.teams_in_reach(who).where(Team.id == team_id)).first()
        if team is None:
            raise invalid("team_id", "not a team you manage")
        volunteer_ids = list(
            db.session.scalars(select(TeamMember.user_id).where(TeamMember.team_id == team.id).limit(500))
        )
        stmt = select(VolunteerProfile.user_id).where(VolunteerProfile.user_id.in_(volunteer_ids))
    else:
        stmt = select(VolunteerProfile.user_id).where(
            VolunteerProfile.user_id.in_(volunteer_ids or []), reach_condition(VolunteerProfile.site_id, who)
        )
        found = set(db.session.scalars(stmt))
        unknown = sorted(set(volunteer_ids or []) - found)
        if unknown:
            raise invalid("volunteer_ids", f"not volunteers you manage: {unknown[:10]}")
    ids = sorted(set(db.session.scalars(stmt)))
    if not ids:
        raise Unprocessable("order.no_volunteers", errors={"json": {"team_id": ["no volunteers"]}})
    if len(ids) > MAX_OFFERS:
        raise invalid("volunteer_ids", f"at most {MAX_OFFERS} offers at once")
    return ids


def _offer(order: Order, volunteer_ids: list[int], actor_id: int) -> list[Assignment]:
    taken = set(
        db.session.scalars(
            select(Assignment.volunteer_id).where(
                Assignment.order_id == order.id, Assignment.volunteer_id.in_(volunteer_ids)
            )
        )
    )
    offers = [
        Assignment(
            order_id=order.id,
            site_id=order.site_id,
            volunteer_id=v,
            kind="offer",
            status=AssignmentStatus.OFFERED,
            offered_by_id=actor_id,
        )
        for v in volunteer_ids
        if v not in taken
    ]
    if not offers:
        raise Conflict("order.no_volunteers")
    db.session.add_all(offers)
    db.session.flush()
    notifications.notify(
        [a.volunteer_id for a in offers],
        "order.offered",
        params={"title": order.title},
        subject=("order", order.id),
    )
    return offers


def dispatch(*, who, order_id: int, data: dict) -> Order:
    """派单: offer the order to named volunteers or a team (assign), or open it to grabbing (grab),
    with a capacity and a deadline. Commits."""
    now = utcnow()
    order = managed(order_id, who, dispatching=True)
    states.target(order.status, "dispatch", by=MANAGER)  # 409 before the body's 422s
    settings = sites.effective_settings(db.session.get(Site, order.site_id))
    capacity = data.get("capacity") or order.volunteers_needed
    # Default: the grab window, but no later than the start (or the end, if service already began).
    latest = order.window_start if order.window_start > now else order.window_end
    deadline = data.get("deadline") or min(now + timedelta(minutes=settings["grab_window_minutes"]), latest)
    if deadline <= now:
        raise invalid("deadline", "must be in the future")
    if deadline > order.window_end:
        raise invalid("deadline", "must not be after the service window ends")
    if data["mode"] == OrderMode.ASSIGN:
        volunteer_ids = _volunteers_to_offer(who, data.get("volunteer_ids"), data.get("team_id"))
    elif data.get("volunteer_ids") or data.get("team_id"):
        raise invalid("mode", "volunteer_ids and team_id are for mode assign")
    transition(
        order,
        "dispatch",
        by=MANAGER,
        actor_id=who.user_id,
        note=data.get("note"),
        at=now,
        mode=data["mode"],
        capacity=capacity,
        fill_due_at=deadline,
        dispatched_by_id=who.user_id,
    )
    if data["mode"] == OrderMode.ASSIGN:
        _offer(order, volunteer_ids, who.user_id)
    else:
        nearby.tell_nearby(order)  # a new pool: the volunteers near it hear of it
    db.session.commit()
    return order


def offer_more(*, who, order_id: int, data: dict) -> Order:
    """Reassign: offer a dispatched order to more volunteers (after a decline or withdrawal). Commits."""
    order = managed(order_id, who, dispatching=True)
    states.target(order.status, "offer", by=MANAGER)  # 409 before the body's 422s
    volunteer_ids = _volunteers_to_offer(who, data.get("volunteer_ids"), data.get("team_id"))
    offers = _offer(order, volunteer_ids, who.user_id)
    transition(order, "offer", by=MANAGER, actor_id=who.user_id, note=f"{len(offers)} offers")
    db.session.commit()
    return order


def reject(*, who, order_id: int, reason: str) -> Order:
    """Reject a submitted order with a reason. Commits."""
    order = managed(order_id, who, dispatching=True)
    transition(order, "reject", by=MANAGER, actor_id=who.user_id, note=reason, reason=reason)
    notifications.notify(
        [order.resident_id],
        "order.rejected",
        params={"title": order.title, "reason": reason},
        subject=("order", order.id),
    )
    db.session.commit()
    return order


def cancel(*, who, order_id: int, reason: str) -> Order:
    """Cancel before service starts: by the resident who ordered, or a manager in reach. Commits."""
    order = locked(order_id, or_(Order.resident_id == who.user_id, act_condition(who)))
    by = RESIDENT if order.resident_id == who.user_id else MANAGER
    transition(order, "cancel", by=by, actor_id=who.user_id, note=reason, reason=reason)
    told = attendance.end_open([order.id], utcnow())  # its offers and holders go
    if by == MANAGER:
        told.append(order.resident_id)
    else:
        told += notifications.managers_of(order.dispatch_site_id)
    notifications.notify(
        told, "order.cancelled", params={"title": order.title, "reason": reason}, subject=("order", order.id)
    )
    db.session.commit()
    return order
