"""The feed: open pools and activities open for sign-up near a point, nearest first, in one SQL query
over each domain's branch (feed/orders.py, feed/activities.py)."""

from __future__ import annotations

import functools

from sqlalchemy import select, union_all

from volunteer_app.db import utcnow
from volunteer_app.feed import activities, orders
from volunteer_app.geo import Near, distance_m
from volunteer_app.pagination import paginate_rows

BRANCHES = (orders.candidates, activities.candidates)  # the first one's column types read every row (UNION)


@functools.cache
def _candidates(with_category: bool):
    """The feed's UNION ALL of each domain's candidates, built once per process over bound parameters
    (`Near`, `who_id`, `now`, `category_id`): only its values change between requests."""
    return union_all(*[branch(with_category=with_category) for branch in BRANCHES]).subquery("candidates")


def available_tasks(
    *, who, lat: float, lng: float, radius_m: int, category_id: int | None, limit: int, cursor: str | None
) -> dict:
    """Open pools and activities open for sign-up near a point, nearest first, that the caller has
    not taken. One SQL query: each domain's entries (a bounding box on its partial index of open
    rows, then the circle) UNION ALL, ordered and paged on (distance, kind, id)."""
    union = _candidates(category_id is not None)
    params = {**Near(lat, lng, radius_m).params(), "who_id": who.user_id, "now": utcnow()}
    if category_id is not None:
        params["category_id"] = category_id
    keys = [union.c.d2, union.c.kind, union.c.id]
    rows, next_cursor = paginate_rows(select(union), keys, limit=limit, cursor=cursor, params=params)
    items = []
    for row in rows:
        item = row._asdict()
        item["distance_m"] = distance_m(lat, lng, item["lat"], item["lng"])
        item["target_groups"] = item["target_groups"] or []
        items.append(item)
    return {"items": items, "next_cursor": next_cursor}
