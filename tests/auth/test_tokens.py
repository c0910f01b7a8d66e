"""Access and refresh tokens: rotation with reuse detection, logout, password change, expiry, forgery."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import time_machine

from tests.api.helpers import assert_error
from tests.auth.conftest import bearer, login, me, refresh
from tests.support import PASSWORD, make_user
from volunteer_app.accounts.models import User
from volunteer_app.extensions import db

NEW_PASSWORD = "brand-new-passw0rd"


@pytest.fixture
def user(app):
    return make_user(app)


def device(client, user) -> dict:
    """Log the user in on another device: a fresh session with its own token pair."""
    r = login(client, user.phone)
    assert r.status_code == 200, r.json
    return r.json


def change_password(client, access_token, current=PASSWORD, new=NEW_PASSWORD):
    return client.post(
        "/api/v1/auth/password",
        json={"current_password": current, "new_password": new},
        headers=bearer(access_token),
    )


# ---- refresh rotation --------------------------------------------------------------------------------


def test_refresh_rotates_the_pair(client, user):
    r = refresh(client, user.refresh)
    assert r.status_code == 200, r.json
    pair = r.json
    assert pair["token_type"] == "Bearer" and pair["expires_in"] == 15 * 60
    assert pair["refresh_token"] != user.refresh and pair["access_token"] != user.token
    assert me(client, pair["access_token"]).json["id"] == user.id
    assert refresh(client, pair["refresh_token"]).status_code == 200


def test_reused_refresh_token_revokes_the_session(client, user):
    newest = refresh(client, user.refresh).json
    assert_error(refresh(client, user.refresh), 401, "token.revoked")
    assert_error(refresh(client, newest["refresh_token"]), 401, "token.revoked")
    assert_error(me(client, newest["access_token"]), 401, "token.revoked")
    assert_error(me(client, user.token), 401, "token.revoked")


def test_reuse_on_one_device_leaves_the_others(client, user):
    other = device(client, user)
    refresh(client, user.refresh)
    refresh(client, user.refresh)  # reuse: this session is revoked
    assert_error(me(client, user.token), 401, "token.revoked")
    assert me(client, other["access_token"]).status_code == 200
    assert refresh(client, other["refresh_token"]).status_code == 200


def test_access_token_cannot_refresh(client, user):
    assert_error(refresh(client, user.token), 401, "token.wrong_type")
    assert me(client, user.token).status_code == 200  # nothing was revoked


def test_refresh_token_is_not_an_access_token(client, user):
    assert_error(me(client, user.refresh), 401, "token.wrong_type")
    assert_error(client.post("/api/v1/auth/logout", headers=bearer(user.refresh)), 401, "token.wrong_type")


# ---- logout -----------------------------------------------------------------------------------------


def test_logout_revokes_only_this_device(client, user):
    other = device(client, user)
    r = client.post("/api/v1/auth/logout", headers=user.headers)
    assert r.status_code == 200 and r.json == {"ok": True}
    assert_error(me(client, user.token), 401, "token.revoked")
    assert_error(refresh(client, user.refresh), 401, "token.revoked")
    assert me(client, other["access_token"]).status_code == 200
    assert refresh(client, other["refresh_token"]).status_code == 200


def test_logout_needs_a_token(client):
    assert_error(client.post("/api/v1/auth/logout"), 401, "token.missing")


# ---- password change ------------------------------------------------------------------------------


def test_password_change_revokes_every_session(client, user):
    other = device(client, user)
    r = change_password(client, user.token)
    assert r.status_code == 200, r.json
    fresh = r.json
    assert me(client, fresh["access_token"]).json["id"] == user.id
    assert refresh(client, fresh["refresh_token"]).status_code == 200
    for token in (user.token, other["access_token"]):
        assert_error(me(client, token), 401, "token.revoked")
    for token in (user.refresh, other["refresh_token"]):
        assert_error(refresh(client, token), 401, "token.revoked")


def test_password_change_replaces_the_password(client, user):
    change_password(client, user.token)
    assert_error(login(client, user.phone, PASSWORD), 401, "auth.bad_credentials")
    assert login(client, user.phone, NEW_PASSWORD).status_code == 200


def test_wrong_current_password_is_422_on_its_field_and_changes_nothing(client, user):
    """Issue 11, defect 9: it was a 401, which a phone client takes for "session over"."""
    body = assert_error(change_password(client, user.token, current="not-my-password"), 422, "password.wrong")
    assert list(body["errors"]["json"]) == ["current_password"]
    assert me(client, user.token).status_code == 200  # the session is untouched
    assert login(client, user.phone, PASSWORD).status_code == 200
    assert_error(login(client, user.phone, NEW_PASSWORD), 401, "auth.bad_credentials")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"current_password": PASSWORD, "new_password": "short7!"}, "new_password"),
        ({"current_password": PASSWORD}, "new_password"),
        ({"new_password": NEW_PASSWORD}, "current_password"),
    ],
)
def test_password_change_validates_input(client, user, body, field):
    r = client.post("/api/v1/auth/password", json=body, headers=user.headers)
    assert field in assert_error(r, 422, "validation.failed")["errors"]["json"]
    assert login(client, user.phone, PASSWORD).status_code == 200


# ---- expiry ------------------------------------------------------------------------------------------


def later(**delta):
    """Frozen time this much after now."""
    return time_machine.travel(datetime.now(UTC) + timedelta(**delta), tick=False)


def test_access_token_works_for_15_minutes(client, user):
    with later(minutes=14):  # a slow machine may take seconds between issuing and travelling
        assert me(client, user.token).status_code == 200


def test_access_token_expires_after_15_minutes(client, user):
    with later(minutes=15, seconds=1):
        assert_error(me(client, user.token), 401, "token.expired")
        # The refresh token outlives it: that is how the phone carries on.
        assert me(client, refresh(client, user.refresh).json["access_token"]).status_code == 200


def test_a_token_verified_before_still_expires(client, user):
    """The manager keeps verified tokens (extensions.JWTManager): expiry is checked on every use."""
    assert me(client, user.token).status_code == 200  # verified and kept
    with later(minutes=14):
        assert me(client, user.token).status_code == 200
    with later(minutes=15, seconds=1):
        assert_error(me(client, user.token), 401, "token.expired")


def test_a_token_verified_under_another_key_is_not_taken(app, client, user):
    assert me(client, user.token).status_code == 200
    secret = app.config["JWT_SECRET_KEY"]
    app.config["JWT_SECRET_KEY"] = secret + "-rotated"
    try:
        assert_error(me(client, user.token), 401, "token.invalid")
    finally:
        app.config["JWT_SECRET_KEY"] = secret


def test_a_verified_tokens_header_is_read_once(client, user, monkeypatch):
    """The library reads a token's header after verifying it; the manager answers with the one it kept
    (extensions.JWTManager.unverified_headers), the same that PyJWT reads, without decoding again."""
    import flask_jwt_extended.utils as jwt_utils
    from flask_jwt_extended import get_jwt_header

    from volunteer_app.extensions import jwt as manager

    assert me(client, user.token).status_code == 200  # verified and kept
    header = jwt.get_unverified_header(user.token)
    decoded = []
    monkeypatch.setattr(jwt_utils.jwt, "get_unverified_header", lambda t: decoded.append(t) or {})
    with client.application.test_request_context(headers={"Authorization": f"Bearer {user.token}"}):
        from volunteer_app.auth.tokens import verify_request

        verify_request()
        assert get_jwt_header() == header == manager.unverified_headers(user.token)
    assert decoded == []  # the library's second reading came from the kept header
    assert me(client, user.token).status_code == 200


def _decodes(monkeypatch) -> list:
    """Every full decode PyJWT makes of a token (PyJWS._load), recorded."""
    from jwt.api_jws import PyJWS

    loads, load = [], PyJWS._load
    monkeypatch.setattr(PyJWS, "_load", lambda self, token: loads.append(token) or load(self, token))
    return loads


def test_a_new_token_is_decoded_twice(client, user, monkeypatch):
    """Met for the first time, a token is verified (one decode) and its header kept (another); the
    library's own path decoded it four times (extensions.JWTManager._verify)."""
    from volunteer_app.extensions import jwt as manager

    monkeypatch.setattr(manager, "_verified", {})
    loads = _decodes(monkeypatch)
    assert me(client, user.token).status_code == 200
    assert len(loads) == 2
    loads.clear()
    assert me(client, user.token).status_code == 200
    assert loads == []  # kept


def test_an_apps_decode_key_loader_is_asked(app, client, user, monkeypatch):
    """With a decode-key callback of the app's, a new token takes the library's path, which reads the
    header and claims first for it: the callback sees them, and its key decides."""
    from volunteer_app.extensions import jwt as manager

    asked = []

    def loader(header, claims):
        asked.append((header["alg"], claims["sub"]))
        return app.config["JWT_SECRET_KEY"] if len(asked) == 1 else "another-key-0123456789abcdef0123"

    monkeypatch.setattr(manager, "_decode_key_callback", loader)
    monkeypatch.setattr(manager, "_verified", {})
    assert me(client, user.token).status_code == 200
    assert asked == [("HS256", str(user.id))]
    monkeypatch.setattr(manager, "_verified", {})
    assert_error(me(client, user.token), 401, "token.invalid")
    assert len(asked) == 2


def test_refresh_token_works_for_30_days(client, user):
    with later(days=29, hours=23):
        assert refresh(client, user.refresh).status_code == 200


def test_refresh_token_expires_after_30_days(client, user):
    with later(days=30, seconds=1):
        assert_error(refresh(client, user.refresh), 401, "token.expired")


# ---- forged and broken tokens --------------------------------------------------------------------------


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def test_a_token_re_signed_with_the_app_key_passes(client, app, user):
    """Control for the forgeries below: the same claims, signed the way the app signs."""
    token = jwt.encode(claims_of(user.token), app.config["JWT_SECRET_KEY"], algorithm="HS256")
    assert me(client, token).json["id"] == user.id


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # our forged HS512 token
@pytest.mark.parametrize(
    ("key", "algorithm"),
    [
        ("another-secret-0123456789abcdef0123456789", "HS256"),
        (None, "HS512"),  # the app's own key, another algorithm
        ("", "none"),
    ],
)
def test_forged_tokens_are_401(client, app, user, key, algorithm):
    secret = app.config["JWT_SECRET_KEY"] if key is None else key
    token = jwt.encode(claims_of(user.token), secret, algorithm=algorithm)
    assert_error(me(client, token), 401, "token.invalid")


def test_changing_the_subject_breaks_the_signature(client, app, user):
    other = make_user(app)
    header, _, signature = user.token.split(".")
    claims = json.dumps({**claims_of(user.token), "sub": str(other.id)}).encode()
    payload = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
    assert_error(me(client, f"{header}.{payload}.{signature}"), 401, "token.invalid")


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({}, "token.missing"),
        ({"Authorization": "Bearer"}, "token.invalid"),
        ({"Authorization": "bearer"}, "token.invalid"),
        ({"Authorization": "Bearer not.a.token"}, "token.invalid"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, "token.missing"),
    ],
)
def test_missing_or_garbage_token_is_401(client, headers, error):
    assert_error(client.get("/api/v1/me", headers=headers), 401, error)


def test_deactivated_user_loses_access(client, app, user):
    with app.app_context():
        db.session.get(User, user.id).is_active = False
        db.session.commit()
    assert_error(me(client, user.token), 401, "token.revoked")
    assert_error(refresh(client, user.refresh), 401, "token.revoked")


# ---- the challenge of a 401, and the scheme name ----------------------------------------------------


def test_every_401_carries_a_bearer_challenge(client, app, user):
    """Issue 11, defect 9: a 401 carries WWW-Authenticate (RFC 7235); a refused token says
    error="invalid_token" (RFC 6750), a missing one does not. (assert_error checks both.)"""
    no_token = client.get("/api/v1/me")
    assert_error(no_token, 401, "token.missing")
    assert no_token.headers["WWW-Authenticate"] == 'Bearer realm="volunteer_app"'
    assert_error(
        client.get("/api/v1/me", headers={"Authorization": "Basic dXNlcjpwdw=="}), 401, "token.missing"
    )
    garbage = me(client, "not-a-token")
    assert_error(garbage, 401, "token.invalid")
    assert garbage.headers["WWW-Authenticate"] == (
        'Bearer realm="volunteer_app", error="invalid_token", error_description="The token is invalid"'
    )
    assert_error(client.get("/api/v1/me", headers={"Authorization": "Bearer a b"}), 401, "token.invalid")
    assert_error(me(client, user.refresh), 401, "token.wrong_type")
    assert_error(refresh(client, user.token), 401, "token.wrong_type")
    with later(minutes=16):
        assert_error(me(client, user.token), 401, "token.expired")
    newest = refresh(client, user.refresh).json
    assert_error(refresh(client, user.refresh), 401, "token.revoked")  # reuse, raised by the service
    assert_error(me(client, newest["access_token"]), 401, "token.revoked")
    assert_error(login(client, user.phone, "wrong-password"), 401, "auth.bad_credentials")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "bEaReR", "Bearer"])
def test_the_scheme_name_is_case_insensitive(client, user, scheme):
    """Issue 11, defect 9: `Authorization: bearer <token>` was refused (RFC 7235 § 2.1)."""
    r = client.get("/api/v1/me", headers={"Authorization": f"{scheme} {user.token}"})
    assert r.status_code == 200, r.json
    assert r.json["id"] == user.id
    r = client.post("/api/v1/auth/refresh", headers={"Authorization": f"{scheme}  {user.refresh}"})
    assert r.status_code == 200, r.json
    # Only the scheme: a token is still a token, and another scheme is still no bearer token.
    assert_error(
        client.get("/api/v1/me", headers={"Authorization": f"{scheme}x {user.token}"}), 401, "token.missing"
    )
