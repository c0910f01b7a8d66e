"""The demo world: a center, two institutes, four stations, a manager per site, 20 volunteers approved
through real-name applications, residents; and the lookups the other demo loaders share."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from volunteer_app import phones
from volunteer_app.accounts import identity
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import User
from volunteer_app.auth import passwords
from volunteer_app.auth import service as auth
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site

if TYPE_CHECKING:
    from volunteer_app.demo import Created

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


def admin_view():
    return SimpleNamespace(is_admin=True, manager_paths=())


def demo_id_number(n: int) -> str:
    """A checksum-valid (GB 11643) but fictitious ID number for demo volunteer n."""
    first17 = f"330106{1970 + n % 30:04d}{1 + n % 12:02d}{1 + n % 28:02d}{100 + n:03d}"
    return first17 + identity.id_check_char(first17)


def _user(phone: str, name: str, home_site_id: int | None):
    normalized = phones.normalize_phone(phone)
    user = accounts.create_user(
        phone=normalized,
        name=name,
        home_site_id=home_site_id,
        password_hash=passwords.hash_password(PASSWORD),
    )
    db.session.commit()
    return user


def create_world(created: Created) -> None:
    admin = auth.create_admin(phone=ADMIN_PHONE, name="系统管理员", password=PASSWORD)
    created.logins.append(("admin", ADMIN_PHONE, "deployment admin"))
    by_code = _create_sites(created, admin.id)
    stations = [by_code[c] for c, *_rest in SITES if c.startswith("DEMO-ST")]
    _create_volunteers(created, admin.id, stations)
    for n in range(RESIDENTS):
        phone = resident_phone(n)
        _user(phone, f"居民{n + 1}", stations[n % len(stations)].id)
        if n < 2:
            created.logins.append(("resident", phone, f"居民{n + 1}"))


def _create_sites(created: Created, admin_id: int) -> dict[str, Site]:
    """The site tree, with one manager per site."""
    who = admin_view()
    by_code: dict[str, Site] = {}
    for code, name, lat, lng, parent in SITES:
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
        phone = manager_phone(code)
        manager = _user(phone, f"{name[:4]}站长", site.id if kind == "station" else None)
        accounts.grant_manager(who=who, granter_id=admin_id, site_id=site.id, user_id=manager.id)
        created.logins.append((f"manager of {kind} {code}", phone, name))
    return by_code


def _create_volunteers(created: Created, admin_id: int, stations: list[Site]) -> None:
    """Volunteers spread over the stations, each approved through a real-name application."""
    category_ids = [c.id for c in sites.list_categories()]
    for n in range(VOLUNTEERS):
        station = stations[n % len(stations)]
        phone = volunteer_phone(n)
        name = SURNAMES[n] + GIVEN[n]
        volunteer = _user(phone, name, station.id)
        application = accounts.apply_as_volunteer(
            who=principal(volunteer),
            real_name=name,
            id_number=demo_id_number(n),
            site_id=station.id,
            skills=["陪伴聊天", "家电维修", "急救"][: 1 + n % 3],
            category_ids=category_ids[n % 6 : n % 6 + 2],
        )
        accounts.approve_application(who=admin_view(), reviewer_id=admin_id, application_id=application.id)
        if n < 2:
            created.logins.append((f"volunteer at {station.code}", phone, name))


def volunteer_phone(n: int) -> str:
    return f"1370000{n + 1:04d}"


def manager_phone(code: str) -> str:
    """The phone of the demo manager of the site with this code (one per site, in SITES order)."""
    return f"1390000{[c for c, *_rest in SITES].index(code) + 1:04d}"


def resident_phone(n: int) -> str:
    return f"1360000{n + 1:04d}"


def by_phone(phone: str) -> User | None:
    return db.session.scalars(select(User).where(User.phone == phones.normalize_phone(phone))).first()


def principal(user: User):
    """The user as a signed-in caller (their role grants loaded), for the services that take `who`."""
    from volunteer_app.accounts.principal import load_grants
    from volunteer_app.auth.tokens import Principal

    return Principal(user=user, session_id="demo", grants=load_grants(user.id))


def local_today() -> date:
    """Today in the deployment's time zone."""
    return utcnow().astimezone(ZoneInfo(current_app.config["SITE_DEFAULTS"]["timezone"])).date()
