"""`extensions.reads_only`: the hot reads run without BEGIN/ROLLBACK on PostgreSQL (autocommit), and the
connection goes back to the pool out of autocommit, so the next request's writes are transactional."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from volunteer_app.accounts.models import User
from volunteer_app.extensions import db

API = "/api/v1"


@pytest.fixture
def autocommit_seen(app):
    """For each statement sent: whether its connection was in autocommit."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "postgresql":
            pytest.skip("SQLite keeps its deferred BEGIN")
    seen: list[bool] = []

    def on_execute(conn, *_args):
        seen.append(conn.connection.dbapi_connection.autocommit)

    event.listen(engine, "before_cursor_execute", on_execute)
    yield seen
    event.remove(engine, "before_cursor_execute", on_execute)


@pytest.mark.parametrize("path", ["/me", "/me/timebook", "/me/timebook/transfers"])
def test_a_hot_read_sends_no_transaction(client, world, autocommit_seen, path):
    """Once the site cache is warm (a cold one is read through the ORM Session, in a transaction of
    its own): every statement in autocommit, the authentication's query included."""
    assert client.get(API + path, headers=world.vol_s1.headers).status_code == 200
    autocommit_seen.clear()
    assert client.get(API + path, headers=world.vol_s1.headers).status_code == 200
    assert autocommit_seen and all(autocommit_seen)


def test_a_write_after_a_hot_read_is_a_transaction_again(client, world, autocommit_seen):
    assert client.get(f"{API}/me", headers=world.vol_s1.headers).status_code == 200
    autocommit_seen.clear()
    r = client.patch(f"{API}/me", json={"name": "改个名"}, headers=world.vol_s1.headers)
    assert r.status_code == 200
    assert autocommit_seen and not any(autocommit_seen)


def test_an_unmarked_read_keeps_its_transaction(client, world, autocommit_seen):
    assert client.get(f"{API}/rewards", headers=world.vol_s1.headers).status_code == 200
    assert autocommit_seen and not any(autocommit_seen)


@pytest.fixture
def statements(app):
    """The statements each request sends (both databases)."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def on_execute(_conn, _cursor, statement, *_args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    yield seen
    event.remove(engine, "before_cursor_execute", on_execute)


def test_the_time_book_reads_the_book_with_the_principal(client, world, statements):
    """The book rides on the authentication's query (timebank.service.BOOK_RIDER); the site's name and
    thresholds come from the site cache once it is warm."""
    first = client.get(f"{API}/me/timebook", headers=world.vol_s1.headers)
    assert first.status_code == 200
    statements.clear()
    again = client.get(f"{API}/me/timebook", headers=world.vol_s1.headers)
    assert again.status_code == 200 and again.json == first.json
    sent = [st for st in statements if st != "BEGIN"]  # SQLite's explicit BEGIN
    assert "time_accounts" in sent[0], sent  # the principal's query, the book riding on it
    # Nothing else reads the book or a site (a volunteer with no movement yet: their profile, for the
    # unopened book's station).
    assert not any("time_accounts" in st or "FROM sites" in st for st in sent[1:]), sent


def test_a_book_read_with_the_principal_matches_the_book_read_alone(app, client, world, statements):
    """A volunteer with movements, one without (unopened) and a resident (no book): the riding read
    answers what the service's own read answers (statement pages included)."""
    from tests.support import credit
    from volunteer_app.accounts import principal
    from volunteer_app.timebank import service

    credit(app, world.vol_s1, world.sites["S1"], 90)  # vol_s1's book moves; vol_s4's stays unopened
    for who in (world.vol_s1, world.vol_s4, world.resident):
        ridden = client.get(f"{API}/me/timebook", headers=who.headers)
        page = client.get(f"{API}/me/timebook/transfers", headers=who.headers)
        rider, principal.ride = principal.ride, lambda _rider: None  # ride nothing: the book read alone
        try:
            alone = client.get(f"{API}/me/timebook", headers=who.headers)
            page_alone = client.get(f"{API}/me/timebook/transfers", headers=who.headers)
        finally:
            principal.ride = rider
        assert (ridden.status_code, ridden.json) == (alone.status_code, alone.json)
        if who is world.vol_s1:
            assert ridden.json["balance_minutes"] == 90 and len(page.json["items"]) == 1
        assert (page.status_code, page.json) == (page_alone.status_code, page_alone.json)
    assert service.BOOK_RIDER.name == "book"


def test_me_reads_the_volunteer_profile_with_the_principal(client, world, statements):
    """GET /me's volunteer profile rides on the authentication's query (accounts.service.PROFILE_RIDER):
    one statement in all once the site cache is warm."""
    first = client.get(f"{API}/me", headers=world.vol_s1.headers)
    assert first.status_code == 200 and first.json["volunteer"] is not None
    statements.clear()
    again = client.get(f"{API}/me", headers=world.vol_s1.headers)
    assert again.status_code == 200 and again.json == first.json
    sent = [st for st in statements if st != "BEGIN"]  # SQLite's explicit BEGIN
    assert len(sent) == 1 and "volunteer_profiles" in sent[0], sent


def test_a_profile_read_with_the_principal_matches_the_profile_read_alone(client, world):
    """A volunteer (a profile), a resident (none) and a manager: the riding read answers what the
    service's own read answers."""
    from volunteer_app.accounts import principal

    for who in (world.vol_s1, world.resident, world.mgr_s1):
        ridden = client.get(f"{API}/me", headers=who.headers)
        rider, principal.ride = principal.ride, lambda _rider: None  # ride nothing: the profile read alone
        try:
            alone = client.get(f"{API}/me", headers=who.headers)
        finally:
            principal.ride = rider
        assert ridden.status_code == alone.status_code == 200
        assert ridden.json == alone.json
        assert (ridden.json["volunteer"] is None) == (who is not world.vol_s1), who


def test_an_order_detail_reads_only_what_the_order_has(app, client, world, statements):
    """GET /orders/{id} reads the order, its assignments (joined) and whether it has a handover in one
    query, and skips the handovers' query when there is none: the principal and the order, before
    and after a grab (and the answer shows the assignment as the grab gave it, with its volunteer)."""
    from tests.orders.conftest import Loop

    loop = Loop(app, client)
    order_id = loop.submit(world.resident)["id"]
    loop.get(world.mgr_s1, order_id)  # the site cache warm
    statements.clear()
    detail = loop.get(world.mgr_s1, order_id)
    sent = [st for st in statements if st != "BEGIN"]
    assert len(sent) == 2 and "FROM orders" in sent[1], sent
    assert detail["assignments"] == [] and detail["handovers"] == []

    loop.dispatch_grab(world.mgr_s1, order_id, capacity=1)
    taken = loop.grab(world.vol_s1, order_id)
    statements.clear()
    detail = loop.get(world.mgr_s1, order_id)
    sent = [st for st in statements if st != "BEGIN"]
    assert len(sent) == 2 and "FROM orders" in sent[1], sent  # the assignment joined; no handover
    assert [a["assignment"] for a in detail["assignments"]] == [taken]
    assert detail["my_assignment"] is None and detail["handovers"] == []
    with app.app_context():
        name = db.session.get(User, world.vol_s1.id).name
    assert detail["assignments"][0]["volunteer_name"] == name


def test_an_order_detail_joins_each_assignment_once_in_order(app, client, world):
    """With two assignments the joined rows give each once, oldest first, each with its volunteer's
    name for the manager; a volunteer sees their own as my_assignment and no one else's; the order's
    own fields are the same on every row."""
    from tests.orders.conftest import Loop

    loop = Loop(app, client)
    order_id = loop.submit(world.resident)["id"]
    loop.dispatch_grab(world.mgr_s1, order_id, capacity=2)
    first = loop.grab(world.vol_s1, order_id)
    second = loop.grab(world.vol_s4, order_id)
    seen = loop.get(world.mgr_s1, order_id)
    with app.app_context():
        names = [db.session.get(User, p.id).name for p in (world.vol_s1, world.vol_s4)]
    assert [(a["assignment"], a["volunteer_name"]) for a in seen["assignments"]] == [
        (first, names[0]),
        (second, names[1]),
    ]
    assert seen["id"] == order_id and seen["taken"] == 2
    own = loop.get(world.vol_s4, order_id)
    assert own["my_assignment"] == second and own["assignments"] == []
    assert {k: v for k, v in own.items() if k not in ("my_assignment", "assignments", "resident")} == {
        k: v for k, v in seen.items() if k not in ("my_assignment", "assignments", "resident")
    }
