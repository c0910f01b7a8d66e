"""A per-process cache of the site tree's effective settings and names, and of the service catalogue's
active categories, explicitly invalidated.

Every authenticated request and many services read a site's effective settings (the deployment's
defaults overridden down its path) and its name; each read was two queries (the site, its ancestors),
about a sixth of a time-book read. Sites change rarely (a manager edits a setting, an admin adds a
station), so each process keeps what it read, and the database says when that is no longer true:

- `cache_generations` holds a token for the sites and categories tables. Any change to a site or a
  category made through the session (an ORM flush, or an `update(Site)`/`delete(Category)`… executed
  by the session) writes a fresh random token in the same transaction (`bump`). Categories share the
  sites' token: they change as rarely, and a second token would be a second column to read.
- The request's one authentication query reads the token (`token_column`, accounts/principal.py) and
  `observe` records it on `g`. The cache is used only when the request knows the token; it is emptied
  whenever the token differs from the one its entries were read under. An entry is always read after
  its token was seen, so it is never older than the token says.
- Outside a request (worker, scheduler, commands) nothing is cached: those read the database.

A random token, not a counter: a database restored from a snapshot, or a test's fresh database,
brings its own token, so entries read from another state can never match it. A change written past
the session (raw SQL on the connection, bulk loaders such as bench/citygen) does not change the
token; such a writer calls `bump()` or restarts the processes.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g, has_request_context
from sqlalchemy import BigInteger, String, event, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from volunteer_app.db import dialect_insert
from volunteer_app.extensions import db
from volunteer_app.sites.models import Category, Site, path_ids

NAME = "sites"
# The models whose changes through the session bump the token (`_on_flush`, `_on_execute`).
_CACHED = (Site, Category)
_CACHED_TABLES = frozenset(model.__tablename__ for model in _CACHED)


class CacheGeneration(db.Model):
    """The current token of a cached table (one row per name)."""

    __tablename__ = "cache_generations"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)


@dataclass(frozen=True, slots=True)
class CachedSite:
    """What the cache keeps of a site: what responses show of it, its path and its effective settings
    (a read-only view; `settings` must not be changed by the caller)."""

    id: int
    kind: str
    name: str
    path: str
    settings: dict

    def ancestor_ids(self) -> list[int]:
        """Ids from the root center down to this site (inclusive), as Site.ancestor_ids."""
        return path_ids(self.path)


def token_column():
    """The sites token as a scalar subquery, to ride on a query the request makes anyway."""
    return select(CacheGeneration.token).where(CacheGeneration.name == NAME).scalar_subquery()


def observe(token: int | None) -> None:
    """Record the token the request's authentication query read (None: no row, nothing cached)."""
    g.site_cache_token = token


def _store() -> dict | None:
    """This process's cache, emptied when the request's token differs from its entries' (None where
    the token is not known)."""
    if not has_request_context():
        return None
    token = g.get("site_cache_token")
    if token is None:
        return None
    store = current_app.extensions.setdefault("site_cache", {"token": None})
    if store["token"] != token:
        store.update(token=token, sites={}, active_categories=None)
    return store


def assume() -> int | None:
    """For a request whose caller is deferred (auth.tokens.DeferredPrincipal: no authentication query
    read the token): use this process's entries under the token they were read with, and return it for
    the request's one statement to check (accounts.principal.caller_holds), which writes nothing if it
    has changed. None (nothing assumed) when this process has no entries yet."""
    store = current_app.extensions.get("site_cache") if has_request_context() else None
    token = None if store is None else store["token"]
    if token is not None:
        g.site_cache_token = token
    return token


def entries() -> dict[int, CachedSite] | None:
    """This process's site entries valid for the request's token, or None where the token is not known."""
    store = _store()
    return None if store is None else store["sites"]


def active_categories(read: Callable[[], frozenset[int]]) -> frozenset[int]:
    """The ids of the catalogue's active categories: kept while the request's token holds, else (and
    the first time) what `read()` gives."""
    store = _store()
    if store is None:
        return read()
    if store["active_categories"] is None:
        store["active_categories"] = read()
    return store["active_categories"]


def bump(session=None) -> None:
    """Write a fresh token in the session's transaction: every process's entries are stale from its
    commit."""
    session = session or db.session
    if has_request_context():
        g.site_cache_token = None  # this request changed sites: it reads them, not the cache, from now
    insert = dialect_insert(session.get_bind().dialect.name)
    token = secrets.randbits(62)
    session.connection().execute(
        insert(CacheGeneration.__table__)
        .values(name=NAME, token=token)
        .on_conflict_do_update(index_elements=["name"], set_={"token": token})
    )


@event.listens_for(Session, "before_flush")
def _on_flush(session, _context, _instances) -> None:
    if any(isinstance(o, _CACHED) for o in (*session.new, *session.dirty, *session.deleted)):
        bump(session)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state) -> None:
    if not (state.is_update or state.is_delete or state.is_insert):
        return
    table = getattr(state.statement, "table", None)
    if table is not None and getattr(table, "name", None) in _CACHED_TABLES:
        bump(state.session)
