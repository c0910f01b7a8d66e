"""Every write of the API and of the console (enumerated from the url_map) sent with the console's
cookie: without its CSRF value, or with another session's, it is 403 `auth.csrf` and no row changes.
A revoked console session (signed out everywhere, one session ended, or the cookie replayed after
signing out) sends the console's pages to the sign-in page and the API answers 401."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.console.url_map import CONSOLE_GETS, WRITE_ROUTES, converter, fill
from tests.support import console_sign_in, fresh_session
from volunteer_app.auth.models import AuthSession
from volunteer_app.extensions import db

COOKIE = "volunteer_console"


def _counts(app) -> dict[str, int]:
    with app.app_context():
        return {
            table.name: db.session.scalar(sa.select(sa.func.count()).select_from(table))
            for table in db.metadata.sorted_tables
        }


def _url(rule, world, session_id: str) -> str:
    """The write's address with things that exist and are the admin's to change (so a write that got
    through would change rows)."""
    ids = {
        "site_id": world.sites["S1"],
        "team_id": world.teams["T1"],
        "user_id": world.vol_s1.id,
        "application_id": world.applications["applicant"],
    }
    values = {}
    for name in rule.arguments:
        kind = converter(rule, name)
        if kind == "uuid":
            values[name] = session_id
        elif kind == "int":
            values[name] = str(ids.get(name, 1))
        else:
            values[name] = "ABCDEFGH"
    return fill(rule, values)


def _session_id(app, user_id: int) -> str:
    with app.app_context():
        return db.session.scalars(
            sa.select(AuthSession.id).where(AuthSession.user_id == user_id).order_by(AuthSession.id)
        ).first()


@pytest.fixture
def admin_client(app, world):
    """The admin signed in to the console (twice: two sessions' CSRF values), and a phone session."""
    client = app.test_client()
    other_csrf = console_sign_in(app, app.test_client(), world.admin.id)
    csrf = console_sign_in(app, client, world.admin.id)
    assert csrf != other_csrf
    mgr_csrf = console_sign_in(app, app.test_client(), world.mgr_s1.id)
    return client, csrf, (other_csrf, mgr_csrf)


def test_every_write_with_the_cookie_needs_its_own_csrf_value(app, world, admin_client):
    client, csrf, others = admin_client
    phone_session = _session_id(app, world.admin.id)
    before = _counts(app)
    checked = []
    for rule, method in WRITE_ROUTES:
        url = _url(rule, world, phone_session)
        anonymous = app.test_client().open(url, method=method, json={})
        assert anonymous.status_code != 500, (method, url)
        if anonymous.status_code != 401:
            continue  # a write that needs no sign-in (register, login, SMS code): no cookie authority
        for header in ({}, {"X-CSRF-Token": ""}, {"X-CSRF-Token": others[0]}, {"X-CSRF-Token": others[1]}):
            response = client.open(url, method=method, json={}, headers=header)
            if rule.endpoint == "auth.Refresh":
                # The cookie is an access token: refreshing takes a refresh token, which it is not.
                assert response.status_code == 401, (method, url, header, response.status_code)
                continue
            assert response.status_code == 403, (method, url, header, response.status_code, response.json)
            assert response.json["error"] == "auth.csrf", (method, url, response.json)
        checked.append((method, rule.rule))
    assert _counts(app) == before
    assert len(checked) > 40, checked  # the sweep reached the API's writes
    # The same cookie with its own value does get through (the refusals above were for the value).
    response = client.post(
        f"/api/v1/sites/{world.sites['S1']}/teams", json={"name": "新的队"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 201, response.json


@pytest.mark.parametrize("value", ["é", "\u00ff" * 43, "中".encode().decode("latin-1"), "\x7f", " "])
def test_a_csrf_header_beyond_ascii_is_refused_not_a_server_error(app, world, admin_client, value):
    """(Was a 500: the JWT library's compare_digest raises on non-ASCII text.)"""
    client, _csrf, _others = admin_client
    before = _counts(app)
    response = client.post(
        f"/api/v1/sites/{world.sites['S1']}/teams", json={"name": "队"}, headers={"X-CSRF-Token": value}
    )
    assert response.status_code == 403 and response.json["error"] == "auth.csrf", response.status_code
    response = client.post("/console/logout", headers={"X-CSRF-Token": value})
    assert response.status_code == 403 and response.json["error"] == "auth.csrf"
    assert _counts(app) == before
    # A phone's bearer token ignores the header, whatever it holds.
    response = app.test_client().post(
        f"/api/v1/sites/{world.sites['S1']}/teams",
        json={"name": "队"},
        headers={**world.admin.headers, "X-CSRF-Token": value},
    )
    assert response.status_code == 201, response.json


def test_the_csrf_value_is_not_taken_from_a_form_field_or_the_query(app, world, admin_client):
    client, csrf, _others = admin_client
    before = _counts(app)
    url = f"/api/v1/sites/{world.sites['S1']}/teams"
    for response in (
        client.post(url, json={"name": "队", "csrf_token": csrf}),
        client.post(f"{url}?csrf_token={csrf}", json={"name": "队"}),
        client.post(url, data={"name": "队", "csrf_token": csrf}),
        client.post(url, json={"name": "队"}, headers={"X-CSRF-TOKEN-X": csrf}),
        client.post(url, json={"name": "队"}, headers={"X-CSRF-Token": csrf + "x"}),
        client.post(url, json={"name": "队"}, headers={"X-CSRF-Token": csrf.upper()}),
    ):
        assert response.status_code in (403, 415), response.status_code
    assert _counts(app) == before


@pytest.mark.parametrize("how", ["everywhere", "one session", "sign out and replay the cookie"])
def test_a_revoked_console_session_is_refused_everywhere(app, world, how):
    client = app.test_client()
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    cookie = client.get_cookie(COOKIE).value
    assert client.get("/console/").status_code == 200
    if how == "everywhere":
        assert client.delete("/api/v1/auth/sessions", headers={"X-CSRF-Token": csrf}).status_code == 204
    elif how == "one session":
        phone = fresh_session(app, world.mgr_s1.id)
        listed = app.test_client().get("/api/v1/auth/sessions", headers=phone.headers).json["items"]
        console = next(s for s in listed if not s["current"])
        response = app.test_client().delete(f"/api/v1/auth/sessions/{console['id']}", headers=phone.headers)
        assert response.status_code == 204
    else:
        assert client.post("/console/logout", headers={"X-CSRF-Token": csrf}).status_code == 200
        assert client.get_cookie(COOKIE) is None
        client.set_cookie(COOKIE, cookie)  # the old cookie, kept by whoever copied it
    before = _counts(app)
    for rule in CONSOLE_GETS:
        if rule.endpoint in ("console.static", "console.sign_in"):
            continue
        url = fill(rule, {name: "1" for name in rule.arguments})
        response = client.get(url)
        assert response.status_code == 302, (url, response.status_code)
        assert response.headers["Location"].startswith("/console/login?next="), url
    assert client.get("/console/login").status_code == 200  # the sign-in page, not a loop
    me = client.get("/api/v1/me")
    assert me.status_code == 401 and me.json["error"] in ("token.revoked", "token.missing"), me.json
    response = client.post(
        f"/api/v1/sites/{world.sites['S1']}/teams", json={"name": "队"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 401, response.status_code
    assert client.post("/console/logout", headers={"X-CSRF-Token": csrf}).status_code == 401
    assert _counts(app) == before
