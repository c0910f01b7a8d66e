"""An audit confirms what it names, or says it confirms the computed minutes: never by omission.

Regression (issue 11, defect 3): an audit sent as text/plain was read as an empty body, answered 200,
closed the order with 0 minutes and credited nothing; the correct retry then got 409.
"""

from __future__ import annotations

import json

from sqlalchemy import func, select

from tests.api.helpers import assert_error
from tests.orders.test_rating_audit import NEAR, audit, book, completed
from volunteer_app.extensions import db
from volunteer_app.timebank.models import Transfer


def _transfers(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Transfer))


def _status(loop, world, order_id) -> str:
    return loop.get(world.mgr_s1, order_id)["status"]


def test_an_audit_sent_as_text_is_415_and_closes_nothing(app, client, world, loop):
    order_id, _, [(v1, a1)] = completed(app, world, loop, [(0, 60, NEAR)])
    body = json.dumps({"assignments": [{"assignment_id": a1}]})
    for content_type in ("text/plain", "text/plain; charset=utf-8", "application/x-www-form-urlencoded"):
        response = client.post(
            f"/api/v1/orders/{order_id}/audit",
            data=body,
            content_type=content_type,
            headers=world.mgr_s1.headers,
        )
        assert_error(response, 415, "request.unsupported_media_type")
    response = client.post(f"/api/v1/orders/{order_id}/audit", data=body, headers=world.mgr_s1.headers)
    assert_error(response, 415, "request.unsupported_media_type")  # no Content-Type at all
    assert _status(loop, world, order_id) == "completed" and _transfers(app) == 0
    # The correct request then works: the hours are not lost.
    audited = loop.call(
        "POST", f"/orders/{order_id}/audit", world.mgr_s1, {"assignments": [{"assignment_id": a1}]}
    )
    assert audited["status"] == "closed" and book(loop, v1) == 60


def test_an_empty_audit_is_422_and_closes_nothing(app, client, world, loop):
    order_id, _, [(v1, _)] = completed(app, world, loop, [(0, 60, NEAR)])
    for body in ({}, {"assignments": []}, {"note": "ok"}, {"confirm_computed": False}, None):
        assert_error(audit(client, order_id, world.mgr_s1, body), 422, "audit.unnamed")
    no_body = client.post(f"/api/v1/orders/{order_id}/audit", headers=world.mgr_s1.headers)
    assert_error(no_body, 422, "audit.unnamed")
    assert _status(loop, world, order_id) == "completed" and _transfers(app) == 0
    audited = loop.call("POST", f"/orders/{order_id}/audit", world.mgr_s1, {"confirm_computed": True})
    assert audited["status"] == "closed" and book(loop, v1) == 60


def test_an_audit_names_every_assignment_it_confirms(app, client, world, loop):
    order_id, _, [(v1, a1), (v2, a2)] = completed(app, world, loop, [(0, 90, NEAR), (0, 60, NEAR)])
    partial = {"assignments": [{"assignment_id": a2, "minutes": 45, "reason": "中途离开"}]}
    error = assert_error(audit(client, order_id, world.mgr_s1, partial), 422, "audit.unnamed")
    assert str(a1) in str(error["errors"]["json"]["assignments"])
    assert _status(loop, world, order_id) == "completed" and _transfers(app) == 0
    everyone = {"assignments": [{"assignment_id": a1}, *partial["assignments"]]}
    audited = loop.call("POST", f"/orders/{order_id}/audit", world.mgr_s1, everyone)
    assert audited["status"] == "closed"
    assert (book(loop, v1), book(loop, v2)) == (90, 45)


def test_confirm_computed_confirms_the_ones_not_named(app, client, world, loop):
    order_id, _, [(v1, _), (v2, a2)] = completed(app, world, loop, [(0, 90, NEAR), (0, 60, NEAR)])
    for bad in ("yes", "true", 1):
        body = {"confirm_computed": bad}
        assert_error(audit(client, order_id, world.mgr_s1, body), 422, "validation.failed")
    body = {
        "assignments": [{"assignment_id": a2, "minutes": 45, "reason": "中途离开"}],
        "confirm_computed": True,
    }
    audited = loop.call("POST", f"/orders/{order_id}/audit", world.mgr_s1, body)
    assert audited["status"] == "closed"
    assert (book(loop, v1), book(loop, v2)) == (90, 45)


def test_an_activity_audit_must_say_what_it_confirms(app, client, world):
    from tests.api.endpoints import _activity_audit

    url, body = _activity_audit(app, world, "S1")
    for bad in ({}, {"note": "核实无误"}):
        assert_error(client.post(url, json=bad, headers=world.mgr_s1.headers), 422, "audit.unnamed")
    text = client.post(url, data=json.dumps(body), content_type="text/plain", headers=world.mgr_s1.headers)
    assert_error(text, 415, "request.unsupported_media_type")
    done = client.post(url, json=body, headers=world.mgr_s1.headers)
    assert done.status_code == 200 and done.get_json()["status"] == "closed"
