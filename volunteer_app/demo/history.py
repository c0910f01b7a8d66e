"""The demo's past: about four months of the loop before today, so statistics and rankings have
something to show.

The four stations are uneven on purpose: 宝石 is busy and quick, 西湖 steady, 玉泉 slow (late
dispatches are escalated, more orders expire, lower stars), 茅家埠村 nearly idle (a few orders in the
first weeks, nothing since: the coverage list names it). Orders end closed (rated with varied stars,
or unrated when the window lapsed), rejected, cancelled or expired, in several categories and target
groups, with a few no-shows and forgotten check-outs; the stations hold audited service days with
their sign-ups. The demo world is dated back to before the history (sites, managers, residents,
volunteers' approvals; four volunteers joined during it), and some residents who phone their
station in are added (proxy orders).

Past orders are written in history_orders.py and history_onsite.py, service days in
history_activities.py, the people in history_people.py; every credit goes through the real audit
(`attendance.audit` → `timebank.credit_service`), so `flask timebank verify` passes. Postings carry
the time of the load (the ledger's clock is never set back), their service dates the past days.
Deterministic (one seed, relative to today), one transaction, and loaded once: the marker is the
past orders' description.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from random import Random
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from volunteer_app import phones
from volunteer_app.accounts.models import User
from volunteer_app.activities.models import ServiceDayRule
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.db import utcnow
from volunteer_app.demo import history_activities, history_orders, world
from volunteer_app.demo import history_people as people
from volunteer_app.demo.history_people import Volunteer
from volunteer_app.extensions import db
from volunteer_app.orders.intake import dispatch_site
from volunteer_app.orders.models import Order
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site

if TYPE_CHECKING:
    from volunteer_app.demo import Created

HISTORY_DAYS = 120  # the history covers the 120 days before today, up to two days ago
NOTE = "示范历史数据（供统计、排名演示）"
SEED = 2026


# (category code, title, target groups, most volunteers, hours)
ORDER_KINDS = (
    ("elder_care", "陪独居老人去医院复查", ("elderly_alone",), 2, 3),
    ("elder_care", "上门陪伴独居老人聊天", ("elderly_alone",), 1, 2),
    ("repairs", "上门修理小家电", ("elderly_alone", "low_income"), 1, 1),
    ("repairs", "更换楼道灯泡", (), 2, 1),
    ("education_support", "给留守儿童辅导作业", ("left_behind_children",), 2, 2),
    ("environment", "楼道小广告清理", (), 3, 2),
    ("free_clinic", "为行动不便老人上门义剪", ("disabled", "elderly_alone"), 1, 1),
    ("counselling", "困难家庭心理疏导", ("low_income",), 1, 1),
    ("legal_aid", "帮残疾人家庭咨询补贴政策", ("disabled", "low_income"), 1, 1),
    ("first_aid", "急救知识入户讲解", (), 2, 2),
    ("financial_literacy", "教老人识别电信诈骗", ("elderly_alone",), 2, 1),
    ("elder_care", "陪退役老兵办理医保", ("veterans",), 1, 3),
)
OUTCOMES = ("closed", "rejected", "cancelled", "expired")


@dataclass(frozen=True)
class Plan:
    """A station's past: how many orders, over which days (ago), its manners, its service days."""

    orders: int
    days: tuple[int, int]
    kinds: tuple[int, ...]
    dispatch: tuple[int, int]  # minutes from submission to dispatch
    rated: float  # share of completed orders the resident rates
    stars: tuple[int, ...]  # weights of 1..5 stars
    audit: tuple[int, int]  # minutes from completion to audit
    outcomes: tuple[int, ...]  # weights of OUTCOMES
    service_days: tuple = ()  # (spec, theme, title, category code, slots), as service-day rules


ST2_DAYS = (
    {"kind": "days_of_month", "days": [10], "part_of_day": "morning"},
    "敬老月",
    "敬老院慰问",
    "elder_care",
    12,
)
ST3_DAYS = (
    {"kind": "nth_weekday", "nth": 3, "weekday": 5, "part_of_day": "afternoon"},
    "助学日",
    "周末助学课堂",
    "education_support",
    8,
)
ALL_KINDS = tuple(range(len(ORDER_KINDS)))
PLANS = {
    # orders, days ago, order kinds, dispatch minutes, rated share, star weights, audit minutes,
    # outcome weights (OUTCOMES), service days
    "DEMO-ST-1": Plan(
        90, (2, HISTORY_DAYS), ALL_KINDS, (5, 90), 0.8, (0, 1, 3, 20, 76), (60, 2160), (84, 3, 8, 5),
    ),
    "DEMO-ST-2": Plan(
        45, (2, HISTORY_DAYS), (0, 1, 2, 3, 6, 10, 11), (20, 200), 0.65, (1, 3, 10, 40, 46), (120, 4320),
        (74, 6, 12, 8), (ST2_DAYS,),
    ),
    "DEMO-ST-3": Plan(
        28, (2, HISTORY_DAYS), (4, 5, 7, 8, 9), (60, 420), 0.45, (5, 10, 25, 35, 25), (360, 5760),
        (55, 10, 13, 22), (ST3_DAYS,),
    ),
    "DEMO-ST-4": Plan(
        3, (95, HISTORY_DAYS), (0, 2), (30, 300), 0.5, (0, 0, 2, 5, 3), (720, 5760), (80, 0, 0, 20),
    ),
}  # fmt: skip


@dataclass
class Station:
    id: int
    code: str
    name: str
    lat: float
    lng: float
    manager_id: int
    dispatch_site_id: int
    settings: dict
    residents: list[int]
    plan: Plan

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.settings["timezone"])

    def midnight(self, day: date) -> datetime:
        return datetime.combine(day, time(), self.tz).astimezone(UTC)

    @property
    def kinds(self) -> tuple[tuple, ...]:
        return tuple(ORDER_KINDS[i] for i in self.plan.kinds)


@dataclass
class Context:
    """What the past orders and activities share: the clock, the categories, the volunteers."""

    now: datetime
    today: date
    note: str
    escalation: timedelta
    categories: dict[str, int]
    volunteers: list[Volunteer]

    def category(self, code: str) -> int:
        return self.categories.get(code) or next(iter(self.categories.values()))

    def pick(self, st: Station, start, end, k: int, when, rng: Random, exclude=(), reserve=True) -> list[int]:
        """Up to k volunteers approved before `when` and free then, keen ones and the station's own
        first; `reserve` books their time."""
        pool = [
            v
            for v in self.volunteers
            if v.zeal and v.joined < when and v.id not in exclude and v.free(start, end)
        ]
        chosen = []
        while pool and len(chosen) < k:
            v = rng.choices(pool, weights=[v.zeal * (5 if v.site_id == st.id else 1) for v in pool])[0]
            pool.remove(v)
            chosen.append(v.id)
            if reserve:
                v.busy.append((start, end))
        return chosen

    def holders(self, owner, status: str = AssignmentStatus.HELD) -> list[Assignment]:
        column = Assignment.order_id if isinstance(owner, Order) else Assignment.activity_id
        query = (
            select(Assignment).where(column == owner.id, Assignment.status == status).order_by(Assignment.id)
        )
        return list(db.session.scalars(query))

    def local_date(self, st: Station, moment: datetime) -> date:
        return moment.astimezone(st.tz).date()


def load(created: Created) -> None:
    """The demo's past, once (a database that has it gets nothing more). Commits."""
    if db.session.scalar(select(Order.id).where(Order.description == NOTE).limit(1)) is not None:
        return
    stations = _stations()
    if len(stations) != len(PLANS):
        return  # not the demo world
    now = utcnow()
    ctx = Context(
        now=now,
        today=world.local_today(),
        note=NOTE,
        escalation=timedelta(minutes=current_app.config["APP"]["order_escalation_minutes"]),
        categories={c.code: c.id for c in sites.list_categories()},
        # relative to the start of today, so a load on the same day picks the same volunteers
        volunteers=people.volunteers(stations[0].midnight(world.local_today()), SEED + 1),
    )
    if not ctx.volunteers:
        return
    people.date_back_world(now, ctx.volunteers, [st.id for st in stations])
    for st in stations:
        st.residents += people.phoning_residents(now, st.code, st.id, HISTORY_DAYS)
    rng = Random(SEED)
    for st in stations:
        for _ in range(st.plan.orders):
            day = ctx.today - timedelta(days=rng.randint(*st.plan.days))
            start = datetime.combine(
                day, time(rng.choice((8, 9, 9, 10, 14, 15, 16)), rng.choice((0, 30))), st.tz
            )
            outcome = rng.choices(OUTCOMES, weights=st.plan.outcomes)[0]
            # Each order draws from its own generator: a step skipped because its moment is still to
            # come (it depends on the time of day) then changes nothing in the orders after it.
            own = Random(rng.getrandbits(64))
            if history_orders.place_order(ctx, st, own, start.astimezone(UTC), outcome):
                created.history_orders += 1
    for st in stations:
        created.history_activities += history_activities.load(ctx, st, rng, _service_days(st))
    db.session.commit()


def _stations() -> list[Station]:
    found = []
    for code, plan in PLANS.items():
        site = db.session.scalars(select(Site).where(Site.code == code, Site.kind == "station")).first()
        manager = world.by_phone(world.manager_phone(code))
        if site is None or manager is None:
            continue
        settings = sites.effective_settings(site)
        residents = db.session.scalars(
            select(User.id).where(
                User.home_site_id == site.id,
                User.phone.in_(
                    [phones.normalize_phone(world.resident_phone(n)) for n in range(world.RESIDENTS)]
                ),
            )
        )
        found.append(
            Station(
                site.id, code, site.name, site.lat, site.lng, manager.id, dispatch_site(site, settings),
                settings, list(residents), plan,
            )
        )  # fmt: skip
    return found


def _service_days(st: Station) -> list[tuple]:
    """The station's service days as (spec, theme, title, category id, slots, rule id): its plan's,
    and those of its saved rules (the past activities are linked to the rule, as if it generated them)."""
    days = [
        (spec, theme, title, ctx_category, slots, None)
        for spec, theme, title, ctx_category, slots in st.plan.service_days
    ]
    for rule in db.session.scalars(select(ServiceDayRule).where(ServiceDayRule.site_id == st.id)):
        days.append((rule.spec, rule.theme, rule.title, rule.category_id, rule.slots, rule.id))
    return days
