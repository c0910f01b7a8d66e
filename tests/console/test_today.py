"""The console's Today page: the workbench's counts, each a link to the console list that shows them."""

from __future__ import annotations

import re

from tests.orders.conftest import order_body
from tests.support import console_sign_in, headers_now


def _counts(html: str) -> dict[str, tuple[int, str]]:
    return {
        key: (int(count), href.replace("&amp;", "&"))
        for href, key, count in re.findall(
            r'<a class="count[^"]*" href="([^"]+)" data-key="(\w+)">\s*<strong>(\d+)</strong>', html
        )
    }


def test_roles_and_reach(app, client, world):
    assert client.get("/console/").status_code == 302
    console_sign_in(app, client, world.vol_s1.id)
    assert client.get("/console/").status_code == 403
    console_sign_in(app, client, world.mgr_s2.id)
    response = client.get(f"/console/?site={world.sites['S1']}")
    assert response.status_code == 404 and "站点S1" not in response.text
    console_sign_in(app, client, world.admin.id)
    assert client.get(f"/console/?site={world.sites['S1']}").status_code == 200


def test_counts_link_to_lists_that_show_them(app, client, world):
    headers = headers_now(app, world.resident.id)
    order = client.post("/api/v1/orders", json=order_body(app), headers=headers)
    assert order.status_code == 201, order.json
    console_sign_in(app, client, world.mgr_s1.id)
    page = client.get("/console/")
    assert page.status_code == 200
    counts = _counts(page.text)
    assert len(counts) == 10
    assert counts["applications_pending"][0] == 1  # the world's applicant at S1
    assert counts["family_links_pending"][0] == 0
    to_review, href = counts["orders_to_review"]
    assert to_review == 1
    queue = client.get(href)
    assert queue.status_code == 200
    assert f"/console/orders/{order.json['id']}" in queue.text
    applications = client.get(counts["applications_pending"][1])
    assert applications.status_code == 200
    for key, (_count, link) in counts.items():
        assert client.get(link).status_code == 200, (key, link)


def test_english(app, client, world):
    console_sign_in(app, client, world.mgr_s1.id)
    page = client.get("/console/", headers={"Accept-Language": "en"})
    assert "Orders to review" in page.text and "Needs action" in page.text
