"""Seeing an unmasked ID number: a permission of its own (admins, and managers an admin granted it), a
reason each time, reach as everywhere, and every look in an append-only log admins read."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from tests.support import id_number
from volunteer_app.accounts.models import IdNumberAccess
from volunteer_app.extensions import db

API = "/api/v1"
REASON = "办理志愿者意外保险"


def reveal(client, by, user_id, reason=REASON, **extra):
    body = {"reason": reason, **extra} if reason is not None else extra
    return client.post(f"{API}/volunteers/{user_id}/id-number", json=body, headers=by.headers)


def grant(client, world, manager):
    r = client.post(f"{API}/id-number-viewers", json={"user_id": manager.id}, headers=world.admin.headers)
    assert r.status_code == 201, r.json
    return r


def logged(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(IdNumberAccess))


def test_a_manager_needs_the_grant_then_sees_and_is_logged(app, client, world):
    vol = world.vol_s1
    r = reveal(client, world.mgr_s1, vol.id)
    assert r.status_code == 403 and r.json["error"] == "id_number.not_permitted"
    assert logged(app) == 0
    assert grant(client, world, world.mgr_s1).json["name"] == "站长S1"
    r = reveal(client, world.mgr_s1, vol.id)
    assert r.status_code == 200, r.json
    assert r.json["id_number"] == id_number(1) and r.json["real_name"] == "志愿者一"
    # Reach as everywhere: the other center's volunteer is absent, like one that does not exist.
    grant(client, world, world.mgr_s4)
    assert reveal(client, world.mgr_s4, vol.id).status_code == 404
    assert reveal(client, world.mgr_s4, 10**9).status_code == 404
    # The log: who, whom, when, why; newest first, one cursor page at a time.
    reveal(client, world.admin, vol.id, reason="核对证明出具信息")
    page = client.get(f"{API}/id-number-access-log", query_string={"limit": 1}, headers=world.admin.headers)
    assert page.status_code == 200
    [newest] = page.json["items"]
    assert (newest["viewer_id"], newest["subject_id"], newest["reason"]) == (
        world.admin.id,
        vol.id,
        "核对证明出具信息",
    )
    assert newest["created_at"] and newest["subject_name"] == "志愿者一"
    nxt = client.get(
        f"{API}/id-number-access-log",
        query_string={"limit": 1, "cursor": page.json["next_cursor"]},
        headers=world.admin.headers,
    )
    [older] = nxt.json["items"]
    assert (older["viewer_id"], older["reason"]) == (world.mgr_s1.id, REASON)
    assert nxt.json["next_cursor"] is None
    by_viewer = client.get(
        f"{API}/id-number-access-log",
        query_string={"viewer_id": world.mgr_s1.id},
        headers=world.admin.headers,
    )
    assert [e["viewer_id"] for e in by_viewer.json["items"]] == [world.mgr_s1.id]
    # The person sees who looked, and why, in their own download.
    views = client.get(f"{API}/me/export", headers=vol.headers).get_json()["id_number_views"]
    assert [(v["viewer_id"], v["reason"]) for v in views] == [
        (world.mgr_s1.id, REASON),
        (world.admin.id, "核对证明出具信息"),
    ]
    # Taken away: refused again at once.
    assert (
        client.delete(f"{API}/id-number-viewers/{world.mgr_s1.id}", headers=world.admin.headers).status_code
        == 204
    )
    assert reveal(client, world.mgr_s1, vol.id).status_code == 403
    assert (
        client.delete(f"{API}/id-number-viewers/{world.mgr_s1.id}", headers=world.admin.headers).status_code
        == 404
    )


def test_only_managers_are_granted_and_only_once(app, client, world):
    r = client.post(
        f"{API}/id-number-viewers", json={"user_id": world.vol_s1.id}, headers=world.admin.headers
    )
    assert r.status_code == 409 and r.json["error"] == "id_number.viewer_not_manager"
    grant(client, world, world.mgr_s1)
    again = client.post(
        f"{API}/id-number-viewers", json={"user_id": world.mgr_s1.id}, headers=world.admin.headers
    )
    assert again.status_code == 409 and again.json["error"] == "id_number.viewer_exists"
    missing = client.post(f"{API}/id-number-viewers", json={"user_id": 10**9}, headers=world.admin.headers)
    assert missing.status_code == 404
    listed = client.get(f"{API}/id-number-viewers", headers=world.admin.headers).json["items"]
    assert [v["user_id"] for v in listed] == [world.mgr_s1.id]


def test_no_number_on_record(app, client, world):
    r = reveal(client, world.admin, world.resident.id)
    assert r.status_code == 404 and r.json["error"] == "id_number.none"
    assert logged(app) == 0


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "看看"},  # too short to say anything
        {"reason": "x" * 201},
        {"reason": None},
        {"reason": 42},
        {"reason": ["办理保险"]},
        {"reason": "办理保险\u0000"},
        {"reason": REASON, "id_number": "1"},
    ],
)
def test_hostile_reasons_are_refused_and_nothing_is_shown_or_logged(app, client, world, body):
    r = client.post(f"{API}/volunteers/{world.vol_s1.id}/id-number", json=body, headers=world.admin.headers)
    assert r.status_code == 422, r.json
    assert "id_number" not in (r.json.get("errors") or {}).get("json", {}) or body.get("id_number")
    assert id_number(1) not in r.get_data(as_text=True)
    assert logged(app) == 0


def test_the_log_is_append_only(app, client, world):
    assert reveal(client, world.admin, world.vol_s1.id).status_code == 200
    with app.app_context():
        with pytest.raises(sa.exc.DBAPIError):
            db.session.execute(sa.update(IdNumberAccess).values(reason="改写理由"))
            db.session.flush()
        db.session.rollback()
        assert db.session.scalars(select(IdNumberAccess.reason)).all() == [REASON]
