"""Demo data: a center, two institutes, four stations, a manager per site, 20 volunteers, residents,
and a time book to try at once: credited hours, a reward catalogue per station, a family link.

People and hours are created through the services, exactly as the API would, so the demo exercises
the real rules; every demo credit says 示范记录 in its memo. Loading twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from volunteer_app.accounts import identity
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import User, VolunteerProfile
from volunteer_app.auth import passwords
from volunteer_app.auth import service as auth
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.timebank import rewards
from volunteer_app.timebank import service as timebank
from volunteer_app.timebank.models import FamilyLink, Reward, Transfer

PASSWORD = "demo-pass-2026"
ADMIN_PHONE = "13900000000"
CENTER_CODE = "DEMO-CENTER"

# (code, name, lat, lng, parent code)
SITES = (
    (CENTER_CODE, "西湖区新时代文明实践中心", 30.2590, 120.1300, None),
    ("DEMO-INST-1", "北山街道新时代文明实践所", 30.2620, 120.1420, CENTER_CODE),
    ("DEMO-INST-2", "灵隐街道新时代文明实践所", 30.2470, 120.1050, CENTER_CODE),
    ("DEMO-ST-1", "宝石社区新时代文明实践站", 30.2665, 120.1450, "DEMO-INST-1"),
    ("DEMO-ST-2", "西湖社区新时代文明实践站", 30.2590, 120.1480, "DEMO-INST-1"),
    ("DEMO-ST-3", "玉泉社区新时代文明实践站", 30.2530, 120.1200, "DEMO-INST-2"),
    ("DEMO-ST-4", "茅家埠村新时代文明实践站", 30.2440, 120.1310, "DEMO-INST-2"),
)
KIND_BY_DEPTH = ("center", "institute", "station")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平"
VOLUNTEERS = 20
RESIDENTS = 5

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


@dataclass
class Created:
    already: bool = False
    logins: list[tuple[str, str, str]] = field(default_factory=list)
    credits: int = 0  # demo credits posted by this load
    rewards: int = 0  # rewards added by this load
    links: int = 0  # family links added by this load
    orders: int = 0  # demo orders placed by this load


def _admin_view():
    return SimpleNamespace(is_admin=True, manager_paths=())


def demo_id_number(n: int) -> str:
    """A checksum-valid (GB 11643) but fictitious ID number for demo volunteer n."""
    first17 = f"330106{1970 + n % 30:04d}{1 + n % 12:02d}{1 + n % 28:02d}{100 + n:03d}"
    return first17 + identity.id_check_char(first17)


def _user(phone: str, name: str, home_site_id: int | None):
    normalized = identity.normalize_phone(phone)
    user = accounts.create_user(
        phone=normalized,
        name=name,
        home_site_id=home_site_id,
        password_hash=passwords.hash_password(PASSWORD),
    )
    db.session.commit()
    return user


def load() -> Created:
    """Create the demo world unless it exists, then its time book unless that exists (idempotent)."""
    created = Created()
    sites.ensure_catalogue()
    if db.session.scalar(select(Site.id).where(Site.code == CENTER_CODE)) is not None:
        created.already = True
    else:
        _create_world(created)
    _load_timebook(created)
    _load_orders(created)
    return created


def _create_world(created: Created) -> None:
    admin = auth.create_admin(phone=ADMIN_PHONE, name="系统管理员", password=PASSWORD)
    created.logins.append(("admin", ADMIN_PHONE, "deployment admin"))
    by_code = _create_sites(created, admin.id)
    stations = [by_code[c] for c, *_rest in SITES if c.startswith("DEMO-ST")]
    _create_volunteers(created, admin.id, stations)
    for n in range(RESIDENTS):
        phone = _resident_phone(n)
        _user(phone, f"居民{n + 1}", stations[n % len(stations)].id)
        if n < 2:
            created.logins.append(("resident", phone, f"居民{n + 1}"))


def _create_sites(created: Created, admin_id: int) -> dict[str, Site]:
    """The site tree, with one manager per site."""
    who = _admin_view()
    by_code: dict[str, Site] = {}
    for depth, (code, name, lat, lng, parent) in enumerate(SITES):
        kind = KIND_BY_DEPTH[0 if parent is None else (1 if parent == CENTER_CODE else 2)]
        site = sites.create_site(
            kind=kind,
            name=name,
            code=code,
            parent_id=by_code[parent].id if parent else None,
            address=f"杭州市西湖区 {name}",
            lat=lat,
            lng=lng,
        )
        by_code[code] = site
        phone = f"1390000{depth + 1:04d}"
        manager = _user(phone, f"{name[:4]}站长", site.id if kind == "station" else None)
        accounts.grant_manager(who=who, granter_id=admin_id, site_id=site.id, user_id=manager.id)
        created.logins.append((f"manager of {kind} {code}", phone, name))
    return by_code


def _create_volunteers(created: Created, admin_id: int, stations: list[Site]) -> None:
    """Volunteers spread over the stations, each approved through a real-name application."""
    category_ids = [c.id for c in sites.list_categories()]
    for n in range(VOLUNTEERS):
        station = stations[n % len(stations)]
        phone = _volunteer_phone(n)
        name = SURNAMES[n] + GIVEN[n]
        volunteer = _user(phone, name, station.id)
        application = accounts.apply_as_volunteer(
            volunteer,
            real_name=name,
            id_number=demo_id_number(n),
            site_id=station.id,
            skills=["陪伴聊天", "家电维修", "急救"][: 1 + n % 3],
            category_ids=category_ids[n % 6 : n % 6 + 2],
        )
        accounts.approve_application(who=_admin_view(), reviewer_id=admin_id, application_id=application.id)
        if n < 2:
            created.logins.append((f"volunteer at {station.code}", phone, name))


def _volunteer_phone(n: int) -> str:
    return f"1370000{n + 1:04d}"


def _resident_phone(n: int) -> str:
    return f"1360000{n + 1:04d}"


def _by_phone(phone: str) -> User | None:
    return db.session.scalars(select(User).where(User.phone == identity.normalize_phone(phone))).first()


# ---- the time book --------------------------------------------------------------------------------


def _load_timebook(created: Created) -> None:
    """Credited hours for every demo volunteer, a reward catalogue per station, one family link."""
    today = utcnow().astimezone(ZoneInfo(current_app.config["SITE_DEFAULTS"]["timezone"])).date()
    before = _demo_credit_count()
    for n in range(VOLUNTEERS):
        user = _by_phone(_volunteer_phone(n))
        profile = db.session.get(VolunteerProfile, user.id) if user else None
        if profile is not None:
            _credit_volunteer(n, profile, today)
    created.credits = _demo_credit_count() - before
    for code, *_rest in SITES:
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
    admin = _by_phone(ADMIN_PHONE)
    added = 0
    for kind, title, description, price, stock, min_age in DEMO_REWARDS:
        if title in have:
            continue
        rewards.create_reward(
            who=_admin_view(),
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
    volunteer, relative = _by_phone(_volunteer_phone(0)), _by_phone(_resident_phone(0))
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


# ---- the order loop ------------------------------------------------------------------------------

# (resident index, title, category code, open to grabbing): tomorrow morning at the resident's station.
DEMO_ORDERS = (
    (0, "示范订单：陪独居老人去医院复查", "elder_care", True),
    (1, "示范订单：楼道小广告清理", "environment", True),
    (2, "示范订单：修理老人家的电饭煲", "repairs", False),
    (3, "示范订单：给留守儿童辅导作业", "education_support", False),
)


def _principal(user: User):
    from volunteer_app.auth.tokens import Principal, load_grants

    return Principal(user=user, session_id="demo", grants=load_grants(user.id))


def _load_orders(created: Created) -> None:
    """A few residents' orders for tomorrow morning: two open to grabbing (in the volunteers' feed),
    two waiting for a station to dispatch them. Only when there are no orders at all."""
    from volunteer_app.orders import service as orders
    from volunteer_app.orders.models import Order

    if db.session.scalar(select(func.count()).select_from(Order)):
        return
    categories = {c.code: c.id for c in sites.list_categories()}
    fallback = next(iter(categories.values()))
    tz = ZoneInfo(current_app.config["SITE_DEFAULTS"]["timezone"])
    tomorrow = utcnow().astimezone(tz).date() + timedelta(days=1)
    start = datetime.combine(tomorrow, time(9), tz)
    center_manager = _by_phone("13900000001")
    for n, title, category, open_pool in DEMO_ORDERS:
        resident = _by_phone(_resident_phone(n))
        home = db.session.get(Site, resident.home_site_id)
        order = orders.submit(
            who=_principal(resident),
            data={
                "category_id": categories.get(category, fallback),
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
            orders.dispatch(
                who=_principal(center_manager), order_id=order.id, data={"mode": "grab", "capacity": 2}
            )
        created.orders += 1


def summary(created: Created) -> str:
    """What `flask demo load` prints: the logins to try, and what this load added to the time book."""
    if created.already:
        lines = ["demo data already loaded (password for every demo account: " + PASSWORD + ")"]
    else:
        lines = [f"demo data loaded; every demo account's password is {PASSWORD}", ""]
        lines += [f"  {role:<40} {phone}  {who}" for role, phone, who in created.logins]
        lines += ["", "  more volunteers: 13700000003 … 13700000020; residents 13600000001 … 13600000005"]
    if created.credits or created.rewards or created.links:
        lines += [
            "",
            f"  time book: {created.credits} demo service records credited (memo 示范记录) over the last "
            f"three months, {created.rewards} rewards added to the stations' catalogues, "
            f"{created.links} approved family link (13700000001 may gift hours to 13600000001)",
            "  try as 13700000001: GET /api/v1/me/timebook, GET /api/v1/rewards, POST /api/v1/redemptions,",
            "  POST /api/v1/me/timebook/gifts, POST /api/v1/me/certificates then GET its /print page",
        ]
    if created.orders:
        lines += [
            "",
            f"  orders: {created.orders} demo orders for tomorrow morning, two open to grabbing:",
            "  volunteer: GET /api/v1/tasks/available?lat=30.26&lng=120.14, POST /api/v1/orders/{id}/grab;",
            "  as a station manager GET /api/v1/orders, POST /api/v1/orders/{id}/dispatch",
        ]
    return "\n".join(lines)
