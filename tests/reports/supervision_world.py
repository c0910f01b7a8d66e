"""A small world of supervision records for the statistics' `supervision` block, the ranking's
supervision and follow_up components and the workbench's Today counts. Every expectation is counted by
hand from these tables.

Times are UTC; every site keeps Asia/Shanghai (UTC+8): November 2026 local is
[2026-10-31T16:00Z, 2026-11-30T16:00Z). "Now" is 2026-12-05T02:00Z.

Sites: C → I1 (S1, S2), C → I2 (S3: the sibling subtree, never counted at I1).
The orders the complaints, appeals and follow-ups hang on are June's (no November order figure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.support import grant, make_user
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Category
from volunteer_app.supervision import states
from volunteer_app.supervision.models import Appeal, Complaint, FollowUp, SupervisionItem

NOW = "2026-12-05T02:00"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


TREE = (
    ("C", "center", None),
    ("I1", "institute", "C"),
    ("S1", "station", "I1"),
    ("S2", "station", "I1"),
    ("I2", "institute", "C"),
    ("S3", "station", "I2"),
)
# code → (acting site, raised by, level, created, due, [(action, at, values)])
ITEMS = {
    "IT1": ("S1", "I1", "yellow", "2026-11-02T02:00", "2026-11-05T02:00",
            [("report", "2026-11-04T02:00"), ("close", "2026-11-06T02:00")]),  # closed on time
    "IT2": ("S2", "I1", "red", "2026-10-31T15:59", "2026-11-03T02:00",  # raised 23:59 31 Oct local
            [("report", "2026-11-10T02:00"), ("close", "2026-11-30T15:59")]),  # late; 销号 23:59 30 Nov
    "IT3": ("S1", "I1", "yellow", "2026-11-30T16:00", "2026-12-10T02:00", []),  # 00:00 1 Dec local
    "IT4": ("S2", "I1", "red", "2026-11-10T02:00", "2026-11-12T02:00",
            [("escalate", "2026-11-12T02:01")]),  # open, overdue
    "IT5": ("S1", "I1", "green", "2026-11-03T02:00", "2026-11-20T02:00",
            [("report", "2026-11-04T02:00"), ("send_back", "2026-11-05T02:00"),
             ("report", "2026-11-07T02:00")]),  # reported again, awaiting 销号
    "IT6": ("S1", "I1", "green", "2026-11-05T02:00", "2026-11-20T02:00",
            [("withdraw", "2026-11-06T02:00")]),
    "IT7": ("S3", "I2", "red", "2026-11-05T02:00", "2026-11-06T02:00",  # the sibling subtree
            [("report", "2026-11-07T02:00"), ("send_back", "2026-11-08T02:00")]),
    "IT8": ("I1", "C", "green", "2026-11-15T02:00", "2026-12-30T02:00", []),  # I1 itself
}  # fmt: skip
# code → (dispatch site, category, created, due, [(action, at)])
COMPLAINTS = {
    "CP1": ("S1", "conduct", "2026-11-02T02:00", "2026-11-05T02:00",
            [("answer", "2026-11-04T02:00"), ("reopen", "2026-11-06T02:00"),
             ("answer", "2026-11-10T02:00"), ("accept", "2026-11-12T02:00")]),
    "CP2": ("S2", "timeliness", "2026-11-20T02:00", "2026-11-23T02:00", []),  # open, overdue
    "CP3": ("S1", "other", "2026-11-30T16:00", "2026-12-08T02:00", []),  # December's, open
    "CP4": ("S3", "conduct", "2026-11-10T02:00", "2026-11-13T02:00", [("answer", "2026-11-11T02:00")]),
    "CP5": ("S2", "no_show", "2026-11-15T02:00", "2026-11-18T02:00", [("withdraw", "2026-11-16T02:00")]),
}  # fmt: skip
# code → (audited site, deciding site, kind, before, claimed, created, due, [(action, at, granted)])
APPEALS = {
    "AP1": ("S1", "I1", "cut", 60, 90, "2026-11-03T02:00", "2026-11-06T02:00",
            [("uphold", "2026-11-04T02:00", 90)]),
    "AP2": ("S2", "I1", "cut", 60, 120, "2026-11-05T02:00", "2026-11-08T02:00",
            [("reject", "2026-11-06T02:00", None)]),
    "AP3": ("S1", "I1", "cut", 30, 60, "2026-11-25T02:00", "2026-11-27T02:00", []),  # pending, overdue
    "AP4": ("S3", "I2", "cut", 30, 75, "2026-11-04T02:00", "2026-11-07T02:00",
            [("uphold", "2026-11-05T02:00", 75)]),
    "AP5": ("S2", "I1", "no_show", 0, 60, "2026-10-20T02:00", "2026-10-23T02:00",
            [("uphold", "2026-10-31T16:00", 60)]),  # decided 00:00 1 Nov local
}  # fmt: skip
# code → (station, reason, created, due, [(action, at, satisfaction)])
FOLLOW_UPS = {
    "FU1": ("S1", "low_rating", "2026-11-02T02:00", "2026-11-04T02:00",
            [("missed", "2026-11-03T02:00", None), ("reached", "2026-11-04T02:00", 4)]),
    "FU2": ("S1", "sample", "2026-11-03T02:00", "2026-11-05T02:00", [("reached", "2026-11-05T02:00", 5)]),
    "FU3": ("S2", "unrated", "2026-11-04T02:00", "2026-11-06T02:00", [("give_up", "2026-11-08T02:00", None)]),
    "FU4": ("S2", "sample", "2026-11-20T02:00", "2026-11-22T02:00", []),  # pending, overdue
    "FU5": ("S1", "sample", "2026-10-28T02:00", "2026-10-30T02:00",
            [("reached", "2026-10-31T15:59", 1)]),  # done 23:59 31 Oct local
    "FU6": ("S3", "sample", "2026-11-05T02:00", "2026-11-07T02:00", [("reached", "2026-11-06T02:00", 1)]),
}  # fmt: skip

ITEM_BY = {"report": states.ACTOR, "escalate": states.SCHEDULER}
COMPLAINT_BY = {"answer": states.ACTOR}


@dataclass
class SupervisionTown:
    sites: dict[str, int] = field(default_factory=dict)
    people: dict[str, int] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)


def build(app) -> SupervisionTown:
    town = SupervisionTown()
    with app.app_context():
        for code, kind, parent in TREE:
            site = sites.create_site(
                kind=kind,
                name=f"站点{code}",
                code=f"SV{code}",
                parent_id=town.sites.get(parent),
                lat=30.2,
                lng=120.1,
            )
            town.sites[code] = site.id
        db.session.commit()
    for code, site in (("mgr_c", "C"), ("mgr_i1", "I1"), ("mgr_s1", "S1"), ("mgr_i2", "I2")):
        person = make_user(app, name=f"站长{site}")
        grant(app, person, "manager", town.sites[site])
        town.people[code] = person.id
    town.people["resident"] = make_user(app, name="居民", home_site_id=town.sites["S1"]).id
    town.people["volunteer"] = make_user(app, name="志愿者", home_site_id=town.sites["S1"]).id
    with app.app_context():
        _records(town)
        db.session.commit()
    return town


def _order(town: SupervisionTown, site: str) -> int:
    category = db.session.scalars(select(Category).order_by(Category.id)).first().id
    begin = utc("2026-06-10T01:00")
    order = Order(
        site_id=town.sites[site],
        dispatch_site_id=town.sites[site],
        resident_id=town.people["resident"],
        category_id=category,
        title="上门服务",
        address="文晖街道 12 幢",
        lat=30.2,
        lng=120.1,
        window_start=begin,
        window_end=begin + timedelta(hours=2),
        volunteers_needed=1,
        target_groups=[],
        status="closed",
        mode="assign",
        capacity=1,
        taken=1,
        checkin_due_at=begin + timedelta(minutes=30),
        checkout_due_at=begin + timedelta(hours=2, minutes=30),
        rating_state="unrated",
        created_at=utc("2026-06-09T01:00"),
    )
    db.session.add(order)
    db.session.flush()
    return order.id


def _records(town: SupervisionTown) -> None:
    s, actor = town.sites, town.people["mgr_i1"]
    for code, (site, raised, level, created, due, moves) in ITEMS.items():
        item = SupervisionItem(
            raised_site_id=s[raised],
            site_id=s[site],
            raised_by_id=actor,
            subject=f"督办{code}",
            description="请整改",
            level=level,
            due_at=utc(due),
            reopened=0,
            created_at=utc(created),
            updated_at=utc(created),
        )
        states.transition(states.ITEMS, item, "raise", by=states.RAISER, actor_id=actor, at=utc(created))
        for action, at in moves:
            values = {"report": {"reported_at": utc(at)}, "close": {"closed_at": utc(at)}}.get(action, {})
            if action == "send_back":
                values = {"reopened": item.reopened + 1}
            if action == "escalate":
                values = {"escalated_at": utc(at), "level": "red"}
            states.transition(
                states.ITEMS, item, action, by=ITEM_BY.get(action, states.RAISER), actor_id=actor, at=utc(at),
                **values,
            )  # fmt: skip
        town.ids[code] = item.id
    for code, (site, category, created, due, moves) in COMPLAINTS.items():
        complaint = Complaint(
            order_id=_order(town, site),
            resident_id=town.people["resident"],
            site_id=s[site],
            category=category,
            text="志愿者迟到",
            due_at=utc(due),
            reopened=0,
            created_at=utc(created),
            updated_at=utc(created),
        )
        who = town.people["resident"]
        states.transition(
            states.COMPLAINTS, complaint, "submit", by=states.RESIDENT, actor_id=who, at=utc(created)
        )
        for action, at in moves:
            values = {"answer": {"answered_at": utc(at), "resolution": "已处理"}}.get(action, {})
            if action == "reopen":
                values = {"reopened": complaint.reopened + 1}
            states.transition(
                states.COMPLAINTS, complaint, action, by=COMPLAINT_BY.get(action, states.RESIDENT),
                actor_id=who, at=utc(at), **values,
            )  # fmt: skip
        town.ids[code] = complaint.id
    for code, (site, deciding, kind, before, claimed, created, due, moves) in APPEALS.items():
        assignment = Assignment(
            order_id=_order(town, site),
            site_id=s[site],
            volunteer_id=town.people["volunteer"],
            kind="offer",
            status="audited",
            minutes_computed=before,
            minutes_confirmed=before,
        )
        db.session.add(assignment)
        db.session.flush()
        appeal = Appeal(
            assignment_id=assignment.id,
            volunteer_id=town.people["volunteer"],
            site_id=s[site],
            deciding_site_id=s[deciding],
            kind=kind,
            minutes_before=before,
            minutes_claimed=claimed,
            reason="实际服务时间更长",
            due_at=utc(due),
            created_at=utc(created),
            updated_at=utc(created),
        )
        states.transition(
            states.APPEALS,
            appeal,
            "submit",
            by=states.VOLUNTEER,
            actor_id=town.people["volunteer"],
            at=utc(created),
        )
        for action, at, granted in moves:
            values = {"decided_at": utc(at), "decided_by_id": actor, "minutes_granted": granted}
            states.transition(
                states.APPEALS, appeal, action, by=states.DECIDER, actor_id=actor, at=utc(at), **values
            )
        town.ids[code] = appeal.id
    for code, (site, reason, created, due, moves) in FOLLOW_UPS.items():
        follow_up = FollowUp(
            order_id=_order(town, site),
            site_id=s[site],
            reason=reason,
            due_at=utc(due),
            attempts=0,
            created_at=utc(created),
            updated_at=utc(created),
        )
        states.transition(
            states.FOLLOW_UPS, follow_up, "create", by=states.SYSTEM, actor_id=None, at=utc(created)
        )
        for action, at, stars in moves:
            values = {"attempts": follow_up.attempts + 1, "reached": action == "reached"}
            if action == "reached":
                values |= {"satisfaction": stars, "done_at": utc(at), "done_by_id": actor}
            states.transition(
                states.FOLLOW_UPS, follow_up, action, by=states.ACTOR, actor_id=actor, at=utc(at), **values
            )
        town.ids[code] = follow_up.id
