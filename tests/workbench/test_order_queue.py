"""The managers' order queue: GET /orders (and orders.queries.list_orders) filtered by the service's
local day, category, a site in reach, escalation and what waits on a manager (`need`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from tests.api.helpers import assert_error
from tests.support import make_user
from tests.workbench.conftest import API, as_caller, categories, deadline, set_order, soon, volunteer
from volunteer_app.errors import Unprocessable
from volunteer_app.extensions import db
from volunteer_app.orders import queries
from volunteer_app.orders.deadlines import apply_deadlines

SHANGHAI = ZoneInfo("Asia/Shanghai")


def ids(loop, person, **query) -> list[int]:
    return [
        o["id"] for o in loop.call("GET", f"/orders?{urlencode({'limit': 100, **query})}", person)["items"]
    ]


def local(day: date, hh: int, mm: int) -> datetime:
    return datetime.combine(day, time(hh, mm), SHANGHAI)


def test_dates_are_the_service_start_on_a_local_day(app, client, world, loop):
    day = datetime.now(SHANGHAI).date() + timedelta(days=10)
    late = loop.submit(world.resident, start=local(day, 23, 30), minutes=60)["id"]  # ends the next day
    early = loop.submit(world.resident, start=local(day + timedelta(days=1), 0, 30), minutes=60)["id"]
    before = loop.submit(world.resident, start=local(day - timedelta(days=1), 12, 0))["id"]
    d, d1, d0 = day.isoformat(), (day + timedelta(days=1)).isoformat(), (day - timedelta(days=1)).isoformat()
    assert ids(loop, world.mgr_s1, **{"from": d, "to": d}) == [late]
    assert ids(loop, world.mgr_s1, **{"from": d}) == [early, late]
    assert ids(loop, world.mgr_s1, to=d) == [before, late]  # newest first
    assert ids(loop, world.mgr_s1, **{"from": d1, "to": d1}) == [early]
    assert ids(loop, world.mgr_s1, **{"from": d0, "to": d1}) == [before, early, late]
    # The resident's own list takes the same filter.
    assert ids(loop, world.resident, scope="mine", **{"from": d, "to": d}) == [late]

    # With a site named, its clock decides the day: on UTC both of the first two start on `day`.
    r = client.patch(
        f"{API}/sites/{world.sites['S1']}/settings", json={"timezone": "UTC"}, headers=world.mgr_s1.headers
    )
    assert r.status_code == 200, r.get_json()
    on_utc = ids(loop, world.mgr_s1, site_id=world.sites["S1"], **{"from": d, "to": d})
    assert on_utc == [early, late]
    assert ids(loop, world.mgr_s1, **{"from": d, "to": d}) == [late]  # no site: the deployment's zone


def test_bad_periods_are_refused(app, client, world, loop):
    d = datetime.now(SHANGHAI).date()
    body = assert_error(
        client.get(
            f"{API}/orders?from={d + timedelta(days=1)}&to={d}",
            headers={**world.mgr_s1.headers, "Accept-Language": "en"},
        ),
        422,
        "order.bad_period",
    )
    assert body["errors"] == {"query": {"from": ["after 'to'"]}}
    for query in ("from=1999-12-31", "to=2201-01-01", "from=2026-13-01", "from=20261101", "to=tomorrow"):
        assert_error(client.get(f"{API}/orders?{query}", headers=world.mgr_s1.headers), 422)
    # The service refuses the same for the console, which calls it directly.
    with pytest.raises(Unprocessable) as refused:
        as_caller(
            app, world.mgr_s1, queries.list_orders, start=d, end=d - timedelta(days=1), limit=5, cursor=None
        )
    assert refused.value.error == "order.bad_period"


def test_category_filter(app, world, loop):
    first, second = categories(app)
    a = loop.submit(world.resident, category_id=first)["id"]
    b = loop.submit(world.resident, category_id=second)["id"]
    assert ids(loop, world.mgr_s1, category_id=first) == [a]
    assert ids(loop, world.mgr_s1, category_id=second) == [b]
    assert ids(loop, world.mgr_s1, category_id=999999) == []


def test_site_filter_is_a_subtree_in_reach(app, client, world, loop):
    at_s2 = make_user(app, name="居民二", home_site_id=world.sites["S2"])
    s1 = loop.submit(world.resident)["id"]
    s2 = loop.submit(at_s2)["id"]
    s4 = loop.submit(make_user(app, name="居民四", home_site_id=world.sites["S4"]))["id"]
    assert ids(loop, world.mgr_i1, site_id=world.sites["S1"]) == [s1]
    assert ids(loop, world.mgr_i1, site_id=world.sites["S2"]) == [s2]
    assert ids(loop, world.mgr_i1, site_id=world.sites["I1"]) == [s2, s1]
    assert ids(loop, world.mgr_c1, site_id=world.sites["I2"]) == []
    assert ids(loop, world.admin, site_id=world.sites["C2"]) == [s4]
    # Out of reach is 404, exactly like a site that does not exist: a sibling, the site above, the
    # other center; and for someone who manages nothing.
    for person, site in (
        (world.mgr_s1, "S2"),
        (world.mgr_s1, "I1"),
        (world.mgr_c1, "S4"),
        (world.resident, "S1"),
        (world.vol_s1, "S1"),
    ):
        r = client.get(f"{API}/orders?site_id={world.sites[site]}", headers=person.headers)
        assert_error(r, 404, "not_found")
    assert_error(client.get(f"{API}/orders?site_id=987654321", headers=world.admin.headers), 404)
    assert_error(client.get(f"{API}/orders?site_id=0", headers=world.admin.headers), 422)


def test_escalated_filter(app, world, loop):
    late = loop.submit(world.resident)["id"]
    calm = loop.submit(world.resident)["id"]
    set_order(app, late, escalated_at=datetime.now(UTC))
    assert ids(loop, world.mgr_s1, escalated="true") == [late]
    assert ids(loop, world.mgr_s1, escalated="1") == [late]
    assert ids(loop, world.mgr_s1, escalated="false") == [calm]
    assert ids(loop, world.mgr_s1) == [calm, late]


def test_filters_combine_and_keep_the_keyset_walk_and_etag(app, client, world, loop):
    first, second = categories(app)
    made = [loop.submit(world.resident, category_id=first)["id"] for _ in range(5)]
    loop.submit(world.resident, category_id=second)
    seen, cursor = [], None
    while True:
        query = {"category_id": first, "site_id": world.sites["S1"], "status": "submitted", "limit": 2}
        page = loop.call(
            "GET", f"/orders?{urlencode({**query, **({'cursor': cursor} if cursor else {})})}", world.mgr_i1
        )
        seen += [o["id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)
    url = f"{API}/orders?category_id={first}&escalated=false&site_id={world.sites['S1']}"
    first_get = client.get(url, headers=world.mgr_s1.headers)
    assert first_get.status_code == 200 and first_get.headers.get("ETag")
    again = client.get(url, headers={**world.mgr_s1.headers, "If-None-Match": first_get.headers["ETag"]})
    assert again.status_code == 304


# ---- need: what waits on a manager ----------------------------------------------------------------


def test_need_review_and_dispatch(app, client, world, loop):
    vol2 = volunteer(app, world.sites["S1"], 61, "志愿者二")
    submitted = loop.submit(world.resident)["id"]
    declined = loop.submit(world.resident)["id"]
    still_offered = loop.submit(world.resident)["id"]
    loop.dispatch_assign(world.mgr_s1, declined, [world.vol_s1.id])
    loop.dispatch_assign(world.mgr_s1, still_offered, [world.vol_s1.id, vol2.id])
    assert ids(loop, world.mgr_s1, need="review") == [submitted]
    assert ids(loop, world.mgr_s1, need="dispatch") == []  # every offer still open
    offer = loop.get(world.vol_s1, declined)["my_assignment"]["id"]
    loop.act(world.vol_s1, offer, "decline", {"reason": "没空"})
    assert ids(loop, world.mgr_s1, need="dispatch") == [declined]
    other = loop.get(world.vol_s1, still_offered)["my_assignment"]["id"]
    loop.act(world.vol_s1, other, "decline", {"reason": "没空"})
    assert ids(loop, world.mgr_s1, need="dispatch") == [declined]  # vol2's offer is still open
    # Offered to more: waits on the volunteer again.
    loop.call("POST", f"/orders/{declined}/offers", world.mgr_s1, {"volunteer_ids": [vol2.id]})
    assert ids(loop, world.mgr_s1, need="dispatch") == []
    # Nothing waits on a resident or a volunteer; a sibling's manager sees none of it.
    assert ids(loop, world.resident, need="review") == []
    assert ids(loop, world.vol_s1, need="review") == []
    assert ids(loop, world.mgr_s2, need="review") == []
    assert_error(client.get(f"{API}/orders?need=everything", headers=world.mgr_s1.headers), 422)


def test_need_review_follows_who_dispatches(app, client, world, loop):
    """With the center dispatching, a station's submitted orders wait on the center, not the station."""
    r = client.patch(
        f"{API}/sites/{world.sites['C1']}/settings",
        json={"dispatch_level": "center"},
        headers=world.mgr_c1.headers,
    )
    assert r.status_code == 200
    order = loop.submit(world.resident)["id"]
    assert ids(loop, world.mgr_s1, need="review") == []
    assert ids(loop, world.mgr_i1, need="review") == []
    assert ids(loop, world.mgr_c1, need="review") == [order]
    assert ids(loop, world.mgr_c1, need="review", site_id=world.sites["S1"]) == []  # C1 is outside S1
    assert ids(loop, world.mgr_s1) == [order]  # the station still sees it


def test_need_pool_not_filling(app, world, loop):
    closing = loop.submit(world.resident)["id"]  # starts in 2 hours: its pool closes then
    later = loop.submit(world.resident, start=datetime.now(UTC).replace(microsecond=0) + timedelta(hours=30))[
        "id"
    ]
    full = loop.submit(world.resident, volunteers_needed=1)["id"]
    loop.dispatch_grab(world.mgr_s1, closing, capacity=2)
    loop.dispatch_grab(world.mgr_s1, later, capacity=2, deadline=deadline(7))
    loop.dispatch_grab(world.mgr_s1, full, capacity=1)
    loop.grab(world.vol_s1, full)
    loop.grab(world.vol_s1, closing)  # one of two places taken: still not full
    assert ids(loop, world.mgr_s1, need="pool_not_filling") == [closing]
    with loop.at(datetime.now(UTC) + timedelta(hours=1, minutes=30)):
        assert ids(loop, world.mgr_s1, need="pool_not_filling") == [later, closing]


def test_need_checkout_and_audit_overdue(app, world, loop):
    on_site = loop.submit(world.resident, volunteers_needed=1, **soon())["id"]
    done = loop.submit(world.resident, volunteers_needed=1, **soon())["id"]
    fresh = loop.submit(world.resident, volunteers_needed=1, **soon())["id"]
    assignments = {}
    for order_id in (on_site, done, fresh):
        loop.dispatch_grab(world.mgr_s1, order_id, capacity=1)
        assignments[order_id] = loop.grab(world.vol_s1, order_id)["id"]
        loop.act(world.vol_s1, assignments[order_id], "check-in", {"lat": 30.2712, "lng": 120.1712})
    for order_id in (done, fresh):
        loop.act(world.vol_s1, assignments[order_id], "check-out", {"lat": 30.2712, "lng": 120.1712})
    assert ids(loop, world.mgr_s1, need="checkout_overdue") == []  # the window has not ended
    assert ids(loop, world.mgr_s1, need="audit_overdue") == []
    now = datetime.now(UTC)
    set_order(app, on_site, window_end=now - timedelta(minutes=1))
    set_order(app, done, audit_due_at=now - timedelta(minutes=1))
    assert ids(loop, world.mgr_s1, need="checkout_overdue") == [on_site]
    assert ids(loop, world.mgr_s1, need="audit_overdue") == [done]
    assert ids(loop, world.mgr_i1, need="audit_overdue", status="completed") == [done]
    assert ids(loop, world.mgr_s2, need="audit_overdue") == []


def test_need_escalated_to_me_is_whom_the_sweep_told(app, world, loop):
    order = loop.submit(world.resident)
    with app.app_context():
        due = datetime.fromisoformat(order["dispatch_due_at"])
        assert apply_deadlines(now=due + timedelta(minutes=1)) == {"escalate:submitted": 1}
        db.session.commit()
    # S1 dispatches its own orders: the sweep told I1's managers.
    assert ids(loop, world.mgr_i1, need="escalated_to_me") == [order["id"]]
    assert ids(loop, world.mgr_c1, need="escalated_to_me") == [order["id"]]
    assert ids(loop, world.mgr_c1, need="escalated_to_me", site_id=world.sites["I2"]) == []
    assert ids(loop, world.mgr_s1, need="escalated_to_me") == []  # late, but not told to S1
    assert ids(loop, world.mgr_s1, escalated="true") == [order["id"]]
