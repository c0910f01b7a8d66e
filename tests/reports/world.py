"""A hand-built world for the statistics tests: rows written directly with the models (orders with their
timelines, assignments, activities, volunteer profiles) and time-book transfers through the real
ledger functions, each at a chosen moment. Every number the tests expect is worked out by hand from the
table at the top of tests/reports/test_figures.py, never with the code under test.

Times are UTC; the sites keep the default clock, Asia/Shanghai (UTC+8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from tests.support import ADMIN_VIEW, grant, make_user
from volunteer_app.accounts.models import User, VolunteerProfile
from volunteer_app.activities.models import Activity
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order, OrderEvent
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Category
from volunteer_app.timebank import ledger
from volunteer_app.timebank import service as timebank


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@dataclass
class City:
    sites: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)  # code → user id
    categories: dict[str, int] = field(default_factory=dict)  # code → id
    orders: dict[str, int] = field(default_factory=dict)
    activities: dict[str, int] = field(default_factory=dict)
    transfers: dict[str, int] = field(default_factory=dict)


# (code, kind, parent): the asked tree. I2's only station S3 never holds a session.
TREE = (
    ("C", "center", None),
    ("I1", "institute", "C"),
    ("S1", "station", "I1"),
    ("S2", "station", "I1"),
    ("I2", "institute", "C"),
    ("S3", "station", "I2"),
)

# Volunteers: (code, home station, approved at (UTC)).
VOLUNTEERS = (
    ("V1", "S1", "2026-01-10T02:00"),
    ("V2", "S1", "2026-05-01T02:00"),
    ("V3", "S2", "2026-06-01T02:00"),
    ("V4", "S3", "2026-03-01T02:00"),
    ("V5", "S1", "2026-11-10T03:00"),  # new in November
    ("V6", "S2", "2026-12-05T03:00"),  # new in December
    ("V7", "S2", "2026-10-31T16:30"),  # 00:30 on 1 November in UTC+8: November's, not October's
)
RESIDENTS = (("R1", "S1"), ("R2", "S1"), ("R3", "S2"))


def _event(order_id: int, action: str, frm: str | None, to: str, at: str) -> OrderEvent:
    return OrderEvent(order_id=order_id, action=action, from_status=frm, to_status=to, at=utc(at))


# Orders: code → (station, category, resident, created (UTC), service start (UTC), status, timeline
# [(action, from, to, at)], assignments [(volunteer, kind, status, minutes confirmed)], rating
# (None, "pending", "unrated" or stars), target groups, volunteers needed).
ORDERS = {
    # Submitted 17:30 UTC on 31 October = 01:30 on 1 November local: November's.
    "O1": (
        "S1",
        "elder_care",
        "R1",
        "2026-10-31T17:30",
        "2026-11-03T01:00",
        "closed",
        [
            ("dispatch", "submitted", "dispatched", "2026-10-31T17:42"),  # 12 min
            ("grab", "dispatched", "dispatched", "2026-10-31T17:50"),
            ("grab", "dispatched", "staffed", "2026-10-31T18:05"),  # 23 min after dispatch
            ("check_in", "staffed", "in_service", "2026-11-03T01:00"),
            ("check_out", "in_service", "completed", "2026-11-03T04:00"),
            ("audit", "completed", "closed", "2026-11-04T02:00"),
            ("rate", "closed", "closed", "2026-11-04T05:00"),
        ],
        [("V1", "grab", "audited", 120), ("V2", "grab", "audited", 90)],
        5,
        ["elderly_alone", "disabled"],
        2,
    ),
    "O2": (
        "S1",
        "elder_care",
        "R1",
        "2026-11-05T02:00",
        "2026-11-06T01:00",
        "closed",
        [
            ("dispatch", "submitted", "dispatched", "2026-11-05T02:04"),  # 4 min
            ("accept", "dispatched", "dispatched", "2026-11-05T02:30"),
            ("accept", "dispatched", "staffed", "2026-11-05T02:50"),  # 46 min
            ("check_in", "staffed", "in_service", "2026-11-06T01:00"),
            ("no_show", "in_service", "in_service", "2026-11-06T02:00"),
            ("check_out", "in_service", "completed", "2026-11-06T03:00"),
            ("rate", "completed", "completed", "2026-11-06T05:00"),
            ("audit", "completed", "closed", "2026-11-07T02:00"),
        ],
        [("V1", "offer", "audited", 60), ("V2", "offer", "no_show", None)],
        3,
        ["elderly_alone"],
        2,
    ),
    "O3": (
        "S1",
        "repairs",
        "R2",
        "2026-11-10T01:00",
        "2026-11-12T06:00",
        "closed",
        [
            ("dispatch", "submitted", "dispatched", "2026-11-10T01:30"),  # 30 min
            ("grab", "dispatched", "staffed", "2026-11-10T03:00"),  # 90 min
            ("check_in", "staffed", "in_service", "2026-11-12T06:00"),
            ("check_out", "in_service", "completed", "2026-11-12T07:00"),
            ("audit", "completed", "closed", "2026-11-13T02:00"),
            ("rating_lapsed", "closed", "closed", "2026-11-20T07:00"),
        ],
        [("V5", "grab", "audited", 45)],
        "unrated",
        ["left_behind_children"],
        1,
    ),
    # Service on 30 November (16:00 local), audited and credited on 2 December.
    "O4": (
        "S2",
        "repairs",
        "R3",
        "2026-11-11T00:00",
        "2026-11-30T08:00",
        "closed",
        [
            ("dispatch", "submitted", "dispatched", "2026-11-11T02:00"),  # 120 min
            ("grab", "dispatched", "staffed", "2026-11-11T05:00"),  # 180 min
            ("check_in", "staffed", "in_service", "2026-11-30T08:00"),
            ("check_out", "in_service", "completed", "2026-11-30T10:30"),
            ("audit", "completed", "closed", "2026-12-02T03:00"),
        ],
        [("V3", "grab", "audited", 150)],
        "pending",
        [],
        1,
    ),
    "O5": (
        "S1",
        "elder_care",
        "R2",
        "2026-11-15T03:00",
        "2026-11-18T01:00",
        "rejected",
        [("reject", "submitted", "rejected", "2026-11-15T04:00")],
        [],
        None,
        ["elderly_alone"],
        1,
    ),
    "O6": (
        "S1",
        "elder_care",
        "R1",
        "2026-11-16T03:00",
        "2026-11-19T01:00",
        "cancelled",
        [
            ("dispatch", "submitted", "dispatched", "2026-11-16T03:10"),  # 10 min
            ("cancel", "dispatched", "cancelled", "2026-11-16T05:00"),
        ],
        [],
        None,
        [],
        1,
    ),
    "O7": (
        "S2",
        "elder_care",
        "R3",
        "2026-11-17T03:00",
        "2026-11-19T01:00",
        "expired",
        [
            ("escalate", "submitted", "submitted", "2026-11-17T05:00"),
            ("expire", "submitted", "expired", "2026-11-17T07:00"),
        ],
        [],
        None,
        ["disabled"],
        1,
    ),
    "O8": (
        "S2",
        "repairs",
        "R3",
        "2026-11-20T03:00",
        "2026-12-05T01:00",
        "staffed",
        [
            ("dispatch", "submitted", "dispatched", "2026-11-20T03:20"),  # 20 min
            ("escalate", "dispatched", "dispatched", "2026-11-21T03:00"),
            ("grab", "dispatched", "staffed", "2026-11-21T04:00"),  # 1480 min: within 48 h
        ],
        [("V3", "grab", "held", None)],
        None,
        ["veterans"],
        1,
    ),
    "O9": (
        "S1",
        "elder_care",
        "R2",
        "2026-11-25T03:00",
        "2026-12-08T01:00",
        "submitted",
        [],
        [],
        None,
        [],
        1,
    ),
    "O10": (
        "S1",
        "elder_care",
        "R1",
        "2026-11-26T03:00",
        "2026-11-27T01:00",
        "in_service",
        [
            ("dispatch", "submitted", "dispatched", "2026-11-26T03:01"),  # 1 min
            ("grab", "dispatched", "staffed", "2026-11-26T04:00"),  # 59 min
            ("check_in", "staffed", "in_service", "2026-11-27T01:00"),
        ],
        [("V1", "grab", "checked_in", None)],
        None,
        [],
        1,
    ),
    # Completed and rated, never audited: not a session, so its stars count nowhere.
    "O11": (
        "S2",
        "elder_care",
        "R3",
        "2026-11-02T03:00",
        "2026-11-10T01:00",
        "completed",
        [
            ("dispatch", "submitted", "dispatched", "2026-11-09T04:00"),  # 10140 min: beyond 7 days
            ("grab", "dispatched", "staffed", "2026-11-09T04:10"),  # 10 min
            ("check_in", "staffed", "in_service", "2026-11-10T01:00"),
            ("check_out", "in_service", "completed", "2026-11-10T02:00"),
            ("rate", "completed", "completed", "2026-11-10T05:00"),
        ],
        [("V3", "grab", "checked_out", None)],
        4,
        [],
        1,
    ),
    "O12": (
        "S1",
        "elder_care",
        "R2",
        "2026-10-20T03:00",
        "2026-10-22T01:00",
        "closed",
        [
            ("dispatch", "submitted", "dispatched", "2026-10-20T03:05"),  # 5 min
            ("grab", "dispatched", "staffed", "2026-10-20T03:06"),  # 1 min
            ("check_in", "staffed", "in_service", "2026-10-22T01:00"),
            ("check_out", "in_service", "completed", "2026-10-22T01:30"),
            ("audit", "completed", "closed", "2026-10-23T02:00"),
            ("rate", "closed", "closed", "2026-10-23T05:00"),
        ],
        [("V1", "grab", "audited", 30)],
        2,
        ["other"],
        1,
    ),
    # 23:30 on 31 October local: October's.
    "O13": (
        "S2",
        "repairs",
        "R3",
        "2026-10-31T15:30",
        "2026-11-04T01:00",
        "cancelled",
        [("cancel", "submitted", "cancelled", "2026-10-31T15:40")],
        [],
        None,
        [],
        1,
    ),
    # Submitted in November; served 01:00 on 1 December local (17:00 UTC on 30 November).
    "O14": (
        "S1",
        "elder_care",
        "R2",
        "2026-11-28T03:00",
        "2026-11-30T17:00",
        "closed",
        [
            ("dispatch", "submitted", "dispatched", "2026-11-28T03:15"),  # 15 min
            ("grab", "dispatched", "staffed", "2026-11-28T03:45"),  # 30 min
            ("check_in", "staffed", "in_service", "2026-11-30T17:00"),
            ("check_out", "in_service", "completed", "2026-11-30T18:00"),
            ("audit", "completed", "closed", "2026-12-03T02:00"),
            ("rate", "closed", "closed", "2026-12-03T05:00"),
        ],
        [("V2", "grab", "audited", 60)],
        4,
        [],
        1,
    ),
}

# Activities: code → (site, category, start (UTC), status, sign-ups [(volunteer, status, minutes)]).
ACTIVITIES = {
    "A1": (
        "S1",
        "theory_outreach",
        "2026-11-08T01:00",
        "closed",
        [("V1", "audited", 100), ("V2", "audited", 0), ("V5", "no_show", None), ("V4", "audited", 100)],
    ),
    "A2": ("S1", "theory_outreach", "2026-11-20T01:00", "open", [("V1", "held", None), ("V2", "held", None)]),
    "A3": ("S2", "theory_outreach", "2026-11-22T01:00", "cancelled", [("V3", "cancelled", None)]),
    "A4": (
        "I1",
        "theory_outreach",
        "2026-11-15T02:00",
        "closed",
        [("V3", "audited", 80), ("V7", "audited", 40)],
    ),
    "A5": ("C", "environment", "2026-11-29T02:00", "closed", [("V1", "audited", 60)]),
}


def build(app) -> City:
    city = City()
    with app.app_context():
        for code, kind, parent in TREE:
            site = sites.create_site(
                kind=kind,
                name=f"站点{code}",
                code=f"R{code}",
                parent_id=city.sites.get(parent),
                lat=30.2,
                lng=120.1,
            )
            city.sites[code] = site.id
        city.categories = {c.code: c.id for c in db.session.scalars(select(Category))}
        s = city.sites
        for n, (code, home) in enumerate(RESIDENTS):
            user = User(phone=f"+861360000{n:04d}", name=f"居民{code}", home_site_id=s[home])
            db.session.add(user)
            db.session.flush()
            city.people[code] = user.id
        for n, (code, home, approved) in enumerate(VOLUNTEERS):
            user = User(phone=f"+861350000{n:04d}", name=f"志愿者{code}", home_site_id=s[home])
            db.session.add(user)
            db.session.flush()
            db.session.add(
                VolunteerProfile(
                    user_id=user.id, site_id=s[home], volunteer_no=f"ZY{code}", approved_at=utc(approved)
                )
            )
            city.people[code] = user.id
        db.session.commit()
        for code, spec in ORDERS.items():
            city.orders[code] = _order(city, *spec)
        for code, spec in ACTIVITIES.items():
            city.activities[code] = _activity(city, *spec)
        db.session.commit()
    _ledger(app, city)
    for code, site in (("mgr_c", "C"), ("mgr_i1", "I1"), ("mgr_s1", "S1"), ("mgr_s3", "S3")):
        person = make_user(app, name=f"站长{site}")
        grant(app, person, "manager", s[site])
        city.people[code] = person.id
    return city


def _order(
    city: City, site, category, resident, created, start, status, timeline, held, rating, groups, needed
):
    p, s = city.people, city.sites
    begin = utc(start)
    stars = rating if isinstance(rating, int) else None
    state = "rated" if stars else rating
    order = Order(
        site_id=s[site],
        dispatch_site_id=s[site],
        resident_id=p[resident],
        category_id=city.categories[category],
        title="上门服务",
        address="文晖街道 12 幢",
        lat=30.2,
        lng=120.1,
        window_start=begin,
        window_end=begin + timedelta(hours=3),
        volunteers_needed=needed,
        target_groups=groups,
        status=status,
        mode="grab" if any(kind == "grab" for _, kind, _, _ in held) else ("assign" if held else None),
        capacity=needed if held or status not in ("submitted", "rejected", "expired") else 0,
        taken=sum(1 for *_, st, _ in held if st != "offered"),
        checkin_due_at=begin + timedelta(minutes=30),
        checkout_due_at=begin + timedelta(hours=3, minutes=30),
        rating_state=state,
        rating_stars=stars,
        created_at=utc(created),
    )
    db.session.add(order)
    db.session.flush()
    events = [("submit", None, "submitted", created), *timeline]
    db.session.add_all([_event(order.id, *e) for e in events])
    for volunteer, kind, st, minutes in held:
        db.session.add(
            Assignment(
                order_id=order.id,
                site_id=s[site],
                volunteer_id=p[volunteer],
                kind=kind,
                status=st,
                minutes_computed=minutes,
                minutes_confirmed=minutes,
            )
        )
    db.session.flush()
    return order.id


def _activity(city: City, site, category, start, status, signups):
    begin = utc(start)
    activity = Activity(
        site_id=city.sites[site],
        category_id=city.categories[category],
        title="理论宣讲进社区",
        address="文晖街道文化家园",
        lat=30.2,
        lng=120.1,
        start_at=begin,
        end_at=begin + timedelta(hours=2),
        slots=10,
        taken=sum(1 for _, st, _ in signups if st not in ("cancelled", "waitlisted")),
        status=status,
    )
    db.session.add(activity)
    db.session.flush()
    for volunteer, st, minutes in signups:
        db.session.add(
            Assignment(
                activity_id=activity.id,
                site_id=city.sites[site],
                volunteer_id=city.people[volunteer],
                kind="signup",
                status=st,
                minutes_computed=minutes,
                minutes_confirmed=minutes,
            )
        )
    db.session.flush()
    return activity.id


def _ledger(app, city: City) -> None:
    """The time-book transfers, in time order, each at its moment, through the ledger's own functions."""
    p, s = city.people, city.sites

    def at(moment: str, code: str, act) -> None:
        with time_machine.travel(utc(moment), tick=False), app.app_context():
            transfer = act()
            db.session.commit()
            city.transfers[code] = transfer.id

    def credit(volunteer: str, site: str, minutes: int, source: str):
        return lambda: timebank.credit_service(
            record_key=f"test:{source}:{volunteer}",
            user_id=p[volunteer],
            site_id=s[site],
            minutes=minutes,
            memo="服务时长",
            service_date=datetime(2026, 11, 1).date(),
            actor_id=None,
        )

    def post(kind: str, source, destination, minutes: int, site: str):
        return lambda: ledger.post(
            kind=kind, source=source(), destination=destination(), minutes=minutes, site_id=s[site]
        )

    def book(code: str):
        return lambda: ledger.existing_book(p[code])

    at("2026-10-23T02:00", "O12:V1", credit("V1", "S1", 30, "O12"))
    at("2026-11-04T02:00", "O1:V1", credit("V1", "S1", 120, "O1"))
    at("2026-11-04T02:00", "O1:V2", credit("V2", "S1", 90, "O1"))
    at("2026-11-07T02:00", "O2:V1", credit("V1", "S1", 60, "O2"))
    at("2026-11-09T02:00", "A1:V1", credit("V1", "S1", 100, "A1"))
    at("2026-11-09T02:00", "A1:V4", credit("V4", "S1", 100, "A1"))  # V4's book: issued by S3
    at("2026-11-13T02:00", "O3:V5", credit("V5", "S1", 45, "O3"))
    at("2026-11-16T02:00", "A4:V3", credit("V3", "I1", 80, "A4"))
    at("2026-11-16T02:00", "A4:V7", credit("V7", "I1", 40, "A4"))
    at(
        "2026-11-20T02:00",
        "reversal",
        lambda: timebank.reverse(
            who=ADMIN_VIEW, actor_id=None, transfer_id=city.transfers["O2:V1"], reason="重复计时"
        ),
    )
    at(
        "2026-11-21T02:00",
        "adjust+",
        lambda: timebank.adjust(who=ADMIN_VIEW, actor_id=None, user_id=p["V2"], minutes=15, reason="补录"),
    )
    at(
        "2026-11-22T02:00",
        "adjust-",
        lambda: timebank.adjust(who=ADMIN_VIEW, actor_id=None, user_id=p["V3"], minutes=-10, reason="多记"),
    )
    at("2026-11-23T02:00", "redeem", post("redeem", book("V1"), ledger.redemption_account, 50, "S1"))
    at(
        "2026-11-24T02:00",
        "gift",
        post("gift", book("V1"), lambda: ledger.book_account(p["R1"], s["S1"]), 30, "S1"),
    )
    at(
        "2026-11-25T02:00",
        "donate",
        post("donate", book("V2"), lambda: ledger.donation_account(s["S1"]), 10, "S1"),
    )
    at("2026-11-26T02:00", "refund", post("refund", ledger.redemption_account, book("V1"), 50, "S1"))
    at("2026-11-30T16:30", "A5:V1", credit("V1", "C", 60, "A5"))  # 00:30 on 1 December local
    at("2026-12-02T03:00", "O4:V3", credit("V3", "S2", 150, "O4"))
    at("2026-12-03T02:00", "O14:V2", credit("V2", "S1", 60, "O14"))
