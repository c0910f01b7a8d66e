"""The volunteer leaderboard of a site's subtree over a period: volunteers ranked by audited service
minutes (docs/statistics.md: attendances audited with minutes, by service day at the site that owns the
session), ties by sessions, then listed by volunteer id; equal minutes and sessions share a rank.

Names are masked (张三 → 张*) unless the volunteer opted in (`show_name_on_leaderboard`, PATCH /me), for
every reader. Who reads it: managers in reach (and admins); and a volunteer, their own home station's
board only (a phone app shows it; anything else is 404 like every site out of reach).
"""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select

from volunteer_app.accounts.identity import mask_name
from volunteer_app.accounts.models import User, VolunteerProfile
from volunteer_app.errors import NotFound
from volunteer_app.extensions import db
from volunteer_app.reports import counting, figures, rollups
from volunteer_app.reports.models import report_people
from volunteer_app.reports.periods import Period, last_month
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import path_in_reach
from volunteer_app.timebank.service import hours


def readable_site(who, site_id: int) -> Site:
    """The site, if the caller may read its leaderboard: a manager in reach, an admin, or a volunteer
    whose home station it is. Otherwise 404, exactly like a site that does not exist."""
    site = db.session.get(Site, site_id)
    if site is not None:
        if path_in_reach(site.path, who):
            return site
        if "volunteer" in who.roles:
            profile = db.session.get(VolunteerProfile, who.user_id)
            if profile is not None and profile.site_id == site.id:
                return site
    raise NotFound()


def _totals(tree: figures.Subtree, period: Period):
    p = report_people.c
    minutes = func.sum(p.minutes).label("minutes")
    sessions = func.sum(p.sessions).label("sessions")
    stmt = (
        select(p.person_id, minutes, sessions)
        .where(p.kind == counting.ACTIVE, p.day.between(period.start, period.end), tree.condition(p.site_id))
        .group_by(p.person_id)
    )
    return stmt, minutes, sessions


def site_leaderboard(*, who, site_id: int, period: Period | None, limit: int) -> dict:
    site = readable_site(who, site_id)
    period = period or last_month(sites.local_time(site).date())
    figures.catch_up()
    tree = figures.subtree(site)
    stmt, minutes, sessions = _totals(tree, period)
    rows = db.session.execute(
        stmt.order_by(minutes.desc(), sessions.desc(), report_people.c.person_id).limit(limit)
    ).all()
    people = _people([r.person_id for r in rows])
    entries = []
    for position, row in enumerate(rows):
        ahead = entries[-1] if entries else None
        tied = ahead and (ahead["minutes"], ahead["sessions"]) == (row.minutes, row.sessions)
        entries.append(_entry(ahead["rank"] if tied else position + 1, row, people.get(row.person_id)))
    return {
        "site": {"id": site.id, "kind": site.kind, "name": site.name},
        "period": period.label,
        "start": period.start,
        "end": period.end,
        "timezone": sites.effective_settings(site)["timezone"],
        **rollups.state_for_answer(),
        "entries": entries,
        "me": _mine(who, tree, period),
    }


def _people(ids: list[int]) -> dict[int, tuple]:
    """Each volunteer's (name, opted in, home station name)."""
    if not ids:
        return {}
    rows = db.session.execute(
        select(User.id, User.real_name, User.name, User.show_name_on_leaderboard, Site.name.label("station"))
        .outerjoin(VolunteerProfile, VolunteerProfile.user_id == User.id)
        .outerjoin(Site, Site.id == VolunteerProfile.site_id)
        .where(User.id.in_(ids))
    )
    return {r.id: (r.real_name or r.name, r.show_name_on_leaderboard, r.station) for r in rows}


def _entry(rank: int, row, person: tuple | None) -> dict:
    name, shown, station = person or ("", False, None)
    return {
        "rank": rank,
        "volunteer_id": row.person_id,
        "name": name if shown else mask_name(name),
        "name_masked": not shown,
        "station": station,
        "minutes": int(row.minutes),
        "hours": hours(int(row.minutes)),
        "sessions": int(row.sessions),
    }


def _mine(who, tree: figures.Subtree, period: Period) -> dict | None:
    """The caller's own place on the board (a volunteer who served in the period), wherever it is."""
    stmt, _, _ = _totals(tree, period)
    mine = db.session.execute(stmt.where(report_people.c.person_id == who.user_id)).first()
    if mine is None:
        return None
    ranked = stmt.subquery()
    ahead = db.session.scalar(
        select(func.count())
        .select_from(ranked)
        .where(
            or_(
                ranked.c.minutes > mine.minutes,
                and_(ranked.c.minutes == mine.minutes, ranked.c.sessions > mine.sessions),
            )
        )
    )
    return _entry(ahead + 1, mine, _people([who.user_id]).get(who.user_id))
