"""Who a token names: the account, its live session and its role grants with their sites' paths.

`load_principal` is auth's principal loader (create_app hands it to `auth.tokens.init_jwt`), so auth
itself imports no accounts.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, select

from volunteer_app.accounts.models import RoleGrant, User
from volunteer_app.auth.models import AuthSession
from volunteer_app.auth.tokens import Grant, Principal
from volunteer_app.extensions import db
from volunteer_app.sites import cache as site_cache
from volunteer_app.sites.models import Site


@cache
def _principal_query():
    """The principal's one query, built once per process (its parameters bound at each call): on the
    hottest path of all, building the statement cost more than SQLAlchemy's compiled-statement cache
    saves."""
    # It loads the user, checks the session is live (revocation needs no extra round trip), reads the
    # role grants with their sites' paths (one row per grant) and the site cache's token
    # (sites/cache.py: whether this process's cached site settings are current).
    return (
        select(User, RoleGrant.role, RoleGrant.site_id, RoleGrant.team_id, Site.path)
        .add_columns(site_cache.token_column())
        .join(AuthSession, AuthSession.user_id == User.id)
        .outerjoin(RoleGrant, RoleGrant.user_id == User.id)
        .outerjoin(Site, Site.id == RoleGrant.site_id)
        .where(
            User.id == bindparam("user_id"),
            AuthSession.id == bindparam("session_id"),
            AuthSession.revoked_at.is_(None),
            User.is_active.is_(True),
        )
        .order_by(RoleGrant.id)  # grants in the order they were given (GET /me lists them so)
    )


def load_principal(user_id: int, session_id: str | None) -> Principal | None:
    """The caller of a token, or None when its account is inactive or its session revoked."""
    rows = db.session.execute(_principal_query(), {"user_id": user_id, "session_id": session_id}).all()
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
