"""Idempotency-Key on creating POSTs: replay, reuse with another body, release on failure, scope, races."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.race import race
from tests.support import PASSWORD, id_number, make_user, next_phone
from volunteer_app.extensions import db

API = "/api/v1"


def application(world, n: int = 60, **overrides) -> dict:
    return {"real_name": "李四", "id_number": id_number(n), "site_id": world.sites["S1"]} | overrides


def apply(client, person, body: dict, key: str | None = "key-1"):
    headers = dict(person.headers) | ({"Idempotency-Key": key} if key is not None else {})
    return client.post(f"{API}/me/volunteer-application", json=body, headers=headers)


def register(client, body: dict, key: str = "reg-1", address: str = "127.0.0.1"):
    return client.post(
        f"{API}/auth/register",
        json=body,
        headers={"Idempotency-Key": key},
        environ_base={"REMOTE_ADDR": address},
    )


def registration(world, phone: str | None = None) -> dict:
    return {
        "phone": phone or next_phone(),
        "password": PASSWORD,
        "name": "新居民",
        "home_site_id": world.sites["S1"],
    }


def count(app, table: str, **where) -> int:
    condition = " AND ".join(f"{k} = :{k}" for k in where) or "1 = 1"
    with app.app_context():
        return db.session.execute(
            sa.text(f"SELECT count(*) FROM {table} WHERE {condition}"), where
        ).scalar_one()


def test_the_same_key_and_body_replays_the_first_response(app, client, world):
    first = apply(client, world.resident, application(world))
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first.headers
    again = apply(client, world.resident, application(world))
    assert (again.status_code, again.json) == (201, first.json)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 1


def test_without_a_key_nothing_is_replayed(client, world):
    assert apply(client, world.resident, application(world), key=None).status_code == 201
    r = apply(client, world.resident, application(world), key=None)
    assert (r.status_code, r.json["error"]) == (409, "application.pending_exists")


def test_the_same_key_with_another_body_is_422(app, client, world):
    assert apply(client, world.resident, application(world)).status_code == 201
    r = apply(client, world.resident, application(world, real_name="王五"))
    assert (r.status_code, r.json["error"]) == (422, "idempotency.key_reused")
    assert "Idempotency-Key" in r.json["errors"]["headers"]


@pytest.mark.parametrize(
    "bad",
    [
        {"id_number": "110101199001010010"},  # schema passes, service rejects (checksum)
        {"id_number": "short"},  # schema rejects
        {"site_id": 999_999},  # service rejects: not a station
    ],
)
def test_a_failed_request_releases_its_key(app, client, world, bad):
    r = apply(client, world.resident, application(world, **bad))
    assert r.status_code == 422
    assert count(app, "idempotency_keys") == 0
    retry = apply(client, world.resident, application(world))
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers


def test_a_conflict_is_not_stored_either(app, client, world):
    r = apply(client, world.vol_s1, application(world))
    assert (r.status_code, r.json["error"]) == (409, "volunteer.already")
    assert count(app, "idempotency_keys") == 0


def test_keys_belong_to_their_user(app, client, world):
    other = make_user(app, home_site_id=world.sites["S1"])
    mine = apply(client, world.resident, application(world, n=61))
    theirs = apply(client, other, application(world, n=62))
    assert mine.status_code == theirs.status_code == 201
    assert mine.json["id"] != theirs.json["id"]
    assert "Idempotent-Replayed" not in theirs.headers
    # The same body with the same key from another user is its own request too.
    same = apply(client, world.applicant_s4, application(world, n=61))
    assert (same.status_code, same.json["error"]) == (409, "application.pending_exists")


@pytest.mark.parametrize("key", ["k" * 101, "", "bad\tkey"])
def test_a_malformed_key_is_422(app, client, world, key):
    r = apply(client, world.resident, application(world), key=key)
    assert (r.status_code, r.json["error"]) == (422, "idempotency.bad_key")
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 0


def test_a_key_of_100_characters_is_accepted(client, world):
    assert apply(client, world.resident, application(world), key="k" * 100).status_code == 201


def test_concurrent_requests_with_one_key_have_one_effect(app, world):
    body = application(world)
    responses = race(app, [lambda c: apply(c, world.resident, body, key="race")] * 10)
    assert all(r.status_code in (201, 409) for r in responses), [r.status_code for r in responses]
    created = [r for r in responses if r.status_code == 201]
    fresh = [r for r in created if "Idempotent-Replayed" not in r.headers]
    assert len(fresh) == 1
    assert {r.json["id"] for r in created} == {fresh[0].json["id"]}
    assert {r.json["error"] for r in responses if r.status_code == 409} <= {"idempotency.in_progress"}
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 1
    later = apply(app.test_client(), world.resident, body, key="race")
    assert (later.status_code, later.json) == (201, fresh[0].json)


def test_registration_keeps_no_response_at_rest(app, client, world):
    """Register ignores Idempotency-Key: a stored response would hold live tokens. A retry is 409."""
    body = registration(world)
    assert register(client, body).status_code == 201
    assert count(app, "idempotency_keys") == 0
    r = register(client, body)
    assert (r.status_code, r.json["error"]) == (409, "phone.taken")


def test_concurrent_registrations_of_one_phone_create_one_account(app, world):
    body = registration(world)
    responses = race(app, [lambda c: register(c, body, key="reg-race")] * 8)
    assert sorted(r.status_code for r in responses) == [201] + [409] * 7
    assert {r.json["error"] for r in responses if r.status_code == 409} == {"phone.taken"}
    assert count(app, "users", phone="+86" + body["phone"]) == 1
