"""What a caller may see of orders: one order (404 unless they may see it), its detail with the
resident's phone masked, lists (mine, assigned to me, my sites'), the timeline; and the open pools as
entries of the volunteers' feed."""

from __future__ import annotations

from sqlalchemy import exists, inspect, or_, select

from volunteer_app import phones
from volunteer_app.accounts.models import User
from volunteer_app.attendance.models import SLOT_STATUSES, Assignment
from volunteer_app.errors import NotFound
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order, OrderEvent, OrderMode, OrderStatus
from volunteer_app.pagination import paginate
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import path_in_reach, reach_condition


def _visible(who) -> list:
    """Who sees an order: managers in reach of its station, its resident (and proxy), its volunteers,
    and any volunteer while it is an open pool (it is in their feed)."""
    me = who.user_id
    mine = exists().where(Assignment.order_id == Order.id, Assignment.volunteer_id == me)
    conditions = [reach_condition(Order.site_id, who), Order.resident_id == me, Order.proxy_id == me, mine]
    if "volunteer" in who.roles:
        conditions.append((Order.status == OrderStatus.DISPATCHED) & (Order.mode == OrderMode.GRAB))
    return [or_(*conditions)]


def get_order(*, who, order_id: int) -> Order:
    """One order the caller may see (404 otherwise, never 403)."""
    order = db.session.scalars(select(Order).where(Order.id == order_id, *_visible(who))).first()
    if order is None:
        raise NotFound()
    return order


def detail(order: Order, who) -> dict:
    """The order as the caller may see it: the resident's phone masked unless they manage it or are
    the resident; assignments in full for managers, the caller's own otherwise."""
    manages = path_in_reach(db.session.scalar(select(Site.path).where(Site.id == order.site_id)), who)
    resident = db.session.get(User, order.resident_id)
    own = who.user_id in (order.resident_id, order.proxy_id)
    phone = resident.phone if (manages or who.user_id == resident.id) else phones.mask_phone(resident.phone)
    assignments = db.session.scalars(
        select(Assignment).where(Assignment.order_id == order.id).order_by(Assignment.id)
    ).all()
    mine = next((a for a in assignments if a.volunteer_id == who.user_id), None)
    names = {}
    if manages or own:
        ids = [a.volunteer_id for a in assignments]
        names = (
            dict(db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()) if ids else {}
        )
    return {  # the order's own fields at the top, as an activity's detail has them
        **{column.key: getattr(order, column.key) for column in inspect(Order).column_attrs},
        "resident": {"id": resident.id, "name": resident.name, "phone": phone},
        "my_assignment": mine,
        "assignments": [
            {"assignment": a, "volunteer_name": names.get(a.volunteer_id)}
            for a in assignments
            if manages or (own and a.status in SLOT_STATUSES)
        ],
    }


def list_orders(*, who, scope: str | None, status: str | None, limit: int, cursor: str | None) -> dict:
    """Mine (resident), assigned to me (volunteer) or my sites' (manager), newest first."""
    if scope is None:
        scope = "managed" if (who.manager_paths or who.is_admin) else "mine"
    stmt = select(Order)
    if scope == "mine":
        stmt = stmt.where(or_(Order.resident_id == who.user_id, Order.proxy_id == who.user_id))
    elif scope == "assigned":
        stmt = stmt.where(
            Order.id.in_(select(Assignment.order_id).where(Assignment.volunteer_id == who.user_id))
        )
    else:
        stmt = stmt.where(reach_condition(Order.site_id, who))
    if status:
        stmt = stmt.where(Order.status == status)
    return paginate(stmt, [Order.id], limit=limit, cursor=cursor, descending=True)


def events(*, who, order_id: int, limit: int, cursor: str | None) -> dict:
    """The order's timeline, oldest first."""
    get_order(who=who, order_id=order_id)
    return paginate(
        select(OrderEvent).where(OrderEvent.order_id == order_id), [OrderEvent.id], limit=limit, cursor=cursor
    )
