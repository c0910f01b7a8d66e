"""Order commands and reads: 点单, 派单 (assign or grab), 接单/抢单, 签到/签退, 评单, 审核.

Every command locks the order row first (PostgreSQL `FOR UPDATE`; on SQLite writers are serialised
by `BEGIN IMMEDIATE`), checks the state table through `states.transition`, writes its changes and
notifications in the same transaction and commits once. Grabbing and accepting take a slot with one
conditional UPDATE (`taken < capacity`), so however many phones press at once, exactly `capacity`
volunteers win; `UNIQUE(order_id, volunteer_id)` keeps one slot per volunteer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, func, inspect, or_, select, update

from volunteer_app.accounts import identity
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import TeamMember, User, VolunteerProfile
from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import SLOT_STATUSES, Assignment
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, NotFound, Unprocessable, invalid, register_messages
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.notifications.service import Message
from volunteer_app.orders import states
from volunteer_app.orders.models import Order, OrderEvent
from volunteer_app.orders.states import MANAGER, RESIDENT, VOLUNTEER, transition
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site, Team
from volunteer_app.sites.reach import Reacher, path_in_reach, reach_condition

register_messages(
    {
        "order.full": ("名额已满", "All places on this order are taken"),
        "order.closed": ("报名已截止", "This order is no longer open"),
        "order.already_taken": ("您已接下该订单", "You already hold a place on this order"),
        "order.no_volunteers": ("没有可派单的志愿者", "No volunteers to dispatch to"),
        "grab.limit": (
            "您同时进行中的抢单已达上限（{limit} 单）",
            "You already hold {limit} grabbed orders that are not finished",
        ),
        "rating.closed": ("评价期已过或尚不能评价", "This order cannot be rated now"),
        "rating.already": ("该订单已评价", "This order has already been rated"),
        "order.resident_required": (
            "代下单需填写居民手机号和姓名",
            "A proxy order needs the resident's phone and name",
        ),
    }
)

MAX_WINDOW = timedelta(hours=12)
MAX_AHEAD = timedelta(days=90)
MAX_OFFERS = 50
OPEN_ASSIGNMENTS = ("offered", "held")


# ---- 点单: submitting -------------------------------------------------------------------------------


def _dispatch_site(station: Site, settings: dict) -> int:
    """The station itself, or its center when the center's setting says the center dispatches."""
    return station.ancestor_ids()[0] if settings["dispatch_level"] == "center" else station.id


def _proxy_resident(who, data: dict) -> tuple[User, Site]:
    """Phone intake: the resident is found by phone (or registered without a password: they can log in
    by SMS code later); the station is the one named, else the resident's own, else the one nearest the
    service address (as for a resident ordering by phone), and must be in the manager's reach."""
    phone = identity.normalize_phone(data["resident_phone"])
    if phone is None:
        raise invalid("resident_phone", "not a mainland mobile number")
    resident = accounts.find_user_by_phone(phone)
    site_id = data.get("site_id") or (resident.home_site_id if resident else None)
    if site_id is not None:
        station = sites.get_station(site_id, field="site_id")
    else:
        station = sites.nearest_station(data["lat"], data["lng"])
    if not path_in_reach(station.path, who):
        raise invalid("site_id", "not a station you manage")
    if resident is None:
        resident = accounts.create_user(
            phone=phone, name=data["resident_name"], home_site_id=station.id, password_hash=None
        )
        accounts.ensure_grant(resident.id, "resident")
    return resident, station


def _resident_station(user: User, lat: float, lng: float) -> Site:
    if user.home_site_id:
        return sites.get_station(user.home_site_id)
    return sites.nearest_station(lat, lng)


def submit(*, who, data: dict) -> Order:
    """点单: a resident's order, or a manager's on a resident's behalf (recorded as proxy). Commits."""
    now = utcnow()
    attendance.check_window(
        data["window_start"],
        data["window_end"],
        now,
        names=("start_at", "end_at"),  # the API's names of the window
        longest=MAX_WINDOW,
        ahead=MAX_AHEAD,
    )
    sites.active_category(data["category_id"])
    proxy = "resident_phone" in data or "resident_name" in data or "site_id" in data
    if proxy:
        if not (who.manager_paths or who.is_admin):
            raise invalid("resident_phone", "only station staff order for someone else")
        if not data.get("resident_phone") or not data.get("resident_name"):
            raise Unprocessable("order.resident_required", errors={"json": {"resident_phone": ["required"]}})
        resident, station = _proxy_resident(who, data)
    else:
        resident, station = who.user, _resident_station(who.user, data["lat"], data["lng"])
    settings = sites.effective_settings(station)
    order = Order(
        site_id=station.id,
        dispatch_site_id=_dispatch_site(station, settings),
        resident_id=resident.id,
        proxy_id=who.user_id if proxy else None,
        category_id=data["category_id"],
        title=data["title"],
        description=data.get("description"),
        address=data["address"],
        lat=data["lat"],
        lng=data["lng"],
        window_start=data["window_start"],
        window_end=data["window_end"],
        volunteers_needed=data["volunteers_needed"],
        target_groups=sorted(set(data.get("target_groups") or [])),
        capacity=0,
        taken=0,
    )
    transition(
        order,
        "submit",
        by=MANAGER if proxy else RESIDENT,
        actor_id=who.user_id,
        proxy_id=order.proxy_id,
        at=now,
        dispatch_due_at=now + timedelta(minutes=settings["dispatch_within_minutes"]),
        checkin_due_at=order.window_start + timedelta(minutes=settings["checkin_grace_minutes"]),
        checkout_due_at=order.window_end + timedelta(minutes=settings["checkin_grace_minutes"]),
    )
    notifications.notify(
        notifications.managers_of(order.dispatch_site_id),
        "order.submitted",
        params={"title": order.title, "order_id": order.id},
        subject=("order", order.id),
    )
    db.session.commit()
    return order


# ---- finding orders ---------------------------------------------------------------------------------


def _visible(who) -> list:
    """Who sees an order: managers in reach of its station, its resident (and proxy), its volunteers,
    and any volunteer while it is an open pool (it is in their feed)."""
    me = who.user_id
    mine = exists().where(Assignment.order_id == Order.id, Assignment.volunteer_id == me)
    conditions = [reach_condition(Order.site_id, who), Order.resident_id == me, Order.proxy_id == me, mine]
    if "volunteer" in who.roles:
        conditions.append((Order.status == "dispatched") & (Order.mode == "grab"))
    return [or_(*conditions)]


def get_order(*, who, order_id: int) -> Order:
    """One order the caller may see (404 otherwise, never 403)."""
    order = db.session.scalars(select(Order).where(Order.id == order_id, *_visible(who))).first()
    if order is None:
        raise NotFound()
    return order


def _locked(order_id: int, *conditions) -> Order:
    stmt = select(Order).where(Order.id == order_id, *conditions).with_for_update()
    order = db.session.scalars(stmt.execution_options(populate_existing=True)).first()
    if order is None:
        raise NotFound()
    return order


def _managed(order_id: int, who: Reacher, *, dispatching: bool = False) -> Order:
    """An order of a station in the manager's reach, locked; dispatching also needs the dispatch site."""
    conditions = [reach_condition(Order.site_id, who)]
    if dispatching:
        conditions.append(reach_condition(Order.dispatch_site_id, who))
    return _locked(order_id, *conditions)


def detail(order: Order, who) -> dict:
    """The order as the caller may see it: the resident's phone masked unless they manage it or are
    the resident; assignments in full for managers, the caller's own otherwise."""
    manages = path_in_reach(db.session.scalar(select(Site.path).where(Site.id == order.site_id)), who)
    resident = db.session.get(User, order.resident_id)
    own = who.user_id in (order.resident_id, order.proxy_id)
    phone = resident.phone if (manages or who.user_id == resident.id) else identity.mask_phone(resident.phone)
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


# ---- 派单: dispatching, rejecting, cancelling --------------------------------------------------------


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
            status="offered",
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
    order = _managed(order_id, who, dispatching=True)
    states.target(order.status, "dispatch", by=MANAGER)
    settings = sites.effective_settings(db.session.get(Site, order.site_id))
    capacity = data.get("capacity") or order.volunteers_needed
    # Default: the grab window, but no later than the start (or the end, if service already began).
    latest = order.window_start if order.window_start > now else order.window_end
    deadline = data.get("deadline") or min(now + timedelta(minutes=settings["grab_window_minutes"]), latest)
    if deadline <= now:
        raise invalid("deadline", "must be in the future")
    if deadline > order.window_end:
        raise invalid("deadline", "must not be after the service window ends")
    if data["mode"] == "assign":
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
    if data["mode"] == "assign":
        _offer(order, volunteer_ids, who.user_id)
    db.session.commit()
    return order


def offer_more(*, who, order_id: int, data: dict) -> Order:
    """Reassign: offer a dispatched order to more volunteers (after a decline or withdrawal). Commits."""
    order = _managed(order_id, who, dispatching=True)
    states.target(order.status, "offer", by=MANAGER)
    volunteer_ids = _volunteers_to_offer(who, data.get("volunteer_ids"), data.get("team_id"))
    offers = _offer(order, volunteer_ids, who.user_id)
    transition(order, "offer", by=MANAGER, actor_id=who.user_id, note=f"{len(offers)} offers")
    db.session.commit()
    return order


def _end_assignments(order: Order) -> list[int]:
    """Void the offers and holds of an order that ended; returns the volunteers who held or were offered."""
    return attendance.end_open([order.id], utcnow())


def reject(*, who, order_id: int, reason: str) -> Order:
    """Reject a submitted order with a reason. Commits."""
    order = _managed(order_id, who, dispatching=True)
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
    order = _locked(order_id, or_(Order.resident_id == who.user_id, reach_condition(Order.site_id, who)))
    by = RESIDENT if order.resident_id == who.user_id else MANAGER
    transition(order, "cancel", by=by, actor_id=who.user_id, note=reason, reason=reason)
    told = _end_assignments(order)
    if by == MANAGER:
        told.append(order.resident_id)
    else:
        told += notifications.managers_of(order.dispatch_site_id)
    notifications.notify(
        told, "order.cancelled", params={"title": order.title, "reason": reason}, subject=("order", order.id)
    )
    db.session.commit()
    return order


# ---- 接单 / 抢单 -------------------------------------------------------------------------------------


def _take_slot(order_id: int, mode: str | None = None) -> tuple[int, int] | None:
    """The conditional UPDATE that makes grabbing exact: a slot is taken only while one is free."""
    conditions = [Order.id == order_id, Order.status == "dispatched", Order.taken < Order.capacity]
    if mode:
        conditions.append(Order.mode == mode)
    row = db.session.execute(
        update(Order)
        .where(*conditions)
        .values(taken=Order.taken + 1)
        .returning(Order.taken, Order.capacity)
        .execution_options(synchronize_session=False)
    ).first()
    return (row.taken, row.capacity) if row else None


def _filled(order: Order) -> None:
    holders = db.session.scalars(
        select(Assignment.volunteer_id).where(Assignment.order_id == order.id, Assignment.status == "held")
    ).all()
    notifications.notify(
        [*notifications.managers_of(order.dispatch_site_id), *holders],
        "order.filled",
        params={"title": order.title},
        subject=("order", order.id),
    )


def grab(*, who, order_id: int) -> Assignment:
    """抢单: take one slot of an open pool. Exactly `capacity` winners; the rest get 409 `order.full`
    at once. A volunteer holds at most one slot per order and `grab_max_open` unfinished grabs. Commits."""
    now = utcnow()
    peek = db.session.execute(
        select(Order.status, Order.mode, Order.taken, Order.capacity, Order.fill_due_at, Order.site_id).where(
            Order.id == order_id
        )
    ).first()
    if peek is None or peek.mode != "grab" or peek.status not in ("dispatched", "staffed"):
        raise NotFound()
    if peek.status == "staffed" or peek.taken >= peek.capacity:
        raise Conflict("order.full")
    if peek.fill_due_at is not None and peek.fill_due_at <= now:
        raise Conflict("order.closed")
    # One volunteer's grabs are serialised on their profile row, so the cap below is exact too.
    profile = db.session.scalars(
        select(VolunteerProfile).where(VolunteerProfile.user_id == who.user_id).with_for_update()
    ).first()
    if profile is None:
        raise NotFound()
    held = db.session.scalar(
        select(Assignment.id).where(Assignment.order_id == order_id, Assignment.volunteer_id == who.user_id)
    )
    if held is not None:
        raise Conflict("order.already_taken")
    limit = sites.effective_settings(db.session.get(Site, peek.site_id))["grab_max_open"]
    open_grabs = db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(
            Assignment.volunteer_id == who.user_id,
            Assignment.kind == "grab",
            Assignment.status.in_(("held", "checked_in")),
        )
    )
    if open_grabs >= limit:
        raise Conflict("grab.limit", params={"limit": limit})
    slot = _take_slot(order_id, "grab")
    if slot is None:
        raise Conflict("order.full")
    order = _locked(order_id)
    assignment = Assignment(
        order_id=order.id,
        site_id=order.site_id,
        volunteer_id=who.user_id,
        kind="grab",
        status="held",
        held_at=now,
    )
    db.session.add(assignment)
    db.session.flush()
    full = slot[0] == slot[1]
    transition(
        order, "grab", by=VOLUNTEER, actor_id=who.user_id, last=full, assignment_id=assignment.id, at=now
    )
    if full:
        _filled(order)
    db.session.commit()
    return assignment


def _assignment_and_order(assignment_id: int, *conditions) -> tuple[Assignment, Order]:
    """An order's assignment matching `conditions` and its order, both locked: the order first."""
    return attendance.locked_with_owner(assignment_id, Assignment.order_id, _locked, *conditions)


def _my_assignment(who, assignment_id: int) -> tuple[Assignment, Order]:
    """The caller's own assignment and its order, both locked (someone else's is 404)."""
    return _assignment_and_order(assignment_id, Assignment.volunteer_id == who.user_id)


def accept(*, who, assignment_id: int) -> Assignment:
    """接单: accept an offer, taking a slot if one is free (409 `order.full` otherwise). Commits."""
    assignment, order = _my_assignment(who, assignment_id)
    if order.status == "staffed" and assignment.status == "offered":
        raise Conflict("order.full")  # the last place went (maybe while this request waited for the lock)
    states.target(order.status, "accept", by=VOLUNTEER)
    if assignment.status != "offered":
        raise Conflict("attendance.not_held" if assignment.status != "held" else "order.already_taken")
    slot = _take_slot(order.id)
    if slot is None:
        raise Conflict("order.full")
    db.session.refresh(order)
    attendance.move(assignment, "accept", now=utcnow())
    full = slot[0] == slot[1]
    transition(order, "accept", by=VOLUNTEER, actor_id=who.user_id, last=full, assignment_id=assignment.id)
    if full:
        _filled(order)
    db.session.commit()
    return assignment


def _told_managers(order: Order, who, kind: str) -> None:
    notifications.notify(
        notifications.managers_of(order.dispatch_site_id),
        kind,
        params={"title": order.title, "name": who.user.name},
        subject=("order", order.id),
    )


def decline(*, who, assignment_id: int, reason: str | None) -> Assignment:
    """Decline an offer (it held no slot). Commits."""
    assignment, order = _my_assignment(who, assignment_id)
    states.target(order.status, "decline", by=VOLUNTEER)
    attendance.move(assignment, "decline", now=utcnow())
    transition(order, "decline", by=VOLUNTEER, actor_id=who.user_id, assignment_id=assignment.id, note=reason)
    _told_managers(order, who, "order.declined")
    db.session.commit()
    return assignment


def withdraw(*, who, assignment_id: int, reason: str | None) -> Assignment:
    """Give back a held slot before checking in (a staffed order reopens). Commits."""
    assignment, order = _my_assignment(who, assignment_id)
    states.target(order.status, "withdraw", by=VOLUNTEER)
    attendance.move(assignment, "withdraw", now=utcnow())
    order.taken = order.taken - 1
    transition(
        order, "withdraw", by=VOLUNTEER, actor_id=who.user_id, assignment_id=assignment.id, note=reason
    )
    _told_managers(order, who, "order.declined")
    db.session.commit()
    return assignment


# ---- 签到 / 签退 -------------------------------------------------------------------------------------


def _place(order: Order, settings: dict | None = None) -> attendance.Place:
    return attendance.place_at(
        order.site_id,
        lat=order.lat,
        lng=order.lng,
        start=order.window_start,
        end=order.window_end,
        settings=settings,
    )


def _still_on_site(order: Order) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.order_id == order.id, Assignment.status == "checked_in")
    )


def _completion(order: Order, settings: dict, now: datetime) -> dict:
    """What completing an order sets: the rating window opens and the audit is due."""
    return {
        "completed_at": now,
        "rating_state": "pending",
        "rating_due_at": now + timedelta(hours=settings["rating_window_hours"]),
        "audit_due_at": now + timedelta(hours=settings["audit_window_hours"]),
    }


def _after_leaving(
    order: Order, action: str, *, by: str, actor_id: int, assignment: Assignment, note=None
) -> None:
    """Apply a check-out, close or no-show to the order; the last one off site completes it."""
    now = utcnow()
    last = order.status == "in_service" and _still_on_site(order) == 0
    settings = sites.effective_settings(db.session.get(Site, order.site_id))
    changes = _completion(order, settings, now) if last else {}
    transition(
        order,
        action,
        by=by,
        actor_id=actor_id,
        last=last,
        assignment_id=assignment.id,
        note=note,
        at=now,
        **changes,
    )
    if last:
        attendance.settle_absent([order.id], now)
        notifications.notify(
            [order.resident_id],
            "order.rate_request",
            params={"title": order.title},
            subject=("order", order.id),
        )


def check_in(*, who, assignment_id: int, lat: float, lng: float) -> Assignment:
    """签到 on site: time within the window (from `grace` before), within the check-in radius (the
    distance is kept). Commits."""
    assignment, order = _my_assignment(who, assignment_id)
    states.target(order.status, "check_in", by=VOLUNTEER)
    settings = sites.effective_settings(db.session.get(Site, order.site_id))
    now = utcnow()
    attendance.check_in(assignment, lat=lat, lng=lng, place=_place(order, settings), now=now)
    transition(order, "check_in", by=VOLUNTEER, actor_id=who.user_id, assignment_id=assignment.id, at=now)
    db.session.commit()
    return assignment


def check_out(*, who, assignment_id: int, lat: float, lng: float) -> Assignment:
    """签退: minutes are computed from the two times, within the window. Commits."""
    assignment, order = _my_assignment(who, assignment_id)
    states.target(order.status, "check_out", by=VOLUNTEER)
    attendance.check_out(assignment, lat=lat, lng=lng, place=_place(order), now=utcnow())
    db.session.flush()
    _after_leaving(order, "check_out", by=VOLUNTEER, actor_id=who.user_id, assignment=assignment)
    db.session.commit()
    return assignment


def _managed_assignment(who, assignment_id: int) -> tuple[Assignment, Order]:
    """An assignment of a station in the manager's reach and its order, both locked (404 otherwise)."""
    return _assignment_and_order(assignment_id, reach_condition(Assignment.site_id, who))


def close_attendance(*, who, assignment_id: int, checkout_at: datetime | None, reason: str) -> Assignment:
    """A manager closes a missed check-out (default: at the window's end), with a reason. Commits."""
    assignment, order = _managed_assignment(who, assignment_id)
    states.target(order.status, "close_attendance", by=MANAGER)
    place = _place(order)
    attendance.close(
        assignment,
        place=place,
        checkout_at=checkout_at or min(order.window_end, utcnow()),
        actor_id=who.user_id,
        reason=reason,
    )
    db.session.flush()
    _after_leaving(
        order, "close_attendance", by=MANAGER, actor_id=who.user_id, assignment=assignment, note=reason
    )
    db.session.commit()
    return assignment


def mark_no_show(*, who, assignment_id: int, reason: str) -> Assignment:
    """A manager records that a holder never came (recorded on the assignment and the timeline). Commits."""
    assignment, order = _managed_assignment(who, assignment_id)
    states.target(order.status, "no_show", by=MANAGER)
    attendance.no_show(assignment, actor_id=who.user_id, reason=reason)
    db.session.flush()
    if order.status == "in_service":
        _after_leaving(order, "no_show", by=MANAGER, actor_id=who.user_id, assignment=assignment, note=reason)
    else:
        transition(
            order, "no_show", by=MANAGER, actor_id=who.user_id, assignment_id=assignment.id, note=reason
        )
    db.session.commit()
    return assignment


# ---- 评单 and 审核 -----------------------------------------------------------------------------------


def rate(*, who, order_id: int, stars: int, comment: str | None) -> Order:
    """评单: the ordering resident rates once, while the rating window is open. Commits."""
    order = _locked(order_id, Order.resident_id == who.user_id)
    states.target(order.status, "rate", by=RESIDENT)
    if order.rating_state == "rated":
        raise Conflict("rating.already")
    now = utcnow()
    if order.rating_state != "pending" or order.rating_due_at is None or order.rating_due_at <= now:
        raise Conflict("rating.closed")
    transition(
        order,
        "rate",
        by=RESIDENT,
        actor_id=who.user_id,
        at=now,
        note=f"{stars}★",
        rating_state="rated",
        rating_stars=stars,
        rating_comment=comment,
        rated_at=now,
    )
    db.session.commit()
    return order


def audit(
    *, who, order_id: int, items: list[dict], note: str | None, confirm_computed: bool = False
) -> Order:
    """审核: confirm each volunteer's minutes (a change from the computed figure needs a reason); the
    order closes and the minutes are credited to each book, once, in this transaction. Commits."""
    order = _managed(order_id, who)
    states.target(order.status, "audit", by=MANAGER)
    site = db.session.get(Site, order.site_id)
    credited = attendance.audit_all(
        Assignment.order_id,
        order.id,
        items,
        place=_place(order),
        memo=order.title,
        service_date=sites.local_time(site, order.window_start).date(),
        actor_id=who.user_id,
        what="order",
        confirm_computed=confirm_computed,
    )
    transition(
        order,
        "audit",
        by=MANAGER,
        actor_id=who.user_id,
        note=note,
        audited_by_id=who.user_id,
        audit_note=note,
        closed_at=utcnow(),
    )
    notifications.notify_many(
        Message(
            [volunteer], "hours.credited", {"title": order.title, "minutes": minutes}, ("order", order.id)
        )
        for volunteer, minutes in credited
    )
    db.session.commit()
    return order
