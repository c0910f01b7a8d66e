"""回访: the serving station calls the resident after an order closed.

A follow-up is created, in the transaction that settles the order (closed, and rated or unrated:
orders.states.settled), for the order's station: every order rated 1–2 stars (low_rating), every
unrated one (unrated), and a sample of the rest (sample: `follow_up_sample_percent` of the station's
settings, chosen by a hash of the order id, so the same orders are chosen every time). Exactly one per
order (UNIQUE(order_id), inserted ignoring a conflict). It is due `follow_up_due_hours` later.

A manager reaching the station records calls: reached (done, with the resident's satisfaction 1–5), or
not (it stays pending, one more attempt); after at least one call that did not reach, they may give up
(unreachable).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import select

from volunteer_app import phones
from volunteer_app.accounts.models import User
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, register_messages
from volunteer_app.extensions import db
from volunteer_app.orders import states as order_states
from volunteer_app.orders.common import may, read_condition
from volunteer_app.orders.models import Order, OrderStatus, RatingState
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.reach import get_in_reach
from volunteer_app.supervision import states
from volunteer_app.supervision.common import clip, filtered, in_subtree
from volunteer_app.supervision.models import FollowUp
from volunteer_app.supervision.states import ACTOR, FOLLOW_UPS, SYSTEM

register_messages(
    {
        "follow_up.not_tried": (
            "至少有一次未接通的回访电话后才能标记为无法联系",
            "Call at least once (not reached) before giving up",
        ),
    }
)

LOW_STARS = 2  # a rating at or below this is followed up always


def sampled(order_id: int, percent: int) -> bool:
    """Whether an order falls in a `percent` sample: a hash of its id mod 100, the same on every run."""
    bucket = int.from_bytes(hashlib.sha256(str(order_id).encode()).digest()[:8], "big") % 100
    return bucket < percent


def reason_for(order_id: int, rating_state: str | None, stars: int | None, percent: int) -> str | None:
    """Why a settled order is followed up (FOLLOW_UP_REASONS), or None if it is not."""
    if rating_state == RatingState.RATED and stars is not None and stars <= LOW_STARS:
        return "low_rating"
    if rating_state == RatingState.UNRATED:
        return "unrated"
    if sampled(order_id, percent):
        return "sample"
    return None


def create_for(order_ids: list[int], *, now: datetime) -> list[int]:
    """Create the follow-ups of orders just settled (closed and rated or unrated), at most one per
    order: an order that already has one keeps it. Flushes only (the settling service commits).
    Returns the ids created."""
    orders = db.session.execute(
        select(Order.id, Order.site_id, Order.rating_state, Order.rating_stars).where(
            Order.id.in_(order_ids),
            Order.status == OrderStatus.CLOSED,
            Order.rating_state.in_((RatingState.RATED, RatingState.UNRATED)),
        )
    ).all()
    if not orders:
        return []
    settings = sites.settings_of({o.site_id for o in orders})
    rows = []
    for o in orders:
        percent = int(settings[o.site_id]["follow_up_sample_percent"])
        reason = reason_for(o.id, o.rating_state, o.rating_stars, percent)
        if reason is None:
            continue
        hours = int(settings[o.site_id]["follow_up_due_hours"])
        rows.append(
            {
                "order_id": o.id,
                "site_id": o.site_id,
                "reason": reason,
                "due_at": now + timedelta(hours=hours),
                "attempts": 0,
            }
        )
    return states.create_many(FOLLOW_UPS, "create", rows, by=SYSTEM, now=now)


def _on_settled(_sender, *, order_ids: list[int], now: datetime, **_) -> None:
    create_for(order_ids, now=now)


# Connected once, when the app imports this module (create_app): blinker keeps one connection per
# receiver, and the receiver works in whichever app's context the order was settled.
order_states.settled.connect(_on_settled)


# ---- reading ------------------------------------------------------------------------------------


def list_for_site(
    *,
    who,
    site_id: int,
    status: str | None = None,
    reason: str | None = None,
    overdue: bool | None = None,
    limit: int,
    cursor: str | None,
) -> dict:
    """The follow-ups of a site and the sites below it (404 out of reach), soonest due first."""
    stmt = select(FollowUp).where(in_subtree(FollowUp.site_id, who, site_id))
    stmt = filtered(stmt, FOLLOW_UPS, status=status, reason=reason, overdue=overdue)
    return paginate(stmt, [FollowUp.due_at, FollowUp.id], limit=limit, cursor=cursor)


def get_follow_up(*, who, follow_up_id: int, for_update: bool = False) -> FollowUp:
    """One follow-up of a site the caller manages (404 otherwise, never 403)."""
    return get_in_reach(FollowUp, follow_up_id, FollowUp.site_id, who, for_update=for_update)


def detail(follow_up: FollowUp, who) -> dict:
    """The task with its order (title, service window, rating), the resident as the order's detail
    shows them (the phone in full to a manager who may read the order, masked otherwise: the rule of
    orders.queries.detail, asked of the same condition), and its timeline."""
    order = db.session.get(Order, follow_up.order_id)
    resident = db.session.get(User, order.resident_id)
    phone = resident.phone if may(order.id, read_condition(who)) else phones.mask_phone(resident.phone)
    return {
        "follow_up": follow_up,
        "order": order,
        "resident": {"id": resident.id, "name": resident.name, "phone": phone},
        "timeline": states.timeline(FOLLOW_UPS, follow_up.id),
    }


def show(*, who, follow_up_id: int) -> dict:
    return detail(get_follow_up(who=who, follow_up_id=follow_up_id), who)


# ---- calls --------------------------------------------------------------------------------------


def record_call(
    *, who, follow_up_id: int, reached: bool, satisfaction: int | None = None, notes: str | None = None
) -> dict:
    """A call to the resident: reached → done with the satisfaction; not reached → still pending, one
    more attempt (event "missed"). Commits."""
    follow_up = get_follow_up(who=who, follow_up_id=follow_up_id, for_update=True)
    now = utcnow()
    if reached:
        states.transition(
            FOLLOW_UPS,
            follow_up,
            "reached",
            by=ACTOR,
            actor_id=who.user_id,
            note=clip(notes),
            at=now,
            attempts=follow_up.attempts + 1,
            reached=True,
            satisfaction=satisfaction,
            notes=notes,
            done_by_id=who.user_id,
            done_at=now,
        )
    else:
        states.transition(
            FOLLOW_UPS,
            follow_up,
            "missed",
            by=ACTOR,
            actor_id=who.user_id,
            note=clip(notes),
            at=now,
            attempts=follow_up.attempts + 1,
            reached=False,
            notes=notes if notes is not None else follow_up.notes,
        )
    db.session.commit()
    return detail(follow_up, who)


def give_up(*, who, follow_up_id: int, note: str) -> dict:
    """Unreachable: only after at least one call that did not reach (409 follow_up.not_tried). Commits."""
    follow_up = get_follow_up(who=who, follow_up_id=follow_up_id, for_update=True)
    states.target(FOLLOW_UPS, follow_up.status, "give_up", by=ACTOR)  # 409 bad_state first
    if follow_up.attempts < 1:
        raise Conflict("follow_up.not_tried")
    now = utcnow()
    states.transition(
        FOLLOW_UPS,
        follow_up,
        "give_up",
        by=ACTOR,
        actor_id=who.user_id,
        note=note,
        at=now,
        notes=note,
        done_by_id=who.user_id,
        done_at=now,
    )
    db.session.commit()
    return detail(follow_up, who)
