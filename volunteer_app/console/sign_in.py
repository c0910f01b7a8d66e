"""Signing in to the console (phone and password, or an SMS code), signing out, and the sign-ins.

A sign-in is a session in the same table as the phones' (`auth_sessions`): the console's cookie holds
an access token naming it, so signing out everywhere ends phone and console alike, and the login's rate
limits are the API's own (one counter per phone for each kind of login, shared). The sign-in form is
protected by a double-submit token (an HttpOnly cookie and the page's copy must match) since there is no
session yet to carry one; the token is signed with the app's secret, so a cookie planted by someone else
(a sibling subdomain can set one) with a value of their choosing is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from urllib.parse import unquote, urlsplit

import marshmallow as ma
from flask import current_app, jsonify, make_response, redirect, request, url_for

from volunteer_app.auth import schemas as auth_schemas
from volunteer_app.auth import service as auth
from volunteer_app.auth.tokens import (
    current_principal,
    set_console_cookie,
    unset_console_cookie,
    verify_request,
)
from volunteer_app.auth.views import login_limits
from volunteer_app.console import blp
from volunteer_app.console.pages import page, render, signed_in
from volunteer_app.errors import BadRequest, DomainError, Forbidden, Unprocessable, handle_domain_error
from volunteer_app.schemas import NESTED_TOO_DEEPLY

LOGIN_CSRF_COOKIE = "volunteer_console_login"


# Control characters (a CR LF in a Location header was a 500), spaces and backslashes (browsers read
# `\` as `/` and drop tabs and newlines from an address: `/console/.\t./api` is `/console/../api`).
_UNSAFE = re.compile(r"[\x00-\x20\x7f\\]")


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path under /console/ only (never another host, nor out of the
    console by a `..` segment, written plainly or as %2e%2e), else Today."""
    if not target or not target.startswith("/console/") or _UNSAFE.search(target):
        return url_for("console.today")
    path = urlsplit(target).path
    decoded = unquote(path)
    segments = decoded.split("/")
    if "//" in decoded or "." in segments or ".." in segments or _UNSAFE.search(decoded):
        return url_for("console.today")
    return target


@blp.get("/login")
def sign_in():
    if signed_in():
        return redirect(_safe_next(request.args.get("next")))
    token = _login_token()
    response = make_response(
        render("console/login.html", login_csrf=token, next_url=_safe_next(request.args.get("next")))
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="Strict", secure=request.is_secure, path="/console/"
    )
    return response


def _signature(nonce: str) -> str:
    key = current_app.config["SECRET_KEY"]
    key = key if isinstance(key, bytes) else key.encode()
    return hmac.new(key, b"console-login:" + nonce.encode(), hashlib.sha256).hexdigest()[:32]


def _login_token() -> str:
    """A fresh value for the sign-in page and its cookie: a nonce and its signature."""
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_signature(nonce)}"


def _check_login_csrf() -> None:
    sent = request.headers.get("X-CSRF-Token", "")
    kept = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    # The values are URL-safe ASCII; compare_digest raises TypeError (a 500) on text beyond ASCII.
    if not kept or not (sent.isascii() and kept.isascii()) or not secrets.compare_digest(sent, kept):
        raise Forbidden("auth.csrf")
    nonce, _dot, signature = kept.partition(".")
    if not nonce or not secrets.compare_digest(signature, _signature(nonce)):
        raise Forbidden("auth.csrf")  # equal, but not a value this app issued


def _body(schema: ma.Schema) -> dict:
    try:
        data = request.get_json(silent=True)
    except RecursionError:  # thousands of nested arrays: the JSON parser's stack (was a 500)
        raise BadRequest("request.malformed", errors={"json": [NESTED_TOO_DEEPLY]}) from None
    if not isinstance(data, dict):
        raise Unprocessable("validation.failed", errors={"json": {"_schema": ["Invalid input type."]}})
    try:
        return schema.load(data)
    except ma.ValidationError as error:
        raise Unprocessable("validation.failed", errors={"json": error.messages}) from None


def _signed_in(issued: dict):
    response = jsonify({"next": _safe_next(request.args.get("next"))})
    set_console_cookie(response, issued["access_token"])
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/")
    return response


def _login(kind: str):
    def view():
        try:
            _check_login_csrf()
            if kind == "password":
                issued = auth.login(**_body(auth_schemas.LoginIn()), console=True)
            else:
                issued = auth.sms_login(**_body(auth_schemas.SmsLoginIn()), console=True)
        except DomainError as error:
            return handle_domain_error(error)
        return _signed_in(issued)

    view.__name__ = f"session_{kind}"
    for limit in reversed(login_limits(kind)):
        view = limit(view)
    return view


blp.add_url_rule("/session", view_func=_login("password"), methods=["POST"])
blp.add_url_rule("/session/sms", view_func=_login("sms"), methods=["POST"])


@blp.post("/logout")
def sign_out():
    """End this console session (the cookie's CSRF value required, like any change: else 403)."""
    verify_request(locations=["cookies"])
    auth.logout(who=current_principal())
    response = jsonify({"next": url_for("console.sign_in")})
    unset_console_cookie(response)
    return response


@blp.get("/sessions")
@page
def sessions():
    rows = auth.sessions(who=current_principal(), limit=100, cursor=request.args.get("cursor"))
    return render("console/sessions.html", page_data=rows)
