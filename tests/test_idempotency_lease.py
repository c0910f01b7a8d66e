"""Idempotency-Key across failures and overlaps: a dead request leaves nothing behind, the record
commits with the effect, a duplicate sent while the first runs waits and replays it, and an older
release's unfinished claims (with a lease) are still honoured. The crash of a real process:
test_idempotency_crash.py."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.test_idempotency import API, application, apply, count
from volunteer_app import idempotency
from volunteer_app.accounts import service
from volunteer_app.db import utcnow
from volunteer_app.extensions import db

PATH = f"{API}/me/volunteer-application"


class Crash(BaseException):
    """The process dies here: no handler of the app runs (the transaction is simply never committed)."""


def after_the_service(monkeypatch, then):
    """Run `then()` after the application's service has committed, before the view returns."""
    original = service.apply_as_volunteer

    def wrapped(*args, **kwargs):
        result = original(*args, **kwargs)
        then()
        return result

    monkeypatch.setattr(service, "apply_as_volunteer", wrapped)


def key_rows(app, key: str = "key-1") -> list[tuple]:
    with app.app_context():
        table = idempotency.IdempotencyKey
        query = sa.select(table.attempt, table.status_code).where(table.key == key)
        return [tuple(row) for row in db.session.execute(query)]


def test_a_request_that_dies_leaves_no_claim_and_a_retry_runs_at_once(app, client, world, monkeypatch):
    def crash():
        raise Crash

    after_the_service(monkeypatch, crash)
    with pytest.raises(Crash):
        apply(client, world.resident, application(world))
    monkeypatch.undo()
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 0  # nothing happened
    assert key_rows(app) == []  # and no claim is left to wait for

    retry = apply(client, world.resident, application(world))
    assert retry.status_code == 201
    assert "Idempotent-Replayed" not in retry.headers
    again = apply(client, world.resident, application(world))
    assert (again.status_code, again.json, again.headers["Idempotent-Replayed"]) == (201, retry.json, "true")
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 1


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


def test_a_duplicate_sent_while_the_first_runs_waits_for_it_and_replays_it(app, world, monkeypatch):
    running = threading.Event()

    def slow():
        running.set()
        time.sleep(1.0)

    after_the_service(monkeypatch, slow)
    body = application(world)
    first = {}
    thread = threading.Thread(target=lambda: first.update(r=apply(app.test_client(), world.resident, body)))
    thread.start()
    assert running.wait(timeout=30)  # the first has done its work and holds the key, uncommitted
    started = time.monotonic()
    retry = apply(app.test_client(), world.resident, body)
    waited = time.monotonic() - started
    thread.join(timeout=30)
    assert first["r"].status_code == 201
    assert "Idempotent-Replayed" not in first["r"].headers
    assert (retry.status_code, retry.json, retry.headers.get("Idempotent-Replayed")) == (
        201,
        first["r"].json,
        "true",
    )
    assert waited > 0.3  # it waited for the first rather than answering at once
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 1
    assert key_rows(app) == [(1, 201)]


# ---- an older release's claims: committed on their own, unfinished, with a lease ------------------------


def post(client, person, body: dict, key: str = "key-1"):
    """POST the application as these exact bytes (so the test can compute their fingerprint)."""
    headers = dict(person.headers) | {"Idempotency-Key": key}
    return client.post(PATH, data=json.dumps(body), content_type="application/json", headers=headers)


def legacy_claim(app, person, body: dict, *, lease_left: float, key: str = "key-1") -> None:
    """The row an older release left for a claim of `body` whose request has not finished."""
    with app.test_request_context(
        PATH, method="POST", data=json.dumps(body), content_type="application/json"
    ):
        fingerprint = idempotency._fingerprint()
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(
            sa.insert(idempotency.IdempotencyKey).values(
                scope=f"user:{person.id}",
                key=key,
                fingerprint=fingerprint,
                attempt=1,
                locked_until=utcnow() + timedelta(seconds=lease_left),
                created_at=utcnow(),
            )
        )


def test_an_older_release_s_live_claim_is_in_progress(app, client, world):
    body = application(world)
    legacy_claim(app, world.resident, body, lease_left=60)
    r = post(client, world.resident, body)
    assert (r.status_code, r.json["error"]) == (409, "idempotency.in_progress")
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 0
    assert key_rows(app) == [(1, None)]


def test_an_older_release_s_claim_past_its_lease_is_taken_over(app, client, world):
    body = application(world)
    legacy_claim(app, world.resident, body, lease_left=-1)
    r = post(client, world.resident, body)
    assert r.status_code == 201
    assert "Idempotent-Replayed" not in r.headers
    assert key_rows(app) == [(2, 201)]  # the takeover bumped the fence: the old owner cannot record
    again = post(client, world.resident, body)
    assert (again.status_code, again.json, again.headers["Idempotent-Replayed"]) == (201, r.json, "true")
    assert count(app, "volunteer_applications", user_id=world.resident.id) == 1


def test_another_body_is_422_even_on_a_dead_older_claim(app, client, world):
    legacy_claim(app, world.resident, application(world), lease_left=-1)
    r = post(client, world.resident, application(world, real_name="王五"))
    assert (r.status_code, r.json["error"]) == (422, "idempotency.key_reused")
    assert key_rows(app) == [(1, None)]
