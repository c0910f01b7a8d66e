"""Access and refresh tokens (the only module that touches JWT), and the request's principal.

Auth knows no accounts: who a token names is loaded by the function create_app hands to `init_jwt`
(accounts' `load_principal`)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import current_app, g, request
from flask_jwt_extended import (
    create_access_token,
    create_refresh_token,
    get_csrf_token,
    get_jti,
    get_jwt,
    set_access_cookies,
    unset_access_cookies,
)
from flask_jwt_extended import verify_jwt_in_request as _verify
from flask_jwt_extended.exceptions import CSRFError, WrongTokenError
from sqlalchemy import inspect as inspect_orm

from volunteer_app.auth.models import AuthSession, RefreshToken
from volunteer_app.db import utcnow
from volunteer_app.errors import (
    BEARER_CHALLENGE,
    MESSAGES,
    Forbidden,
    Unauthorized,
    error_response,
    register_messages,
)
from volunteer_app.extensions import db, jwt

register_messages(
    {
        "token.missing": ("请先登录", "Authentication is required"),
        "token.expired": ("登录已过期，请刷新或重新登录", "The token has expired"),
        "token.invalid": ("登录凭证无效", "The token is invalid"),
        "token.revoked": ("登录已失效，请重新登录", "The token has been revoked"),
        "token.wrong_type": ("凭证类型错误", "Wrong token type for this endpoint"),
        "auth.csrf": (
            "页面已过期或请求来源不明，请刷新页面后重试",
            "The page is stale or the request did not come from it: reload the page and try again",
        ),
    }
)


@dataclass(frozen=True)
class Grant:
    role: str
    site_id: int | None
    team_id: int | None
    site_path: str | None


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user (the account row), the session, and the role grants with their sites'
    paths."""

    user: Any
    session_id: str
    grants: tuple[Grant, ...] = field(default_factory=tuple)

    @property
    def user_id(self) -> int:
        # The mapped user's identity key, which a commit does not expire: asking who called after a
        # commit (the request's log line at teardown) reads no row back.
        state = inspect_orm(self.user, raiseerr=False)
        if state is not None and state.identity is not None:
            return state.identity[0]
        return self.user.id

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(g.role for g in self.grants)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def manager_paths(self) -> tuple[str, ...]:
        return tuple(g.site_path for g in self.grants if g.role == "manager" and g.site_path)

    @property
    def manager_site_ids(self) -> tuple[int, ...]:
        return tuple(g.site_id for g in self.grants if g.role == "manager" and g.site_id)

    def has_any(self, roles) -> bool:
        return bool(self.roles & set(roles))


# (user id, session id from the token) -> the principal, or None when the session or account is gone.
PrincipalLoader = Callable[[int, str | None], Principal | None]

HINTS = "hints"  # the access token's claim of what its account was when it was issued (issue_tokens)


class DeferredPrincipal:
    """The caller of a token whose signature and expiry hold, not yet read (auth_required's `defer`): a
    view whose one statement checks the caller itself (that the session is live and the account
    active) sends no query of its own for it first.

    `user_id`, `session_id` and `hints` come from the token. Anything else (`user`, `grants`, `roles`,
    …) loads the principal as an undeferred view would have, at that moment: 401 `token.revoked` when
    its session is revoked or its account closed. A service whose statement checked the caller says so
    with `confirm()`; auth_required loads a principal neither used nor confirmed before it answers, and
    before any error answer, so a refused token is always answered 401 first."""

    __slots__ = ("_loader", "_principal", "confirmed", "hints", "roles_required", "session_id", "user_id")

    def __init__(
        self,
        user_id: int,
        session_id: str | None,
        hints: dict,
        loader: PrincipalLoader,
        roles_required: tuple[str, ...] = (),
    ) -> None:
        self.user_id = user_id
        self.session_id = session_id
        self.hints = hints
        self.roles_required = roles_required  # (the view's: one of them, else 403 once loaded)
        self.confirmed = False
        self._loader = loader
        self._principal: Principal | None = None

    @property
    def settled(self) -> bool:
        """Whether the caller has been checked: loaded, or confirmed by the service's statement."""
        return self.confirmed or self._principal is not None

    def confirm(self) -> None:
        """The service's own statement found the session live, the account active and, when the view
        names roles, one of them granted."""
        self.confirmed = True

    def load(self) -> Principal:
        """The principal, read now (401 `token.revoked` when the session or the account is gone; 403
        `auth.forbidden` when the view names roles and it holds none of them)."""
        if self._principal is None:
            principal = self._loader(self.user_id, self.session_id)
            if principal is None:
                raise token_refused("token.revoked")
            if self.roles_required and not principal.has_any(self.roles_required):
                raise Forbidden("auth.forbidden")
            self._principal = principal
        return self._principal

    def __getattr__(self, name: str):
        return getattr(self.load(), name)


def issue_tokens(user, session: AuthSession, hints: dict | None = None) -> dict:
    """A fresh access token and refresh token for a session; records the refresh token's jti. `hints`
    go into the access token (`HINTS`): what the account was at issue, for a deferred caller's service
    to act on, whose statement checks they still hold (DeferredPrincipal)."""
    app_cfg = current_app.config["APP"]
    claims = {"sid": session.id}
    access = create_access_token(
        identity=str(user.id),
        additional_claims={**claims, HINTS: hints} if hints else claims,
        expires_delta=timedelta(minutes=app_cfg["access_token_minutes"]),
    )
    refresh_ttl = timedelta(days=app_cfg["refresh_token_days"])
    refresh = create_refresh_token(identity=str(user.id), additional_claims=claims, expires_delta=refresh_ttl)
    db.session.add(
        RefreshToken(jti=get_jti(refresh), session_id=session.id, expires_at=utcnow() + refresh_ttl)
    )
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": app_cfg["access_token_minutes"] * 60,
    }


def issue_console_token(user, session: AuthSession) -> dict:
    """The console's sign-in: one access token for the session, lived `console_session_hours`, to be set
    as an HttpOnly cookie (no refresh token: the browser signs in again), and its CSRF value."""
    hours = current_app.config["APP"]["console_session_hours"]
    access = create_access_token(
        identity=str(user.id), additional_claims={"sid": session.id}, expires_delta=timedelta(hours=hours)
    )
    return {"access_token": access, "csrf_token": get_csrf_token(access), "expires_in": hours * 3600}


def set_console_cookie(response, access_token: str) -> None:
    set_access_cookies(response, access_token)


def unset_console_cookie(response) -> None:
    unset_access_cookies(response)


def new_session_id() -> str:
    return str(uuid.uuid4())


# The scheme name of `Authorization` is case-insensitive (RFC 7235 § 2.1): `bearer` and `BEARER` are
# `Bearer`. Flask-JWT-Extended compares it exactly, so the header is given its canonical spelling first.
_SCHEME = re.compile(r"(^|,)(\s*)bearer(?=\s|,|$)", re.IGNORECASE)


def _canonical_scheme() -> None:
    raw = request.environ.get("HTTP_AUTHORIZATION")
    # A phone's header is already canonical: "Bearer " first and no comma for another scheme to
    # follow (the pattern matches only at the start or after a comma). Not searched for: the search
    # runs over the whole token, 8 µs of every authenticated request.
    if raw and not (raw.startswith("Bearer ") and "," not in raw):
        request.environ["HTTP_AUTHORIZATION"] = _SCHEME.sub(r"\1\2Bearer", raw)


def _ascii_csrf_header() -> None:
    """A CSRF header with characters beyond ASCII matches no cookie's value (those are URL-safe ASCII),
    but Flask-JWT-Extended's compare_digest raises TypeError on it (a 500 for any write sent with the
    cookie): it is replaced by a value that is refused like any wrong one (403 `auth.csrf`)."""
    key = "HTTP_" + current_app.config["JWT_ACCESS_CSRF_HEADER_NAME"].upper().replace("-", "_")
    raw = request.environ.get(key)
    if raw is not None and not raw.isascii():
        request.environ[key] = "refused"


def verify_request(
    refresh: bool = False,
    locations: list[str] | None = None,
    defer: bool = False,
    roles: tuple[str, ...] = (),
) -> dict:
    """Check the bearer token (and, for access tokens, that its session is live); return its claims.
    With `defer`, the session is not read here: the principal is a DeferredPrincipal (which, once
    read, must hold one of `roles` when any are named).

    The console's cookie is an access token too: a change sent with it must carry its CSRF value in
    `X-CSRF-Token` (else 403 `auth.csrf`)."""
    _canonical_scheme()
    _ascii_csrf_header()
    g.defer_principal = (roles,) if defer else None
    try:
        _verify(refresh=refresh, locations=locations)
    finally:
        g.defer_principal = None
    return get_jwt()


def csrf_token() -> str | None:
    """The CSRF value of the request's console cookie (after verify_request), for the page to carry."""
    return get_jwt().get("csrf")


def invalid_token_headers(code: str) -> dict[str, str]:
    """The RFC 6750 challenge of a 401 for a token presented but refused (expired, invalid, revoked,
    of the wrong type), described by the code's English message."""
    description = MESSAGES.get(code, ("", "The token is invalid"))[1]
    challenge = f'{BEARER_CHALLENGE}, error="invalid_token", error_description="{description}"'
    return {"WWW-Authenticate": challenge}


def token_error(code: str):
    """A 401 response for a refused token, in the one format with its challenge."""
    return error_response(401, code, headers=invalid_token_headers(code))


def token_refused(code: str) -> Unauthorized:
    """The same as an exception, for services (a reused refresh token)."""
    return Unauthorized(code, headers=invalid_token_headers(code))


def current_principal() -> Principal:
    """The authenticated caller of this request (after verify_request)."""
    return g.principal


def init_jwt(app, load_principal: PrincipalLoader) -> None:
    """Register the token callbacks: the principal loader, and every token error in the one format."""

    @jwt.user_lookup_loader
    def _lookup(_header, payload):
        deferred = g.get("defer_principal")
        if deferred is not None:
            hints = payload.get(HINTS)
            hints = hints if isinstance(hints, dict) else {}
            g.principal = DeferredPrincipal(
                int(payload["sub"]), payload.get("sid"), hints, load_principal, roles_required=deferred[0]
            )
            return g.principal
        principal = load_principal(int(payload["sub"]), payload.get("sid"))
        if principal is None:
            return None
        g.principal = principal
        return principal.user

    jwt.user_identity_loader(str)
    jwt.unauthorized_loader(lambda _reason: error_response(401, "token.missing"))
    jwt.invalid_token_loader(lambda _reason: token_error("token.invalid"))
    jwt.expired_token_loader(lambda _header, _payload: token_error("token.expired"))
    jwt.revoked_token_loader(lambda _header, _payload: token_error("token.revoked"))
    jwt.user_lookup_error_loader(lambda _header, _payload: token_error("token.revoked"))
    jwt.needs_fresh_token_loader(lambda _header, _payload: token_error("token.invalid"))
    jwt.token_verification_failed_loader(lambda _header, _payload: token_error("token.invalid"))
    # Flask-JWT-Extended reports an access token sent to /refresh (or the reverse) as merely invalid;
    # the catalogue has a code for it so the phone can tell its own mistake from a bad token.
    app.register_error_handler(WrongTokenError, lambda _error: token_error("token.wrong_type"))


def init_csrf(app) -> None:
    """A change sent with the console's cookie but without its CSRF value: 403, nothing done. Only
    writes can meet it, so apidoc documents it on every secured write (not by walking this hook, which
    would put it on reads too)."""
    app.register_error_handler(CSRFError, lambda _error: error_response(403, "auth.csrf"))


def user_scope() -> str:
    """Whose request this is, as a key for rate limits and Idempotency-Key scopes."""
    return f"user:{current_principal().user_id}"
