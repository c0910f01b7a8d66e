"""The feed: open pools and activities open for sign-up near a point, nearest first, in one SQL query
over each domain's branch (feed/orders.py, feed/activities.py)."""

from __future__ import annotations

import functools
import math

from sqlalchemy import select, union_all

from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.feed import activities, entry, orders
from volunteer_app.geo import METRES_PER_DEGREE, Near, distance_m
from volunteer_app.pagination import cursor_values, paginate_rows

BRANCHES = (orders.candidates, activities.candidates)  # the first one's column types read every row (UNION)

# The first look is this fraction of the radius wide beyond where the page starts (a sixteenth of the
# circle's area on a first page); None looks at the whole circle at once.
FIRST_LOOK = 0.25


@functools.cache
def _candidates(filters: entry.Filters):
    """The feed's UNION ALL of each domain's candidates and its paging keys (distance², kind, id), built
    once per process and filter shape over bound parameters (`Near`, `who_id`, `now`, `category_ids`,
    `skill`): only its values change between requests (a handful of shapes: the dialect and three
    switches). Paged with `paginate_rows(prebuilt=True)`, so the paged statements are built once too."""
    union = union_all(*[branch(filters) for branch in BRANCHES]).subquery("candidates")
    return select(union), (union.c.d2, union.c.kind, union.c.id)


def available_tasks(
    *,
    who,
    lat: float,
    lng: float,
    radius_m: int,
    category_ids: list[int] | None = None,
    skill: str | None = None,
    matching: bool = False,
    limit: int,
    cursor: str | None,
) -> dict:
    """Open pools and activities open for sign-up near a point, nearest first, that the caller has
    not taken; of one of `category_ids`, asking for `skill`, and (`matching`) fitting the caller's
    profile (orders.matching: their categories, or none named; one of the entry's skills, or none
    asked). One SQL query: each domain's entries (a bounding box on its partial index of open rows,
    then the circle) UNION ALL, ordered and paged on (distance, kind, id); the filters are conditions
    of each branch, so the cursor walks the filtered list. It runs over a smaller circle first and,
    where that does not fill the page, over the whole one (`_first_look`)."""
    filters = entry.Filters(
        db.engine.dialect.name, categories=bool(category_ids), skill=skill is not None, matching=matching
    )
    stmt, keys = _candidates(filters)
    params = {"who_id": who.user_id, "now": utcnow()}
    if filters.categories:
        params["category_ids"] = list(category_ids)
    if filters.skill:
        params["skill"] = skill

    def page(radius: float) -> tuple[list, str | None]:
        circle = {**params, **Near(lat, lng, radius).params()}
        return paginate_rows(stmt, list(keys), limit=limit, cursor=cursor, params=circle, prebuilt=True)

    first = _first_look(radius_m, cursor, keys)
    rows, next_cursor = page(first) if first is not None else ([], None)
    if next_cursor is None:  # the smaller circle did not fill the page (or was not tried): the whole
        rows, next_cursor = page(radius_m)
    items = []
    fields = rows[0]._fields if rows else ()  # (a dict of each row by zip: a quarter of Row._asdict's cost)
    for row in rows:
        item = dict(zip(fields, row, strict=True))
        item["distance_m"] = distance_m(lat, lng, item["lat"], item["lng"])
        item["target_groups"] = item["target_groups"] or []
        item["skills"] = item["skills"] or []
        items.append(item)
    return {"items": items, "next_cursor": next_cursor}


def _first_look(radius_m: int, cursor: str | None, keys) -> float | None:
    """The radius (m) of a smaller circle to read first, or None when it would not be much smaller.

    In a dense district the page's entries all lie far inside the radius, and reading every open pool
    of the whole circle to sort them cost the database most of the feed's time (about 750 rows in 5 km
    of the bench's city, for a page of 20). The smaller circle, same centre, reaches `FIRST_LOOK` of the
    radius beyond where the page starts (the cursor's distance). Its answer is the page when it holds
    more entries than the page: every entry outside it is farther than every entry inside it (the
    circle and the order are one distance, `Near.d2`), so the first `limit + 1` of the whole circle are
    the first `limit + 1` of the smaller one; the page, and its cursor, are the same. Otherwise the
    whole circle is read, as before: a sparse district pays one cheap statement more."""
    if FIRST_LOOK is None:
        return None
    after = cursor_values(cursor, list(keys))
    start = math.sqrt(max(after[0], 0.0)) * METRES_PER_DEGREE if after else 0.0
    radius = start + FIRST_LOOK * radius_m
    return radius if radius <= radius_m / 2 else None
