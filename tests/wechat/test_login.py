"""Signing in from the mini-program (POST /auth/wechat) against the fake, and unbinding
(DELETE /me/wechat): new, bound and unbound paths, and every refusal in the one format."""

from __future__ import annotations

import sqlalchemy as sa

from tests.api.helpers import assert_error
from tests.support import PASSWORD, make_user
from tests.wechat.conftest import wechat_login
from volunteer_app.accounts.models import User
from volunteer_app.auth.models import AuthSession, WechatBinding
from volunteer_app.extensions import db

OPENID = "o-resident-1"


def bindings(app) -> list[tuple]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(sa.select(WechatBinding.user_id, WechatBinding.openid))]


def session_count(app, user_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).where(AuthSession.user_id == user_id))


def bind(client, fake, person, openid=OPENID, code="JS-BIND"):
    fake.codes[code] = openid
    fake.phone_codes["PH-" + code] = person.phone.removeprefix("+86")
    response = wechat_login(client, code, "PH-" + code)
    assert response.status_code == 200, response.get_json()
    return response


def test_first_sign_in_binds_the_account_of_the_confirmed_phone(wechat_app, fake, client):
    person = make_user(wechat_app, name="居民甲")
    response = bind(client, fake, person)
    body = response.get_json()
    # Exactly a phone login's answer: the same keys, tokens that work.
    password_login = client.post("/api/v1/auth/login", json={"phone": person.phone, "password": PASSWORD})
    assert (
        set(body)
        == set(password_login.get_json())
        == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    )
    assert body["user"]["id"] == person.id
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.get_json()["id"] == person.id
    renewed = client.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {body['refresh_token']}"}
    )
    assert renewed.status_code == 200
    assert bindings(wechat_app) == [(person.id, OPENID)]
    status = client.get("/api/v1/me/wechat", headers=person.headers).get_json()
    assert status["bound"] is True and OPENID not in str(status)


def test_a_bound_wechat_signs_in_with_the_login_code_alone(wechat_app, fake, client):
    person = make_user(wechat_app)
    bind(client, fake, person)
    phone_calls = len([r for r in fake.requests if "getuserphonenumber" in r.path])
    fake.codes["JS-2"] = OPENID
    response = wechat_login(client, "JS-2")
    assert response.status_code == 200 and response.get_json()["user"]["id"] == person.id
    # A phone code sent along is not needed and not spent.
    fake.codes["JS-3"] = OPENID
    assert wechat_login(client, "JS-3", "PH-unused").status_code == 200
    assert len([r for r in fake.requests if "getuserphonenumber" in r.path]) == phone_calls
    with wechat_app.app_context():
        sessions = db.session.scalar(
            sa.text("SELECT count(*) FROM auth_sessions WHERE user_id = :u"), {"u": person.id}
        )
    assert sessions == 4  # make_user's, the binding sign-in's and these two: a session each


def test_an_unbound_wechat_without_a_phone_code_is_asked_for_one(wechat_app, fake, client):
    fake.codes["JS-1"] = OPENID
    assert_error(wechat_login(client, "JS-1"), 401, "wechat.phone_required")
    assert bindings(wechat_app) == []


def test_a_phone_without_an_account_is_told_to_register(wechat_app, fake, client):
    fake.codes["JS-1"] = OPENID
    fake.phone_codes["PH-1"] = "13999999999"
    response = wechat_login(client, "JS-1", "PH-1", headers={"Accept-Language": "en"})
    body = assert_error(response, 422, "auth.phone_not_registered")
    assert body["errors"] == {"json": {"phone_code": ["not registered"]}}
    assert bindings(wechat_app) == []


def test_a_deactivated_account_does_not_sign_in(wechat_app, fake, client):
    person = make_user(wechat_app)
    bind(client, fake, person)
    with wechat_app.app_context():
        db.session.execute(sa.update(User).where(User.id == person.id).values(is_active=False))
        db.session.commit()
    fake.codes["JS-2"] = OPENID
    assert_error(wechat_login(client, "JS-2"), 401, "wechat.phone_required")
    fake.codes["JS-3"] = OPENID
    fake.phone_codes["PH-3"] = person.phone.removeprefix("+86")
    assert_error(wechat_login(client, "JS-3", "PH-3"), 422, "auth.phone_not_registered")


def test_bad_and_used_codes_are_refused(wechat_app, fake, client):
    assert_error(wechat_login(client, "never-issued"), 401, "wechat.code_invalid")
    person = make_user(wechat_app)
    bind(client, fake, person, code="JS-ONCE")
    assert_error(wechat_login(client, "JS-ONCE"), 401, "wechat.code_invalid")  # 40163: used
    fake.codes["JS-NEW"] = "o-other"
    assert_error(wechat_login(client, "JS-NEW", "PH-never"), 401, "wechat.phone_code_invalid")
    assert bindings(wechat_app) == [(person.id, OPENID)]


def test_an_account_bound_to_another_wechat_is_not_rebound(wechat_app, fake, client):
    person = make_user(wechat_app)
    bind(client, fake, person)
    fake.codes["JS-2"] = "o-second-wechat"
    fake.phone_codes["PH-2"] = person.phone.removeprefix("+86")
    assert_error(wechat_login(client, "JS-2", "PH-2"), 409, "wechat.bound_elsewhere")
    assert bindings(wechat_app) == [(person.id, OPENID)]


def test_wechat_unreachable_is_503_and_changes_nothing(wechat_app, fake, client):
    person = make_user(wechat_app)
    fake.codes["JS-1"] = OPENID
    fake.phone_codes["PH-1"] = person.phone.removeprefix("+86")
    fake.fail_next("busy")
    assert_error(wechat_login(client, "JS-1", "PH-1"), 503, "wechat.unavailable")
    fake.fail_next("none", "none", "http_502")  # the code, the token, then the phone number fails
    assert_error(wechat_login(client, "JS-1", "PH-1"), 503, "wechat.unavailable")
    fake.fail_next("rate_limited")
    assert_error(wechat_login(client, "JS-1"), 429, "rate_limited")
    assert bindings(wechat_app) == []
    with wechat_app.app_context():
        sessions = db.session.scalar(
            sa.text("SELECT count(*) FROM auth_sessions WHERE user_id = :u"), {"u": person.id}
        )
    assert sessions == 1  # make_user's only


def test_a_service_without_wechat_says_so(app, client):
    assert app.config["WECHAT"]["secret"] == ""  # (WECHAT_APP_SECRET not set)
    app.extensions.pop("wechat_client", None)
    assert_error(wechat_login(client, "JS-1"), 404, "wechat.disabled")
    app.extensions.pop("wechat_client", None)


def test_hostile_bodies_are_clear_4xx(wechat_app, fake, client):
    url = "/api/v1/auth/wechat"
    assert_error(client.post(url, json={}), 422)
    assert_error(client.post(url, json={"code": ""}), 422)
    assert_error(client.post(url, json={"code": "x" * 129}), 422)
    assert_error(client.post(url, json={"code": 12345}), 422)
    assert_error(client.post(url, json={"code": "JS", "phone_code": ["a"]}), 422)
    assert_error(client.post(url, json={"code": "JS", "extra": 1}), 422)
    assert_error(client.post(url, json=["JS"]), 422)
    assert_error(client.post(url, data="code=JS", content_type="text/plain"), 415)
    assert_error(client.post(url, data="{nope", content_type="application/json"), 400)
    assert fake.requests == []


def test_unbinding_stops_wechat_sign_in(wechat_app, fake, client):
    person = make_user(wechat_app)
    bind(client, fake, person)
    response = client.delete("/api/v1/me/wechat", headers=person.headers)
    assert response.status_code == 204 and response.data == b""
    assert bindings(wechat_app) == []
    fake.codes["JS-2"] = OPENID
    assert_error(wechat_login(client, "JS-2"), 401, "wechat.phone_required")
    assert_error(client.delete("/api/v1/me/wechat", headers=person.headers), 404, "wechat.not_bound")
    assert client.get("/api/v1/me/wechat", headers=person.headers).get_json() == {
        "bound": False,
        "bound_at": None,
        "subscriptions": [],
    }
    assert_error(client.delete("/api/v1/me/wechat"), 401)
    # The same WeChat may bind again (another account's phone, even).
    other = make_user(wechat_app)
    bind(client, fake, other, code="JS-3")
    assert bindings(wechat_app) == [(other.id, OPENID)]


def test_wechat_sign_ins_count_against_the_addresss_login_ceiling(wechat_app, fake, client, monkeypatch):
    monkeypatch.setitem(wechat_app.config["APP"], "login_limit_per_ip", "3/minute")
    person = make_user(wechat_app)
    bind(client, fake, person)  # 1
    assert (
        client.post("/api/v1/auth/login", json={"phone": person.phone, "password": PASSWORD}).status_code
        == 200
    )
    fake.codes["JS-2"] = OPENID
    assert wechat_login(client, "JS-2").status_code == 200  # 3: the ceiling is shared with phone logins
    fake.codes["JS-3"] = OPENID
    assert_error(wechat_login(client, "JS-3"), 429, "rate_limited")
    assert "JS-3" not in [r.query.get("js_code") for r in fake.requests]  # WeChat not even asked
