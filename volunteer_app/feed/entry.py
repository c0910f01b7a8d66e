"""A feed entry as SQL: its columns, in the order every domain's branch selects them so the feed can
UNION them, and the bound parameters the branches share (`who_id`, `now`, the filters' `category_ids`
and `skill`, and the circle's from `volunteer_app.geo.Near`)."""

from __future__ import annotations

from typing import NamedTuple

from sqlalchemy import Integer, Select, String, bindparam, exists, select

from volunteer_app.accounts.models import VolunteerProfile
from volunteer_app.db import UTCDateTime, json_list_has
from volunteer_app.orders import matching

# `d2` orders the feed; columns a domain does not have are NULL.
COLUMNS = (
    "d2", "kind", "id", "title", "theme", "category_id", "site_id", "address", "lat", "lng",
    "start_at", "end_at", "slots_left", "waitlist_left", "deadline", "target_groups", "skills",
)  # fmt: skip


class Filters(NamedTuple):
    """Which of the feed's filters a statement carries (each shape is built once and cached): the
    SQL dialect (JSON lists are read differently), `category_id` (one or more: the bound, expanding
    `category_ids`), `skill` (the bound `skill`), `matching` (fits the caller's profile)."""

    dialect: str
    categories: bool = False
    skill: bool = False
    matching: bool = False


def who_id():
    """The caller (entries they already took are left out)."""
    return bindparam("who_id", type_=Integer)


def now():
    return bindparam("now", type_=UTCDateTime)


def not_mine(entry_id, mine: Select):
    """SQL: the entry `entry_id` is not among the caller's (`mine`: a SELECT of one column, no NULLs).
    A NOT IN, not a correlated NOT EXISTS: PostgreSQL runs it as one hashed subplan, the caller's rows
    read once and each candidate probed in the hash, and that plan does not hang on its estimates. The
    anti-join a NOT EXISTS becomes was planned per request to stay cheap (with the caller's id known,
    the rows are read once; in a generic plan, one index probe per candidate: 0.6 ms more for 750
    pools), which cost the feed 0.4 ms of planning each time (bench/README.md, eighth pass)."""
    return entry_id.not_in(mine)


def entries(columns: dict, *where, filters: Filters) -> Select:
    """SELECT `columns` (name → expression, every name of COLUMNS) labelled in COLUMNS' order, WHERE
    `where` and the `filters` on the entry's `category_id` and `skills` columns: its category among the
    bound `category_ids`; its skills holding the bound `skill`; the caller's volunteer profile fitting
    it (orders.matching.fits: their categories, or none named; one of its skills, or none asked)."""
    stmt = select(*[columns[name].label(name) for name in COLUMNS]).where(*where)
    category, skills = columns["category_id"], columns["skills"]
    if filters.categories:
        stmt = stmt.where(category.in_(bindparam("category_ids", expanding=True, type_=Integer)))
    if filters.skill:
        stmt = stmt.where(json_list_has(skills, bindparam("skill", type_=String), filters.dialect))
    if filters.matching:
        mine = VolunteerProfile.__table__.alias("me")
        stmt = stmt.where(
            exists().where(
                mine.c.user_id == who_id(),
                matching.fits(mine.c, category_id=category, skills=skills, dialect=filters.dialect),
            )
        )
    return stmt
