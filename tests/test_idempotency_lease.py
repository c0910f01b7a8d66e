"""Idempotency-Key across a crash: a claim's lease and takeover, the record committed with the effect,
and at most once when the first request is slow rather than dead (the crash itself, of a real process:
test_idempotency_crash.py)."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from tests.test_idempotency import application, apply, count
from volunteer_app import idempotency
from volunteer_app.accounts import service
from volunteer_app.extensions import db

LEASE = 1.0


class Crash(BaseException):
    """The process dies here: no handler of the app runs (the transaction is simply never committed)."""


@pytest.fixture
def short_lease(app, monkeypatch):
    monkeypatch.setitem(app.config["APP"], "idempotency_lease_seconds", LEASE)


def after_the_service(monkeypatch, then):
    """Run `then()` after the application's service has committed, before the view returns."""
    original = service.apply_as_volunteer

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        then()
        return result

    monkeypatch.setattr(service, "apply_as_volunteer", wrapped)


def key_row(app, key: str):
    with app.app_context():
        return db.session.execute(
            sa.select(idempotency.IdempotencyKey.attempt, idempotency.IdempotencyKey.status_code).where(
                idempotency.IdempotencyKey.key == key
            )
        ).one()


def test_a_claim_left_by_a_dead_request_is_taken_over_after_its_lease(
    app, client, world, short_lease, monkeypatch
):
    def crash():
        raise Crash

    after_the_service(monkeypatch, crash)
    with pytest.raises(Crash):
        apply(client, world.resident, application(world))
    crashed = time.monotonic()
    monkeypatch.undo()
    monkeypatch.setitem(app.config["APP"], "idempotency_lease_seconds", LEASE)
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 0  # nothing happened

    busy = apply(client, world.resident, application(world))
    assert (busy.status_code, busy.json["error"]) == (409, "idempotency.in_progress")  # within the lease
    time.sleep(max(0.0, crashed + LEASE + 0.1 - time.monotonic()))
    retry = apply(client, world.resident, application(world))
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers
    assert key_row(app, "key-1") == (2, 201)  # the second attempt recorded it
    again = apply(client, world.resident, application(world))
    assert (again.status_code, again.json, again.headers["Idempotent-Replayed"]) == (201, retry.json, "true")
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 1


def test_another_body_is_422_even_past_the_lease(app, client, world, short_lease, monkeypatch):
    def crash():
        raise Crash

    after_the_service(monkeypatch, crash)
    with pytest.raises(Crash):
        apply(client, world.resident, application(world))
    time.sleep(LEASE + 0.1)
    r = apply(client, world.resident, application(world, real_name="王五"))
    assert (r.status_code, r.json["error"]) == (422, "idempotency.key_reused")


def test_the_effect_commits_with_the_record_or_not_at_all(app, client, world, monkeypatch):
    """A view failing after its service's commit leaves neither the effect nor the key."""

    def fail():
        raise RuntimeError("serialising the response failed")

    after_the_service(monkeypatch, fail)
    with pytest.raises(RuntimeError):
        apply(client, world.resident, application(world))
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 0
    assert count(app, "idempotency_keys") == 0
    monkeypatch.undo()
    assert apply(client, world.resident, application(world)).status_code == 201


def test_a_retry_past_the_lease_while_the_first_still_runs_replays_it(app, world, short_lease, monkeypatch):
    after_the_service(monkeypatch, lambda: time.sleep(LEASE * 2))
    first = {}
    thread = threading.Thread(target=lambda: first.update(r=apply(app.test_client(), world.resident, body)))
    body = application(world)
    thread.start()
    time.sleep(LEASE * 1.3)  # the first is past its lease but still running
    retry = apply(app.test_client(), world.resident, body)
    thread.join(timeout=30)
    assert first["r"].status_code == 201
    assert "Idempotent-Replayed" not in first["r"].headers
    assert (retry.status_code, retry.json, retry.headers.get("Idempotent-Replayed")) == (
        201,
        first["r"].json,
        "true",
    )
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 1


def test_a_claim_taken_over_before_its_command_began_applies_nothing(app, client, world, monkeypatch):
    original = idempotency._claim

    def claim_then_lose_it(*args):
        claim = original(*args)
        with db.engine.begin() as conn:  # another process took it over (the lease had passed)
            conn.execute(
                sa.update(idempotency.IdempotencyKey).values(attempt=idempotency.IdempotencyKey.attempt + 1)
            )
        return claim

    monkeypatch.setattr(idempotency, "_claim", claim_then_lose_it)
    r = apply(client, world.resident, application(world))
    assert (r.status_code, r.json["error"]) == (409, "idempotency.in_progress")
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 0
    assert key_row(app, "key-1") == (2, None)  # the new owner's claim stays
