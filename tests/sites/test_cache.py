"""The per-process site cache (sites/cache.py): settings and names read once per process, and never
served after a change committed by any process. Two apps on one database stand for two gunicorn workers."""

from __future__ import annotations

import pytest
from sqlalchemy import event, update

from tests.conftest import make_app
from volunteer_app.extensions import db
from volunteer_app.sites import cache as site_cache
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site

API = "/api/v1"


@pytest.fixture
def other(app):
    """A second app (another worker process) on the same database, with its own cache."""
    other = make_app(app.config["SQLALCHEMY_DATABASE_URI"])
    yield other
    with other.app_context():
        db.engine.dispose()


def site_reads(app, fn, table: str = "sites") -> int:
    """How many statements reading `table` `fn` sends on `app`'s engine."""
    with app.app_context():
        engine = db.engine
    seen = []

    def on_execute(_conn, _cursor, statement, *_args):
        if f"FROM {table}" in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    return len(seen)


def test_a_worker_reads_a_site_once_and_sees_another_workers_change_at_once(app, client, other, world):
    reader = other.test_client()
    s1 = world.sites["S1"]

    def read():
        r = reader.get(f"{API}/sites/{s1}/settings", headers=world.mgr_s1.headers)
        assert r.status_code == 200
        return r.json["effective"]

    before = read()["grab_max_open"]  # the reader's cache holds S1's settings
    read()
    # Another worker changes the center above S1: the reader's next request sees it.
    r = client.patch(
        f"{API}/sites/{world.sites['C1']}/settings", json={"grab_max_open": 9}, headers=world.mgr_c1.headers
    )
    assert r.status_code == 200
    assert before != 9 and read()["grab_max_open"] == 9


def test_the_time_book_uses_the_cache_and_follows_a_change(app, client, other, world):
    reader = other.test_client()
    me = world.vol_s1

    def book():
        r = reader.get(f"{API}/me/timebook", headers=me.headers)
        assert r.status_code == 200
        return r.json

    first = book()
    assert site_reads(other, book) == 0  # the issuing station's name and thresholds from the cache
    r = client.patch(
        f"{API}/sites/{world.sites['C1']}/settings",
        json={"star_thresholds_hours": [1000, 2000, 3000, 4000, 5000]},
        headers=world.mgr_c1.headers,
    )
    assert r.status_code == 200, r.json
    after = book()
    assert (first["star_level"], after["star_level"]) != (None, None)
    assert after["next_star_hours"] == 1000 and first["next_star_hours"] != 1000


def test_a_core_update_of_sites_through_the_session_changes_the_token(app, world):
    with app.app_context():
        before = db.session.scalar(site_cache.token_column().element)
        db.session.execute(update(Site).where(Site.id == world.sites["S1"]).values(name="改名站"))
        db.session.commit()
        assert db.session.scalar(site_cache.token_column().element) != before


def test_nothing_is_cached_outside_a_request(app, world):
    with app.app_context():
        assert site_cache.entries() is None
        assert sites.settings_for(world.sites["S1"]) == app.config["SITE_DEFAULTS"]


def test_a_new_order_checks_its_category_in_the_cache_and_sees_another_workers_change(
    app, client, other, world
):
    """The active categories are read once per process and token; a category that another worker
    deactivates (or adds) is refused (or accepted) by this one's very next order."""
    from tests.orders.conftest import order_body

    ordering = other.test_client()
    body = order_body(app)

    def order(**over):
        return ordering.post(f"{API}/orders", json={**body, **over}, headers=world.resident.headers)

    assert order().status_code == 201  # the cache is warm
    assert site_reads(other, lambda: order().status_code == 201 or pytest.fail(), "categories") == 0
    r = client.patch(
        f"{API}/categories/{body['category_id']}", json={"active": False}, headers=world.admin.headers
    )
    assert r.status_code == 200
    refused = order()
    assert (refused.status_code, list(refused.json["errors"]["json"])) == (422, ["category_id"])
    r = client.post(
        f"{API}/categories",
        json={"code": "pet_care", "name_zh": "宠物照料", "name_en": "Pet care"},
        headers=world.admin.headers,
    )
    assert r.status_code == 201
    assert order(category_id=r.json["id"]).status_code == 201


def test_a_core_update_of_categories_through_the_session_changes_the_token(app, world):
    from volunteer_app.sites.models import Category

    with app.app_context():
        before = db.session.scalar(site_cache.token_column().element)
        db.session.execute(update(Category).values(sort=Category.sort + 1))
        db.session.commit()
        assert db.session.scalar(site_cache.token_column().element) != before
