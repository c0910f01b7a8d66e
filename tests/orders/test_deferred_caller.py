"""A resident's new order checks its caller in its own statement (auth_required(defer=writing_alone),
intake._for_token): on PostgreSQL without an Idempotency-Key, the view reads nothing of the caller
first; the INSERT is written only if their session is live, their account active, their home station
still the one their token names and the site cache's token still the one the process's settings were
read under. Whatever changed, the answer is the one an undeferred caller gets: 401 for a revoked
session or a closed account (before any other error), the new home station's order, the new settings.
On SQLite (no deferral) the same requests get the same answers."""

from __future__ import annotations

import pytest
from flask_jwt_extended import create_access_token
from sqlalchemy import func, select, update

from tests.api.helpers import assert_error
from tests.orders.conftest import order_body
from tests.sites.test_cache import other  # noqa: F401  (a second app: another worker's cache)
from volunteer_app.accounts.models import User
from volunteer_app.auth.models import AuthSession
from volunteer_app.auth.tokens import HINTS
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order

API = "/api/v1"


def _orders(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Order))


def _warm(app, client, person) -> None:
    """Two orders: the process's site cache filled and the order's statement planned, as in service."""
    for _ in range(2):
        assert client.post(f"{API}/orders", json=order_body(app), headers=person.headers).status_code == 201


def _session_of(app, person):
    with app.app_context():
        return db.session.scalars(
            select(AuthSession.id).where(AuthSession.user_id == person.id).order_by(AuthSession.created_at)
        ).all()[-1]


def test_the_answer_is_the_orders_detail_with_the_callers_name_and_phone(app, client, world):
    _warm(app, client, world.resident)
    made = client.post(f"{API}/orders", json=order_body(app), headers=world.resident.headers)
    assert made.status_code == 201
    detail = client.get(f"{API}/orders/{made.json['id']}", headers=world.resident.headers)
    assert made.json == detail.json
    assert made.json["resident"] == {"id": world.resident.id, "name": "居民", "phone": world.resident.phone}
    assert made.json["site_id"] == world.sites["S1"]


@pytest.mark.parametrize("body", ["valid", "invalid", "no_category"])
def test_a_revoked_session_is_401_before_anything_else_and_writes_nothing(app, client, world, body):
    _warm(app, client, world.resident)
    with app.app_context():
        db.session.execute(
            update(AuthSession)
            .where(AuthSession.id == _session_of(app, world.resident))
            .values(revoked_at=utcnow(), revoked_reason="test")
        )
        db.session.commit()
    data = {
        "valid": order_body(app),
        "invalid": {**order_body(app), "volunteers_needed": 0},
        "no_category": order_body(app, category_id=987654),
    }[body]
    before = _orders(app)
    response = client.post(f"{API}/orders", json=data, headers=world.resident.headers)
    assert_error(response, 401, "token.revoked")
    assert _orders(app) == before


def test_a_closed_account_is_401_and_writes_nothing(app, client, world):
    _warm(app, client, world.resident)
    with app.app_context():
        db.session.execute(update(User).where(User.id == world.resident.id).values(is_active=False))
        db.session.commit()
    before = _orders(app)
    response = client.post(f"{API}/orders", json=order_body(app), headers=world.resident.headers)
    assert_error(response, 401, "token.revoked")
    assert _orders(app) == before


def test_a_home_station_changed_since_the_token_was_issued_takes_the_order(app, client, world):
    """The token still names S1; the resident has moved to S2: the order goes to S2."""
    _warm(app, client, world.resident)
    r = client.patch(f"{API}/me", json={"home_site_id": world.sites["S2"]}, headers=world.resident.headers)
    assert r.status_code == 200, r.json
    made = client.post(f"{API}/orders", json=order_body(app), headers=world.resident.headers)
    assert made.status_code == 201 and made.json["site_id"] == world.sites["S2"]
    with app.app_context():
        assert db.session.get(Order, made.json["id"]).site_id == world.sites["S2"]


def test_a_token_without_hints_is_served_as_before(app, client, world):
    """An access token issued before tokens carried hints (or by anything that gives none)."""
    with app.test_request_context():
        token = create_access_token(
            identity=str(world.resident.id), additional_claims={"sid": _session_of(app, world.resident)}
        )
    headers = {"Authorization": f"Bearer {token}"}
    _warm(app, client, world.resident)
    made = client.post(f"{API}/orders", json=order_body(app), headers=headers)
    assert made.status_code == 201 and made.json["resident"]["id"] == world.resident.id


def test_hints_that_lie_are_checked_not_trusted(app, client, world):
    """A token whose hint names a station that is not the account's (a hint is only ever a guess: the
    statement checks it) gets the account's own station."""
    with app.test_request_context():
        token = create_access_token(
            identity=str(world.resident.id),
            additional_claims={"sid": _session_of(app, world.resident), HINTS: {"home": world.sites["S2"]}},
        )
    _warm(app, client, world.resident)
    made = client.post(f"{API}/orders", json=order_body(app), headers={"Authorization": f"Bearer {token}"})
    assert made.status_code == 201 and made.json["site_id"] == world.sites["S1"]


def test_settings_changed_by_another_worker_are_the_orders(app, client, other, world):  # noqa: F811
    """This process's cached settings say an order is dispatched within one span; another worker
    changes it: the next order here is due by the new one."""
    ordering = other.test_client()

    def due_minutes() -> float:
        made = ordering.post(f"{API}/orders", json=order_body(app), headers=world.resident.headers)
        assert made.status_code == 201, made.json
        with app.app_context():
            order = db.session.get(Order, made.json["id"])
            return (order.dispatch_due_at - order.created_at).total_seconds() / 60

    due_minutes()
    first = due_minutes()
    r = client.patch(
        f"{API}/sites/{world.sites['C1']}/settings",
        json={"dispatch_within_minutes": round(first) + 77},
        headers=world.mgr_c1.headers,
    )
    assert r.status_code == 200, r.json
    assert round(due_minutes()) == round(first) + 77


def test_a_proxy_order_reads_its_caller_first(app, client, world):
    _warm(app, client, world.resident)
    body = {**order_body(app), "resident_phone": world.resident.phone, "resident_name": "居民"}
    made = client.post(f"{API}/orders", json=body, headers=world.mgr_s1.headers)
    assert made.status_code == 201 and made.json["proxy_id"] == world.mgr_s1.id
    # A resident who is not staff may not order for someone else, deferred or not.
    assert_error(client.post(f"{API}/orders", json=body, headers=world.resident.headers), 422)
