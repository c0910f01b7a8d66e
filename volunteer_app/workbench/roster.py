"""The roster of a site's subtree (花名册) and the dispatch picker: approved volunteers searchable by
name, phone tail, skill and team, each with their hours, star level and open tasks.

A page is two statements, never one per row: the volunteers with their station, book and open tasks
(a correlated count), then the page's teams; plus the site's reach check and the star thresholds of
the page's sites (one settings lookup).
"""

from __future__ import annotations

import re
import unicodedata

from sqlalchemy import JSON, ColumnElement, case, cast, exists, func, literal, or_, select

from volunteer_app import phones
from volunteer_app.accounts.models import TeamMember, User, VolunteerProfile
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.extensions import db
from volunteer_app.pagination import paginate_rows
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site, Team
from volunteer_app.sites.reach import Reacher, get_in_reach, subtree_of
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
    """The profile's skills (a JSON array of strings) hold exactly `skill`: the array's elements as a
    table (PostgreSQL json_array_elements_text, SQLite json_each), in one EXISTS."""
    skills = VolunteerProfile.skills
    if db.engine.dialect.name == "postgresql":
        # Only an array has elements (a stored JSON null would be an error to expand).
        array = case((func.json_typeof(skills) == "array", skills), else_=cast(literal("[]"), JSON))
        elements = func.json_array_elements_text(array).table_valued("value")
    else:
        elements = func.json_each(skills).table_valued("value")
    return exists(select(literal(1)).select_from(elements).where(elements.c.value == skill))


def volunteers(
    *,
    who: Reacher,
    site_id: int,
    q: str | None = None,
    skill: str | None = None,
    team_id: int | None = None,
    limit: int,
    cursor: str | None,
) -> dict:
    """The approved volunteers of the stations in a site's subtree (a site in reach, else 404), by
    user id; searched by `q` (see `_search`), an exact `skill`, and membership of `team_id`. Each row:
    user id, name, real name, phone masked (its last four shown), volunteer number, station, skills,
    teams, star level, lifetime audited and balance minutes (and hours), open tasks."""
    site = get_in_reach(Site, site_id, Site.id, who)
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
    rows, next_cursor = paginate_rows(stmt, [VolunteerProfile.user_id], limit=limit, cursor=cursor)
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
            }
        )
    return {"items": items, "next_cursor": next_cursor}
