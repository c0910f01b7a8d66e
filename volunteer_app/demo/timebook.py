"""The demo time book: credited hours for every demo volunteer (示范记录 in each memo), a reward
catalogue per station, one approved family link."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from volunteer_app.accounts.models import VolunteerProfile
from volunteer_app.db import utcnow
from volunteer_app.demo import world
from volunteer_app.extensions import db
from volunteer_app.sites.models import Site
from volunteer_app.timebank import rewards
from volunteer_app.timebank import service as timebank
from volunteer_app.timebank.models import FamilyLink, Reward, Transfer

if TYPE_CHECKING:
    from volunteer_app.demo import Created

# 示范记录: what demo volunteers "did"; each credit's memo starts with the marker.
DEMO_MARK = "示范记录："
DEMO_SERVICES = (
    ("关爱老人 上门陪伴", 90),
    ("文明交通 路口劝导", 120),
    ("环境整治 楼道清理", 60),
    ("便民维修 小家电维修", 90),
    ("理论宣讲 政策宣讲", 60),
    ("助学支教 作业辅导", 120),
    ("义诊义剪 义剪服务", 150),
    ("应急救护 急救知识普及", 180),
)
DEMO_DAYS = 90  # credits spread over the last three months
# Each station's reward catalogue: (kind, title, description, price minutes, stock, minimum age).
DEMO_REWARDS = (
    ("service", "理发服务", "爱心理发师上门或到站理发一次，凭兑换码到站点核销", 60, 50, None),
    ("goods", "爱心超市 大米5kg", "到爱心超市领取大米一袋（5kg）", 120, 20, None),
    ("goods", "爱心超市 食用油1.8L", "到爱心超市领取食用油一桶", 90, 30, None),
    ("service", "上门助老保洁", "为60岁以上老人上门保洁2小时", 120, 10, 60),
)


def load(created: Created) -> None:
    """Credited hours for every demo volunteer, a reward catalogue per station, one family link."""
    today = world.local_today()
    before = _demo_credit_count()
    for n in range(world.VOLUNTEERS):
        user = world.by_phone(world.volunteer_phone(n))
        profile = db.session.get(VolunteerProfile, user.id) if user else None
        if profile is not None:
            _credit_volunteer(n, profile, today)
    created.credits = _demo_credit_count() - before
    for code, *_rest in world.SITES:
        station = db.session.scalars(select(Site).where(Site.code == code, Site.kind == "station")).first()
        if station is not None:
            created.rewards += _ensure_rewards(station)
    created.links += _ensure_family_link()
    db.session.commit()


def demo_records(n: int, today: date) -> list[tuple[str, date, int, str]]:
    """Volunteer n's demo service: (record key, service date, minutes, memo), the same on every load."""
    count = 6 + n % 5
    records = []
    for k in range(count):
        content, minutes = DEMO_SERVICES[(n + k * 3) % len(DEMO_SERVICES)]
        days_ago = 3 + (k * DEMO_DAYS // count + n * 7) % (DEMO_DAYS - 3)
        records.append((f"demo:{n * 10 + k}", today - timedelta(days=days_ago), minutes, DEMO_MARK + content))
    return records


def _demo_credit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Transfer).where(Transfer.kind == "demo"))


def _credit_volunteer(n: int, profile: VolunteerProfile, today: date) -> None:
    """Credit volunteer n's demo records; a key credited by an earlier load is not credited again."""
    for key, day, minutes, memo in demo_records(n, today):
        timebank.credit_service(
            record_key=key,
            user_id=profile.user_id,
            site_id=profile.site_id,
            minutes=minutes,
            memo=memo,
            service_date=day,
            actor_id=None,
            kind="demo",
        )


def _ensure_rewards(station: Site) -> int:
    """The station's demo reward catalogue, item by item (an item already there is left as it is)."""
    have = set(db.session.scalars(select(Reward.title).where(Reward.site_id == station.id)))
    admin = world.by_phone(world.ADMIN_PHONE)
    added = 0
    for kind, title, description, price, stock, min_age in DEMO_REWARDS:
        if title in have:
            continue
        rewards.create_reward(
            who=world.admin_view(),
            actor_id=admin.id if admin else None,
            site_id=station.id,
            kind=kind,
            title=title,
            description=description,
            price_minutes=price,
            stock=stock,
            min_age=min_age,
        )
        added += 1
    return added


def _ensure_family_link() -> int:
    """Volunteer 1 may gift hours to resident 1: a family link the station has approved (written
    directly, as if requested and reviewed)."""
    volunteer, relative = world.by_phone(world.volunteer_phone(0)), world.by_phone(world.resident_phone(0))
    profile = db.session.get(VolunteerProfile, volunteer.id) if volunteer else None
    if profile is None or relative is None:
        return 0
    exists = db.session.scalar(
        select(FamilyLink.id).where(FamilyLink.user_id == volunteer.id, FamilyLink.relative_id == relative.id)
    )
    if exists is not None:
        return 0
    now = utcnow()
    db.session.add(
        FamilyLink(
            user_id=volunteer.id,
            relative_id=relative.id,
            relation="parent",
            status="approved",
            site_id=profile.site_id,
            reason="示范数据：家属关系已核实",
            reviewed_at=now,
            created_at=now,
        )
    )
    return 1
