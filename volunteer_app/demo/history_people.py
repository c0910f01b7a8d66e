"""Who the demo history needs: the volunteers with the day each was approved and how keen each is,
the demo world dated back to before the history, and residents who phone their station in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from random import Random

from sqlalchemy import select

from volunteer_app import phones
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import RoleGrant, User, VolunteerApplication, VolunteerProfile
from volunteer_app.activities.models import ServiceDayRule
from volunteer_app.demo import world
from volunteer_app.extensions import db
from volunteer_app.sites.models import Site

FOUNDED_DAYS = 200  # the demo world opened this many days ago
LATE_JOINERS = {16: 118, 17: 110, 18: 102, 19: 96}  # volunteer n → approved this many days ago
IDLE_VOLUNTEERS = (11, 19)  # approved, never served: "active volunteers" is not everyone
# Residents who phone their station (staff order for them): (name, station code).
RESIDENTS = (
    ("王秀英", "DEMO-ST-1"), ("李桂兰", "DEMO-ST-1"), ("张建国", "DEMO-ST-1"), ("刘玉珍", "DEMO-ST-1"),
    ("陈志强", "DEMO-ST-1"), ("杨淑芬", "DEMO-ST-1"), ("黄德明", "DEMO-ST-2"), ("赵凤英", "DEMO-ST-2"),
    ("吴国庆", "DEMO-ST-2"), ("周丽华", "DEMO-ST-2"), ("徐卫东", "DEMO-ST-3"), ("孙美玲", "DEMO-ST-3"),
    ("马长海", "DEMO-ST-3"), ("朱雪梅", "DEMO-ST-4"),
)  # fmt: skip


@dataclass
class Volunteer:
    id: int
    site_id: int
    joined: datetime  # approved
    zeal: int  # how often they take part (0: never)
    busy: list[tuple[datetime, datetime]] = field(default_factory=list)

    def free(self, start: datetime, end: datetime) -> bool:
        margin = timedelta(hours=1)
        return all(end + margin <= s or e + margin <= start for s, e in self.busy)


def volunteers(now: datetime, seed: int) -> list[Volunteer]:
    """The demo volunteers: approved one every two days after the world opened, four during the
    history (days before `now`); their keenness drawn from `seed`."""
    rng = Random(seed)
    found = []
    for n in range(world.VOLUNTEERS):
        user = world.by_phone(world.volunteer_phone(n))
        profile = db.session.get(VolunteerProfile, user.id) if user else None
        if profile is None:
            continue
        days = LATE_JOINERS.get(n, FOUNDED_DAYS - 10 - n * 2)
        joined = now - timedelta(days=days, hours=rng.randint(0, 8))
        zeal = 0 if n in IDLE_VOLUNTEERS else rng.choice((1, 2, 3, 3, 5, 8))
        found.append(Volunteer(profile.user_id, profile.site_id, joined, zeal))
    return found


def date_back_world(now: datetime, volunteers: list[Volunteer], station_ids: list[int]) -> None:
    """The demo world opened FOUNDED_DAYS ago: its sites, managers, residents and the stations' rules
    date from then, each volunteer from their approval (applied the day before). Flushes."""
    founded = now - timedelta(days=FOUNDED_DAYS)
    codes = [code for code, *_rest in world.SITES]
    for site in db.session.scalars(select(Site).where(Site.code.in_(codes))):
        site.created_at = founded
    joined = {v.id: v.joined for v in volunteers}
    numbers = [
        world.ADMIN_PHONE,
        *map(world.manager_phone, codes),
        *map(world.resident_phone, range(world.RESIDENTS)),
    ]
    users = list(
        db.session.scalars(select(User).where(User.phone.in_([phones.normalize_phone(p) for p in numbers])))
    )
    users += [db.session.get(User, user_id) for user_id in joined]
    for user in users:
        since = joined.get(user.id, founded + timedelta(days=1)) - timedelta(days=1)
        user.created_at = user.updated_at = since
        for grant in db.session.scalars(select(RoleGrant).where(RoleGrant.user_id == user.id)):
            grant.created_at = joined.get(user.id, since) if grant.role == "volunteer" else since
    applications = select(VolunteerApplication).where(VolunteerApplication.user_id.in_(joined))
    for application in db.session.scalars(applications):
        application.created_at = joined[application.user_id] - timedelta(hours=20)
        application.reviewed_at = joined[application.user_id]
    for profile in db.session.scalars(select(VolunteerProfile).where(VolunteerProfile.user_id.in_(joined))):
        profile.approved_at = joined[profile.user_id]
    for rule in db.session.scalars(select(ServiceDayRule).where(ServiceDayRule.site_id.in_(station_ids))):
        rule.created_at = rule.updated_at = founded + timedelta(days=10)
    db.session.flush()


def phoning_residents(now: datetime, station_code: str, station_id: int, first_day: int) -> list[int]:
    """The station's residents who phone in: registered by staff (as a proxy order does), without a
    password (they may log in by SMS code), a little before `first_day` days ago."""
    ids = []
    for n, (name, code) in enumerate(RESIDENTS, start=world.RESIDENTS):
        if code != station_code:
            continue
        phone = phones.normalize_phone(world.resident_phone(n))
        user = world.by_phone(phone) or accounts.create_user(
            phone=phone, name=name, home_site_id=station_id, password_hash=None
        )
        user.created_at = user.updated_at = now - timedelta(days=first_day + 20 - n)
        ids.append(user.id)
    return ids
