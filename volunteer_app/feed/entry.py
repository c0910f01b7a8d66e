"""A feed entry as SQL: its columns, in the order every domain's branch selects them so the feed can
UNION them, and the bound parameters the branches share (`who_id`, `now`, `category_id`, and the
circle's from `volunteer_app.geo.Near`)."""

from __future__ import annotations

from sqlalchemy import Integer, Select, bindparam, select

from volunteer_app.db import UTCDateTime

# `d2` orders the feed; columns a domain does not have are NULL.
COLUMNS = (
    "d2", "kind", "id", "title", "theme", "category_id", "site_id", "address", "lat", "lng",
    "start_at", "end_at", "slots_left", "waitlist_left", "deadline", "target_groups",
)  # fmt: skip


def who_id():
    """The caller (entries they already took are left out)."""
    return bindparam("who_id", type_=Integer)


def now():
    return bindparam("now", type_=UTCDateTime)


def entries(columns: dict, *where, category_column, with_category: bool) -> Select:
    """SELECT `columns` (name → expression, every name of COLUMNS) labelled in COLUMNS' order, WHERE
    `where` and, `with_category`, `category_column` = the bound `category_id`."""
    stmt = select(*[columns[name].label(name) for name in COLUMNS]).where(*where)
    if with_category:
        stmt = stmt.where(category_column == bindparam("category_id", type_=Integer))
    return stmt
