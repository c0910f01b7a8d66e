"""A small world for the rankings, the leaderboard and a volunteer's own summary: rows written with the
models (orders with their timelines, assignments, activities), time-book credits through the real
ledger at chosen moments. Every expectation in the tests is worked out by hand from this table.

Times are UTC; every site keeps the default clock, Asia/Shanghai (UTC+8).

Sites: C → I1 (S1, S2, S3), C → I2 (S4), C → I3 (no station).
Volunteers (real name, home): V1 张三 S1, V2 李四 S1 (opted in), V3 王五 S2, V4 赵六 S2, V5 欧阳娜娜 S2,
V6 孙七 S4, V7 周八 S3.

Orders (station; submitted; service start; what became of it; dispatched after; assignments; rating):
  O1 S1  2 Nov  3 Nov  closed   12 min (≤15)  V1 120, V2 60      5 stars
  O2 S1  4 Nov  5 Nov  closed    4 min (≤5)   V1 60              unrated
  O3 S1  6 Nov    —    expired     —
  O4 S2  8 Nov 10 Nov  closed   25 min (≤30)  V3 90, V4 no-show  4 stars
  O5 S4 18 Nov 20 Nov  closed   50 min (≤60)  V6 30              5 stars
  O6 S3 30 Oct 31 Oct 23:00 local (15:00 UTC)  closed  100 min (≤120)  V7 45  3 stars  (October's)
  O7 S1  1 Dec 00:30 local (16:30 UTC 30 Nov)  closed; served 1 Dec 01:00 local (17:00 UTC 30 Nov):
     V1 45; no dispatch event; rating pending  (December's, both days)
Activities: A1 S2 12 Nov closed: V3 60, V5 60; A2 at I1 itself 15 Nov closed: V1 30.
V1's credits (posted): 20 on 31 Oct 23:00 local; 30 on 1 Nov 00:30 local (16:30 UTC 31 Oct); 120 on
4 Nov; 60 on 7 Nov; 30 on 16 Nov; 45 on 2 Dec. Lifetime 305 minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import time_machine
from sqlalchemy import select

from tests.support import grant, make_user
from volunteer_app.accounts.models import RoleGrant, User, VolunteerProfile
from volunteer_app.activities.models import Activity
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order, OrderEvent
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Category
from volunteer_app.timebank import service as timebank


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class Town:
    sites: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)  # code → user id


TREE = (
    ("C", "center", None),
    ("I1", "institute", "C"),
    ("S1", "station", "I1"),
    ("S2", "station", "I1"),
    ("S3", "station", "I1"),
    ("I2", "institute", "C"),
    ("S4", "station", "I2"),
    ("I3", "institute", "C"),
)
# (code, real name, display name, home station, opted in)
VOLUNTEERS = (
    ("V1", "张三", "小张", "S1", False),
    ("V2", "李四", "小李", "S1", True),
    ("V3", "王五", "小王", "S2", False),
    ("V4", "赵六", "小赵", "S2", False),
    ("V5", "欧阳娜娜", "娜娜", "S2", False),
    ("V6", "孙七", "小孙", "S4", False),
    ("V7", "周八", "小周", "S3", False),
)
# code → (station, submitted, service start, status, dispatch minutes or None, [(volunteer, status,
# minutes)], rating: stars, "unrated", "pending" or None)
ORDERS = {
    "O1": ("S1", "2026-11-02T02:00", "2026-11-03T01:00", "closed", 12, [("V1", "audited", 120),
                                                                          ("V2", "audited", 60)], 5),
    "O2": ("S1", "2026-11-04T02:00", "2026-11-05T01:00", "closed", 4, [("V1", "audited", 60)], "unrated"),
    "O3": ("S1", "2026-11-06T02:00", "2026-11-08T01:00", "expired", None, [], None),
    "O4": ("S2", "2026-11-08T02:00", "2026-11-10T01:00", "closed", 25, [("V3", "audited", 90),
                                                                          ("V4", "no_show", None)], 4),
    "O5": ("S4", "2026-11-18T02:00", "2026-11-20T01:00", "closed", 50, [("V6", "audited", 30)], 5),
    "O6": ("S3", "2026-10-30T02:00", "2026-10-31T15:00", "closed", 100, [("V7", "audited", 45)], 3),
    "O7": ("S1", "2026-11-30T16:30", "2026-11-30T17:00", "closed", None, [("V1", "audited", 45)], "pending"),
}  # fmt: skip
# code → (site, start, [(volunteer, status, minutes)])
ACTIVITIES = {
    "A1": ("S2", "2026-11-12T01:00", [("V3", "audited", 60), ("V5", "audited", 60)]),
    "A2": ("I1", "2026-11-15T01:00", [("V1", "audited", 30)]),
}
# V1's credits: (posted at (UTC), minutes, service day)
CREDITS = (
    ("2026-10-31T15:00", 20, date(2026, 10, 20)),
    ("2026-10-31T16:30", 30, date(2026, 10, 25)),
    ("2026-11-04T02:00", 120, date(2026, 11, 3)),
    ("2026-11-07T02:00", 60, date(2026, 11, 5)),
    ("2026-11-16T02:00", 30, date(2026, 11, 15)),
    ("2026-12-02T02:00", 45, date(2026, 12, 1)),
)


def build(app) -> Town:
    town = Town()
    with app.app_context():
        for code, kind, parent in TREE:
            site = sites.create_site(
                kind=kind,
                name=f"站点{code}",
                code=f"K{code}",
                parent_id=town.sites.get(parent),
                lat=30.2,
                lng=120.1,
            )
            town.sites[code] = site.id
        s = town.sites
        category = db.session.scalars(select(Category).order_by(Category.id)).first().id
        resident = User(phone="+8613600009999", name="居民", home_site_id=s["S1"])
        db.session.add(resident)
        for n, (code, real, name, home, shown) in enumerate(VOLUNTEERS):
            user = User(
                phone=f"+86135000{n:05d}",
                name=name,
                real_name=real,
                home_site_id=s[home],
                show_name_on_leaderboard=shown,
            )
            db.session.add(user)
            db.session.flush()
            db.session.add(
                VolunteerProfile(
                    user_id=user.id,
                    site_id=s[home],
                    volunteer_no=f"ZY{code}",
                    approved_at=utc("2026-01-01T00:00"),
                )
            )
            db.session.add(
                RoleGrant(user_id=user.id, role="volunteer", scope=RoleGrant.scope_for(site_id=s[home]),
                          site_id=s[home])
            )  # fmt: skip
            town.people[code] = user.id
        db.session.flush()
        for site, created, start, status, dispatch, held, rating in ORDERS.values():
            _order(town, category, resident.id, site, created, start, status, dispatch, held, rating)
        for site, start, held in ACTIVITIES.values():
            _activity(town, category, site, start, held)
        db.session.commit()
    for at, minutes, day in CREDITS:
        with time_machine.travel(utc(at), tick=False), app.app_context():
            timebank.credit_service(
                record_key=f"rank:{at}",
                user_id=town.people["V1"],
                site_id=town.sites["S1"],
                minutes=minutes,
                memo="服务时长",
                service_date=day,
                actor_id=None,
            )
            db.session.commit()
    for code, site in (("mgr_c", "C"), ("mgr_i1", "I1"), ("mgr_i2", "I2"), ("mgr_s1", "S1")):
        person = make_user(app, name=f"站长{site}")
        grant(app, person, "manager", town.sites[site])
        town.people[code] = person.id
    town.people["resident"] = make_user(app, name="居民乙", home_site_id=town.sites["S1"]).id
    return town


def _order(town: Town, category, resident, site, created, start, status, dispatch, held, rating) -> None:
    begin = utc(start)
    stars = rating if isinstance(rating, int) else None
    order = Order(
        site_id=town.sites[site],
        dispatch_site_id=town.sites[site],
        resident_id=resident,
        category_id=category,
        title="上门服务",
        address="文晖街道 12 幢",
        lat=30.2,
        lng=120.1,
        window_start=begin,
        window_end=begin + timedelta(hours=3),
        volunteers_needed=max(1, len(held)),
        target_groups=[],
        status=status,
        mode="assign" if held else None,
        capacity=len(held),
        taken=len(held),
        checkin_due_at=begin + timedelta(minutes=30),
        checkout_due_at=begin + timedelta(hours=3, minutes=30),
        rating_state="rated" if stars else rating,
        rating_stars=stars,
        created_at=utc(created),
    )
    db.session.add(order)
    db.session.flush()
    events = [("submit", None, "submitted", utc(created))]
    if dispatch is not None:
        events.append(("dispatch", "submitted", "dispatched", utc(created) + timedelta(minutes=dispatch)))
    db.session.add_all(
        OrderEvent(order_id=order.id, action=a, from_status=f, to_status=t, at=at) for a, f, t, at in events
    )
    for volunteer, state, minutes in held:
        db.session.add(
            Assignment(
                order_id=order.id,
                site_id=town.sites[site],
                volunteer_id=town.people[volunteer],
                kind="offer",
                status=state,
                minutes_computed=minutes,
                minutes_confirmed=minutes,
            )
        )
    db.session.flush()


def _activity(town: Town, category, site, start, held) -> None:
    begin = utc(start)
    activity = Activity(
        site_id=town.sites[site],
        category_id=category,
        title="理论宣讲进社区",
        address="文晖街道文化家园",
        lat=30.2,
        lng=120.1,
        start_at=begin,
        end_at=begin + timedelta(hours=2),
        slots=10,
        taken=len(held),
        status="closed",
    )
    db.session.add(activity)
    db.session.flush()
    for volunteer, state, minutes in held:
        db.session.add(
            Assignment(
                activity_id=activity.id,
                site_id=town.sites[site],
                volunteer_id=town.people[volunteer],
                kind="signup",
                status=state,
                minutes_computed=minutes,
                minutes_confirmed=minutes,
            )
        )
    db.session.flush()
