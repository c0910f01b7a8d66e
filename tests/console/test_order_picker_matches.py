"""The order page's dispatch picker suggests who fits the order first (GET /sites/{id}/volunteers
with for_order, orders/matching.py): the page names its order to the picker, the picker's request
(orders.js `search`, tests/console/forms.py `picker_url`) puts the fitting volunteers first, each row
with what the mark shows, and the chosen are dispatched as before."""

from __future__ import annotations

import pytest

from tests.console.forms import choose_volunteers, collect, one_form, picker_url, send, tagged
from tests.orders.conftest import Loop
from tests.support import console_sign_in
from tests.workbench.conftest import categories, volunteer


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def test_the_picker_shows_who_fits_first_with_the_mark(app, client, world, loop):
    a, b = categories(app)
    s1 = world.sites["S1"]
    other = volunteer(app, s1, 91, "别类志愿者", ["助老"], category_ids=[b])
    fits = volunteer(app, s1, 92, "助老志愿者", ["做饭", "助老"], category_ids=[a])
    order_id = loop.submit(world.resident, category_id=a, skills=["助老"])["id"]
    csrf = console_sign_in(app, client, world.mgr_s1.id)

    page = client.get(f"/console/orders/{order_id}")
    assert page.status_code == 200
    (picker,) = tagged(page.text, "data-picker")
    assert picker["data-for-order"] == str(order_id)
    assert picker["data-l-fits"] == "匹配本单" and "<th>匹配</th>" in page.text

    found = client.get(picker_url(picker)).json
    assert found["items"][0]["user_id"] == fits.id
    assert found["items"][0]["matches"] == {"category": True, "skills": ["助老"], "fits": True}
    ids = [row["user_id"] for row in found["items"]]
    assert ids.index(fits.id) < ids.index(world.vol_s1.id) < ids.index(other.id)  # named, any, other
    assert next(r for r in found["items"] if r["user_id"] == other.id)["matches"]["fits"] is False
    # Searching keeps the order: by skill, only those with it, the fitting one first.
    by_skill = client.get(picker_url(picker, skill=" 助老 ")).json["items"]
    assert [r["user_id"] for r in by_skill] == [fits.id, other.id]

    named = one_form(page.text, ends="/dispatch", id="form-named")
    chosen = choose_volunteers(named, fits.id)
    response = send(client, chosen, csrf, collect(chosen))
    assert response.status_code == 200, response.json
    assert [a["assignment"]["volunteer_id"] for a in response.json["assignments"]] == [fits.id]


def test_an_order_page_out_of_reach_draws_no_picker(app, client, world, loop):
    order_id = loop.submit(world.resident)["id"]
    console_sign_in(app, client, world.mgr_s2.id)
    page = client.get(f"/console/orders/{order_id}")
    assert page.status_code == 404 and "data-for-order" not in page.text
