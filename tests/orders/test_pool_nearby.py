"""附近新单: when a grab pool opens, the volunteers near it are told (order.pool_nearby), chosen in one
query: home station within the radius, the order's category (or none named), not busy at the time,
not the resident, nearest first, at most the limit."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.orders.conftest import Loop, category_id, iso
from tests.support import make_volunteer
from volunteer_app.accounts.models import VolunteerProfile
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Notification
from volunteer_app.orders import nearby
from volunteer_app.orders.models import Order
from volunteer_app.sites.models import Category

_numbers = iter(range(100, 200))


def volunteer(app, world, site: str, *, categories=(), name="志愿者"):
    person = make_volunteer(app, world.sites[site], next(_numbers), name)
    if categories:
        with app.app_context():
            db.session.get(VolunteerProfile, person.id).category_ids = list(categories)
            db.session.commit()
    return person


def hold(app, person, *, order_id=None, activity_id=None, site_id, status="held"):
    with app.app_context():
        db.session.add(
            Assignment(
                order_id=order_id,
                activity_id=activity_id,
                site_id=site_id,
                volunteer_id=person.id,
                kind="grab" if order_id else "signup",
                status=status,
            )
        )
        db.session.commit()


def chosen(app, order_id: int, radius_m=3000, limit=50) -> list[int]:
    with app.app_context():
        order = db.session.get(Order, order_id)
        return [user_id for user_id, _m in nearby.nearby_volunteers(order, radius_m=radius_m, limit=limit)]


def other_category(app) -> int:
    with app.app_context():
        return db.session.scalars(sa.select(Category.id).order_by(Category.id.desc())).first()


@pytest.fixture
def loop(app, client):
    return Loop(app, client)


def test_the_selection(app, world, loop):
    """S1's station is ~170 m from the order, S2's ~1.3 km, S3's ~9 km."""
    cat, other = category_id(app), other_category(app)
    assert cat != other
    order = loop.submit(world.resident)
    start = datetime.fromisoformat(order["start_at"])
    near_any = world.vol_s1  # S1, no categories named: serves any
    s2_cat = volunteer(app, world, "S2", categories=[other, cat])
    s2_other = volunteer(app, world, "S2", categories=[other])  # another category only
    s3_far = volunteer(app, world, "S3")  # beyond 3 km
    s1_inactive = volunteer(app, world, "S1")
    with app.app_context():
        db.session.execute(
            sa.text("UPDATE users SET is_active = false WHERE id = :id"), {"id": s1_inactive.id}
        )
        db.session.commit()
    # Busy: holding another order at an overlapping time, or signed up for an overlapping activity.
    busy_order = volunteer(app, world, "S1")
    busy_activity = volunteer(app, world, "S1")
    free_later = volunteer(app, world, "S1")  # holds an order after this one ends: not busy
    declined = volunteer(app, world, "S2")  # an overlapping assignment it declined: not busy
    overlapping = loop.submit(world.resident, start=start + timedelta(minutes=60))["id"]
    later = loop.submit(world.resident, start=start + timedelta(hours=3))["id"]
    hold(app, busy_order, order_id=overlapping, site_id=world.sites["S1"])
    hold(app, free_later, order_id=later, site_id=world.sites["S1"])
    hold(app, declined, order_id=overlapping, site_id=world.sites["S1"], status="declined")
    activity = loop.call(
        "POST",
        f"/sites/{world.sites['S1']}/activities",
        world.mgr_s1,
        {
            "category_id": cat,
            "title": "社区清洁日",
            "address": "文化广场",
            "lat": 30.2712,
            "lng": 120.1712,
            "start_at": iso(start - timedelta(minutes=30)),
            "end_at": iso(start + timedelta(minutes=30)),
            "slots": 5,
        },
        201,
    )["id"]
    hold(app, busy_activity, activity_id=activity, site_id=world.sites["S1"])

    got = chosen(app, order["id"])
    s1 = sorted([near_any.id, free_later.id])
    s2 = sorted([s2_cat.id, declined.id])
    assert got == s1 + s2  # nearest station first, then by id
    assert s2_other.id not in got and s3_far.id not in got
    assert chosen(app, order["id"], radius_m=10_000)[-1] == s3_far.id  # a wider circle reaches S3
    assert chosen(app, order["id"], limit=3) == (s1 + s2)[:3]
    assert chosen(app, order["id"], radius_m=500) == s1


def test_the_resident_is_not_told_of_their_own_order(app, world, loop):
    resident = volunteer(app, world, "S1", name="居民志愿者")  # a volunteer ordering for themself
    order = loop.submit(resident)
    assert resident.id not in chosen(app, order["id"])
    assert world.vol_s1.id in chosen(app, order["id"])


def test_opening_a_pool_tells_the_volunteers_near_it(app, world, loop):
    far = volunteer(app, world, "S2")
    order = loop.submit(world.resident)
    loop.call("PATCH", f"/sites/{world.sites['S1']}/settings", world.mgr_s1, {"pool_push_radius_m": 1000})
    loop.dispatch_grab(world.mgr_s1, order["id"])
    with app.app_context():
        told = db.session.execute(
            sa.select(Notification.user_id, Notification.params, Notification.subject_id).where(
                Notification.kind == "order.pool_nearby"
            )
        ).all()
    assert [(u, s) for u, _p, s in told] == [(world.vol_s1.id, str(order["id"]))]
    params = told[0][1]
    assert params["title"] == order["title"] and 100 <= params["distance_m"] <= 250
    assert far.id not in {u for u, _p, _s in told}


def test_no_one_is_told_with_a_limit_of_zero_or_for_offers(app, world, loop):
    loop.call("PATCH", f"/sites/{world.sites['S1']}/settings", world.mgr_s1, {"pool_push_max": 0})
    pool = loop.submit(world.resident)
    loop.dispatch_grab(world.mgr_s1, pool["id"])
    loop.call("PATCH", f"/sites/{world.sites['S1']}/settings", world.mgr_s1, {"pool_push_max": None})
    offered = loop.submit(world.resident)
    loop.dispatch_assign(world.mgr_s1, offered["id"], [world.vol_s1.id])
    with app.app_context():
        kinds = set(db.session.scalars(sa.select(Notification.kind)))
    assert "order.pool_nearby" not in kinds and "order.offered" in kinds


@pytest.mark.parametrize("value", [50, 60_000, "far", -1])
def test_bad_radius_settings_are_422(world, loop, value):
    loop.call(
        "PATCH", f"/sites/{world.sites['S1']}/settings", world.mgr_s1, {"pool_push_radius_m": value}, 422
    )


def test_an_order_asking_for_skills_is_pushed_to_those_holding_one(app, world, loop):
    """The order names skills: only volunteers holding one of them fit (orders/matching.py's rule);
    without skills on the order, everyone near fits."""
    nurse = volunteer(app, world, "S1", name="护理志愿者")
    driver = volunteer(app, world, "S1", name="司机志愿者")
    with app.app_context():
        db.session.get(VolunteerProfile, nurse.id).skills = ["护理"]
        db.session.get(VolunteerProfile, driver.id).skills = ["驾驶", "搬运"]
        db.session.commit()
    plain = loop.submit(world.resident)["id"]
    assert {nurse.id, driver.id, world.vol_s1.id} <= set(chosen(app, plain))
    with app.app_context():
        db.session.get(Order, plain).skills = ["护理", "理发"]
        db.session.commit()
    got = chosen(app, plain)
    assert nurse.id in got
    assert driver.id not in got and world.vol_s1.id not in got
