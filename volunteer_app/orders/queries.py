"""What a caller may see of orders: one order (404 unless they may see it), its detail with the
resident's phone masked, lists (mine, assigned to me, my sites', filtered for the managers' queue),
the timeline; and the open pools as entries of the volunteers' feed."""

from __future__ import annotations

from collections import namedtuple
from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import ColumnElement, and_, bindparam, exists, inspect, or_, select
from sqlalchemy.orm import aliased

from volunteer_app import phones
from volunteer_app.accounts.models import User
from volunteer_app.attendance.models import SLOT_STATUSES, Assignment, AssignmentStatus
from volunteer_app.db import utcnow
from volunteer_app.errors import NotFound, Unprocessable, register_messages
from volunteer_app.extensions import db, read_rows
from volunteer_app.field_messages import register_field_messages
from volunteer_app.orders.common import act_condition, acting, may, read_condition
from volunteer_app.orders.models import Order, OrderEvent, OrderHandover, OrderMode, OrderStatus
from volunteer_app.orders.states import MANAGER, TABLE
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import get_in_reach, subtree_of

register_messages({"order.bad_period": ("开始日期晚于结束日期", "The period starts after it ends")})
AFTER_END = "after 'to'"
register_field_messages({AFTER_END: "晚于结束日期（to）"})

# What waits on a manager, by name (GET /orders?need=…, and the counts of GET /sites/{id}/today):
#   review            submitted: to dispatch or reject (the dispatching site's managers)
#   dispatch          offered to named volunteers, places still free and no offer left open (every
#                     one declined or withdrawn): to offer to more (the dispatching site's managers)
#   pool_not_filling  open to grabbing with places free and its deadline within POOL_WARN_HOURS (or
#                     passed: the sweep has not closed it yet)
#   checkout_overdue  in service after the window's end: someone checked in has not checked out
#   audit_overdue     completed and still unaudited past its audit deadline (`audit_window_hours`)
#   escalated_to_me   escalated by the deadline sweep to the sites asked about: the parent of the
#                     order's dispatching site (a root center: itself) lies there; orders/deadlines.py
NEEDS = ("review", "dispatch", "pool_not_filling", "checkout_overdue", "audit_overdue", "escalated_to_me")
# The state each need lies in (escalated_to_me: any), so a queue can show its state filter too.
NEED_STATUS = {
    "review": OrderStatus.SUBMITTED,
    "dispatch": OrderStatus.DISPATCHED,
    "pool_not_filling": OrderStatus.DISPATCHED,
    "checkout_overdue": OrderStatus.IN_SERVICE,
    "audit_overdue": OrderStatus.COMPLETED,
}
POOL_WARN_HOURS = 6


def _visible(who, *, one_row: bool = False) -> list:
    """Who sees an order: managers who may read it (orders/common.py), its resident (and proxy), its
    volunteers, and any volunteer while it is an open pool (it is in their feed)."""
    me = who.user_id
    mine = exists().where(Assignment.order_id == Order.id, Assignment.volunteer_id == me)
    conditions = [read_condition(who, one_row=one_row), Order.resident_id == me, Order.proxy_id == me, mine]
    if "volunteer" in who.roles:
        conditions.append((Order.status == OrderStatus.DISPATCHED) & (Order.mode == OrderMode.GRAB))
    return [or_(*conditions)]


def get_order(*, who, order_id: int) -> Order:
    """One order the caller may see (404 otherwise, never 403)."""
    order = db.session.scalars(select(Order).where(Order.id == order_id, *_visible(who))).first()
    if order is None:
        raise NotFound()
    return order


_DETAIL_QUERIES: dict[tuple, object] = {}
DETAIL_QUERIES = 1024  # callers whose statement a process keeps (then forgotten all at once)


def _detail_query(who):
    """GET /orders/{id}'s one query for this caller, over a bound order id: the order with whether the
    caller manages it, its resident's name and phone, whether it has a handover, and its assignments
    LEFT JOINed (one row per assignment, oldest first; one row with none). Who may see an order, and
    whether they manage it, depend only on the caller's id and grants (reach: their sites' paths), so
    the statement is built once per caller and process: building it (reach's subqueries) cost more
    than running it."""
    key = (who.user_id, who.grants)
    stmt = _DETAIL_QUERIES.get(key)
    if stmt is None:
        if len(_DETAIL_QUERIES) >= DETAIL_QUERIES:
            _DETAIL_QUERIES.clear()
        stmt = _DETAIL_QUERIES[key] = (
            select(
                *_assignment_columns(),  # first: a row's assignment is its first columns
                *Order.__table__.c,
                read_condition(who, one_row=True).label("manages"),
                User.name.label("resident_name"),
                User.phone.label("resident_phone"),
                # most orders have no handover: a round trip saved where there is none to read
                exists().where(OrderHandover.order_id == Order.id).label("has_handovers"),
            )
            .join(User, User.id == Order.resident_id)
            .outerjoin(_ASSIGNMENT, _ASSIGNMENT.c.order_id == Order.id)
            .outerjoin(_VOLUNTEER, _VOLUNTEER.id == _ASSIGNMENT.c.volunteer_id)
            .where(Order.id == bindparam("order_id"), *_visible(who, one_row=True))
            .order_by(_ASSIGNMENT.c.id)
        )
    return stmt


# An order's assignments as the detail reads them, joined to the order or on their own
# (`_assignments_query`): under aliases (`_visible`'s subquery over assignments must not correlate
# with the joined rows), with short labels (psycopg parses a statement once only up to 4,096 bytes,
# psycopg._queries), each with its volunteer's name; a row's first columns, as an `AssignmentRow`.
_ASSIGNMENT = Assignment.__table__.alias("a")
_VOLUNTEER = aliased(User, name="v")
AssignmentRow = namedtuple("AssignmentRow", [*(column.key for column in _ASSIGNMENT.c), "volunteer_name"])


def _assignment_columns() -> list:
    return [
        *(column.label(f"a_{column.key}") for column in _ASSIGNMENT.c),
        _VOLUNTEER.name.label("a_volunteer_name"),
    ]


def _assignment_rows(rows) -> list[AssignmentRow]:
    width = len(AssignmentRow._fields)
    return [AssignmentRow(*row[:width]) for row in rows]


def order_detail(*, who, order_id: int) -> dict:
    """GET /orders/{id}: `detail` of one order the caller may see (404 otherwise, never 403), with
    whether the caller manages it, the resident's name and phone, its assignments and whether it has
    any handover, all read in one query."""
    rows = read_rows(_detail_query(who), {"order_id": order_id}).all()
    if not rows:
        raise NotFound()
    row = rows[0]
    assignments = _assignment_rows(rows) if row.a_id is not None else []
    # The order as a plain row (past the ORM): `detail` reads its columns by name.
    return detail(
        row,
        who,
        manages=bool(row.manages),
        resident=(row.resident_name, row.resident_phone),
        assignments=assignments,
        has_handovers=bool(row.has_handovers),
    )


def detail(
    order: Order,
    who,
    *,
    manages: bool | None = None,
    resident: tuple | None = None,
    assignments: list | None = None,
    has_handovers: bool = True,
) -> dict:
    """The order as the caller may see it: the resident's phone masked unless they manage it or are
    the resident; assignments in full for managers, the caller's own otherwise. `manages`, `resident`
    (name, phone) and `assignments` (`AssignmentRow`s, oldest first) are read here unless the
    caller read them already; `has_handovers` False when the caller knows there is none to read."""
    if manages is None:
        manages = may(order.id, read_condition(who))
    if resident is None:
        resident = db.session.execute(select(User.name, User.phone).where(User.id == order.resident_id)).one()
    name, phone = resident
    own = who.user_id in (order.resident_id, order.proxy_id)
    if not (manages or who.user_id == order.resident_id):
        phone = phones.mask_phone(phone)
    rows = assignments
    if rows is None:
        rows = _assignment_rows(read_rows(_assignments_query(), {"order_id": order.id}))
    mine = next((a for a in rows if a.volunteer_id == who.user_id), None)
    show_names = manages or own
    return {  # the order's own fields at the top, as an activity's detail has them
        **{column.key: getattr(order, column.key) for column in inspect(Order).column_attrs},
        "resident": {"id": order.resident_id, "name": name, "phone": phone},
        "my_assignment": mine,
        "assignments": [
            {"assignment": a, "volunteer_name": a.volunteer_name if show_names else None}
            for a in rows
            if manages or (own and a.status in SLOT_STATUSES)
        ],
        "handovers": _handovers(order.id) if manages and has_handovers else [],
    }


def submitted_detail(order, resident: User) -> dict:
    """`detail` of an order this transaction has just inserted (its row as the INSERT read it back,
    states.create): nothing to read. A new order has no assignment and no handover, and whoever
    submits it sees the resident's phone (the resident, or staff ordering for them at a station in
    their reach: `read_condition` holds)."""
    return {
        **order._asdict(),
        "resident": {"id": resident.id, "name": resident.name, "phone": resident.phone},
        "my_assignment": None,
        "assignments": [],
        "handovers": [],
    }


@cache
def _assignments_query():
    """An order's assignments with their volunteers' names, oldest first (`_assignment_rows`)."""
    return (
        select(*_assignment_columns())
        .select_from(_ASSIGNMENT)
        .join(_VOLUNTEER, _VOLUNTEER.id == _ASSIGNMENT.c.volunteer_id)
        .where(_ASSIGNMENT.c.order_id == bindparam("order_id"))
        .order_by(_ASSIGNMENT.c.id)
    )


@cache
def _handovers_query():
    return (
        select(*OrderHandover.__table__.c)
        .where(OrderHandover.order_id == bindparam("order_id"))
        .order_by(OrderHandover.id)
    )


def _handovers(order_id: int) -> list:
    """The order's 转派/上报, oldest first (plain rows)."""
    return read_rows(_handovers_query(), {"order_id": order_id}).all()


# The managers' actions on an order (names of the state table, orders.states.TABLE); the first three
# are the dispatching site's managers' (the commands look the order up through that site too).
MANAGER_ACTIONS = ("reject", "dispatch", "offer", "cancel", "audit", "close_attendance", "no_show")
DISPATCHING = ("reject", "dispatch", "offer")


def manager_actions(order: Order, who) -> dict[str, bool]:
    """Which of MANAGER_ACTIONS the order's state allows the caller: the state table's moves a manager
    may make, for a manager who may act on the order (orders/common.py, the orders' reach), the
    dispatching ones only for a manager of its dispatch site. Read without changing anything, for a
    page to offer only what the commands would accept (they check the same; an assignment's own state
    is theirs to check)."""
    dispatches = may(order.id, act_condition(who, dispatching=True))
    acts = dispatches or may(order.id, act_condition(who))
    allowed = {}
    for action in MANAGER_ACTIONS:
        rule = TABLE.get((order.status, action))
        allowed[action] = (
            rule is not None and MANAGER in rule.by and (dispatches if action in DISPATCHING else acts)
        )
    return allowed


def _site_scope(site: Site | None, who):
    """Select of the site ids asked about: `site`'s subtree, or every site in the caller's reach."""
    if site is not None:
        return select(Site.id).where(subtree_of([site.path]))
    if who.is_admin:
        return select(Site.id)
    return select(Site.id).where(subtree_of(who.manager_paths))


def need_condition(need: str, *, who, site: Site | None, now: datetime) -> ColumnElement[bool]:
    """Condition on Order: the order waits on the managers of `site`'s subtree (or, with no site, of
    the caller's reach) for `need` (one of NEEDS, described above). One definition for the queue's
    filter and the console's counts."""
    scope = _site_scope(site, who)
    in_scope = acting(lambda column: column.in_(scope))  # the orders' reach rule (orders/common.py)
    dispatching = acting(lambda column: column.in_(scope), dispatching=True)
    free = Order.taken < Order.capacity
    if need == "review":
        return and_(dispatching, Order.status == OrderStatus.SUBMITTED)
    if need == "dispatch":
        offered = exists().where(
            Assignment.order_id == Order.id, Assignment.status == AssignmentStatus.OFFERED
        )
        return and_(
            dispatching,
            Order.status == OrderStatus.DISPATCHED,
            Order.mode == OrderMode.ASSIGN,
            free,
            ~offered,
        )
    if need == "pool_not_filling":
        return and_(
            dispatching,
            Order.status == OrderStatus.DISPATCHED,
            Order.mode == OrderMode.GRAB,
            free,
            Order.fill_due_at <= now + timedelta(hours=POOL_WARN_HOURS),
        )
    if need == "checkout_overdue":
        return and_(in_scope, Order.status == OrderStatus.IN_SERVICE, Order.window_end <= now)
    if need == "audit_overdue":
        return and_(in_scope, Order.status == OrderStatus.COMPLETED, Order.audit_due_at <= now)
    if need == "escalated_to_me":
        told = aliased(Site)  # the dispatching site, whose parent's managers were told
        receivers = select(told.id).where(
            or_(told.parent_id.in_(scope), and_(told.parent_id.is_(None), told.id.in_(scope)))
        )
        return and_(in_scope, Order.escalated_at.is_not(None), Order.dispatch_site_id.in_(receivers))
    raise ValueError(need)


def _day_bounds(site: Site | None, start: date | None, end: date | None) -> tuple:
    """[from 00:00, the day after `to` 00:00) on the clock of `site` (else the deployment's zone)."""
    if start is not None and end is not None and start > end:
        raise Unprocessable("order.bad_period", errors={"query": {"from": [AFTER_END]}})
    zone = sites.effective_settings(site)["timezone"] if site is not None else None
    tz = ZoneInfo(zone or current_app.config["SITE_DEFAULTS"]["timezone"])
    low = datetime.combine(start, time(), tz) if start is not None else None
    high = datetime.combine(end + timedelta(days=1), time(), tz) if end is not None else None
    return low, high


def list_orders(
    *,
    who,
    scope: str | None = None,
    status: str | None = None,
    start: date | None = None,
    end: date | None = None,
    category_id: int | None = None,
    site_id: int | None = None,
    escalated: bool | None = None,
    need: str | None = None,
    limit: int,
    cursor: str | None,
) -> dict:
    """Mine (resident), assigned to me (volunteer) or my sites' (manager), newest first; filtered by
    state, by the service's start (`start`..`end`, local days inclusive, on the clock of `site_id`,
    else the deployment's time zone), category, a site in reach (orders of its subtree; out of reach
    404), escalated or not (`escalated_at` set: late in their present state), and what waits on a
    manager (`need`, one of NEEDS)."""
    if scope is None:
        scope = "managed" if (who.manager_paths or who.is_admin) else "mine"
    site = get_in_reach(Site, site_id, Site.id, who) if site_id is not None else None
    stmt = select(Order)
    if scope == "mine":
        stmt = stmt.where(or_(Order.resident_id == who.user_id, Order.proxy_id == who.user_id))
    elif scope == "assigned":
        stmt = stmt.where(
            Order.id.in_(select(Assignment.order_id).where(Assignment.volunteer_id == who.user_id))
        )
    else:
        stmt = stmt.where(read_condition(who))
    if status:
        stmt = stmt.where(Order.status == status)
    low, high = _day_bounds(site, start, end)
    if low is not None:
        stmt = stmt.where(Order.window_start >= low)
    if high is not None:
        stmt = stmt.where(Order.window_start < high)
    if category_id is not None:
        stmt = stmt.where(Order.category_id == category_id)
    if site is not None:
        scope_ids = _site_scope(site, who)
        stmt = stmt.where(or_(Order.site_id.in_(scope_ids), Order.dispatch_site_id.in_(scope_ids)))
    if escalated is not None:
        stmt = stmt.where(Order.escalated_at.is_not(None) if escalated else Order.escalated_at.is_(None))
    if need is not None:  # (nothing waits on someone who manages no site)
        stmt = stmt.where(need_condition(need, who=who, site=site, now=utcnow()))
    return paginate(stmt, [Order.id], limit=limit, cursor=cursor, descending=True)


def events(*, who, order_id: int, limit: int, cursor: str | None) -> dict:
    """The order's timeline, oldest first."""
    get_order(who=who, order_id=order_id)
    return paginate(
        select(OrderEvent).where(OrderEvent.order_id == order_id), [OrderEvent.id], limit=limit, cursor=cursor
    )
