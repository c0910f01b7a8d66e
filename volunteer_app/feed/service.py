"""The feed: open pools and activities open for sign-up near a point, nearest first, in one SQL query
over each domain's branch (feed/orders.py, feed/activities.py)."""

from __future__ import annotations

import functools

from sqlalchemy import select, union_all

from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.feed import activities, entry, orders
from volunteer_app.geo import Near, distance_m
from volunteer_app.pagination import paginate_rows

BRANCHES = (orders.candidates, activities.candidates)  # the first one's column types read every row (UNION)


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
    of each branch, so the cursor walks the filtered list."""
    filters = entry.Filters(
        db.engine.dialect.name, categories=bool(category_ids), skill=skill is not None, matching=matching
    )
    stmt, keys = _candidates(filters)
    params = {**Near(lat, lng, radius_m).params(), "who_id": who.user_id, "now": utcnow()}
    if filters.categories:
        params["category_ids"] = list(category_ids)
    if filters.skill:
        params["skill"] = skill
    rows, next_cursor = paginate_rows(
        stmt, list(keys), limit=limit, cursor=cursor, params=params, prebuilt=True
    )
    items = []
    for row in rows:
        item = row._asdict()
        item["distance_m"] = distance_m(lat, lng, item["lat"], item["lng"])
        item["target_groups"] = item["target_groups"] or []
        item["skills"] = item["skills"] or []
        items.append(item)
    return {"items": items, "next_cursor": next_cursor}
