"""The roster of a site's subtree (花名册) and the dispatch picker: approved volunteers searchable by
name, phone tail, skill and team, each with their hours, star level and open tasks.

A page is two statements, never one per row: the volunteers with their station, book and open tasks
(a correlated count), then the page's teams; plus the site's reach check and the star thresholds of
the page's sites (one settings lookup), and with `for_order` the order's (in reach, else 404).

With `for_order` the picker suggests who fits first (orders/matching.py): volunteers who named the
order's category, then those who named none (open to all), then the rest; within each, the most of
the order's skills held first; then by user id. The cursor carries those three keys.
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import ColumnElement, exists, func, or_, select

from volunteer_app import phones
from volunteer_app.accounts.models import TeamMember, User, VolunteerProfile
from volunteer_app.activities.models import Activity
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.db import json_list_has
from volunteer_app.errors import NotFound
from volunteer_app.extensions import db
from volunteer_app.orders import matching
from volunteer_app.orders.common import readable
from volunteer_app.orders.models import Order
from volunteer_app.pagination import paginate_rows
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site, Team
from volunteer_app.sites.reach import Reacher, get_in_reach, reach_condition, subtree_of
from volunteer_app.timebank.models import TimeAccount
from volunteer_app.timebank.service import hours, star_level

# A volunteer's tasks still to do: offered (to accept or decline), held (accepted or grabbed), on site.
# Checked out is done on their side (the audit is the manager's); a waitlisted sign-up holds nothing.
OPEN_TASKS = (AssignmentStatus.OFFERED, AssignmentStatus.HELD, AssignmentStatus.CHECKED_IN)
_PHONE_TAIL = re.compile(r"[0-9]{4}")


def _search(q: str) -> ColumnElement[bool]:
    """`q` of exactly four digits: the phone's last four; a whole phone number: that phone; anything
    else: a substring of the name or real name, or the volunteer number."""
    text = unicodedata.normalize("NFKC", q).strip()
    if _PHONE_TAIL.fullmatch(text):
        return User.phone.endswith(text)
    phone = phones.normalize_phone(text)
    if phone is not None:
        return User.phone == phone
    return or_(
        User.name.icontains(text, autoescape=True),
        User.real_name.icontains(text, autoescape=True),
        VolunteerProfile.volunteer_no == text.upper(),
    )


def _has_skill(skill: str) -> ColumnElement[bool]:
    """The profile's skills (a JSON array of strings) hold exactly `skill`."""
    return json_list_has(VolunteerProfile.skills, skill, db.engine.dialect.name)


def volunteers(
    *,
    who: Reacher,
    site_id: int,
    q: str | None = None,
    skill: str | None = None,
    team_id: int | None = None,
    user_id: int | None = None,
    for_order: int | None = None,
    limit: int,
    cursor: str | None,
) -> dict:
    """The approved volunteers of the stations in a site's subtree (a site in reach, else 404), by
    user id; searched by `q` (see `_search`), an exact `skill`, and membership of `team_id`. Each row:
    user id, name, real name, phone masked (its last four shown), volunteer number, station, skills,
    teams, star level, lifetime audited and balance minutes (and hours), open tasks, and `matches`
    (None without `for_order`). `user_id`: that volunteer only (`volunteer` below). `for_order`: an
    order in the caller's reach (else 404): who fits it first (module docstring), each row saying how
    (`matching.matches`: category, the order's skills held, fits)."""
    site = get_in_reach(Site, site_id, Site.id, who)
    order = readable(for_order, who) if for_order is not None else None
    open_tasks = (
        select(func.count(Assignment.id))
        .where(Assignment.volunteer_id == VolunteerProfile.user_id, Assignment.status.in_(OPEN_TASKS))
        .correlate(VolunteerProfile)
        .scalar_subquery()
    )
    stmt = (
        select(
            VolunteerProfile.user_id,
            User.name,
            User.real_name,
            User.phone,
            VolunteerProfile.volunteer_no,
            VolunteerProfile.skills,
            VolunteerProfile.category_ids,
            VolunteerProfile.site_id,
            Site.name.label("station_name"),
            TimeAccount.site_id.label("book_site_id"),
            TimeAccount.lifetime_minutes,
            TimeAccount.balance,
            open_tasks.label("open_tasks"),
        )
        .join(User, User.id == VolunteerProfile.user_id)
        .join(Site, Site.id == VolunteerProfile.site_id)
        .outerjoin(TimeAccount, TimeAccount.user_id == VolunteerProfile.user_id)  # the book (one per user)
        .where(subtree_of([site.path]), User.is_active.is_(True))
    )
    if q:
        stmt = stmt.where(_search(q))
    if skill:
        stmt = stmt.where(_has_skill(skill))
    if team_id is not None:
        stmt = stmt.where(
            exists().where(TeamMember.team_id == team_id, TeamMember.user_id == VolunteerProfile.user_id)
        )
    if user_id is not None:
        stmt = stmt.where(VolunteerProfile.user_id == user_id)
    keys = [VolunteerProfile.user_id]
    if order is not None:
        dialect = db.engine.dialect.name
        wanted = list(order.skills or [])
        keys = [
            matching.category_rank(VolunteerProfile, order.category_id, dialect).label("category_rank"),
            (-matching.skills_held(VolunteerProfile, wanted, dialect)).label("skills_rank"),
            VolunteerProfile.user_id,
        ]
        stmt = stmt.add_columns(*keys[:2])
    rows, next_cursor = paginate_rows(stmt, keys, limit=limit, cursor=cursor)
    teams: dict[int, list[dict]] = {row.user_id: [] for row in rows}
    if rows:
        for user_id, team, name, leader in db.session.execute(
            select(TeamMember.user_id, Team.id, Team.name, TeamMember.is_leader)
            .join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.user_id.in_(list(teams)))
            .order_by(TeamMember.user_id, Team.id)
        ):
            teams[user_id].append({"id": team, "name": name, "is_leader": leader})
    # Star levels as the volunteer's own book shows them: by the thresholds of the book's station.
    settings = sites.settings_of({row.book_site_id or row.site_id for row in rows})
    items = []
    for row in rows:
        lifetime, balance = row.lifetime_minutes or 0, row.balance or 0
        thresholds = settings[row.book_site_id or row.site_id]["star_thresholds_hours"]
        items.append(
            {
                "user_id": row.user_id,
                "name": row.name,
                "real_name": row.real_name,
                "phone": phones.mask_phone(row.phone),
                "volunteer_no": row.volunteer_no,
                "station": {"id": row.site_id, "name": row.station_name},
                "skills": list(row.skills or []),
                "teams": teams[row.user_id],
                "star_level": star_level(lifetime, thresholds)[0],
                "lifetime_minutes": lifetime,
                "lifetime_hours": hours(lifetime),
                "balance_minutes": balance,
                "balance_hours": hours(balance),
                "open_tasks": row.open_tasks,
                "matches": None
                if order is None
                else matching.matches(
                    category_ids=row.category_ids,
                    skills=row.skills,
                    category_id=order.category_id,
                    wanted=order.skills or [],
                ),
            }
        )
    return {"items": items, "next_cursor": next_cursor}


# A volunteer's latest assignments shown on their page (orders and activities together).
RECENT = 10


def volunteer(*, who: Reacher, user_id: int) -> dict:
    """One approved volunteer whose station the caller reaches (else 404, like missing): their roster
    row, plus their latest assignments at sites in reach (`recent`, latest start first)."""
    station = db.session.scalar(
        select(VolunteerProfile.site_id).where(
            VolunteerProfile.user_id == user_id, reach_condition(VolunteerProfile.site_id, who)
        )
    )
    if station is None:
        raise NotFound()
    page = volunteers(who=who, site_id=station, user_id=user_id, limit=1, cursor=None)
    if not page["items"]:  # an account closed since (the roster lists active users only)
        raise NotFound()
    return {**page["items"][0], "recent": recent_assignments(who=who, user_id=user_id)}


def recent_assignments(*, who: Reacher, user_id: int, limit: int = RECENT) -> list[dict]:
    """The volunteer's assignments at sites the caller reaches, latest start first (an upcoming one
    above a past one), each with its order's or activity's title and start: one statement over the
    volunteer's own assignments (their index)."""
    start_at = func.coalesce(Order.window_start, Activity.start_at)
    rows = db.session.execute(
        select(
            Assignment.id,
            Assignment.order_id,
            Assignment.activity_id,
            Assignment.site_id,
            Assignment.status,
            Assignment.minutes_confirmed,
            func.coalesce(Order.title, Activity.title).label("title"),
            start_at.label("start_at"),
        )
        .outerjoin(Order, Order.id == Assignment.order_id)
        .outerjoin(Activity, Activity.id == Assignment.activity_id)
        .where(Assignment.volunteer_id == user_id, reach_condition(Assignment.site_id, who))
        .order_by(start_at.desc(), Assignment.id.desc())
        .limit(limit)
    )
    return [
        {
            "assignment_id": row.id,
            "kind": "order" if row.order_id is not None else "activity",
            "order_id": row.order_id,
            "activity_id": row.activity_id,
            "site_id": row.site_id,
            "title": row.title,
            "start_at": row.start_at,
            "status": row.status,
            "minutes_confirmed": row.minutes_confirmed,
        }
        for row in rows
    ]
