"""Registration and password login over HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from tests.api.helpers import assert_error
from tests.auth.conftest import login, me
from volunteer_app.accounts.models import User
from volunteer_app.extensions import db

PHONE = "+8613800138000"
PASSWORD = "s3cret-passw0rd"


def register(client, stations, **fields):
    """POST /auth/register with a valid body; keyword arguments override fields, `...` removes one."""
    body = {"phone": "13800138000", "password": PASSWORD, "name": "张三", "home_site_id": stations["S1"]}
    body.update(fields)
    return client.post("/api/v1/auth/register", json={k: v for k, v in body.items() if v is not ...})


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


# ---- register ------------------------------------------------------------------------------------


def test_register_returns_tokens_and_the_resident(client, stations):
    r = register(client, stations)
    assert r.status_code == 201, r.json
    assert r.json["token_type"] == "Bearer"
    assert r.json["expires_in"] == 15 * 60
    assert r.json["access_token"] and r.json["refresh_token"]
    user = r.json["user"]
    assert user["phone"] == PHONE
    assert user["name"] == "张三"
    assert user["home_site"] == {"id": stations["S1"], "name": "站点S1", "kind": "station"}
    assert [g["role"] for g in user["roles"]] == ["resident"]
    assert user["id_number_masked"] is None and user["volunteer"] is None


def test_me_after_register(client, stations):
    registered = register(client, stations).json
    r = me(client, registered["access_token"])
    assert r.status_code == 200
    assert r.json["id"] == registered["user"]["id"]
    assert r.json["phone"] == PHONE


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("138 0013 8000", PHONE),
        ("138-0013-8000", PHONE),
        ("+86 138 0013 8000", PHONE),
        ("+1 650 253 0000", "+16502530000"),
    ],
)
def test_register_normalises_the_phone(client, stations, raw, stored):
    r = register(client, stations, phone=raw)
    assert r.status_code == 201, r.json
    assert r.json["user"]["phone"] == stored


@pytest.mark.parametrize("site", ["C1", "I1", "missing"])
def test_home_site_must_be_a_station(client, stations, site):
    r = register(client, stations, home_site_id=stations.get(site, 999_999))
    body = assert_error(r, 422, "site.not_station")
    assert "home_site_id" in body["errors"]["json"]
    assert user_count(client.application) == 0


@pytest.mark.parametrize(
    ("lat", "lng", "station"),
    [
        (30.281, 120.181, "S2"),
        (30.271, 120.169, "S1"),
        (30.26, 120.16, "S1"),  # on institute I1 itself: only stations count
        (30.19, 120.09, "S3"),
        (31.30, 121.50, "S4"),
    ],
)
def test_lat_lng_picks_the_nearest_station(client, stations, lat, lng, station):
    r = register(client, stations, home_site_id=..., lat=lat, lng=lng)
    assert r.status_code == 201, r.json
    assert r.json["user"]["home_site"]["id"] == stations[station]


@pytest.mark.parametrize("location", [{}, {"lat": 30.27}, {"lng": 120.17}])
def test_register_needs_a_station_or_a_location(client, stations, location):
    r = register(client, stations, home_site_id=..., **location)
    body = assert_error(r, 422, "auth.home_site_required")
    assert "home_site_id" in body["errors"]["json"]


@pytest.mark.parametrize("second", ["+8613800138000", "138 0013 8000"])
def test_duplicate_phone_is_409(client, stations, second):
    assert register(client, stations).status_code == 201
    r = register(client, stations, phone=second, name="李四")
    body = assert_error(r, 409, "phone.taken")
    assert "phone" in body["errors"]["json"]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("phone", ..., "validation.failed"),
        ("phone", "1234", "validation.failed"),
        ("phone", 13800138000, "validation.failed"),
        ("phone", "1" * 21, "validation.failed"),
        ("phone", "12345678901", "phone.invalid"),
        ("phone", "abcdefghijk", "phone.invalid"),
        ("password", ..., "validation.failed"),
        ("password", "short7!", "validation.failed"),
        ("password", "p" * 129, "validation.failed"),
        ("name", ..., "validation.failed"),
        ("name", "", "validation.failed"),
        ("name", "名" * 41, "validation.failed"),
        ("home_site_id", "S1", "validation.failed"),
        ("home_site_id", 0, "validation.failed"),
        ("home_site_id", 2**63, "validation.failed"),
        ("lat", 90.5, "validation.failed"),
        ("lng", -180.5, "validation.failed"),
        ("lat", "north", "validation.failed"),
        ("role", "admin", "validation.failed"),  # unknown field
        ("is_active", True, "validation.failed"),  # unknown field
    ],
)
def test_bad_input_is_422_naming_the_field(client, stations, field, value, error):
    r = register(client, stations, **{field: value})
    body = assert_error(r, 422, error)
    assert field in body["errors"]["json"]
    assert user_count(client.application) == 0


def test_malformed_json_is_400(client, stations):
    r = client.post("/api/v1/auth/register", data='{"phone": ', content_type="application/json")
    assert_error(r, 400, "request.malformed")


def test_password_is_stored_as_argon2id(client, stations, app):
    user_id = register(client, stations).json["user"]["id"]
    with app.app_context():
        stored = db.session.get(User, user_id).password_hash
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


# ---- login ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("phone", [PHONE, "13800138000", "138 0013 8000"])
def test_login_returns_working_tokens(client, stations, phone):
    user_id = register(client, stations).json["user"]["id"]
    r = login(client, phone, PASSWORD)
    assert r.status_code == 200, r.json
    assert r.json["user"]["id"] == user_id
    assert r.json["token_type"] == "Bearer"
    assert me(client, r.json["access_token"]).json["id"] == user_id


@pytest.mark.parametrize(
    ("phone", "password"),
    [
        (PHONE, "wrong-password"),
        (PHONE, PASSWORD.upper()),
        ("+8613900139000", PASSWORD),  # not registered
        ("not a phone", PASSWORD),
    ],
)
def test_bad_credentials_are_401_and_alike(client, stations, phone, password):
    register(client, stations)
    body = assert_error(login(client, phone, password), 401, "auth.bad_credentials")
    # The same body whichever part was wrong, so login does not reveal who is registered.
    assert body == assert_error(login(client, "+8613900139000", PASSWORD), 401, "auth.bad_credentials")


def test_login_message_follows_accept_language(client, stations):
    r = login(client, PHONE, "wrong-password", headers={"Accept-Language": "en"})
    assert assert_error(r, 401, "auth.bad_credentials")["message"] == "Wrong phone number or password"
    assert r.headers["Content-Language"] == "en"


def test_deactivated_user_cannot_log_in(client, stations, app):
    user_id = register(client, stations).json["user"]["id"]
    with app.app_context():
        db.session.get(User, user_id).is_active = False
        db.session.commit()
    assert_error(login(client, PHONE, PASSWORD), 401, "auth.bad_credentials")


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"phone", "password"}),
        ({"phone": PHONE}, {"password"}),
        ({"password": PASSWORD}, {"phone"}),
        ({"phone": PHONE, "password": PASSWORD, "remember": True}, {"remember"}),
    ],
)
def test_login_with_missing_or_unknown_fields_is_422(client, stations, body, fields):
    r = client.post("/api/v1/auth/login", json=body)
    assert set(assert_error(r, 422, "validation.failed")["errors"]["json"]) == fields
