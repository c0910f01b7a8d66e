"""Who fits a piece of work: a volunteer profile's preferred categories and skills against an order's
(or an activity's) category and the skills it asks for. Defined once, as SQL (`fits`,
`profile_matches_order`) for the feed's `matching=true` and the push of a new grab pool, as the
roster's ranking (`category_rank`, `skills_held`) for the dispatch picker, and in Python (`matches`)
for the roster's `matches` field; tests hold the three to the same table.

The rule. A volunteer fits work of category C asking for skills S when
  - category: C is among the volunteer's `category_ids`, or they named none (open to every category);
  - skills: S is empty (the work asks for nothing in particular), or the volunteer's `skills` hold at
    least one of S, compared exactly (both went through the same `schemas.Skill`: stripped text).
A stored JSON null or non-array counts as an empty list on either side.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, and_, case, exists, literal, or_, select

from volunteer_app.accounts.models import VolunteerProfile
from volunteer_app.db import json_elements, json_list_empty, json_list_has
from volunteer_app.orders.models import Order


def category_fits(profile, category_id, dialect: str) -> ColumnElement[bool]:
    """SQL: `profile`'s categories hold `category_id` (a column, a bound parameter or a value), or it
    named none."""
    named = profile.category_ids
    return or_(json_list_has(named, category_id, dialect), json_list_empty(named, dialect))


def skills_fit(profile, skills, dialect: str) -> ColumnElement[bool]:
    """SQL: the JSON list `skills` (a column) is empty, or `profile`'s skills hold one of its items."""
    wanted = json_elements(skills, dialect)
    held = json_list_has(profile.skills, wanted.c.value, dialect)
    held = select(literal(1)).select_from(wanted).where(held).correlate_except(wanted)
    return or_(json_list_empty(skills, dialect), exists(held))


def fits(profile, *, category_id, skills, dialect: str) -> ColumnElement[bool]:
    """SQL: the volunteer profile `profile` (VolunteerProfile or an alias of it) fits work of
    `category_id` asking for `skills` (a JSON column of strings), by the module's rule. `dialect`:
    `db.engine.dialect.name`. Correlates to the tables of `category_id` and `skills` in the enclosing
    query."""
    return and_(category_fits(profile, category_id, dialect), skills_fit(profile, skills, dialect))


def profile_matches_order(profile=VolunteerProfile, order=Order, *, dialect: str) -> ColumnElement[bool]:
    """SQL: this volunteer profile matches this order's category and skills (`fits` on the order's
    columns). `profile` and `order` are the entities or aliases of them; e.g. the volunteers to tell
    of a new pool: `select(VolunteerProfile.user_id).where(Order.id == id,
    profile_matches_order(dialect=db.engine.dialect.name))`."""
    return fits(profile, category_id=order.category_id, skills=order.skills, dialect=dialect)


# ---- ranking (the dispatch picker) ------------------------------------------------------------------

CATEGORY_NAMED, CATEGORY_ANY, CATEGORY_OTHER = 0, 1, 2


def category_rank(profile, category_id: int, dialect: str) -> ColumnElement[int]:
    """SQL: 0 when `profile` named `category_id` among its categories, 1 when it named none (open to
    all: it fits), 2 otherwise. Ascending puts the closest first."""
    return case(
        (json_list_has(profile.category_ids, category_id, dialect), CATEGORY_NAMED),
        (json_list_empty(profile.category_ids, dialect), CATEGORY_ANY),
        else_=CATEGORY_OTHER,
    )


def skills_held(profile, skills: Iterable[str], dialect: str) -> ColumnElement[int]:
    """SQL: how many of `skills` (the work's, a few strings) `profile`'s skills hold."""
    terms = [case((json_list_has(profile.skills, skill, dialect), 1), else_=0) for skill in skills]
    if not terms:
        return literal(0)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def matches(*, category_ids, skills, category_id: int, wanted: Iterable[str]) -> dict:
    """The rule in Python, for one volunteer (their `category_ids` and `skills` lists) and one piece of
    work: {"category": fits by category, "skills": the wanted skills they hold (in the work's order),
    "fits": fits on both}."""
    category_ids = category_ids if isinstance(category_ids, list) else []
    held = set(skills) if isinstance(skills, list) else set()
    wanted = list(wanted or [])
    category = not category_ids or category_id in category_ids
    common = [skill for skill in wanted if skill in held]
    return {"category": category, "skills": common, "fits": category and (not wanted or bool(common))}
