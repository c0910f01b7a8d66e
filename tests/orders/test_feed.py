"""GET /tasks/available: open grab pools near a point, nearest first, within a radius, page by page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.api.helpers import assert_error
from tests.orders.conftest import FAR, PLACE
from tests.support import make_volunteer
from volunteer_app.extensions import db
from volunteer_app.sites.models import Category

HERE = f"lat={PLACE['lat']}&lng={PLACE['lng']}"


def categories(app) -> list[int]:
    with app.app_context():
        return list(
            db.session.scalars(select(Category.id).where(Category.active.is_(True)).order_by(Category.id))
        )


def pool(world, loop, capacity: int = 2, **over) -> int:
    """A grab pool of S1 (the resident's station) placed at `lat`/`lng` if given."""
    deadline = over.pop("deadline", None)
    order_id = loop.submit(world.resident, **over)["id"]
    extra = {"deadline": deadline.isoformat()} if deadline else {}
    loop.dispatch_grab(world.mgr_s1, order_id, capacity=capacity, **extra)
    return order_id


def feed(loop, person, query: str = "") -> list[dict]:
    page = loop.call("GET", f"/tasks/available?{HERE}&limit=100{query}", person)
    assert page["next_cursor"] is None
    return page["items"]


def ids(items: list[dict]) -> list[int]:
    return [t["id"] for t in items]


def test_only_open_pools_nearest_first_within_the_radius(app, client, world, loop):
    vol2 = make_volunteer(app, world.sites["S1"], 21, "志愿者二")
    vol3 = make_volunteer(app, world.sites["S1"], 22, "志愿者三")
    mid_place = {"lat": PLACE["lat"] + 0.01, "lng": PLACE["lng"]}  # ~1.1 km north
    far = pool(world, loop, **FAR)  # ~4 km
    mid = pool(world, loop, **mid_place)
    near = pool(world, loop)
    # Not in anyone's feed: waiting to be dispatched, offered to named volunteers, full.
    loop.submit(world.resident)
    loop.dispatch_assign(world.mgr_s1, loop.submit(world.resident)["id"], [vol2.id], capacity=1)
    full = pool(world, loop, capacity=1)
    loop.grab(vol2, full)

    items = feed(loop, world.vol_s1, "&radius_m=3000")
    assert ids(items) == [near, mid]
    items = feed(loop, world.vol_s1, "&radius_m=5000")
    assert ids(items) == [near, mid, far]
    distances = [t["distance_m"] for t in items]
    assert distances == sorted(distances)
    assert distances[0] < 10 and 1000 < distances[1] < 1200 and 3000 < distances[2] < 5000
    first = items[0]
    assert (first["kind"], first["slots_left"], first["site_id"]) == ("order", 2, world.sites["S1"])
    assert first["deadline"] is not None and first["title"]
    # The default radius is 5 km.
    assert ids(feed(loop, world.vol_s1)) == [near, mid, far]

    # An order I hold leaves my feed (a place remains for others, with one slot fewer).
    loop.grab(world.vol_s1, mid)
    assert ids(feed(loop, world.vol_s1)) == [near, far]
    others = feed(loop, vol3)
    assert ids(others) == [near, mid, far]
    assert [t["slots_left"] for t in others] == [2, 1, 2]
    # Filled by the next grab: gone from every feed.
    loop.grab(vol3, mid)
    assert ids(feed(loop, vol2)) == [near, far]

    # Only volunteers have a feed; the point and radius are validated.
    assert client.get(f"/api/v1/tasks/available?{HERE}", headers=world.resident.headers).status_code == 403
    for query in (f"{HERE}&radius_m=50", f"{HERE}&radius_m=60000", f"lng={PLACE['lng']}", "lat=91&lng=120"):
        assert_error(client.get(f"/api/v1/tasks/available?{query}", headers=world.vol_s1.headers), 422)


def test_a_pool_past_its_deadline_leaves_the_feed(app, world, loop):
    now = datetime.now(UTC).replace(microsecond=0)
    soon = pool(world, loop, deadline=now + timedelta(minutes=30))
    later = pool(world, loop, lat=PLACE["lat"] + 0.001)
    assert ids(feed(loop, world.vol_s1)) == [soon, later]
    with loop.at(now + timedelta(minutes=31)):
        assert ids(feed(loop, world.vol_s1)) == [later]
        body = loop.call("POST", f"/orders/{soon}/grab", world.vol_s1, None, 409)
        assert body["error"] == "order.closed"


def test_category_filter(app, client, world, loop):
    first, second = categories(app)[:2]
    help_id = pool(world, loop, category_id=first)
    repair_id = pool(world, loop, category_id=second, lat=PLACE["lat"] + 0.002)
    assert ids(feed(loop, world.vol_s1)) == [help_id, repair_id]
    assert ids(feed(loop, world.vol_s1, f"&category_id={second}")) == [repair_id]
    assert ids(feed(loop, world.vol_s1, f"&category_id={first}")) == [help_id]
    assert [t["category_id"] for t in feed(loop, world.vol_s1, f"&category_id={second}")] == [second]


def test_cursor_pages_return_every_open_order_once_in_distance_order(app, client, world, loop):
    # Offsets in degrees from PLACE in several directions, created out of distance order; two share a
    # spot (the same distance: the order id breaks the tie across a page boundary).
    offsets = [
        (0.012, 0.0),
        (0.0, -0.004),
        (-0.006, 0.0),
        (0.001, 0.001),
        (0.0, 0.009),
        (-0.006, 0.0),
        (0.02, 0.01),
    ]
    created = [
        pool(world, loop, lat=round(PLACE["lat"] + dlat, 6), lng=round(PLACE["lng"] + dlng, 6))
        for dlat, dlng in offsets
    ]
    seen, pages, cursor = [], [], None
    while True:
        query = f"/tasks/available?{HERE}&limit=3" + (f"&cursor={cursor}" if cursor else "")
        page = loop.call("GET", query, world.vol_s1)
        pages.append(len(page["items"]))
        seen += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == [3, 3, 1]
    assert sorted(ids(seen)) == sorted(created) and len(set(ids(seen))) == len(created)
    keys = [(t["distance_m"], t["id"]) for t in seen]
    assert keys == sorted(keys)
    tie = [created[2], created[5]]
    assert [i for i in ids(seen) if i in tie] == tie
    # A page of the same size as the whole list: no cursor.
    whole = loop.call("GET", f"/tasks/available?{HERE}&limit=7", world.vol_s1)
    assert ids(whole["items"]) == ids(seen) and whole["next_cursor"] is None
    bad = client.get(f"/api/v1/tasks/available?{HERE}&cursor=bm9wZQ", headers=world.vol_s1.headers)
    assert_error(bad, 400, "pagination.bad_cursor")


def test_the_feed_query_can_use_the_open_pool_index_on_postgresql(app, world, loop):
    """Each branch of the feed's WHERE implies its partial index's predicate, so PostgreSQL can answer
    it from the indexes of open pools and open activities by place (checked with sequential scans
    priced out), not by scanning orders or activities."""
    import pytest
    from sqlalchemy import event, text

    from volunteer_app.accounts.principal import load_grants
    from volunteer_app.auth.tokens import Principal
    from volunteer_app.feed import service as feed

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("query plans are PostgreSQL's; SQLite's planner is not what runs at city scale")
    pool(world, loop)
    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM orders" in statement and "FROM activities" in statement:
            seen.append((statement, parameters))

    with app.test_request_context():
        from volunteer_app.accounts.models import User

        user = db.session.get(User, world.vol_s1.id)
        who = Principal(user=user, session_id="t", grants=load_grants(user.id))
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            feed.available_tasks(
                who=who,
                lat=PLACE["lat"],
                lng=PLACE["lng"],
                radius_m=5000,
                limit=20,
                cursor=None,
            )
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
        statement, parameters = seen[-1]
        connection = db.session.connection()
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(
            row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters).all()
        )
        db.session.rollback()
    assert "ix_orders_open_pool_geo" in plan, plan
    # Either partial index of open activities (by place, or by start for sign-ups still open) will do.
    assert "ix_activities_open_" in plan, plan
    assert "Seq Scan" not in plan, plan
