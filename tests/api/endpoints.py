"""How to make a valid request to every endpoint, on objects of one side of the world.

`target` names whose objects the request touches: "S1" (station S1, its team T1, the applicant at S1,
mgr_s1, vol_s1) or "S4" (the same at S4, under the other center); site endpoints also take any site
code ("I1"). The body is valid, so what a caller gets back is decided by who they are, not by input.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from flask import Flask
from sqlalchemy import select

from tests.support import ADMIN_VIEW, PASSWORD, World, id_number, next_phone
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import User
from volunteer_app.auth import service as auth_service
from volunteer_app.auth import sms
from volunteer_app.extensions import db
from volunteer_app.sites.models import Category
from volunteer_app.timebank import certificates, gifts, rewards
from volunteer_app.timebank import service as timebank

TEAM = {"S1": "T1", "S4": "T4"}
APPLICANT = {"S1": "applicant", "S4": "applicant_s4"}
MANAGER = {"S1": "mgr_s1", "S4": "mgr_s4"}
VOLUNTEER = {"S1": "vol_s1", "S4": "vol_s4"}

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
CERTIFIED_JSON = {key: day.isoformat() for key, day in CERTIFIED.items()}


def _credited(app: Flask, w: World, t: str) -> int:
    """Give the target side's volunteer one audited credit (something to certify); returns their id."""
    volunteer = w.people[VOLUNTEER[t]]
    with app.app_context():
        timebank.credit_service(
            record_key=f"matrix:{volunteer.id}",
            user_id=volunteer.id,
            site_id=w.sites[t],
            minutes=90,
            memo="关爱老人：上门陪伴",
            service_date=date.today() - timedelta(days=7),
            actor_id=None,
        )
        db.session.commit()
    return volunteer.id


def _certificate(app: Flask, w: World, t: str) -> dict:
    """A certificate the target side's volunteer issued themselves."""
    user_id = _credited(app, w, t)
    with app.app_context():
        return certificates.issue_mine(db.session.get(User, user_id), **CERTIFIED)


def _issue_mine(app: Flask, w: World, t: str) -> Request:
    _credited(app, w, t)
    return "/api/v1/me/certificates", CERTIFIED_JSON


def _issue_for(app: Flask, w: World, t: str) -> Request:
    return f"/api/v1/volunteers/{_credited(app, w, t)}/certificates", CERTIFIED_JSON


def _read_certificate(app: Flask, w: World, t: str) -> Request:
    return f"/api/v1/certificates/{_certificate(app, w, t)['id']}", None


def _print_certificate(app: Flask, w: World, t: str) -> Request:
    return f"/api/v1/certificates/{_certificate(app, w, t)['id']}/print", None


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
        return rewards.redeem(user=db.session.get(User, user_id), reward_id=reward_id)["code"]


def _family_link(app: Flask, w: World, t: str) -> int:
    """A pending family link the target side's volunteer asked their station to approve."""
    relative = w.people[APPLICANT[t]]
    with app.app_context():
        volunteer = db.session.get(User, w.people[VOLUNTEER[t]].id)
        return gifts.request_link(user=volunteer, relative_phone=relative.phone, relation="parent")["id"]


def _family_links_to_review(app: Flask, w: World, t: str) -> Request:
    _family_link(app, w, t)
    return f"/api/v1/sites/{_site(w, t)}/family-links", None


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


def _category_id(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(Category.id).where(Category.code == "elder_care"))


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
    Endpoint("GET", "/api/v1/me", lambda app, w, t: ("/api/v1/me", None)),
    Endpoint("PATCH", "/api/v1/me", lambda app, w, t: ("/api/v1/me", {"name": "新名字"})),
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
    Endpoint(
        "PATCH",
        "/api/v1/categories/<int:category_id>",
        lambda app, w, t: (f"/api/v1/categories/{_category_id(app)}", {"sort": 99}),
    ),
]

ENDPOINTS: dict[str, Endpoint] = {e.key: e for e in _LIST}
assert len(ENDPOINTS) == len(_LIST), "an endpoint is listed twice"
