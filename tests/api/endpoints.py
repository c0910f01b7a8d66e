"""How to make a valid request to every endpoint, on objects of one side of the world.

`target` names whose objects the request touches: "S1" (station S1, its team T1, the applicant at S1,
mgr_s1, vol_s1) or "S4" (the same at S4, under the other center); site endpoints also take any site
code ("I1"). The body is valid, so what a caller gets back is decided by who they are, not by input.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from flask import Flask
from sqlalchemy import func, select

from tests.fakes.wechat import FakeWeChat
from tests.support import (
    ADMIN_VIEW,
    PASSWORD,
    Person,
    World,
    caller,
    credit,
    id_number,
    make_volunteer,
    next_phone,
)
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import IdNumberViewer, User
from volunteer_app.auth import service as auth_service
from volunteer_app.auth import sms
from volunteer_app.auth.models import AuthSession, WechatBinding
from volunteer_app.demo.world import principal
from volunteer_app.extensions import db
from volunteer_app.notifications import devices
from volunteer_app.notifications import service as notifications
from volunteer_app.notifications.models import Notification
from volunteer_app.sites.models import Category
from volunteer_app.timebank import certificates, gifts, rewards
from volunteer_app.worker.models import WorkItem

TEAM = {"S1": "T1", "S4": "T4"}


def _residents_session(app, w: World, t: str) -> Request:
    """The resident's newest sign-in: theirs to end, no one else's (404)."""
    with app.app_context():
        sid = db.session.scalars(
            select(AuthSession.id)
            .where(AuthSession.user_id == w.resident.id)
            .order_by(AuthSession.created_at.desc())
        ).first()
    return f"/api/v1/auth/sessions/{sid}", None


APPLICANT = {"S1": "applicant", "S4": "applicant_s4"}
MANAGER = {"S1": "mgr_s1", "S4": "mgr_s4"}
VOLUNTEER = {"S1": "vol_s1", "S4": "vol_s4"}
RESIDENT = {"S1": "resident", "S4": "applicant_s4"}  # who orders on each side (both live there)

Request = tuple[str, dict | None]
API = "/api/v1"
_PATH_ID = re.compile(r"<int:\w+>")
_PATH_VARIABLE = re.compile(r"<(?:[^:<>]+:)?(\w+)>")


@dataclass(frozen=True)
class Endpoint:
    method: str
    rule: str  # exactly as in app.url_map
    request: Callable[[Flask, World, str], Request]
    token: str = "access"  # which of the caller's tokens is the bearer ("refresh" for /auth/refresh)

    @property
    def key(self) -> str:
        return route_key(self.method, self.rule)

    @property
    def path(self) -> str:
        return openapi_path(self.rule)


def in_scope(rule) -> bool:
    """The routes the API-wide tests cover: the API under /api/v1 (not its document) and the probes."""
    if rule.rule in ("/healthz", "/readyz"):
        return True
    return rule.rule.startswith(f"{API}/") and rule.rule != f"{API}/openapi.json"


def route_key(method: str, rule: str) -> str:
    """How the tables name a route: POST /api/v1/sites/<int:site_id>/teams is "POST /sites/<id>/teams"."""
    return f"{method} {_PATH_ID.sub('<id>', rule.removeprefix(API))}"


def openapi_path(rule: str) -> str:
    """The rule as its OpenAPI path: /sites/<int:site_id> is /sites/{site_id}."""
    return _PATH_VARIABLE.sub(r"{\1}", rule)


def routes(app: Flask) -> set[str]:
    """The key of every route and method the app serves in scope (HEAD and OPTIONS come with every GET)."""
    return {
        route_key(method, rule.rule)
        for rule in app.url_map.iter_rules()
        if in_scope(rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }


def _site(w: World, t: str) -> int:
    return w.sites[t]


def _team(w: World, t: str) -> int:
    return w.teams[TEAM[t]]


def _with_member(app: Flask, w: World, t: str) -> int:
    """Put the target side's volunteer into its team (so member lists have something to leak)."""
    with app.app_context():
        accounts.add_team_member(
            who=ADMIN_VIEW,
            granter_id=w.admin.id,
            team_id=_team(w, t),
            user_id=w.people[VOLUNTEER[t]].id,
            leader=False,
        )
    return w.people[VOLUNTEER[t]].id


def _team_members(app: Flask, w: World, t: str) -> Request:
    _with_member(app, w, t)
    return f"/api/v1/teams/{_team(w, t)}/members", None


def _remove_team_member(app: Flask, w: World, t: str) -> Request:
    return f"/api/v1/teams/{_team(w, t)}/members/{_with_member(app, w, t)}", None


# A certificate covers last month; the credit in it is a week old (in the past in every time zone).
CERTIFIED = {"date_from": (date.today() - timedelta(days=30)), "date_to": (date.today() - timedelta(days=1))}
CREDITED_ON = date.today() - timedelta(days=7)
CERTIFIED_JSON = {key: day.isoformat() for key, day in CERTIFIED.items()}


def _credited(app: Flask, w: World, t: str) -> int:
    """Give the target side's volunteer one audited credit (something to certify); returns their id."""
    volunteer = w.people[VOLUNTEER[t]]
    credit(app, volunteer, w.sites[t], 90, day=CREDITED_ON, key=f"matrix:{volunteer.id}")
    return volunteer.id


def _certificate(app: Flask, w: World, t: str) -> dict:
    """A certificate the target side's volunteer issued themselves."""
    user_id = _credited(app, w, t)
    with app.app_context():
        return certificates.issue_mine(who=principal(db.session.get(User, user_id)), **CERTIFIED)


def _issue_mine(app: Flask, w: World, t: str) -> Request:
    _credited(app, w, t)
    return "/api/v1/me/certificates", CERTIFIED_JSON


def _issue_for(app: Flask, w: World, t: str) -> Request:
    return f"/api/v1/volunteers/{_credited(app, w, t)}/certificates", CERTIFIED_JSON


def _read_certificate(app: Flask, w: World, t: str) -> Request:
    return f"/api/v1/certificates/{_certificate(app, w, t)['id']}", None


def _print_certificate(app: Flask, w: World, t: str) -> Request:
    return f"/api/v1/certificates/{_certificate(app, w, t)['id']}/print", None


def _print_link(app: Flask, w: World, t: str) -> Request:
    return f"/api/v1/certificates/{_certificate(app, w, t)['id']}/print-link", None


def _revoke_certificate(app: Flask, w: World, t: str) -> Request:
    return f"/api/v1/certificates/{_certificate(app, w, t)['id']}/revoke", {"reason": "出具有误"}


def _verify_certificate(app: Flask, w: World, t: str) -> Request:
    return f"/api/v1/certificates/verify/{_certificate(app, w, t)['verification_code']}", None


def _reward(app: Flask, w: World, t: str) -> int:
    """A reward (60 minutes, in stock) in the target station's catalogue."""
    with app.app_context():
        reward = rewards.create_reward(
            who=ADMIN_VIEW,
            actor_id=w.admin.id,
            site_id=w.sites[t],
            kind="service",
            title="义剪",
            price_minutes=60,
            stock=5,
        )
        return reward.id


def _redemption_code(app: Flask, w: World, t: str) -> str:
    """The target side's volunteer redeemed their station's reward: the code they show there."""
    reward_id = _reward(app, w, t)
    user_id = _credited(app, w, t)
    with app.app_context():
        return rewards.redeem(who=caller(user_id), reward_id=reward_id)["code"]


def _family_link(app: Flask, w: World, t: str) -> int:
    """A pending family link the target side's volunteer asked their station to approve."""
    relative = w.people[APPLICANT[t]]
    with app.app_context():
        who = caller(w.people[VOLUNTEER[t]].id)
        return gifts.request_link(who=who, relative_phone=relative.phone, relation="parent")["id"]


def _family_links_to_review(app: Flask, w: World, t: str) -> Request:
    _family_link(app, w, t)
    return f"/api/v1/sites/{_site(w, t)}/family-links", None


def _redemptions_waiting(app: Flask, w: World, t: str) -> Request:
    """A code waiting at the target station (an institute's: at S1, below it)."""
    _redemption_code(app, w, t if t in VOLUNTEER else "S1")
    return f"/api/v1/sites/{_site(w, t)}/redemptions?status=issued", None


def _redeem(app: Flask, w: World, t: str) -> Request:
    reward_id = _reward(app, w, t)
    _credited(app, w, t)
    return "/api/v1/redemptions", {"reward_id": reward_id}


def _gift(app: Flask, w: World, t: str) -> Request:
    _credited(app, w, t)
    return "/api/v1/me/timebook/gifts", {"minutes": 30, "to_pool": True}


def _sms_login(app: Flask, w: World, _t: str) -> Request:
    with app.test_request_context():
        auth_service.request_sms_code(phone=w.resident.phone)
        phone, code = sms.sender().sent[-1]
    return "/api/v1/auth/sms-login", {"phone": phone, "code": code}


def _notified(app: Flask, w: World, _t: str) -> None:
    """Everyone in the world has a notification (so inbox answers have an item to check)."""
    with app.app_context():
        notifications.notify(
            [p.id for p in w.people.values()], "order.filled", params={"title": "助老"}, subject=("order", 1)
        )
        db.session.commit()


def _my_notifications(app: Flask, w: World, t: str) -> Request:
    _notified(app, w, t)
    return "/api/v1/me/notifications", None


def _read_notifications(app: Flask, w: World, t: str) -> Request:
    _notified(app, w, t)
    return "/api/v1/me/notifications/read", {"all": True}


def _notification_deliveries(app: Flask, w: World, t: str) -> Request:
    """A notification of the target side's volunteer: only admins see its deliveries."""
    with app.app_context():
        notifications.notify(
            [w.people[VOLUNTEER[t]].id], "order.filled", params={"title": "助老"}, subject=("order", 1)
        )
        db.session.commit()
        notice = db.session.scalar(select(func.max(Notification.id)))
    return f"/api/v1/admin/notifications/{notice}/deliveries", None


SETTINGS = "/api/v1/me/notification-settings"
SETTINGS_BODY = {"opt_out": {"order.filled": ["push"]}, "quiet_hours": {"enabled": False}}


def _forget_device(app: Flask, w: World, t: str) -> Request:
    """A device of the target side's volunteer: only they may forget it."""
    with app.app_context():
        device = devices.register_device(
            who=caller(w.people[VOLUNTEER[t]].id),
            platform="android",
            token=f"matrix-{t}",
            app_version=None,
        )
        return f"/api/v1/me/devices/{device.id}", None


def _wechat_bound(app: Flask, w: World, _t: str) -> None:
    """Everyone in the world has a WeChat bound (so unbinding and consents have one to act on)."""
    with app.app_context():
        for n, person in enumerate(w.people.values()):
            db.session.add(
                WechatBinding(user_id=person.id, appid=wechat_fake().appid, openid=f"o-matrix-{n}")
            )
        db.session.commit()


def _unbind_wechat(app: Flask, w: World, t: str) -> Request:
    _wechat_bound(app, w, t)
    return "/api/v1/me/wechat", None


def _wechat_consents(app: Flask, w: World, t: str) -> Request:
    _wechat_bound(app, w, t)
    answer = {"errMsg": "requestSubscribeMessage:ok", "T-1": "reject"}
    return "/api/v1/me/wechat/subscriptions", {"results": answer}


_WECHAT: list[FakeWeChat] = []
_wechat_codes = itertools.count(1)


def wechat_fake() -> FakeWeChat:
    """The API tests' WeChat (one for the run; tests/api/conftest.py points the app at it)."""
    if not _WECHAT:
        _WECHAT.append(FakeWeChat().start())
    return _WECHAT[0]


def _wechat_login(app: Flask, w: World, t: str) -> Request:
    """A wx.login code of the resident's WeChat (bound): a sign-in anyone may send."""
    _wechat_bound(app, w, t)
    code = f"JS-matrix-{next(_wechat_codes)}"
    wechat_fake().codes[code] = f"o-matrix-{list(w.people).index('resident')}"
    return "/api/v1/auth/wechat", {"code": code}


def _job(app: Flask, w: World, t: str) -> int:
    """A finished job of the target side's volunteer, with a file to download: only they see it."""
    with app.app_context():
        job = WorkItem(
            kind="export.matrix",
            args={},
            owner_id=w.people[VOLUNTEER[t]].id,
            state="done",
            done=2,
            total=2,
            result={"rows": 2},
            result_name="matrix.csv",
            result_type="text/csv",
            result_bytes=b"n\n1\n2\n",
        )
        db.session.add(job)
        db.session.commit()
        return job.id


def _category_id(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(Category.id).where(Category.code == "elder_care"))


# ---- the order loop: an order of the target side's resident, brought through the API to a stage ----

ORDER_TITLE = "陪独居老人就医"
ORDER_ADDRESS = "文晖街道 12 幢 3 单元"
# A few hundred metres from each side's station (tests/support.py SITE_TREE).
ORDER_PLACE = {"S1": {"lat": 30.2712, "lng": 120.1712}, "S4": {"lat": 31.2512, "lng": 121.4912}}
# Stages, in order: submitted; offered (assign mode, to the side's volunteer); pool (grab mode, open);
# held (the side's volunteer grabbed it); checked_in; completed (checked out: rating and audit open).
_STAGES = ("submitted", "offered", "pool", "held", "checked_in", "completed")


def _step(app: Flask, person: Person, method: str, path: str, body: dict | None = None) -> dict:
    """One step of building an object through the API as `person`; it must succeed."""
    response = app.test_client().open(f"{API}{path}", method=method, json=body, headers=person.headers)
    assert response.status_code < 300, (method, path, response.status_code, response.get_json())
    return response.get_json()


def _order_body(app: Flask, t: str, *, starts_now: bool) -> dict:
    """A valid 点单 body at the target side: a 2-hour window from now (check-in is open at once: the
    window may start up to 10 minutes in the past) or from 2 hours ahead."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=1) if starts_now else now + timedelta(hours=2)
    return {
        "category_id": _category_id(app),
        "title": ORDER_TITLE,
        "description": "上午去社区医院复查",
        "address": ORDER_ADDRESS,
        **ORDER_PLACE[t],
        "start_at": start.isoformat(),
        "end_at": (start + timedelta(hours=2)).isoformat(),
        "volunteers_needed": 1,
        "target_groups": ["elderly_alone"],
    }


def _order(app: Flask, w: World, t: str, stage: str) -> tuple[int, int | None]:
    """An order of the target side's resident at `stage`, each step taken by the side's own people
    (resident, station manager, volunteer). Returns the order's id and the volunteer's assignment's."""
    assert stage in _STAGES, stage
    resident, manager, volunteer = (w.people[side[t]] for side in (RESIDENT, MANAGER, VOLUNTEER))
    at_once = _STAGES.index(stage) >= _STAGES.index("held")
    order_id = _step(app, resident, "POST", "/orders", _order_body(app, t, starts_now=at_once))["id"]
    if stage == "submitted":
        return order_id, None
    deadline = (datetime.now(UTC) + timedelta(minutes=30)).replace(microsecond=0).isoformat()
    if stage == "offered":
        dispatch = {"mode": "assign", "volunteer_ids": [volunteer.id], "deadline": deadline}
        _step(app, manager, "POST", f"/orders/{order_id}/dispatch", dispatch)
        return order_id, _step(app, volunteer, "GET", f"/orders/{order_id}")["my_assignment"]["id"]
    dispatch = {"mode": "grab", "capacity": 1, "deadline": deadline}
    _step(app, manager, "POST", f"/orders/{order_id}/dispatch", dispatch)
    if stage == "pool":
        return order_id, None
    assignment_id = _step(app, volunteer, "POST", f"/orders/{order_id}/grab")["id"]
    for action in ("check-in", "check-out")[: _STAGES.index(stage) - _STAGES.index("held")]:
        _step(app, volunteer, "POST", f"/assignments/{assignment_id}/{action}", ORDER_PLACE[t])
    return order_id, assignment_id


def _on_order(action: str, stage: str, body: dict | None = None) -> Callable[[Flask, World, str], Request]:
    """POST /orders/<id>/<action> (or GET /orders/<id> when action is "") on an order at `stage`."""

    def request(app: Flask, w: World, t: str) -> Request:
        order_id, _ = _order(app, w, t, stage)
        return f"{API}/orders/{order_id}{'/' + action if action else ''}", body

    return request


def _on_assignment(action: str, stage: str, body: dict | None = None):
    """POST /assignments/<id>/<action> on the target side's volunteer's assignment at `stage`."""

    def request(app: Flask, w: World, t: str) -> Request:
        _, assignment_id = _order(app, w, t, stage)
        return f"{API}/assignments/{assignment_id}/{action}", {} if body is None else body

    return request


def _on_check(action: str, stage: str):
    """Check in or out on the target side's volunteer's assignment, standing at the order's place."""

    def request(app: Flask, w: World, t: str) -> Request:
        _, assignment_id = _order(app, w, t, stage)
        return f"{API}/assignments/{assignment_id}/{action}", ORDER_PLACE[t]

    return request


def _list_orders(app: Flask, w: World, t: str) -> Request:
    _order(app, w, t, "submitted")
    return f"{API}/orders", None


def _site_volunteers(app: Flask, w: World, t: str) -> Request:
    """The roster of the target side's station (or any site): its volunteer, in its team (a name to
    leak)."""
    if t in TEAM:
        _with_member(app, w, t)
    return f"{API}/sites/{_site(w, t)}/volunteers", None


def _volunteer(app: Flask, w: World, t: str) -> Request:
    """The target side's volunteer, in its team, with an order offered to them (names to leak)."""
    _with_member(app, w, t)
    _order(app, w, t, "offered")
    return f"{API}/volunteers/{w.people[VOLUNTEER[t]].id}", None


def _site_today(app: Flask, w: World, t: str) -> Request:
    """Today's counts at the target side's station (or any site), with an order to review there."""
    if t in TEAM:
        _order(app, w, t, "submitted")
    return f"{API}/sites/{_site(w, t)}/today", None


def _offer_more(app: Flask, w: World, t: str) -> Request:
    """Offer an order already offered to the side's volunteer to a second volunteer of the station."""
    order_id, _ = _order(app, w, t, "offered")
    second = make_volunteer(app, w.sites[t], {"S1": 40, "S4": 41}[t], "志愿者二")
    return f"{API}/orders/{order_id}/offers", {"volunteer_ids": [second.id]}


def _tasks_nearby(app: Flask, w: World, t: str) -> Request:
    _order(app, w, t, "pool")
    place = ORDER_PLACE[t]
    return f"{API}/tasks/available?lat={place['lat']}&lng={place['lng']}&radius_m=2000", None


def _audit(app: Flask, w: World, t: str) -> Request:
    """Audit a completed order, confirming more minutes than computed (with the reason it needs)."""
    order_id, assignment_id = _order(app, w, t, "completed")
    item = {"assignment_id": assignment_id, "minutes": 30, "reason": "签到前已在现场服务"}
    return f"{API}/orders/{order_id}/audit", {"assignments": [item], "note": "核实无误"}


# ---- 转派 / 上报: an order of the target side passed on (orders/handover.py) ----

PARENT = {"S1": "I1", "S4": "I3"}


def _sibling(app: Flask, w: World, t: str) -> int:
    """A station beside the target side's (S1: S2; S4 has none, so one is made under I3)."""
    if t == "S1":
        return w.sites["S2"]
    from volunteer_app.sites import service as site_service

    with app.app_context():
        return site_service.create_site(kind="station", name="站点S5", parent_id=w.sites["I3"]).id


def _pass_on(app: Flask, w: World, order_id: int, to_site_id: int) -> int:
    """The admin passes the order on to `to_site_id`; the handover's id."""
    body = {"to_site_id": to_site_id, "reason": "本站人手不足"}
    return _step(app, w.people["admin"], "POST", f"/orders/{order_id}/handovers", body)["id"]


def _handover_request(app: Flask, w: World, t: str) -> Request:
    """上报 a submitted order of the target side to its station's parent."""
    order_id, _ = _order(app, w, t, "submitted")
    return f"{API}/orders/{order_id}/handovers", {"to_site_id": w.sites[PARENT[t]], "reason": "本站人手不足"}


def _site_handovers(app: Flask, w: World, t: str) -> Request:
    """The target side's station's outgoing handovers (one pending transfer)."""
    order_id, _ = _order(app, w, t, "submitted")
    _pass_on(app, w, order_id, _sibling(app, w, t))
    return f"{API}/sites/{w.sites[t]}/handovers?direction=outgoing", None


def _incoming(action: str, body: dict | None = None) -> Callable[[Flask, World, str], Request]:
    """POST /handovers/<id>/<action> on a transfer pending TO the target side's station: its order
    went to the sibling and is being passed back."""

    def request(app: Flask, w: World, t: str) -> Request:
        order_id, _ = _order(app, w, t, "submitted")
        sibling = _sibling(app, w, t)
        first = _pass_on(app, w, order_id, sibling)
        _step(app, w.people["admin"], "POST", f"/handovers/{first}/accept")
        return f"{API}/handovers/{_pass_on(app, w, order_id, w.sites[t])}/{action}", body

    return request


def _outgoing_cancel(app: Flask, w: World, t: str) -> Request:
    """Cancel a transfer the target side's station asked for (pending)."""
    order_id, _ = _order(app, w, t, "submitted")
    return f"{API}/handovers/{_pass_on(app, w, order_id, _sibling(app, w, t))}/cancel", None


_LIST = [
    Endpoint("GET", "/healthz", lambda app, w, t: ("/healthz", None)),
    Endpoint("GET", "/readyz", lambda app, w, t: ("/readyz", None)),
    Endpoint(
        "POST",
        "/api/v1/auth/register",
        lambda app, w, t: (
            "/api/v1/auth/register",
            {
                "phone": next_phone(),
                "password": "another-horse-9",
                "name": "新居民",
                "home_site_id": w.sites["S1"],
            },
        ),
    ),
    Endpoint(
        "POST",
        "/api/v1/auth/login",
        lambda app, w, t: ("/api/v1/auth/login", {"phone": w.resident.phone, "password": PASSWORD}),
    ),
    Endpoint(
        "POST",
        "/api/v1/auth/sms-code",
        lambda app, w, t: ("/api/v1/auth/sms-code", {"phone": w.resident.phone}),
    ),
    Endpoint("POST", "/api/v1/auth/sms-login", _sms_login),
    Endpoint("POST", "/api/v1/auth/wechat", _wechat_login),
    Endpoint(
        "POST", "/api/v1/auth/refresh", lambda app, w, t: ("/api/v1/auth/refresh", None), token="refresh"
    ),
    Endpoint("POST", "/api/v1/auth/logout", lambda app, w, t: ("/api/v1/auth/logout", None)),
    Endpoint(
        "POST",
        "/api/v1/auth/password",
        lambda app, w, t: (
            "/api/v1/auth/password",
            {"current_password": PASSWORD, "new_password": "another-horse-9"},
        ),
    ),
    Endpoint("GET", "/api/v1/auth/sessions", lambda app, w, t: ("/api/v1/auth/sessions", None)),
    Endpoint("DELETE", "/api/v1/auth/sessions", lambda app, w, t: ("/api/v1/auth/sessions", None)),
    Endpoint("DELETE", "/api/v1/auth/sessions/<uuid:session_id>", _residents_session),
    Endpoint("GET", "/api/v1/me", lambda app, w, t: ("/api/v1/me", None)),
    Endpoint(
        "PATCH",
        "/api/v1/me",
        lambda app, w, t: ("/api/v1/me", {"name": "新名字", "show_name_on_leaderboard": True}),
    ),
    Endpoint(
        "POST",
        "/api/v1/me/volunteer-application",
        lambda app, w, t: (
            "/api/v1/me/volunteer-application",
            {"real_name": "张三", "id_number": id_number(20), "site_id": w.sites["S1"], "skills": ["急救"]},
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/me/volunteer-applications",
        lambda app, w, t: ("/api/v1/me/volunteer-applications", None),
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/volunteer-applications",
        lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}/volunteer-applications", None),
    ),
    Endpoint(
        "POST",
        "/api/v1/volunteer-applications/<int:application_id>/approve",
        lambda app, w, t: (f"/api/v1/volunteer-applications/{w.applications[APPLICANT[t]]}/approve", None),
    ),
    Endpoint(
        "POST",
        "/api/v1/volunteer-applications/<int:application_id>/reject",
        lambda app, w, t: (
            f"/api/v1/volunteer-applications/{w.applications[APPLICANT[t]]}/reject",
            {"reason": "资料不全"},
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/managers",
        lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}/managers", None),
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/<int:site_id>/managers",
        lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}/managers", {"user_id": w.resident.id}),
    ),
    Endpoint(
        "DELETE",
        "/api/v1/sites/<int:site_id>/managers/<int:user_id>",
        lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}/managers/{w.people[MANAGER[t]].id}", None),
    ),
    Endpoint("GET", "/api/v1/teams/<int:team_id>/members", _team_members),
    Endpoint(
        "POST",
        "/api/v1/teams/<int:team_id>/members",
        lambda app, w, t: (f"/api/v1/teams/{_team(w, t)}/members", {"user_id": w.people[VOLUNTEER[t]].id}),
    ),
    Endpoint("DELETE", "/api/v1/teams/<int:team_id>/members/<int:user_id>", _remove_team_member),
    Endpoint("GET", "/api/v1/sites", lambda app, w, t: ("/api/v1/sites", None)),
    Endpoint(
        "POST",
        "/api/v1/sites",
        lambda app, w, t: ("/api/v1/sites", {"kind": "station", "name": "新站", "parent_id": w.sites["I1"]}),
    ),
    Endpoint("GET", "/api/v1/sites/<int:site_id>", lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}", None)),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/settings",
        lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}/settings", None),
    ),
    Endpoint(
        "PATCH",
        "/api/v1/sites/<int:site_id>/settings",
        lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}/settings", {"checkin_radius_m": 600}),
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/stats",
        lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}/stats?group=child", None),
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/rankings",
        lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}/rankings?period=2026-Q4", None),
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/leaderboard",
        lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}/leaderboard?period=2026-11&limit=5", None),
    ),
    Endpoint("GET", "/api/v1/me/stats", lambda app, w, t: ("/api/v1/me/stats?months=6", None)),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/teams",
        lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}/teams", None),
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/<int:site_id>/teams",
        lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}/teams", {"name": "新队"}),
    ),
    Endpoint("GET", "/api/v1/teams/<int:team_id>", lambda app, w, t: (f"/api/v1/teams/{_team(w, t)}", None)),
    Endpoint("GET", "/api/v1/categories", lambda app, w, t: ("/api/v1/categories", None)),
    Endpoint(
        "POST",
        "/api/v1/categories",
        lambda app, w, t: (
            "/api/v1/categories",
            {"code": "new_service", "name_zh": "新服务", "name_en": "New service"},
        ),
    ),
    Endpoint("GET", "/api/v1/me/timebook", lambda app, w, t: ("/api/v1/me/timebook", None)),
    Endpoint(
        "GET", "/api/v1/me/timebook/transfers", lambda app, w, t: ("/api/v1/me/timebook/transfers", None)
    ),
    Endpoint(
        "POST",
        "/api/v1/timebank/adjustments",
        lambda app, w, t: (
            "/api/v1/timebank/adjustments",
            {"user_id": w.people[VOLUNTEER[t]].id, "minutes": 60, "reason": "补录服务时长"},
        ),
    ),
    Endpoint("GET", "/api/v1/me/certificates", lambda app, w, t: ("/api/v1/me/certificates", None)),
    Endpoint("POST", "/api/v1/me/certificates", _issue_mine),
    Endpoint("POST", "/api/v1/volunteers/<int:user_id>/certificates", _issue_for),
    Endpoint("GET", "/api/v1/certificates/<int:certificate_id>", _read_certificate),
    Endpoint("GET", "/api/v1/certificates/<int:certificate_id>/print", _print_certificate),
    Endpoint("POST", "/api/v1/certificates/<int:certificate_id>/print-link", _print_link),
    Endpoint("POST", "/api/v1/certificates/<int:certificate_id>/revoke", _revoke_certificate),
    Endpoint("GET", "/api/v1/certificates/verify/<code>", _verify_certificate),
    Endpoint(
        "POST",
        "/api/v1/sites/<int:site_id>/rewards",
        lambda app, w, t: (
            f"/api/v1/sites/{_site(w, t)}/rewards",
            {"kind": "goods", "title": "爱心超市：大米", "price_minutes": 120, "stock": 20},
        ),
    ),
    Endpoint("GET", "/api/v1/rewards", lambda app, w, t: ("/api/v1/rewards", None)),
    Endpoint(
        "PATCH",
        "/api/v1/rewards/<int:reward_id>",
        lambda app, w, t: (f"/api/v1/rewards/{_reward(app, w, t)}", {"stock": 9}),
    ),
    Endpoint("POST", "/api/v1/redemptions", _redeem),
    Endpoint("GET", "/api/v1/me/redemptions", lambda app, w, t: ("/api/v1/me/redemptions", None)),
    Endpoint(
        "GET",
        "/api/v1/redemptions/<code>",
        lambda app, w, t: (f"/api/v1/redemptions/{_redemption_code(app, w, t)}", None),
    ),
    Endpoint(
        "POST",
        "/api/v1/redemptions/<code>/fulfil",
        lambda app, w, t: (f"/api/v1/redemptions/{_redemption_code(app, w, t)}/fulfil", None),
    ),
    Endpoint("GET", "/api/v1/sites/<int:site_id>/redemptions", _redemptions_waiting),
    Endpoint("GET", "/api/v1/me/family-links", lambda app, w, t: ("/api/v1/me/family-links", None)),
    Endpoint(
        "POST",
        "/api/v1/me/family-links",
        lambda app, w, t: (
            "/api/v1/me/family-links",
            {"relative_phone": w.resident.phone, "relation": "parent"},
        ),
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/family-links",
        _family_links_to_review,
    ),
    Endpoint(
        "POST",
        "/api/v1/family-links/<int:link_id>/approve",
        lambda app, w, t: (f"/api/v1/family-links/{_family_link(app, w, t)}/approve", None),
    ),
    Endpoint(
        "POST",
        "/api/v1/family-links/<int:link_id>/reject",
        lambda app, w, t: (
            f"/api/v1/family-links/{_family_link(app, w, t)}/reject",
            {"reason": "关系无法核实"},
        ),
    ),
    Endpoint("POST", "/api/v1/me/timebook/gifts", _gift),
    Endpoint("GET", "/api/v1/me/notifications", _my_notifications),
    Endpoint("POST", "/api/v1/me/notifications/read", _read_notifications),
    Endpoint(
        "POST",
        "/api/v1/me/devices",
        lambda app, w, t: ("/api/v1/me/devices", {"platform": "ios", "token": "matrix-apns-token"}),
    ),
    Endpoint("DELETE", "/api/v1/me/devices/<int:device_id>", _forget_device),
    Endpoint(
        "GET",
        "/api/v1/me/notification-settings",
        lambda app, w, t: ("/api/v1/me/notification-settings", None),
    ),
    Endpoint(
        "PUT",
        "/api/v1/me/notification-settings",
        lambda app, w, t: ("/api/v1/me/notification-settings", SETTINGS_BODY),
    ),
    Endpoint(
        "PATCH",
        SETTINGS,
        lambda app, w, t: (SETTINGS, {"quiet_hours": {"enabled": True}}),
    ),
    Endpoint(
        "GET",
        "/api/v1/admin/notifications/deliveries",
        lambda app, w, t: (_notified(app, w, t) or "/api/v1/admin/notifications/deliveries", None),
    ),
    Endpoint("GET", "/api/v1/admin/notifications/<int:notification_id>/deliveries", _notification_deliveries),
    Endpoint("GET", "/api/v1/me/wechat", lambda app, w, t: ("/api/v1/me/wechat", None)),
    Endpoint("DELETE", "/api/v1/me/wechat", _unbind_wechat),
    Endpoint("POST", "/api/v1/me/wechat/subscriptions", _wechat_consents),
    Endpoint("GET", "/api/v1/me/jobs", lambda app, w, t: (_job(app, w, t) and "/api/v1/me/jobs", None)),
    Endpoint("GET", "/api/v1/jobs/<int:job_id>", lambda app, w, t: (f"/api/v1/jobs/{_job(app, w, t)}", None)),
    Endpoint(
        "GET",
        "/api/v1/jobs/<int:job_id>/result",
        lambda app, w, t: (f"/api/v1/jobs/{_job(app, w, t)}/result", None),
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/exports",
        lambda app, w, t: (f"{API}/sites/{_site(w, t)}/exports", None),
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/<int:site_id>/exports",
        lambda app, w, t: (
            f"{API}/sites/{_site(w, t)}/exports",
            {"kind": "orders", "format": "csv", "from": "2026-11-01", "to": "2026-11-30"},
        ),
    ),
    Endpoint(
        "POST",
        "/api/v1/me/timebook/exports",
        lambda app, w, t: (f"{API}/me/timebook/exports", {"format": "xlsx"}),
    ),
    Endpoint(
        "PATCH",
        "/api/v1/categories/<int:category_id>",
        lambda app, w, t: (f"/api/v1/categories/{_category_id(app)}", {"sort": 99}),
    ),
    Endpoint(
        "POST", "/api/v1/orders", lambda app, w, t: ("/api/v1/orders", _order_body(app, t, starts_now=False))
    ),
    Endpoint("GET", "/api/v1/orders", _list_orders),
    Endpoint("GET", "/api/v1/sites/<int:site_id>/volunteers", _site_volunteers),
    Endpoint("GET", "/api/v1/sites/<int:site_id>/today", _site_today),
    Endpoint("GET", "/api/v1/volunteers/<int:user_id>", _volunteer),
    Endpoint("GET", "/api/v1/orders/<int:order_id>", _on_order("", "offered")),
    Endpoint("GET", "/api/v1/orders/<int:order_id>/events", _on_order("events", "offered")),
    Endpoint(
        "POST",
        "/api/v1/orders/<int:order_id>/dispatch",
        _on_order("dispatch", "submitted", {"mode": "grab", "capacity": 2}),
    ),
    Endpoint("POST", "/api/v1/orders/<int:order_id>/offers", _offer_more),
    Endpoint(
        "POST",
        "/api/v1/orders/<int:order_id>/reject",
        _on_order("reject", "submitted", {"reason": "不在服务范围"}),
    ),
    Endpoint(
        "POST",
        "/api/v1/orders/<int:order_id>/cancel",
        _on_order("cancel", "submitted", {"reason": "不需要了"}),
    ),
    Endpoint("POST", "/api/v1/orders/<int:order_id>/grab", _on_order("grab", "pool")),
    Endpoint(
        "POST",
        "/api/v1/orders/<int:order_id>/rating",
        _on_order("rating", "completed", {"stars": 5, "comment": "很及时"}),
    ),
    Endpoint("POST", "/api/v1/orders/<int:order_id>/audit", _audit),
    Endpoint("POST", "/api/v1/orders/<int:order_id>/handovers", _handover_request),
    Endpoint("GET", "/api/v1/sites/<int:site_id>/handovers", _site_handovers),
    Endpoint("POST", "/api/v1/handovers/<int:handover_id>/accept", _incoming("accept")),
    Endpoint(
        "POST", "/api/v1/handovers/<int:handover_id>/decline", _incoming("decline", {"reason": "本站也无人"})
    ),
    Endpoint("POST", "/api/v1/handovers/<int:handover_id>/cancel", _outgoing_cancel),
    Endpoint("GET", "/api/v1/tasks/available", _tasks_nearby),
    Endpoint("POST", "/api/v1/assignments/<int:assignment_id>/accept", _on_assignment("accept", "offered")),
    Endpoint(
        "POST",
        "/api/v1/assignments/<int:assignment_id>/decline",
        _on_assignment("decline", "offered", {"reason": "那天没空"}),
    ),
    Endpoint(
        "POST",
        "/api/v1/assignments/<int:assignment_id>/withdraw",
        _on_assignment("withdraw", "held", {"reason": "临时生病"}),
    ),
    Endpoint("POST", "/api/v1/assignments/<int:assignment_id>/check-in", _on_check("check-in", "held")),
    Endpoint(
        "POST", "/api/v1/assignments/<int:assignment_id>/check-out", _on_check("check-out", "checked_in")
    ),
    Endpoint(
        "POST",
        "/api/v1/assignments/<int:assignment_id>/close",
        _on_assignment("close", "checked_in", {"reason": "志愿者忘记签退"}),
    ),
    Endpoint(
        "POST",
        "/api/v1/assignments/<int:assignment_id>/no-show",
        _on_assignment("no-show", "held", {"reason": "未到场"}),
    ),
]


# ---- activities and service-day rules ----------------------------------------------------------------


def _activity_body(app: Flask, t: str) -> dict:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return {
        "category_id": _category_id(app),
        "title": "社区清洁日",
        "address": ORDER_ADDRESS,
        **ORDER_PLACE[t],
        "start_at": start.isoformat(),
        "end_at": (start + timedelta(hours=3)).isoformat(),
        "slots": 2,
        "waitlist_max": 1,
    }


def _activity(app: Flask, w: World, t: str, *, signed_up: bool = False) -> int:
    """An activity of the target side's station, published by its manager; optionally with the side's
    volunteer signed up."""
    manager = w.people[MANAGER[t]]
    activity_id = _step(app, manager, "POST", f"/sites/{w.sites[t]}/activities", _activity_body(app, t))["id"]
    if signed_up:
        _step(app, w.people[VOLUNTEER[t]], "POST", f"/activities/{activity_id}/signup")
    return activity_id


def _on_activity(action: str, *, signed_up: bool = False, body: dict | None = None):
    """/activities/<id>/<action> (or /activities/<id> when action is "") on the side's activity."""

    def request(app: Flask, w: World, t: str) -> Request:
        activity_id = _activity(app, w, t, signed_up=signed_up)
        return f"{API}/activities/{activity_id}{'/' + action if action else ''}", body

    return request


def _activity_audit(app: Flask, w: World, t: str) -> Request:
    """Audit an activity that has ended with the side's volunteer checked out (times moved into the
    past directly: the API refuses to publish an activity in the past)."""
    from volunteer_app.activities.models import Activity
    from volunteer_app.attendance.models import Assignment

    activity_id = _activity(app, w, t, signed_up=True)
    now = datetime.now(UTC).replace(microsecond=0)
    with app.app_context():
        activity = db.session.get(Activity, activity_id)
        activity.start_at, activity.end_at = now - timedelta(hours=3), now - timedelta(hours=1)
        for signup in db.session.scalars(select(Assignment).where(Assignment.activity_id == activity_id)):
            signup.status, signup.checkin_at, signup.checkout_at = (
                "checked_out",
                now - timedelta(hours=3),
                now,
            )
            signup.checkin_ok = signup.checkout_ok = True
            signup.minutes_computed = 120
        db.session.commit()
    return f"{API}/activities/{activity_id}/audit", {"confirm_computed": True, "note": "核实无误"}


def _rule_body(app: Flask, t: str) -> dict:
    return {
        "spec": {"kind": "days_of_month", "days": [5, 15, 25], "part_of_day": "afternoon"},
        "theme": "每月志愿服务日",
        "title": "文明实践志愿服务日",
        "category_id": _category_id(app),
        "address": ORDER_ADDRESS,
        **ORDER_PLACE[t],
        "slots": 10,
    }


def _on_rule(app: Flask, w: World, t: str) -> Request:
    manager = w.people[MANAGER[t]]
    rule_id = _step(app, manager, "POST", f"/sites/{w.sites[t]}/service-day-rules", _rule_body(app, t))["id"]
    return f"{API}/service-day-rules/{rule_id}", None


def _pause_rule(app: Flask, w: World, t: str) -> Request:
    url, _ = _on_rule(app, w, t)
    return url, {"active": False}


_ACTIVITY_ENDPOINTS = [
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/activities",
        lambda app, w, t: (f"{API}/sites/{w.sites[t]}/activities", None),
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/<int:site_id>/activities",
        lambda app, w, t: (f"{API}/sites/{w.sites[t]}/activities", _activity_body(app, t)),
    ),
    Endpoint("GET", "/api/v1/activities/<int:activity_id>", _on_activity("")),
    Endpoint("GET", "/api/v1/me/activities", lambda app, w, t: (f"{API}/me/activities", None)),
    Endpoint("POST", "/api/v1/activities/<int:activity_id>/signup", _on_activity("signup")),
    Endpoint("DELETE", "/api/v1/activities/<int:activity_id>/signup", _on_activity("signup", signed_up=True)),
    Endpoint("GET", "/api/v1/activities/<int:activity_id>/signups", _on_activity("signups", signed_up=True)),
    Endpoint("GET", "/api/v1/activities/<int:activity_id>/checkin-code", _on_activity("checkin-code")),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/checkin-code",
        lambda app, w, t: (f"/api/v1/sites/{_site(w, t)}/checkin-code", None),
    ),
    Endpoint(
        "POST",
        "/api/v1/activities/<int:activity_id>/cancel",
        _on_activity("cancel", signed_up=True, body={"reason": "暴雨预警"}),
    ),
    Endpoint("POST", "/api/v1/activities/<int:activity_id>/audit", _activity_audit),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/service-day-rules",
        lambda app, w, t: (f"{API}/sites/{w.sites[t]}/service-day-rules", None),
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/<int:site_id>/service-day-rules",
        lambda app, w, t: (f"{API}/sites/{w.sites[t]}/service-day-rules", _rule_body(app, t)),
    ),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/service-day-rules/preview",
        lambda app, w, t: (
            f"{API}/sites/{w.sites[t]}/service-day-rules/preview?kind=nth_weekday&nth=1&weekday=4"
            "&part_of_day=afternoon",
            None,
        ),
    ),
    Endpoint("GET", "/api/v1/service-day-rules/<int:rule_id>", _on_rule),
    Endpoint("PATCH", "/api/v1/service-day-rules/<int:rule_id>", _pause_rule),
]
_LIST += _ACTIVITY_ENDPOINTS


# ---- 督办 items -----------------------------------------------------------------------------------------

_ITEM_BODY = {
    "subject": "订单审核不及时",
    "description": "请核查本站逾期未审核的订单并整改",
    "level": "yellow",
}


def _on_item(action: str, body: dict | None = None, *, reported: bool = False):
    """/supervision-items/<id>/<action> (or the item itself when action is "") on an item the admin
    raised against the side's station (on behalf of its institute); reported by the admin first."""

    def request(app: Flask, w: World, t: str) -> Request:
        item_id = _step(app, w.admin, "POST", f"/sites/{w.sites[t]}/supervision-items", _ITEM_BODY)["id"]
        if reported:
            _step(app, w.admin, "POST", f"/supervision-items/{item_id}/report", {"result": "已整改"})
        return f"{API}/supervision-items/{item_id}{'/' + action if action else ''}", body

    return request


# ---- follow-ups (回访): an order of the side, rated 1 star and audited, is followed up by its station ----


def _follow_up(app: Flask, w: World, t: str, *, missed: bool = False) -> int:
    from volunteer_app.supervision.models import FollowUp

    order_id, _ = _order(app, w, t, "completed")
    resident, manager = (w.people[side[t]] for side in (RESIDENT, MANAGER))
    _step(app, resident, "POST", f"/orders/{order_id}/rating", {"stars": 1})
    _step(app, manager, "POST", f"/orders/{order_id}/audit", {"confirm_computed": True})
    with app.app_context():
        follow_up_id = db.session.scalar(select(FollowUp.id).where(FollowUp.order_id == order_id))
    if missed:
        _step(app, manager, "POST", f"/follow-ups/{follow_up_id}/calls", {"reached": False})
    return follow_up_id


def _on_follow_up(action: str, body: dict | None = None, *, missed: bool = False):
    def request(app: Flask, w: World, t: str) -> Request:
        follow_up_id = _follow_up(app, w, t, missed=missed)
        return f"{API}/follow-ups/{follow_up_id}{'/' + action if action else ''}", body

    return request


_LIST += [
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/supervision-items",
        lambda app, w, t: (f"{API}/sites/{w.sites[t]}/supervision-items", None),
    ),
    Endpoint(
        "POST",
        "/api/v1/sites/<int:site_id>/supervision-items",
        lambda app, w, t: (f"{API}/sites/{w.sites[t]}/supervision-items", _ITEM_BODY),
    ),
    Endpoint("GET", "/api/v1/supervision-items/<int:item_id>", _on_item("")),
    Endpoint(
        "POST", "/api/v1/supervision-items/<int:item_id>/notes", _on_item("notes", {"note": "正在核查"})
    ),
    Endpoint(
        "POST", "/api/v1/supervision-items/<int:item_id>/report", _on_item("report", {"result": "已整改"})
    ),
    Endpoint("POST", "/api/v1/supervision-items/<int:item_id>/close", _on_item("close", {}, reported=True)),
    Endpoint(
        "POST",
        "/api/v1/supervision-items/<int:item_id>/send-back",
        _on_item("send-back", {"reason": "整改不到位"}, reported=True),
    ),
    Endpoint(
        "POST",
        "/api/v1/supervision-items/<int:item_id>/withdraw",
        _on_item("withdraw", {"reason": "口径有误"}),
    ),
]


def _site_follow_ups(app: Flask, w: World, t: str) -> Request:
    _follow_up(app, w, t)
    return f"{API}/sites/{w.sites[t]}/follow-ups?status=pending", None


_LIST += [
    Endpoint("GET", "/api/v1/sites/<int:site_id>/follow-ups", _site_follow_ups),
    Endpoint("GET", "/api/v1/follow-ups/<int:follow_up_id>", _on_follow_up("")),
    Endpoint(
        "POST",
        "/api/v1/follow-ups/<int:follow_up_id>/calls",
        _on_follow_up("calls", {"reached": True, "satisfaction": 4, "notes": "已解决"}),
    ),
    Endpoint(
        "POST",
        "/api/v1/follow-ups/<int:follow_up_id>/give-up",
        _on_follow_up("give-up", {"note": "多次无人接听"}, missed=True),
    ),
]

# ---- complaints (诉求): the target side's resident's complaint about their cancelled order ----------------


def _complaint(app: Flask, w: World, t: str, state: str = "open") -> int:
    """A complaint of the target side's resident about their order (cancelled by them), in `state`:
    open, or answered by the side's station manager."""
    resident, manager = w.people[RESIDENT[t]], w.people[MANAGER[t]]
    order_id, _ = _order(app, w, t, "submitted")
    _step(app, resident, "POST", f"/orders/{order_id}/cancel", {"reason": "不需要了"})
    body = {"category": "service_quality", "text": "志愿者没有提前联系"}
    complaint_id = _step(app, resident, "POST", f"/orders/{order_id}/complaints", body)["id"]
    if state == "answered":
        _step(app, manager, "POST", f"/complaints/{complaint_id}/answer", {"resolution": "已核实并致歉"})
    return complaint_id


def _complain(app: Flask, w: World, t: str) -> Request:
    order_id, _ = _order(app, w, t, "submitted")
    _step(app, w.people[RESIDENT[t]], "POST", f"/orders/{order_id}/cancel", {"reason": "不需要了"})
    return f"{API}/orders/{order_id}/complaints", {"category": "timeliness", "text": "等了很久没人来"}


def _on_complaint(action: str, state: str = "open", body: dict | None = None):
    """GET /complaints/<id> (action "") or POST /complaints/<id>/<action> on the side's complaint."""

    def request(app: Flask, w: World, t: str) -> Request:
        complaint_id = _complaint(app, w, t, state)
        return f"{API}/complaints/{complaint_id}{'/' + action if action else ''}", body

    return request


def _my_complaints(app: Flask, w: World, t: str) -> Request:
    _complaint(app, w, t)
    return f"{API}/me/complaints", None


def _site_complaints(app: Flask, w: World, t: str) -> Request:
    if t in TEAM:
        _complaint(app, w, t)
    return f"{API}/sites/{_site(w, t)}/complaints", None


_LIST += [
    Endpoint("POST", "/api/v1/orders/<int:order_id>/complaints", _complain),
    Endpoint("GET", "/api/v1/me/complaints", _my_complaints),
    Endpoint("GET", "/api/v1/complaints/<int:complaint_id>", _on_complaint("")),
    Endpoint("POST", "/api/v1/complaints/<int:complaint_id>/accept", _on_complaint("accept", "answered")),
    Endpoint(
        "POST",
        "/api/v1/complaints/<int:complaint_id>/reopen",
        _on_complaint("reopen", "answered", {"text": "问题没有解决"}),
    ),
    Endpoint("POST", "/api/v1/complaints/<int:complaint_id>/withdraw", _on_complaint("withdraw")),
    Endpoint("GET", "/api/v1/sites/<int:site_id>/complaints", _site_complaints),
    Endpoint(
        "POST",
        "/api/v1/complaints/<int:complaint_id>/notes",
        _on_complaint("notes", body={"note": "已联系志愿者"}),
    ),
    Endpoint(
        "POST",
        "/api/v1/complaints/<int:complaint_id>/answer",
        _on_complaint("answer", body={"resolution": "已核实并致歉"}),
    ),
    Endpoint(
        "POST",
        "/api/v1/complaints/<int:complaint_id>/supervise",
        _on_complaint("supervise", body={"level": "red"}),
    ),
]


# ---- appeals (申诉) ---------------------------------------------------------------------------------


def _no_show(app: Flask, w: World, t: str) -> int:
    """The target side's volunteer held a place on an order of its station and was marked absent by
    the station's manager: an assignment they may appeal. Returns its id."""
    _, assignment_id = _order(app, w, t, "held")
    manager = w.people[MANAGER[t]]
    _step(app, manager, "POST", f"/assignments/{assignment_id}/no-show", {"reason": "未到场"})
    return assignment_id


APPEAL_BODY = {"minutes_claimed": 60, "reason": "我按时到了，站点误标缺席"}


def _appeal_on(app: Flask, w: World, t: str) -> int:
    """A pending appeal of the target side's volunteer (of a no-show mark at its station)."""
    volunteer = w.people[VOLUNTEER[t]]
    return _step(app, volunteer, "POST", f"/assignments/{_no_show(app, w, t)}/appeal", APPEAL_BODY)["id"]


def _on_appeal(action: str, body: dict | None = None):
    def request(app: Flask, w: World, t: str) -> Request:
        return f"{API}/appeals/{_appeal_on(app, w, t)}{'/' + action if action else ''}", body

    return request


_APPEAL_ENDPOINTS = [
    Endpoint(
        "POST",
        "/api/v1/assignments/<int:assignment_id>/appeal",
        lambda app, w, t: (f"{API}/assignments/{_no_show(app, w, t)}/appeal", APPEAL_BODY),
    ),
    Endpoint("GET", "/api/v1/me/appeals", lambda app, w, t: (f"{API}/me/appeals", None)),
    Endpoint("GET", "/api/v1/appeals/<int:appeal_id>", _on_appeal("")),
    Endpoint(
        "GET",
        "/api/v1/sites/<int:site_id>/appeals",
        lambda app, w, t: (f"{API}/sites/{w.sites[t]}/appeals?side=audited", None),
    ),
    Endpoint("POST", "/api/v1/appeals/<int:appeal_id>/uphold", _on_appeal("uphold", {"minutes_granted": 45})),
    Endpoint("POST", "/api/v1/appeals/<int:appeal_id>/reject", _on_appeal("reject", {"note": "维持原结论"})),
    Endpoint("POST", "/api/v1/appeals/<int:appeal_id>/withdraw", _on_appeal("withdraw", {})),
]
_LIST += _APPEAL_ENDPOINTS


# ---- personal data: my download, closing my account, unmasked ID numbers ---------------------------------


def _id_number_viewers(app: Flask, w: World, t: str) -> None:
    """Both station managers of the matrix (mgr_s1, mgr_s4) may see unmasked ID numbers: what decides
    their answer is then reach, not the permission (tests/accounts/test_personal_id_numbers.py has the
    managers without it)."""
    with app.app_context():
        for key in MANAGER.values():
            if db.session.get(IdNumberViewer, w.people[key].id) is None:
                db.session.add(IdNumberViewer(user_id=w.people[key].id, granted_by_id=w.admin.id))
        db.session.commit()


def _reveal_id_number(app: Flask, w: World, t: str) -> Request:
    _id_number_viewers(app, w, t)
    return f"{API}/volunteers/{w.people[VOLUNTEER[t]].id}/id-number", {"reason": "办理志愿者意外保险"}


def _drop_viewer(app: Flask, w: World, t: str) -> Request:
    _id_number_viewers(app, w, t)
    return f"{API}/id-number-viewers/{w.people[MANAGER[t]].id}", None


_LIST += [
    Endpoint("GET", "/api/v1/me/export", lambda app, w, t: (f"{API}/me/export", None)),
    Endpoint("POST", "/api/v1/me/close", lambda app, w, t: (f"{API}/me/close", {"password": PASSWORD})),
    Endpoint("POST", "/api/v1/volunteers/<int:user_id>/id-number", _reveal_id_number),
    Endpoint(
        "GET",
        "/api/v1/id-number-access-log",
        lambda app, w, t: (f"{API}/id-number-access-log?subject_id={w.people[VOLUNTEER[t]].id}", None),
    ),
    Endpoint("GET", "/api/v1/id-number-viewers", lambda app, w, t: (f"{API}/id-number-viewers", None)),
    Endpoint(
        "POST",
        "/api/v1/id-number-viewers",
        lambda app, w, t: (f"{API}/id-number-viewers", {"user_id": w.people[MANAGER[t]].id}),
    ),
    Endpoint("DELETE", "/api/v1/id-number-viewers/<int:user_id>", _drop_viewer),
]


ENDPOINTS: dict[str, Endpoint] = {e.key: e for e in _LIST}
assert len(ENDPOINTS) == len(_LIST), "an endpoint is listed twice"
