"""The console's sign-in, sign-out and sign-ins page; its cookie, CSRF and security headers. The pages'
forms are sent as console.js sends them (tests/console/forms.py); requests a page cannot make (no CSRF
value, a forged one, another's session) are made by hand."""

from __future__ import annotations

import re

from tests.console.forms import (
    collect,
    next_location,
    one_form,
    page_csrf,
    send,
    send_code,
    tagged,
    type_into,
)
from tests.support import PASSWORD, console_sign_in, fresh_session
from volunteer_app.auth.models import AuthSession
from volunteer_app.console.security import CSP
from volunteer_app.extensions import db

COOKIE = "volunteer_console"


def _login_page(client) -> str:
    response = client.get("/console/login")
    assert response.status_code == 200
    return re.search(r'name="csrf-token" content="([^"]+)"', response.text).group(1)


def test_pages_need_a_sign_in_and_come_back_after_it(client, world):
    response = client.get("/console/orders?status=submitted")
    assert response.status_code == 302
    login = response.headers["Location"]
    assert login.startswith("/console/login?next=/console/orders")
    page = client.get(login).text
    form = one_form(page, id="login-password")
    body = collect(form, {"phone": world.mgr_s1.phone, "password": PASSWORD})
    assert body == {"phone": world.mgr_s1.phone, "password": PASSWORD}
    response = send(client, form, page_csrf(page), body)
    assert response.status_code == 200, response.json
    assert next_location(form, response.json) == "/console/orders?status=submitted"  # back where it was
    cookie = response.headers.get_all("Set-Cookie")
    access = next(c for c in cookie if c.startswith(COOKIE + "="))
    assert "HttpOnly" in access and "SameSite=Lax" in access
    assert "Expires" not in access and "Max-Age" not in access  # ends with the browser
    page = client.get("/console/sessions")
    assert page.status_code == 200
    assert "当前登录" in page.text


def test_next_never_leaves_the_console(app, world):
    for target in ("https://evil.example/", "//evil.example/console/", "/api/v1/me"):
        client = app.test_client()
        token = _login_page(client)
        response = client.post(
            f"/console/session?next={target}",
            json={"phone": world.mgr_s1.phone, "password": PASSWORD},
            headers={"X-CSRF-Token": token},
        )
        assert response.json == {"next": "/console/"}


def test_sign_in_refuses_without_the_pages_token_and_with_wrong_credentials(app, client, world):
    with app.app_context():
        before = db.session.query(AuthSession).count()
    response = client.post("/console/session", json={"phone": world.mgr_s1.phone, "password": PASSWORD})
    assert response.status_code == 403 and response.json["error"] == "auth.csrf"  # made by hand
    page = client.get("/console/login").text
    form = one_form(page, id="login-password")
    wrong = collect(form, {"phone": world.mgr_s1.phone, "password": "wrong-pass-1"})
    response = send(client, form, page_csrf(page), wrong)
    assert response.status_code == 401 and response.json["error"] == "auth.bad_credentials"
    response = send(client, form, page_csrf(page), collect(form, {"phone": world.mgr_s1.phone}))
    assert response.status_code == 422 and "password" in response.json["errors"]["json"]
    response = client.post("/console/session", data="phone=1", headers={"X-CSRF-Token": _login_page(client)})
    assert response.status_code == 422
    with app.app_context():
        assert db.session.query(AuthSession).count() == before


def test_messages_follow_the_browsers_language(client, world):
    token = _login_page(client)
    response = client.post(
        "/console/session",
        json={"phone": world.mgr_s1.phone, "password": "wrong-pass-1"},
        headers={"X-CSRF-Token": token, "Accept-Language": "en-GB,en;q=0.9"},
    )
    assert response.json["message"] == "Wrong phone number or password"
    page = client.get("/console/login", headers={"Accept-Language": "en-US,en"})
    assert "Sign in with password" in page.text and '<html lang="en">' in page.text
    assert "密码登录" in client.get("/console/login").text


def test_the_logins_rate_limit_is_the_apis_own(app, client, world):
    limit = int(app.config["APP"]["login_limit_per_phone"].split("/")[0])
    token = _login_page(client)
    wrong = {"phone": world.mgr_s1.phone, "password": "wrong-pass-1"}
    for _ in range(limit - 1):
        assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
    assert client.post("/console/session", json=wrong, headers={"X-CSRF-Token": token}).status_code == 401
    response = client.post(
        "/console/session", json={**wrong, "password": PASSWORD}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 429
    assert client.post("/api/v1/auth/login", json=wrong).status_code == 429


def test_sms_code_sign_in(app, client, world):
    page = client.get("/console/login").text
    form = one_form(page, id="login-sms")
    (button,) = tagged(page, "data-send-code")
    assert send_code(client, type_into(form, {"phone": world.mgr_s1.phone}), button).status_code == 200
    code = next(
        code for phone, code in reversed(app.extensions["sms_sender"].sent) if phone == world.mgr_s1.phone
    )
    body = collect(form, {"phone": world.mgr_s1.phone, "code": code})
    assert body == {"phone": world.mgr_s1.phone, "code": code}
    response = send(client, form, page_csrf(page), body)
    assert response.status_code == 200, response.json
    assert client.get(next_location(form, response.json)).status_code == 200


def test_api_changes_with_the_cookie_need_the_csrf_header(app, client, world):
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    assert client.get("/api/v1/me").status_code == 200  # reads need no token of the page
    body = {"name": "新的队"}
    response = client.post(f"/api/v1/sites/{world.sites['S1']}/teams", json=body)
    assert response.status_code == 403 and response.json["error"] == "auth.csrf"
    response = client.post(
        f"/api/v1/sites/{world.sites['S1']}/teams", json=body, headers={"X-CSRF-Token": "forged"}
    )
    assert response.status_code == 403
    response = client.post(
        f"/api/v1/sites/{world.sites['S1']}/teams", json=body, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 201


def test_signing_out_ends_the_cookie_and_everywhere_ends_the_phones_too(app, client, world):
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    phone = fresh_session(app, world.mgr_s1.id)
    page = client.get("/console/").text
    assert page_csrf(page) == csrf
    sign_out = one_form(page, api="/console/logout")  # the header's button
    assert send(client, sign_out, "").status_code == 403  # no CSRF value: nothing ended
    assert client.get("/console/").status_code == 200
    response = send(client, sign_out, page_csrf(page))
    assert response.status_code == 200 and next_location(sign_out, response.json) == "/console/login"
    assert client.get("/console/").status_code == 302
    assert client.get("/api/v1/me", headers=phone.headers).status_code == 200  # only this sign-in

    console_sign_in(app, client, world.mgr_s1.id)
    page = client.get("/console/sessions").text
    everywhere = one_form(page, api="/api/v1/auth/sessions")
    assert everywhere.method == "DELETE" and "data-confirm" in everywhere.attrs
    response = send(client, everywhere, page_csrf(page))
    assert response.status_code == 204
    assert next_location(everywhere, None) == "/console/login"
    assert client.get("/console/").status_code == 302
    assert client.get("/api/v1/me", headers=phone.headers).status_code == 401


def test_one_sign_in_ended_from_the_list(app, client, world):
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    phone = fresh_session(app, world.mgr_s1.id)
    other = fresh_session(app, world.mgr_s2.id)
    items = client.get("/api/v1/auth/sessions", headers=phone.headers).json["items"]
    assert sum(1 for i in items if i["current"]) == 1 and len(items) >= 2  # the console's and this phone's
    phone_sid = next(i["id"] for i in items if i["current"])
    other_sid = client.get("/api/v1/auth/sessions", headers=other.headers).json["items"][0]["id"]
    page = client.get("/console/sessions").text
    assert f"/api/v1/auth/sessions/{other_sid}" not in page  # not listed; made by hand it is not found:
    assert (
        client.delete(f"/api/v1/auth/sessions/{other_sid}", headers={"X-CSRF-Token": csrf}).status_code == 404
    )
    end = one_form(page, api=f"/api/v1/auth/sessions/{phone_sid}")
    assert end.method == "DELETE" and next_location(end, None) == "reload"
    assert send(client, end, csrf).status_code == 204
    assert client.get("/api/v1/me", headers=phone.headers).status_code == 401
    assert client.get("/api/v1/me", headers=other.headers).status_code == 200
    again = send(client, end, csrf)  # the page as it was before the reload
    assert again.status_code == 409 and again.json["error"] == "session.ended"
    page = client.get("/console/sessions")
    assert page.status_code == 200 and f"/api/v1/auth/sessions/{phone_sid}" not in page.text


def test_not_a_manager_sees_the_403_page(app, client, world):
    console_sign_in(app, client, world.vol_s1.id)
    response = client.get("/console/")
    assert response.status_code == 403
    assert "管理后台供" in response.text


def test_every_page_carries_the_security_headers(app, client, world):
    for path in ("/console/login", "/console/nothing-here", "/console/static/console.js", "/console/"):
        response = client.get(path)
        assert response.headers["Content-Security-Policy"] == CSP, path
        assert "frame-ancestors 'none'" in CSP and "script-src 'self'" in CSP
        assert response.headers["X-Frame-Options"] == "DENY"
    console_sign_in(app, client, world.mgr_s1.id)
    for path in ("/console/", "/console/sessions", f"/console/?site={world.sites['S4']}"):
        response = client.get(path)
        assert response.headers["Content-Security-Policy"] == CSP, path
        assert "<script>" not in response.text and " style=" not in response.text


def test_out_of_reach_and_unknown_are_the_consoles_404(app, client, world):
    console_sign_in(app, client, world.mgr_s1.id)
    for path in (
        f"/console/?site={world.sites['S2']}",
        f"/console/?site={world.sites['S4']}",
        "/console/x/y",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "不在您管理的站点范围内" in response.text
        assert "站点S2" not in response.text and "站点S4" not in response.text
    assert client.get(f"/console/?site={world.sites['S1']}").status_code == 200


def test_the_cookie_is_secure_outside_development(app):
    from volunteer_app.settings import build_config

    config = build_config(
        {"SECRET_KEY": "x" * 40, "JWT_SECRET_KEY": "x" * 40, "PII_KEY": "y" * 40},
        environ={
            "VOLUNTEER_ENV": "production",
            "VOLUNTEER_SECRET_KEY": "x" * 40,
            "VOLUNTEER_PII_KEY": "y" * 40,
            "VOLUNTEER_PUBLIC_BASE_URL": "https://v.example.cn",
            "VOLUNTEER_SMS_SENDER": "volunteer_app.auth.sms:MemorySender",
        },
    )
    assert config["JWT_COOKIE_SECURE"] is True
    assert app.config["JWT_COOKIE_SECURE"] is False
