"""Demo tasks: a few residents' orders for tomorrow morning, and the first station's service-day rules
with their activities."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from volunteer_app.demo import world
from volunteer_app.extensions import db
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site

if TYPE_CHECKING:
    from volunteer_app.demo import Created


# (resident index, title, category code, open to grabbing): tomorrow morning at the resident's station.
DEMO_ORDERS = (
    (0, "示范订单：陪独居老人去医院复查", "elder_care", True),
    (1, "示范订单：楼道小广告清理", "environment", True),
    (2, "示范订单：修理老人家的电饭煲", "repairs", False),
    (3, "示范订单：给留守儿童辅导作业", "education_support", False),
)


def _tomorrow_at(at: time) -> datetime:
    """Tomorrow at `at`, in the deployment's time zone."""
    tz = ZoneInfo(current_app.config["SITE_DEFAULTS"]["timezone"])
    return datetime.combine(world.local_today() + timedelta(days=1), at, tz)


def _category_ids() -> Callable[[str], int]:
    """Category code → id (the first category for a code this deployment does not have)."""
    categories = {c.code: c.id for c in sites.list_categories()}
    fallback = next(iter(categories.values()))
    return lambda code: categories.get(code, fallback)


def load_orders(created: Created) -> None:
    """A few residents' orders for tomorrow morning: two open to grabbing (in the volunteers' feed),
    two waiting for a station to dispatch them. Only when there are no orders at all."""
    from volunteer_app.orders import dispatch, intake
    from volunteer_app.orders.models import Order

    if db.session.scalar(select(func.count()).select_from(Order)):
        return
    category_id = _category_ids()
    start = _tomorrow_at(time(9))
    center_manager = world.by_phone("13900000001")
    for n, title, category, open_pool in DEMO_ORDERS:
        resident = world.by_phone(world.resident_phone(n))
        home = db.session.get(Site, resident.home_site_id)
        order = intake.submit(
            who=world.principal(resident),
            data={
                "category_id": category_id(category),
                "title": title,
                "description": "示范数据：可用来试一遍点单 → 派单 → 抢单 → 签到签退 → 评单 → 审核",
                "address": f"{home.name}附近",
                "lat": home.lat + 0.001,
                "lng": home.lng + 0.001,
                "window_start": start,
                "window_end": start + timedelta(hours=2),
                "volunteers_needed": 2,
                "target_groups": ["elderly_alone"] if n == 0 else [],
            },
        )
        if open_pool:
            dispatch.dispatch(
                who=world.principal(center_manager), order_id=order.id, data={"mode": "grab", "capacity": 2}
            )
        created.orders += 1


# ---- service days --------------------------------------------------------------------------------

# (spec, theme, title, category code, slots) of the first station's service-day rules.
DEMO_RULES = (
    (
        {"kind": "days_of_month", "days": [5, 15, 25], "part_of_day": "afternoon"},
        "每月志愿服务日",
        "社区环境整治",
        "environment",
        20,
    ),
    (
        {"kind": "nth_weekday", "nth": 1, "weekday": 4, "part_of_day": "morning"},
        "文明实践日",
        "理论宣讲进社区",
        "theory_outreach",
        10,
    ),
)


def load_service_days(created: Created) -> None:
    """Two service-day rules at the first station (每月5日、15日、25日 afternoons; the first Friday
    morning of each month), which generate this month's and next month's activities, and one activity
    tomorrow afternoon so there is always something to sign up for. Only when there are no rules."""
    from volunteer_app.activities.models import Activity, ServiceDayRule

    if db.session.scalar(select(func.count()).select_from(ServiceDayRule)):
        return
    station = db.session.scalars(select(Site).where(Site.kind == "station").order_by(Site.id)).first()
    manager = world.by_phone("13900000001")
    if station is None or manager is None:
        return
    who = world.principal(manager)
    category_id = _category_ids()
    template = {
        "description": "示范数据：报名 → 签到签退 → 审核 → 时长入存折",
        "address": f"{station.name}文明实践广场",
        "lat": station.lat,
        "lng": station.lng,
        "waitlist_max": 5,
    }
    before = db.session.scalar(select(func.count()).select_from(Activity))
    created.rules += _create_rules(who, station, template, category_id)
    _create_visit(who, station, template, category_id)
    created.activities = db.session.scalar(select(func.count()).select_from(Activity)) - before


def _create_rules(who, station: Site, template: dict, category_id: Callable[[str], int]) -> int:
    """The station's DEMO_RULES (each generates its activities as it is created)."""
    from volunteer_app.activities import service_days

    for spec, theme, title, category, slots in DEMO_RULES:
        service_days.create_rule(
            who=who,
            site_id=station.id,
            data={
                **template,
                "category_id": category_id(category),
                "spec": spec,
                "theme": theme,
                "title": title,
                "slots": slots,
            },
        )
    return len(DEMO_RULES)


def _create_visit(who, station: Site, template: dict, category_id: Callable[[str], int]) -> None:
    """One activity tomorrow afternoon, outside any rule."""
    from volunteer_app.activities import service as activities

    start = _tomorrow_at(time(14, 30))
    activities.create(
        who=who,
        site_id=station.id,
        data={
            **template,
            "title": "关爱独居老人上门探访",
            "category_id": category_id("elder_care"),
            "theme": None,
            "start_at": start,
            "end_at": start + timedelta(hours=3),
            "slots": 3,
            "waitlist_max": 2,
        },
    )
