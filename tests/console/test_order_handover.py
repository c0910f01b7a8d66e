"""Passing an order on (转派 / 上报) in the console's order page: the dispatching station's manager
chooses a sibling station or the parent and gives a reason; the sibling's manager accepts or declines
on the same page; the sender may withdraw while it waits. Each form sent as console.js sends it."""

from __future__ import annotations

import pytest

from tests.console.forms import collect, forms, one_form, send
from tests.orders.conftest import Loop
from tests.support import console_sign_in
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order, OrderHandover


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def _apis(page: str) -> set[str]:
    return {f.api for f in forms(page) if f.api}


def test_a_station_passes_an_order_to_its_sibling_which_accepts(app, client, world, loop):
    s2, i1 = world.sites["S2"], world.sites["I1"]
    order_id = loop.submit(world.resident)["id"]
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    page = client.get(f"/console/orders/{order_id}").text
    pass_on = one_form(page, ends=f"/orders/{order_id}/handovers")
    offered = {o.value for o in pass_on.field("to_site_id").options}
    assert offered == {str(s2), str(i1)}  # the sibling station and the parent, not itself nor S3 (I2's)
    sent = send(client, pass_on, csrf, collect(pass_on, {"to_site_id": str(s2), "reason": "本站人手不足"}))
    assert sent.status_code == 201, sent.json
    handover = sent.json["id"]
    page = client.get(f"/console/orders/{order_id}").text
    assert f"/api/v1/orders/{order_id}/handovers" not in _apis(page)  # one at a time
    assert f"/api/v1/handovers/{handover}/cancel" in _apis(page)  # the sender may withdraw it
    assert f"/api/v1/handovers/{handover}/accept" not in _apis(page)
    assert "待对方答复" in page and "本站人手不足" in page

    csrf = console_sign_in(app, client, world.mgr_s2.id)
    page = client.get(f"/console/orders/{order_id}").text
    assert f"/api/v1/handovers/{handover}/cancel" not in _apis(page)
    accept = one_form(page, ends=f"/handovers/{handover}/accept")
    assert send(client, accept, csrf).status_code == 200
    with app.app_context():
        assert db.session.get(Order, order_id).dispatch_site_id == s2
        assert db.session.get(OrderHandover, handover).status == "accepted"
    page = client.get(f"/console/orders/{order_id}").text
    assert "已接收" in page and f"/api/v1/orders/{order_id}/dispatch" in _apis(page)  # S2 dispatches now
    # The station it left still reads it, with nothing to do.
    console_sign_in(app, client, world.mgr_s1.id)
    page = client.get(f"/console/orders/{order_id}").text
    assert not [api for api in _apis(page) if api.startswith(f"/api/v1/orders/{order_id}/")]


def test_a_sibling_declines_and_a_sender_withdraws(app, client, world, loop):
    s2 = world.sites["S2"]
    declined, withdrawn = (loop.submit(world.resident)["id"] for _ in range(2))
    handovers = {}
    for order_id in (declined, withdrawn):
        body = {"to_site_id": s2, "reason": "本站人手不足"}
        handovers[order_id] = loop.call("POST", f"/orders/{order_id}/handovers", world.mgr_s1, body, 201)[
            "id"
        ]
    csrf = console_sign_in(app, client, world.mgr_s2.id)
    page = client.get(f"/console/orders/{declined}").text
    decline = one_form(page, ends=f"/handovers/{handovers[declined]}/decline")
    assert send(client, decline, csrf, collect(decline, {"reason": "本站也忙"})).status_code == 200
    csrf = console_sign_in(app, client, world.mgr_s1.id)
    page = client.get(f"/console/orders/{withdrawn}").text
    cancel = one_form(page, ends=f"/handovers/{handovers[withdrawn]}/cancel")
    assert send(client, cancel, csrf).status_code == 200
    with app.app_context():
        assert db.session.get(OrderHandover, handovers[declined]).status == "declined"
        assert db.session.get(OrderHandover, handovers[withdrawn]).status == "cancelled"
    page = client.get(f"/console/orders/{declined}").text
    assert "已拒绝" in page and "本站也忙" in page
    assert f"/api/v1/orders/{declined}/handovers" in _apis(page)  # may be passed on again
