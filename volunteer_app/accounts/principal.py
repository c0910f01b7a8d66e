"""Who a token names: the account, its live session and its role grants with their sites' paths.

`load_principal` is auth's principal loader (create_app hands it to `auth.tokens.init_jwt`), so auth
itself imports no accounts.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from functools import cache, wraps

from flask import g
from sqlalchemy import String, bindparam, inspect, literal, select

from volunteer_app.accounts.models import RoleGrant, User
from volunteer_app.auth.models import AuthSession
from volunteer_app.auth.tokens import DeferredPrincipal, Grant, Principal
from volunteer_app.extensions import LookRider, db, read_rows
from volunteer_app.sites import cache as site_cache
from volunteer_app.sites.models import Site

# A read-only view's account: the mapped user's columns as a plain row (no identity map, no state).
_USER_COLUMNS = [(attr.key, attr.columns[0]) for attr in inspect(User).column_attrs]
UserSnapshot = namedtuple("UserSnapshot", [key for key, _column in _USER_COLUMNS])


class Rider:
    """A read that rides on the principal's query (one round trip for both): the caller's own row of
    `table`, LEFT JOINed to the user on `join(user_id_column)`. `name` keys the built statement and
    prefixes its columns' labels. A view asks for it with `ride(rider)` (or @riding) before
    authentication and its service reads it with `rider_row(rider)`. It rides only where the principal
    is read as a snapshot (extensions.reads_only, user_snapshot); elsewhere the service reads its row
    itself. The row is a namedtuple of the table's columns (`row_type`)."""

    def __init__(self, name: str, table, join: Callable) -> None:
        self.name = name
        self.table = table
        self.join = join
        self.row_type = namedtuple(f"{name.title()}Row", [column.key for column in table.c])
        self._primary_key = table.primary_key.columns.values()[0].key

    def columns(self) -> list:
        """What the principal's query reads of it: each column labelled `<name>_<key>`."""
        return [column.label(f"{self.name}_{column.key}") for column in self.table.c]

    def row(self, rode) -> tuple | None:
        """Its row from the principal's query's (`rode`, a mapping): None when the LEFT JOIN found none."""
        name = self.name
        if rode[f"{name}_{self._primary_key}"] is None:
            return None
        return self.row_type(*(rode[f"{name}_{key}"] for key in self.row_type._fields))


def ride(rider: Rider) -> None:
    """Let `rider` ride on this request's principal query (call before authentication)."""
    g.principal_rider = rider


def riding(rider: Rider):
    """A view decorator: `rider` rides on the request's principal query (place it above @auth_required)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            ride(rider)
            return view(*args, **kwargs)

        return wrapper

    return decorator


def rider_row(rider: Rider) -> tuple[bool, tuple | None]:
    """(whether `rider` rode on this request's principal query, and then the caller's row of it: None
    when they have none). When it did not ride, the service reads the row itself."""
    rows = g.get("rider_rows", {})
    if rider.name not in rows:
        return False, None
    return True, rows[rider.name]


def _live(user_id, session_id) -> tuple:
    """What a token's caller must be (users joined to auth_sessions on the user): the account
    `user_id`, active, in its session `session_id`, not revoked."""
    return (
        User.id == user_id,
        AuthSession.id == session_id,
        AuthSession.revoked_at.is_(None),
        User.is_active.is_(True),
    )


@cache
def _principal_query(snapshot: bool, rider: Rider | None = None):
    """The principal's one query, built once per process (its parameters bound at each call): on the
    hottest path of all, building the statement cost more than SQLAlchemy's compiled-statement cache
    saves. With `snapshot`, the user's columns one by one instead of the mapped User (see
    load_principal)."""
    # It loads the user, checks the session is live (revocation needs no extra round trip), reads the
    # role grants with their sites' paths (one row per grant) and the site cache's token
    # (sites/cache.py: whether this process's cached site settings are current).
    user = [column for _key, column in _USER_COLUMNS] if snapshot else [User]
    stmt = (
        select(*user, RoleGrant.role, RoleGrant.site_id, RoleGrant.team_id, Site.path)
        .add_columns(site_cache.token_column())
        .select_from(User)
        .join(AuthSession, AuthSession.user_id == User.id)
        .outerjoin(RoleGrant, RoleGrant.user_id == User.id)
        .outerjoin(Site, Site.id == RoleGrant.site_id)
        .where(*_live(bindparam("user_id"), bindparam("session_id")))
        .order_by(RoleGrant.id)  # grants in the order they were given (GET /me lists them so)
    )
    if rider is not None:
        stmt = stmt.add_columns(*rider.columns()).outerjoin(rider.table, rider.join(User.id))
    return stmt


def token_hints(user) -> dict:
    """What a phone's access token says of its account when issued (auth.tokens.HINTS), for a service
    that acts for a deferred caller (auth.tokens.DeferredPrincipal) in one statement: its home station
    (a resident's order goes there). The statement checks it still holds (`caller_holds`)."""
    return {"home": user.home_site_id}


@cache
def caller_holds():
    """A select, for the one statement of a service acting for a deferred caller: the caller's name and
    phone (labelled `caller_name`, `caller_phone`: what an answer shows of them) when their session is
    live and their account active, as load_principal requires (`_live`), their home station is still their
    token's hint, and the site cache's token is still the one the service's cached settings were read
    under (sites/cache.py); else no row. Bound: `caller_id`, `caller_session`, `caller_home`,
    `site_token`. No row: the service reads the caller (load_principal) and starts again."""
    return _deferred_caller(User.name.label("caller_name"), User.phone.label("caller_phone")).where(
        User.home_site_id.is_not_distinct_from(bindparam("caller_home")),
        site_cache.token_column() == bindparam("site_token"),
    )


def _deferred_caller(*columns):
    """`columns` of the bound deferred caller (`caller_id` in its session `caller_session`), selected
    only while they are live (`_live`): the base of both gates a deferred caller's statement carries."""
    return (
        select(*columns)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(*_live(bindparam("caller_id"), bindparam("caller_session")))
    )


@cache
def _caller_live(roles: tuple[str, ...]):
    """A look's rider (built once per process and roles): the look with `caller_live`, whether the bound
    `caller_id`'s session `caller_session` is live and the account active, as load_principal requires
    (`_live`), and, when `roles` are named, one of them granted (as auth_required checks them)."""
    gate = _deferred_caller(User.id)
    if roles:
        held = select(RoleGrant.id).where(
            RoleGrant.user_id == User.id, RoleGrant.role.in_([literal(role, String) for role in roles])
        )
        gate = gate.where(held.exists())

    def build(look):
        return look.add_columns(gate.exists().label("caller_live"))

    return build


def caller_rider(who) -> LookRider | None:
    """For a service's first look (extensions.first_look) acting for a deferred caller
    (auth.tokens.DeferredPrincipal, not yet checked): the look checks the caller too (and the view's
    roles), and a caller who holds is confirmed. None for a caller already read. A look that found no
    row, or a caller who does not hold, leaves the caller unchecked: it is read when the service needs
    it, before its first write (extensions.writes_begin), or when the view ends (401 or 403 first)."""
    if not isinstance(who, DeferredPrincipal) or who.settled:
        return None

    def take(row) -> None:
        if row is not None and row.caller_live:
            who.confirm()

    params = {"caller_id": who.user_id, "caller_session": who.session_id}
    return LookRider(_caller_live(who.roles_required), params, take)


def load_principal(user_id: int, session_id: str | None) -> Principal | None:
    """The caller of a token, or None when its account is inactive or its session revoked.

    In a view that does not change the account (extensions.reads_only, extensions.user_snapshot) the
    user is a `UserSnapshot` read past the ORM (half the Python cost of the mapped row); anywhere else
    it is the mapped User, which services change."""
    params = {"user_id": user_id, "session_id": session_id}
    if g.get("user_snapshot"):
        rider = g.get("principal_rider")
        rows = read_rows(_principal_query(True, rider), params).all()
        width = len(_USER_COLUMNS)
        if rider is not None and rows:
            g.rider_rows = {rider.name: rider.row(rows[0]._mapping)}
        users = [UserSnapshot(*row[:width]) for row in rows[:1]]
        rows = [(users[0], *row[width : width + 5]) for row in rows]
    else:
        rows = db.session.execute(_principal_query(False), params).all()
    if not rows:
        return None
    site_cache.observe(rows[0][5])
    grants = tuple(Grant(role, site, team, path) for _user, role, site, team, path, _token in rows if role)
    return Principal(user=rows[0][0], session_id=session_id, grants=grants)


def load_grants(user_id: int) -> tuple[Grant, ...]:
    """A user's role grants with their sites' paths (for a principal built outside a request)."""
    rows = db.session.execute(
        select(RoleGrant.role, RoleGrant.site_id, RoleGrant.team_id, Site.path)
        .outerjoin(Site, Site.id == RoleGrant.site_id)
        .where(RoleGrant.user_id == user_id)
        .order_by(RoleGrant.id)
    ).all()
    return tuple(Grant(role, site_id, team_id, path) for role, site_id, team_id, path in rows)
