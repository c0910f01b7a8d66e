"""Helpers for tests: a small world of sites and people, sessions without the login round trip, and
minutes credited as an audit would."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace

import time_machine

from volunteer_app import phones
from volunteer_app.accounts import identity
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import RoleGrant, User, VolunteerProfile
from volunteer_app.auth import passwords
from volunteer_app.auth import service as auth_service
from volunteer_app.extensions import db
from volunteer_app.sites import service as sites
from volunteer_app.timebank import service as timebank

PASSWORD = "correct-horse-9"
ADMIN_VIEW = SimpleNamespace(is_admin=True, manager_paths=())
_phones = itertools.count(1)
_records = itertools.count(1)


@dataclass(frozen=True)
class caller:  # lower case: read as a function, caller(user_id)
    """The `who=` of a service that acts for the caller themselves: their id, and their account as a
    principal carries it (read when asked for, in the caller's session)."""

    user_id: int

    @property
    def user(self) -> User:
        return db.session.get(User, self.user_id)


def next_phone() -> str:
    """A fresh valid mainland mobile number."""
    return f"1370{next(_phones):07d}"


def id_number(n: int) -> str:
    """A GB 11643 checksum-valid ID number, distinct for each n."""
    first17 = f"110101{1960 + n % 40:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    return first17 + identity.id_check_char(first17)


@dataclass
class Person:
    id: int
    phone: str
    token: str
    refresh: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    sites: dict[str, int] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    applications: dict[str, int] = field(default_factory=dict)
    teams: dict[str, int] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Person:
        try:
            return self.__dict__["people"][name]
        except KeyError:
            raise AttributeError(name) from None


# ---- sessions: tokens without the login round trip (nor its rate limit) ------------------------------


def open_session(user: User) -> Person:
    """A new device session for the user and its tokens, by the auth service's own code (the one place
    tests mint tokens). Inside a request context; flushes, the caller commits."""
    issued = auth_service.start_session(user)
    return Person(user.id, user.phone, issued["access_token"], issued["refresh_token"])


def fresh_session(app, user_id: int) -> Person:
    """A new device session for the user, committed (call outside any app context). Its tokens are
    issued at the clock's now, travelled or not: access tokens live 15 minutes."""
    with app.test_request_context():
        person = open_session(db.session.get(User, user_id))
        db.session.commit()
    return person


def console_sign_in(app, client, user_id: int) -> str:
    """Sign the test client into the console as the user (the cookie its sign-in sets, without the
    login round trip); returns the CSRF value the console's pages carry."""
    with app.test_request_context():
        issued = auth_service.start_console_session(db.session.get(User, user_id))
        db.session.commit()
    client.set_cookie(app.config["JWT_ACCESS_COOKIE_NAME"], issued["access_token"])
    return issued["csrf_token"]


def headers_now(app, user_id: int) -> dict[str, str]:
    """Authorization headers for the user with an access token issued now (see fresh_session)."""
    return fresh_session(app, user_id).headers


# ---- people ------------------------------------------------------------------------------------------


def make_user(
    app, *, name: str = "测试用户", home_site_id: int | None = None, phone: str | None = None
) -> Person:
    """A registered user with a live session (call outside any app context)."""
    phone = phones.normalize_phone(phone or next_phone())
    with app.test_request_context():
        user = accounts.create_user(
            phone=phone, name=name, home_site_id=home_site_id, password_hash=passwords.hash_password(PASSWORD)
        )
        person = open_session(user)
        db.session.commit()
        return person


def make_volunteer(app, site_id: int, n: int, name: str = "志愿者") -> Person:
    person = make_user(app, name=name, home_site_id=site_id)
    with app.test_request_context():
        application = accounts.apply_as_volunteer(
            who=caller(person.id),
            real_name=name,
            id_number=id_number(n),
            site_id=site_id,
            skills=[],
            category_ids=[],
        )
        accounts.approve_application(who=ADMIN_VIEW, reviewer_id=person.id, application_id=application.id)
    return person


def many_volunteers(app, site_id: int, count: int) -> list[Person]:
    """`count` approved volunteers of a station, each with a live session, in one transaction.

    What make_volunteer leaves behind (user, resident and volunteer grants, profile, session), without
    the application round trip per person.
    """
    people = []
    with app.test_request_context():
        for _ in range(count):
            user = accounts.create_user(
                phone=phones.normalize_phone(next_phone()),
                name="抢单志愿者",
                home_site_id=site_id,
                password_hash=None,
            )
            user.real_name = "抢单志愿者"
            db.session.add(
                VolunteerProfile(user_id=user.id, site_id=site_id, volunteer_no=f"ZY{user.id:010d}")
            )
            db.session.add(
                RoleGrant(
                    user_id=user.id,
                    role="volunteer",
                    scope=RoleGrant.scope_for(site_id=site_id),
                    site_id=site_id,
                )
            )
            people.append(open_session(user))
        db.session.commit()
    return people


def grant(app, person: Person, role: str, site_id: int | None = None) -> None:
    with app.app_context():
        accounts.ensure_grant(person.id, role, site_id=site_id)
        db.session.commit()


# ---- the time book -----------------------------------------------------------------------------------


def credit(
    app,
    person: Person,
    site_id: int,
    minutes: int,
    *,
    at: datetime | None = None,
    day: date | None = None,
    key: str | None = None,
    memo: str = "关爱老人：上门陪伴",
) -> int:
    """Credit audited minutes to a person's book as an audit would; returns the transfer id.

    `at`: the clock stands there for the credit (the transfer's time); `day`: the service date (5 Oct
    2026 unless given); `key`: the record key (a new one for each call unless given; a key credits once).
    """
    clock = time_machine.travel(at, tick=False) if at else contextlib.nullcontext()
    with clock, app.app_context():
        transfer = timebank.credit_service(
            record_key=key or f"test:{next(_records)}",
            user_id=person.id,
            site_id=site_id,
            minutes=minutes,
            memo=memo,
            service_date=day or date(2026, 10, 5),
            actor_id=None,
        )
        db.session.commit()
        return transfer.id


# (code, kind, parent code, lat, lng): two centers, the second out of the first's reach.
SITE_TREE = (
    ("C1", "center", None, 30.25, 120.15),
    ("I1", "institute", "C1", 30.26, 120.16),
    ("S1", "station", "I1", 30.27, 120.17),
    ("S2", "station", "I1", 30.28, 120.18),
    ("I2", "institute", "C1", 30.20, 120.10),
    ("S3", "station", "I2", 30.21, 120.11),
    ("C2", "center", None, 31.23, 121.47),
    ("I3", "institute", "C2", 31.24, 121.48),
    ("S4", "station", "I3", 31.25, 121.49),
)


def build_sites(app) -> dict[str, int]:
    """Only the site tree (fast, no people): code -> id."""
    ids: dict[str, int] = {}
    with app.app_context():
        for code, kind, parent, lat, lng in SITE_TREE:
            site = sites.create_site(
                kind=kind, name=f"站点{code}", code=code, parent_id=ids.get(parent), lat=lat, lng=lng
            )
            ids[code] = site.id
    return ids


def build_world(app) -> World:
    """Two centers. C1 → I1 → (S1, S2), C1 → I2 → S3; C2 → I3 → S4 (out of C1's reach).

    People: admin; managers mgr_c1, mgr_i1, mgr_s1, mgr_s2, mgr_s4; resident (home S1); vol_s1, vol_s4;
    applicant with a pending application to S1 and applicant_s4 with one to S4.

    Tests get it through the `world` fixture (tests/conftest.py), which replays the rows this added for
    up to a minute: it may only add rows (the fixture checks), never change the catalogue's.
    """
    w = World()
    w.sites.update(build_sites(app))
    s = w.sites
    w.people["admin"] = make_user(app, name="管理员")
    grant(app, w.admin, "admin")
    for key, site in (
        ("mgr_c1", "C1"),
        ("mgr_i1", "I1"),
        ("mgr_s1", "S1"),
        ("mgr_s2", "S2"),
        ("mgr_s4", "S4"),
    ):
        w.people[key] = make_user(app, name=f"站长{site}")
        grant(app, w.people[key], "manager", s[site])
    w.people["resident"] = make_user(app, name="居民", home_site_id=s["S1"])
    w.people["vol_s1"] = make_volunteer(app, s["S1"], 1, "志愿者一")
    w.people["vol_s4"] = make_volunteer(app, s["S4"], 4, "志愿者四")
    for key, site, n in (("applicant", "S1", 7), ("applicant_s4", "S4", 8)):
        w.people[key] = make_user(app, name="申请人", home_site_id=s[site])
        with app.test_request_context():
            w.applications[key] = accounts.apply_as_volunteer(
                who=caller(w.people[key].id),
                real_name="申请人",
                id_number=id_number(n),
                site_id=s[site],
                skills=["急救"],
                category_ids=[],
            ).id
    with app.app_context():
        w.teams["T1"] = sites.create_team(who=ADMIN_VIEW, site_id=s["S1"], name="宝石志愿服务队").id
        w.teams["T4"] = sites.create_team(who=ADMIN_VIEW, site_id=s["S4"], name="外区队").id
    return w
