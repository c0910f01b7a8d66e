"""点单: a resident's order, or station staff's on a resident's behalf (phone intake, recorded as
proxy), and which station takes it."""

from __future__ import annotations

from collections import namedtuple
from datetime import timedelta

from volunteer_app import phones
from volunteer_app.accounts import principal
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import User
from volunteer_app.attendance import service as attendance
from volunteer_app.auth.tokens import DeferredPrincipal
from volunteer_app.db import utcnow
from volunteer_app.errors import DomainError, Unprocessable, invalid, register_messages
from volunteer_app.extensions import db, session_used
from volunteer_app.notifications import service as notifications
from volunteer_app.orders import queries
from volunteer_app.orders.models import Order
from volunteer_app.orders.states import MANAGER, RESIDENT, create
from volunteer_app.sites import cache as site_cache
from volunteer_app.sites import service as sites
from volunteer_app.sites.cache import CachedSite
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import path_in_reach

register_messages(
    {
        "order.resident_required": (
            "代下单需填写居民手机号和姓名",
            "A proxy order needs the resident's phone and name",
        ),
    }
)

MAX_WINDOW = timedelta(hours=12)
MAX_AHEAD = timedelta(days=90)


def dispatch_site(station: Site | CachedSite, settings: dict) -> int:
    """The station itself, or its center when the center's setting says the center dispatches."""
    return station.ancestor_ids()[0] if settings["dispatch_level"] == "center" else station.id


def _proxy_resident(who, data: dict) -> tuple[User, CachedSite]:
    """Phone intake: the resident is found by phone (or registered without a password: they can log in
    by SMS code later); the station is the one named, else the resident's own, else the one nearest the
    service address (as for a resident ordering by phone), and must be in the manager's reach."""
    phone = phones.normalize_phone(data["resident_phone"])
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


def _resident_station(home_site_id: int | None, lat: float, lng: float) -> CachedSite:
    if home_site_id:
        return sites.get_station(home_site_id)
    return sites.nearest_station(lat, lng)


def _is_proxy(data: dict) -> bool:
    return "resident_phone" in data or "resident_name" in data or "site_id" in data


def _orderer(who, data: dict) -> tuple[User, CachedSite, bool]:
    """Whose order it is and the station that takes it; True when staff order for a resident (proxy)."""
    proxy = _is_proxy(data)
    if not proxy:
        return who.user, _resident_station(who.user.home_site_id, data["lat"], data["lng"]), False
    if not (who.manager_paths or who.is_admin):
        raise invalid("resident_phone", "only station staff order for someone else")
    if not data.get("resident_phone") or not data.get("resident_name"):
        raise Unprocessable("order.resident_required", errors={"json": {"resident_phone": ["required"]}})
    return (*_proxy_resident(who, data), True)


def submit(*, who, data: dict) -> Order:
    """点单: a resident's order, or a manager's on a resident's behalf (recorded as proxy). Commits."""
    row, _resident = _submit(who, data)
    db.session.commit()
    return db.session.get(Order, row.id)


def submit_detail(*, who, data: dict) -> dict:
    """`submit`, answered with the new order's detail as GET /orders/{id} gives it (queries.detail),
    built from the row its INSERT read back: no second transaction reads it. Commits.

    A resident's own order for a deferred caller (auth_required(defer=...): the view read nothing of
    them) is first tried on what their token says (`_for_token`): the INSERT itself checks the caller
    (accounts.principal.caller_holds) and reads back their name and phone. When it wrote nothing, the
    caller is read (401 if their session is gone) and the order placed as for any other caller."""
    written = _for_token(who, data)
    if written is not None:
        row, resident = written
    else:
        row, resident = _submit(who, data)
    answer = queries.submitted_detail(row, resident)
    if session_used():  # (else its one statement has committed by itself: extensions.writes_alone)
        db.session.commit()
    return answer


_Caller = namedtuple("_Caller", "id name phone")


def _for_token(who, data: dict) -> tuple | None:
    """(row, resident) of a resident's own order placed on their token's hints alone (the home station:
    accounts.principal.token_hints; the site settings this process has cached, under their token): one
    statement, which writes only if the caller and those still hold. None (nothing written) when the
    caller is not deferred, orders for someone else, has a token without hints or this process no
    cached sites, or when the statement found them changed."""
    # (A caller is deferred only where the order writes alone: auth_required(defer=writing_alone).)
    deferred = isinstance(who, DeferredPrincipal) and not who.settled
    if not deferred or "home" not in who.hints or _is_proxy(data):
        return None
    site_token = site_cache.assume()
    if site_token is None:
        return None
    now = utcnow()
    home = who.hints["home"]
    try:
        _check(data, now)
        station = _resident_station(home, data["lat"], data["lng"])
    except DomainError:
        # Decided again once the caller is read: the cache may be behind what the token says (a
        # category another process has just added).
        return None
    caller = {
        "caller_id": who.user_id,
        "caller_session": who.session_id,
        "caller_home": home,
        "site_token": site_token,
    }
    row = _write(who, data, now, who.user_id, station, proxy=False, caller=caller)
    if row is None:
        return None
    who.confirm()
    return row, _Caller(row.resident_id, row.caller_name, row.caller_phone)


def _submit(who, data: dict) -> tuple:
    """The new order's row (as read back by its INSERT) and its resident, written; the caller commits."""
    if isinstance(who, DeferredPrincipal):
        who = who.load()  # (401 first if their session is gone, as for an undeferred caller)
    now = utcnow()
    _check(data, now)
    resident, station, proxy = _orderer(who, data)
    return _write(who, data, now, resident.id, station, proxy=proxy), resident


def _check(data: dict, now) -> None:
    """What the order's own fields must be: its window, and an active category."""
    attendance.check_window(
        data["window_start"],
        data["window_end"],
        now,
        names=("start_at", "end_at"),  # the API's names of the window
        longest=MAX_WINDOW,
        ahead=MAX_AHEAD,
    )
    sites.active_category(data["category_id"])


def _write(who, data: dict, now, resident_id: int, station, *, proxy: bool, caller: dict | None = None):
    """The order's INSERT at `station` (its row read back). With `caller` (`_for_token`'s parameters),
    written only if the caller holds, and None when not."""
    settings = sites.effective_settings(station)
    window_start, window_end = data["window_start"], data["window_end"]
    grace = timedelta(minutes=settings["checkin_grace_minutes"])
    row = create(
        {
            "site_id": station.id,
            "dispatch_site_id": dispatch_site(station, settings),
            "resident_id": resident_id,
            "proxy_id": who.user_id if proxy else None,
            "category_id": data["category_id"],
            "title": data["title"],
            "description": data.get("description"),
            "address": data["address"],
            "lat": data["lat"],
            "lng": data["lng"],
            "window_start": window_start,
            "window_end": window_end,
            "volunteers_needed": data["volunteers_needed"],
            "target_groups": sorted(set(data.get("target_groups") or [])),
            "skills": list(data.get("skills") or []),
            "capacity": 0,
            "taken": 0,
        },
        "submit",
        by=MANAGER if proxy else RESIDENT,
        actor_id=who.user_id,
        at=now,
        dispatch_due_at=now + timedelta(minutes=settings["dispatch_within_minutes"]),
        checkin_due_at=window_start + grace,
        checkout_due_at=window_end + grace,
        follow=_managers_notice_sql,
        gate=None if caller is None else principal.caller_holds,
        gate_params=caller,
    )
    if row is None:
        return None
    # Written by the worker just after the commit: a resident waits for none of it. On PostgreSQL the
    # order's own statement queued it (`_managers_notice_sql`).
    work_id = getattr(row, "followed_id", None)
    if work_id is not None:
        notifications.managers_queued(work_id)
    else:
        _managers_notice(row, notifications.notify_managers_later)
    return row


def _managers_notice(order, notify):
    """`notify` (notifications.notify_managers_later, or its SQL: notify_managers_from) the managers of
    the order's dispatching site of the new order; `order` is its row, or its INSERT's columns."""
    return notify(
        order.dispatch_site_id,
        "order.submitted",
        params={"title": order.title, "order_id": order.id},
        subject=("order", order.id),
    )


def _managers_notice_sql(new):
    """SQL (PostgreSQL): `_managers_notice` of a new order (`new`: its INSERT's CTE), queued by the
    INSERT's own statement (states.create `follow`): the same item, one round trip fewer."""
    return _managers_notice(new.c, notifications.notify_managers_from)
