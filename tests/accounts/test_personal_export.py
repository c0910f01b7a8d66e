"""GET /me/export: everything held about a person, as a JSON file; no table with a user reference is
missed (a new one fails here until the export covers or excludes it), and no secret is written."""

from __future__ import annotations

import json

import pytest

from tests.api.endpoints import (
    _certificate,
    _complaint,
    _family_link,
    _notified,
    _order,
    _redemption_code,
    _wechat_bound,
)
from tests.support import PASSWORD, caller, id_number
from volunteer_app.accounts.models import User
from volunteer_app.extensions import db
from volunteer_app.notifications import devices
from volunteer_app.personal import export

API = "/api/v1"


def user_references() -> set[str]:
    """Every "table.column" of the schema that points at users.id, and users.id itself."""
    refs = {"users.id"}
    for table in db.metadata.tables.values():
        for column in table.columns:
            if any(fk.column.table.name == "users" for fk in column.foreign_keys):
                refs.add(f"{table.name}.{column.name}")
    return refs


def test_every_user_reference_is_exported_or_excluded_with_a_reason(app):
    refs = user_references()
    assert len(refs) > 40  # the scan sees the whole schema (every domain's models are imported)
    missing = sorted(refs - set(export.COVERED) - set(export.EXCLUDED))
    assert not missing, f"export these in personal/export.py (COVERED) or say why not (EXCLUDED): {missing}"
    assert not set(export.COVERED) & set(export.EXCLUDED)
    stale = sorted((set(export.COVERED) | set(export.EXCLUDED)) - refs)
    assert not stale, f"no such user reference: {stale}"
    assert all(len(reason) > 20 for reason in export.EXCLUDED.values())


def test_a_new_table_with_a_user_reference_fails_the_check(app):
    """The check above is not vacuous: a table added to the schema is found."""
    import sqlalchemy as sa

    probe = sa.Table(
        "privacy_probe",
        db.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("user_id", sa.ForeignKey("users.id")),
    )
    try:
        assert "privacy_probe.user_id" in user_references() - set(export.COVERED) - set(export.EXCLUDED)
    finally:
        db.metadata.remove(probe)


def download(client, person) -> dict:
    r = client.get(f"{API}/me/export", headers=person.headers)
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    assert r.headers["Content-Disposition"].startswith('attachment; filename="volunteer-export-')
    assert r.headers["Content-Disposition"].endswith('.json"')
    assert r.headers["Cache-Control"] == "no-store"
    return json.loads(r.get_data(as_text=True))


def test_a_volunteer_downloads_their_whole_history(app, client, world):
    vol = world.vol_s1
    _order(app, world, "S1", "completed")  # an order served: assignment with check-in and check-out
    _certificate(app, world, "S1")  # a credit and a certificate
    _redemption_code(app, world, "S1")
    _family_link(app, world, "S1")
    _notified(app, world, "S1")
    _wechat_bound(app, world, "S1")
    with app.app_context():
        devices.register_device(
            who=caller(vol.id), platform="ios", token="secret-push-token-1", app_version="1.0"
        )
    client.put(
        f"{API}/me/notification-settings", json={"quiet_hours": {"enabled": False}}, headers=vol.headers
    )

    doc = download(client, vol)
    sections = {key.split(".")[0] for key in export.COVERED.values()}
    assert sections <= set(doc), sections - set(doc)
    account = doc["account"]
    assert (account["id"], account["phone"], account["name"]) == (vol.id, vol.phone, "志愿者一")
    number = id_number(1)
    assert account["id_number_masked"] == number[:4] + "*" * 10 + number[-4:]
    assert {r["role"] for r in doc["roles"]} == {"resident", "volunteer"}
    assert doc["volunteer_profile"][0]["volunteer_no"].startswith("ZY")
    assert doc["volunteer_applications"][0]["status"] == "approved"
    [assignment] = doc["assignments"]
    assert assignment["checkin_at"] and assignment["checkout_at"]
    assert assignment["checkin_distance_m"] is not None
    assert doc["time_book"]["balance"] == sum(e["amount"] for e in doc["time_book"]["entries"])
    kinds = {e["transfer"]["kind"] for e in doc["time_book"]["entries"]}
    assert {"credit", "redeem"} <= kinds
    assert doc["redemptions"][0]["status"] == "issued"
    assert doc["certificates"][0]["total_minutes"] == 90
    assert doc["family_links"][0]["relation"] == "parent"
    assert "order.filled" in {n["kind"] for n in doc["notifications"]}
    assert doc["wechat"]["bound"] is True
    assert [d["platform"] for d in doc["devices"]] == ["ios"]
    assert doc["sign_ins"]
    # No secret in the file: push token, password hash, encrypted or hashed ID number, full ID number,
    # the openid, the certificate's share token, the session's tokens.
    text = json.dumps(doc, ensure_ascii=False)
    with app.app_context():
        user = db.session.get(User, vol.id)
        secrets = [
            user.password_hash,
            user.id_number_hash,
            number,
            "secret-push-token-1",
            vol.token,
            vol.refresh,
        ]
    secrets.append(f"o-matrix-{list(world.people).index('vol_s1')}")
    for secret in secrets:
        assert secret not in text
    for key in export.SECRET_COLUMNS:
        assert f'"{key}"' not in text


def test_a_resident_downloads_orders_complaints_and_inbox(app, client, world):
    _complaint(app, world, "S1")  # an order of theirs, cancelled, and a complaint about it
    doc = download(client, world.resident)
    [order] = doc["orders"]
    assert order["status"] == "cancelled" and order["address"]
    assert [e["to_status"] for e in doc["order_events"]][-1] == "cancelled"
    assert doc["complaints"][0]["order_id"] == order["id"]
    assert doc["time_book"] is None and doc["assignments"] == []
    assert doc["account"]["id_number_masked"] is None


def test_only_my_own_data(app, client, world):
    _order(app, world, "S1", "completed")
    doc = download(client, world.mgr_s1)
    assert doc["account"]["id"] == world.mgr_s1.id
    assert doc["orders"] == [] and doc["assignments"] == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nonsense"}])
def test_no_token_no_file(client, world, headers):
    r = client.get(f"{API}/me/export", headers=headers)
    assert r.status_code == 401
    assert "Content-Disposition" not in r.headers


def test_the_file_is_refused_after_closing(app, client, world):
    assert (
        client.post(
            f"{API}/me/close", json={"password": PASSWORD}, headers=world.resident.headers
        ).status_code
        == 200
    )
    assert client.get(f"{API}/me/export", headers=world.resident.headers).status_code == 401
