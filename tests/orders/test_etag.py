"""Heavy GETs carry an ETag; a phone sending it back in If-None-Match gets 304 with no body."""

from __future__ import annotations

import hashlib


def test_order_detail_and_feed_revalidate(app, client, world, loop):
    order = loop.submit(world.resident)
    loop.dispatch_grab(world.mgr_s1, order["id"])
    for path, person in (
        (f"/api/v1/orders/{order['id']}", world.resident),
        ("/api/v1/tasks/available?lat=30.27&lng=120.17", world.vol_s1),
        ("/api/v1/me/timebook", world.vol_s1),
    ):
        first = client.get(path, headers=person.headers)
        assert first.status_code == 200 and first.headers.get("ETag"), path
        # The hash of the body as sent (extensions.Blueprint), not of its data encoded once more.
        assert first.headers["ETag"] == f'"{hashlib.sha1(first.get_data()).hexdigest()}"', path
        again = client.get(path, headers={**person.headers, "If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and again.get_data() == b"", path
    # A change of the order changes its ETag: the stale validator gets the new body.
    detail = client.get(f"/api/v1/orders/{order['id']}", headers=world.resident.headers)
    loop.grab(world.vol_s1, order["id"])
    changed = client.get(
        f"/api/v1/orders/{order['id']}",
        headers={**world.resident.headers, "If-None-Match": detail.headers["ETag"]},
    )
    assert changed.status_code == 200 and changed.get_json()["taken"] == 1
    # Without a token, the ETag does not help anyone past authentication.
    anonymous = client.get(f"/api/v1/orders/{order['id']}", headers={"If-None-Match": detail.headers["ETag"]})
    assert anonymous.status_code == 401
