"""Helpers of the workbench tests: the order loop through the API (tests/orders), the services called
as a signed-in caller, lists read to their end, and a world where everything Today counts waits
(also the console's Today tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from tests.api.endpoints import _activity_body
from tests.orders.conftest import Loop
from tests.support import ADMIN_VIEW, caller, credit, id_number, make_user
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import User
from volunteer_app.activities.models import Activity
from volunteer_app.demo.world import principal
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order
from volunteer_app.sites.models import Category
from volunteer_app.timebank import gifts, rewards
from volunteer_app.timebank.models import Redemption

API = "/api/v1"


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def as_caller(app, person, fn, **kwargs):
    """`fn(who=<person signed in>, **kwargs)` inside a request context (as the console calls it)."""
    with app.test_request_context():
        return fn(who=principal(db.session.get(User, person.id)), **kwargs)


def categories(app, n: int = 2) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(Category.id).order_by(Category.id).limit(n)))


def volunteer(
    app,
    site_id: int,
    n: int,
    name: str,
    skills: list[str] | None = None,
    phone: str | None = None,
    category_ids: list[int] | None = None,
):
    """An approved volunteer of a station with these skills and preferred categories (n: a distinct ID
    number)."""
    person = make_user(app, name=name, home_site_id=site_id, phone=phone)
    with app.test_request_context():
        application = accounts.apply_as_volunteer(
            who=caller(person.id),
            real_name=f"{name}实名",
            id_number=id_number(n),
            site_id=site_id,
            skills=skills or [],
            category_ids=category_ids or [],
        )
        accounts.approve_application(who=ADMIN_VIEW, reviewer_id=person.id, application_id=application.id)
    return person


def soon(minutes: int = 1) -> dict:
    """A window that opens check-in at once: starting a minute ago."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)
    return {"start": start}


def set_order(app, order_id: int, **values) -> None:
    """Move an order's times directly (the API refuses windows in the past)."""
    with app.app_context():
        db.session.execute(update(Order).where(Order.id == order_id).values(**values))
        db.session.commit()


def read_all(client, person, path: str, query: dict) -> list[dict]:
    """Every item of a list, page by page (limit=2) through next_cursor."""
    items, cursor = [], None
    while True:
        args = {**query, "limit": "2", **({"cursor": cursor} if cursor else {})}
        response = client.get(path, query_string=args, headers=person.headers)
        assert response.status_code == 200, (path, args, response.get_json())
        body = response.get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def deadline(hours: float) -> str:
    return (datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)).isoformat()


# ---- a world where everything Today counts waits somewhere ------------------------------------------

HERE = {"lat": 30.2712, "lng": 120.1712}


def past(app, model, row_id: int, **values) -> None:
    """Move a row's times directly (the API refuses the past)."""
    with app.app_context():
        db.session.execute(update(model).where(model.id == row_id).values(**values))
        db.session.commit()


def fill_today(app, world, loop: Loop) -> dict:
    """One of each thing that waits at S1, a few at S2 (whose escalation went to I1), and some that
    look alike but wait on nobody (an approved family link, a fulfilled code, a code past its time that
    the expiry job has not refunded yet, an upcoming and a cancelled activity). Returns the ids made."""
    s1, s2 = world.sites["S1"], world.sites["S2"]
    vol2 = volunteer(app, s1, 91, "志愿者二")
    at_s2 = make_user(app, name="居民二", home_site_id=s2)
    made = {"review": [loop.submit(world.resident)["id"] for _ in range(2)]}
    made["review_s2"] = loop.submit(at_s2)["id"]
    set_order(app, made["review_s2"], escalated_at=datetime.now(UTC))  # as the sweep records it
    made["dispatch"] = loop.submit(world.resident)["id"]
    loop.dispatch_assign(world.mgr_s1, made["dispatch"], [world.vol_s1.id])
    offer = loop.get(world.vol_s1, made["dispatch"])["my_assignment"]["id"]
    loop.act(world.vol_s1, offer, "decline", {"reason": "没空"})
    loop.dispatch_assign(world.mgr_s1, loop.submit(world.resident)["id"], [vol2.id])  # offer still open
    made["pool"] = loop.submit(world.resident)["id"]  # its pool closes at the start, in 2 hours
    loop.dispatch_grab(world.mgr_s1, made["pool"])
    later = loop.submit(world.resident, start=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=30))
    loop.dispatch_grab(world.mgr_s1, later["id"], deadline=deadline(20))
    served = {}
    for name, out in (("checkout", False), ("audit", True), ("audit_not_yet", True)):
        served[name] = loop.submit(world.resident, volunteers_needed=1, **soon())["id"]
        loop.dispatch_grab(world.mgr_s1, served[name], capacity=1)
        assignment = loop.grab(world.vol_s1, served[name])["id"]
        loop.act(world.vol_s1, assignment, "check-in", HERE)
        if out:
            loop.act(world.vol_s1, assignment, "check-out", HERE)
    now = datetime.now(UTC)
    set_order(app, served["checkout"], window_end=now - timedelta(minutes=5))
    set_order(app, served["audit"], audit_due_at=now - timedelta(minutes=5))
    made |= {"checkout": served["checkout"], "audit": served["audit"]}

    # An application at S2 beside the world's at S1 and S4.
    applicant = make_user(app, name="申请人二", home_site_id=s2)
    with app.test_request_context():
        accounts.apply_as_volunteer(
            who=caller(applicant.id),
            real_name="申请人二",
            id_number=id_number(92),
            site_id=s2,
            skills=[],
            category_ids=[],
        )
    # Family links: one pending, one already approved.
    with app.app_context():
        gifts.request_link(
            who=caller(world.vol_s1.id), relative_phone=world.resident.phone, relation="parent"
        )
        approved = gifts.request_link(
            who=caller(vol2.id), relative_phone=world.resident.phone, relation="child"
        )
        gifts.review_link(
            who=ADMIN_VIEW, reviewer_id=world.admin.id, link_id=approved["id"], approve=True, reason=None
        )
    # Redemption codes at S1: one to fulfil, one fulfilled, one past its time (the sweep refunds it).
    with app.app_context():
        reward = rewards.create_reward(
            who=ADMIN_VIEW,
            actor_id=world.admin.id,
            site_id=s1,
            kind="service",
            title="义剪",
            price_minutes=30,
            stock=9,
        ).id
    credit(app, world.vol_s1, s1, 120)
    with app.app_context():
        codes = [rewards.redeem(who=caller(world.vol_s1.id), reward_id=reward) for _ in range(3)]
        rewards.fulfil(who=ADMIN_VIEW, actor_id=world.admin.id, code=codes[1]["code"])
    past(app, Redemption, codes[2]["id"], expires_at=now - timedelta(minutes=1))
    # Activities at S1: one ended unaudited, one to come, one ended but cancelled before.
    ended, _upcoming, cancelled = (
        loop.call("POST", f"/sites/{s1}/activities", world.mgr_s1, _activity_body(app, "S1"), 201)["id"]
        for _ in range(3)
    )
    loop.call("POST", f"/activities/{cancelled}/cancel", world.mgr_s1, {"reason": "暴雨"})
    for activity_id in (ended, cancelled):
        past(app, Activity, activity_id, start_at=now - timedelta(hours=3), end_at=now - timedelta(hours=1))
    return made | {"code": codes[0]["id"], "lapsed_code": codes[2]["id"], "ended": ended}
