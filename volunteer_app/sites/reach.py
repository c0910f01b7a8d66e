"""The one reach helper: every lookup of a site-owned object goes through it, in the query itself.

A manager granted on a site reaches that site and every site below it; an admin reaches everything.
Out of reach looks exactly like "does not exist" (404), so nothing leaks.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, false, or_, select, true

from volunteer_app.errors import NotFound
from volunteer_app.extensions import db
from volunteer_app.sites.models import Site

T = TypeVar("T")


class Reacher(Protocol):
    """What the helper needs to know about the caller (auth.Principal satisfies it)."""

    is_admin: bool
    manager_paths: tuple[str, ...]


def subtree_of(paths: tuple[str, ...] | list[str]) -> ColumnElement[bool]:
    """Condition on Site: the site lies in the subtree of one of these materialised paths."""
    if not paths:
        return false()
    return or_(*[Site.path.startswith(p, autoescape=True) for p in paths])


def reach_condition(site_column, who: Reacher, *, one_row: bool = False) -> ColumnElement[bool]:
    """Condition: `site_column` names a site the caller manages (directly or below).

    `one_row` for a query about a single row (one order's detail): the site's path is looked up by
    its key and tested, instead of collecting the caller's whole subtree (IN): a center's manager
    reaches every station of a city, 2,000 rows to hash for one order. A scalar subquery, not an
    EXISTS: PostgreSQL may run an EXISTS as a hashed subplan over every site the path matches (it did
    on a database of 200 sites, where a scan of them looked cheaper than a probe), which is that very
    collection; a scalar subquery it can only probe. (NULL when `site_column` is: no reach.)
    Lists keep the IN."""
    if who.is_admin:
        return true()
    if not who.manager_paths:
        return false()
    if one_row:
        path = select(Site.path).where(Site.id == site_column).scalar_subquery()
        return or_(*[path.startswith(p, autoescape=True) for p in who.manager_paths])
    return site_column.in_(select(Site.id).where(subtree_of(who.manager_paths)))


def in_reach(stmt: Select, site_column, who: Reacher) -> Select:
    """Restrict a select to rows whose `site_column` the caller reaches."""
    return stmt.where(reach_condition(site_column, who))


def get_in_reach(model: type[T], object_id: int, site_column, who: Reacher, *, for_update: bool = False) -> T:
    """Load one object by id within the caller's reach, or raise 404 (never 403)."""
    stmt = in_reach(select(model).where(model.id == object_id), site_column, who)
    if for_update:
        stmt = stmt.with_for_update()
    obj = db.session.scalars(stmt).first()
    if obj is None:
        raise NotFound()
    return obj


def path_in_reach(path: str, who: Reacher) -> bool:
    """Whether a site with this materialised path is within the caller's reach (no query)."""
    return who.is_admin or any(path.startswith(p) for p in who.manager_paths)
