"""The demo's supervision: 督办 items, complaints, appeals and follow-ups in every state, on the demo's
sites and its past orders, so the statistics' supervision block, the ranking's supervision and
follow_up components and the workbench's Today counts have something to show.

Every record is written through the state tables (supervision.states.transition; items through
supervision.items.raise_item), so each has its full timeline, dated in the past relative to the load.
An upheld appeal credits its minutes through the ledger (timebank.credit_service, kind "appeal"), so
`flask timebank verify` passes. Loaded once: the marker is the items' description. No notification is
sent (this is the past).

- Items (raised by an institute's manager against its stations): open; open past due and escalated
  (red); reported, awaiting 销号; closed (销号) on time; sent back and open again; withdrawn.
- Complaints (on closed past orders, for their dispatch site): open; past due and escalated; answered;
  closed (accepted); reopened (open again); withdrawn.
- Appeals (of audited assignments of past orders, decided one level up): pending; rejected; upheld
  (the difference credited).
- Follow-ups (of closed past orders, for the serving station): pending (one past due); done (one after
  a missed call); unreachable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select

from volunteer_app.accounts.models import User
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.db import utcnow
from volunteer_app.demo import history, world
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order, OrderStatus
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.supervision import appeals, follow_ups, states
from volunteer_app.supervision.items import raise_item
from volunteer_app.supervision.models import Appeal, Complaint, FollowUp, SupervisionItem
from volunteer_app.timebank import service as timebank

if TYPE_CHECKING:
    from volunteer_app.demo import Created

NOTE = "（示范督办数据）"
DAY = timedelta(days=1)

# (station, raising institute, level, subject, days ago raised, due in days from raising (None: the
# level's default), [(action, days ago)], about_ref)
ITEMS = (
    ("DEMO-ST-1", "DEMO-INST-1", "yellow", "楼道环境整治进度滞后", 2, None, [], None),
    ("DEMO-ST-3", "DEMO-INST-2", "yellow", "超时未派比例偏高，请分析原因并整改", 12, 7,
     [("escalate", 5)], "expired_share"),
    ("DEMO-ST-2", "DEMO-INST-1", "green", "补充完善志愿者服务台账", 6, None, [("report", 1)], None),
    ("DEMO-ST-1", "DEMO-INST-1", "red", "独居老人走访名单核对", 20, None,
     [("report", 19), ("close", 18)], None),
    ("DEMO-ST-3", "DEMO-INST-2", "yellow", "服务评价低于三星的订单逐一回访", 15, 18,
     [("report", 12), ("send_back", 11)], None),
    ("DEMO-ST-2", "DEMO-INST-1", "green", "活动场地安全检查", 9, None, [("withdraw", 8)], None),
)  # fmt: skip
# (category, text, days ago submitted, [(action, days ago)])
COMPLAINTS = (
    ("timeliness", "预约的上门服务迟迟没有志愿者联系我", 1, []),
    ("no_show", "约好的志愿者没有来，也没有人通知", 5, [("escalate", 2)]),
    ("service_quality", "小家电修好后第二天又坏了", 6, [("answer", 5)]),
    ("conduct", "志愿者服务时态度有些急躁", 10, [("answer", 9), ("accept", 8)]),
    ("service_quality", "楼道清理不彻底，还有小广告", 4, [("answer", 3), ("reopen", 1)]),
    ("other", "想换一个时间段服务", 3, [("withdraw", 2)]),
)
# (what becomes of it, days ago submitted, [(action, days ago)], minutes added when upheld)
APPEALS = (
    ("pending", 1, [], None),
    ("rejected", 6, [("reject", 5)], None),
    ("upheld", 7, [("uphold", 6)], 20),
)
# (days ago created, [(action, days ago, satisfaction)]); the due time is the setting's from creation
FOLLOW_UPS = (
    (1, []),
    (6, []),  # past due
    (8, [("reached", 7, 5)]),
    (9, [("missed", 8, None), ("reached", 7, 4)]),
    (10, [("missed", 9, None), ("missed", 8, None), ("give_up", 7, None)]),
)
ITEM_BY = {"report": states.ACTOR, "escalate": states.SCHEDULER}
COMPLAINT_BY = {"answer": states.ACTOR, "escalate": states.SCHEDULER}


@dataclass
class Places:
    sites: dict[str, Site]
    managers: dict[str, int]  # site code → its demo manager's user id

    def manager_of(self, site_id: int) -> int:
        code = next(code for code, site in self.sites.items() if site.id == site_id)
        return self.managers[code]


def load(created: Created) -> None:
    """The demo's supervision records, once (a database that has them gets nothing more). Commits."""
    if db.session.scalar(
        select(SupervisionItem.id).where(SupervisionItem.description.endswith(NOTE)).limit(1)
    ):
        return
    places = _places()
    if places is None:
        return  # not the demo world
    now = utcnow()
    orders = list(
        db.session.scalars(
            select(Order)
            .where(
                Order.description == history.NOTE,
                Order.status == OrderStatus.CLOSED,
                Order.window_end < now - 11 * DAY,
                Order.window_end > now - 25 * DAY,
            )
            .order_by(Order.id)
        )
    )
    if len(orders) < len(COMPLAINTS) + len(FOLLOW_UPS):
        return  # no history to hang them on
    created.supervision += _items(places, now)
    created.supervision += _complaints(places, orders[: len(COMPLAINTS)], now)
    created.supervision += _follow_ups(places, orders[len(COMPLAINTS) :][: len(FOLLOW_UPS)], now)
    created.supervision += _appeals(places, now)
    db.session.commit()


def _places() -> Places | None:
    found, managers = {}, {}
    for code, *_rest in world.SITES:
        site = db.session.scalars(select(Site).where(Site.code == code)).first()
        manager = world.by_phone(world.manager_phone(code))
        if site is None or manager is None:
            return None
        found[code], managers[code] = site, manager.id
    return Places(found, managers)


def _items(places: Places, now: datetime) -> int:
    for station, raiser, level, subject, ago, due_days, moves, about in ITEMS:
        manager = db.session.get(User, places.managers[raiser])
        raised_at = now - ago * DAY
        month = (raised_at - 30 * DAY).strftime("%Y-%m")
        item = raise_item(
            who=world.principal(manager),
            actor_id=manager.id,
            site_id=places.sites[station].id,
            subject=subject,
            description=f"请按期办理并反馈结果{NOTE}",
            level=level,
            due_at=None if due_days is None else raised_at + due_days * DAY,
            about_kind="figure" if about else None,
            about_ref=f"{about}:{month}" if about else None,
            now=raised_at,
        )
        acting = places.managers[station]
        for action, days in moves:
            at = now - days * DAY
            values: dict = {}
            if action == "report":
                values = {"reported_at": at, "result": "已按要求完成整改，附整改台账"}
            elif action == "close":
                values = {"closed_at": at}
            elif action == "send_back":
                values = {"reopened": item.reopened + 1}
            elif action == "escalate":
                at = item.due_at + timedelta(minutes=1)
                values = {"escalated_at": at, "level": "red"}
            by = ITEM_BY.get(action, states.RAISER)
            actor = None if by == states.SCHEDULER else acting if by == states.ACTOR else manager.id
            note = "未见整改材料，请补充后重新上报" if action == "send_back" else None
            states.transition(states.ITEMS, item, action, by=by, actor_id=actor, note=note, at=at, **values)
    return len(ITEMS)


def _complaints(places: Places, orders: list[Order], now: datetime) -> int:
    for order, (category, text, ago, moves) in zip(orders, COMPLAINTS, strict=False):
        site = db.session.get(Site, order.dispatch_site_id)
        hours = int(sites.effective_settings(site)["complaint_answer_hours"])
        submitted = now - ago * DAY
        complaint = Complaint(
            order_id=order.id,
            resident_id=order.resident_id,
            site_id=site.id,
            category=category,
            text=text,
            due_at=submitted + timedelta(hours=hours),
            reopened=0,
            created_at=submitted,
            updated_at=submitted,
        )
        states.transition(
            states.COMPLAINTS,
            complaint,
            "submit",
            by=states.RESIDENT,
            actor_id=order.resident_id,
            at=submitted,
        )
        manager = places.manager_of(site.id)
        for action, days in moves:
            at = now - days * DAY
            values: dict = {}
            if action == "answer":
                values = {
                    "answered_at": at,
                    "answered_by_id": manager,
                    "resolution": "已联系志愿者核实，并向您致歉",
                }
            elif action == "reopen":
                values = {"reopened": complaint.reopened + 1, "due_at": at + timedelta(hours=hours)}
            elif action == "escalate":
                at = complaint.due_at + timedelta(minutes=1)
                values = {"escalated_at": at}
            by = COMPLAINT_BY.get(action, states.RESIDENT)
            actor = None if by == states.SCHEDULER else manager if by == states.ACTOR else order.resident_id
            states.transition(states.COMPLAINTS, complaint, action, by=by, actor_id=actor, at=at, **values)
    return len(COMPLAINTS)


def _follow_ups(places: Places, orders: list[Order], now: datetime) -> int:
    for order, (ago, moves) in zip(orders, FOLLOW_UPS, strict=False):
        site = db.session.get(Site, order.site_id)
        hours = int(sites.effective_settings(site)["follow_up_due_hours"])
        made = now - ago * DAY
        # The history's orders settled through the real services: a low-rated, unrated or sampled one
        # already has its follow-up (supervision/follow_ups.py), which the calls below then work on.
        # Any other is followed up as if sampled (a 100 percent sample).
        follow_up = db.session.scalar(select(FollowUp).where(FollowUp.order_id == order.id))
        if follow_up is None:
            follow_up = FollowUp(
                order_id=order.id,
                site_id=site.id,
                reason=follow_ups.reason_for(order.id, order.rating_state, order.rating_stars, 100),
                due_at=made + timedelta(hours=hours),
                attempts=0,
                created_at=made,
                updated_at=made,
            )
            states.transition(
                states.FOLLOW_UPS, follow_up, "create", by=states.SYSTEM, actor_id=None, at=made
            )
        manager = places.manager_of(site.id)
        for action, days, stars in moves:
            at = now - days * DAY
            values = {"attempts": follow_up.attempts + 1, "reached": action == "reached"}
            note = "电话无人接听" if action == "missed" else None
            if action == "reached":
                values |= {
                    "satisfaction": stars,
                    "done_at": at,
                    "done_by_id": manager,
                    "notes": "居民对服务满意",
                }
            elif action == "give_up":
                note = "三次电话均未接通"
            states.transition(
                states.FOLLOW_UPS,
                follow_up,
                action,
                by=states.ACTOR,
                actor_id=manager,
                note=note,
                at=at,
                **values,
            )
    return len(FOLLOW_UPS)


def _appeals(places: Places, now: datetime) -> int:
    """Appeals of audited assignments of past orders whose audit is within the appeal window."""
    # Closed 8 to 14 days ago: every appeal below is filed after the audit and within the window.
    window = int(sites.effective_settings(places.sites[world.CENTER_CODE])["appeal_window_days"])
    assignments = list(
        db.session.scalars(
            select(Assignment)
            .join(Order, Order.id == Assignment.order_id)
            .where(
                Order.description == history.NOTE,
                Order.status == OrderStatus.CLOSED,
                Order.closed_at > now - (window - 1) * DAY,
                Order.closed_at < now - 8 * DAY,
                Assignment.status == AssignmentStatus.AUDITED,
                Assignment.minutes_confirmed > 0,
            )
            .order_by(Assignment.id)
            .limit(len(APPEALS))
        )
    )
    for assignment, (_fate, ago, moves, added) in zip(assignments, APPEALS, strict=False):
        site = db.session.get(Site, assignment.site_id)
        deciding = db.session.get(Site, appeals.deciding_site_id(site))
        hours = int(sites.effective_settings(deciding)["appeal_decide_hours"])
        zone = ZoneInfo(sites.effective_settings(site)["timezone"])
        filed = now - ago * DAY
        before = assignment.minutes_confirmed
        appeal = Appeal(
            assignment_id=assignment.id,
            volunteer_id=assignment.volunteer_id,
            site_id=site.id,
            deciding_site_id=deciding.id,
            kind="cut",
            minutes_before=before,
            minutes_claimed=before + 30,
            reason="签退时网络故障，实际服务比记录多半小时",
            due_at=filed + timedelta(hours=hours),
            created_at=filed,
            updated_at=filed,
        )
        states.transition(
            states.APPEALS, appeal, "submit", by=states.VOLUNTEER, actor_id=assignment.volunteer_id, at=filed
        )
        decider = places.manager_of(deciding.id)
        for action, days in moves:
            at = now - days * DAY
            values = {"decided_at": at, "decided_by_id": decider}
            if action == "uphold":
                order = db.session.get(Order, assignment.order_id)
                transfer = timebank.credit_service(
                    kind="appeal",
                    record_key=f"appeal:{appeal.id}",
                    user_id=assignment.volunteer_id,
                    site_id=site.id,
                    minutes=added,
                    memo="申诉补记时长（示范记录）",
                    service_date=order.window_start.astimezone(zone).date(),
                    actor_id=decider,
                )
                values |= {
                    "minutes_granted": before + added,
                    "transfer_id": transfer.id,
                    "decision_note": "部分支持",
                }
            else:
                values |= {"decision_note": "签到签退记录完整，维持原审核"}
            states.transition(
                states.APPEALS, appeal, action, by=states.DECIDER, actor_id=decider, at=at, **values
            )
    return len(assignments)
