"""A new order's four rows (the order, its line in the statistics' change log, its first timeline
event, the queued notice to its dispatching site's managers): on PostgreSQL one statement writes them
(orders.states `_insert_order_logged`, intake `_managers_notice`), on SQLite four; the rows are the same
either way, for a resident's order and a manager's on a resident's behalf, and the worker delivers the
notice."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError

from tests.orders.conftest import order_body, run_worker
from volunteer_app import changes, readplan
from volunteer_app.accounts.models import User
from volunteer_app.accounts.principal import load_grants
from volunteer_app.auth.tokens import Principal
from volunteer_app.changes import Change
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Notification
from volunteer_app.notifications.service import MANAGERS_KIND
from volunteer_app.orders import intake
from volunteer_app.orders.models import Order, OrderEvent
from volunteer_app.worker.models import WorkItem


def _rows(app, order_id: int) -> tuple:
    with app.app_context():
        order = db.session.get(Order, order_id)
        events = db.session.execute(
            select(
                OrderEvent.action,
                OrderEvent.from_status,
                OrderEvent.to_status,
                OrderEvent.actor_id,
                OrderEvent.proxy_id,
                OrderEvent.assignment_id,
                OrderEvent.note,
                OrderEvent.at,
            ).where(OrderEvent.order_id == order_id)
        ).all()
        logged = db.session.scalars(
            select(Change.kind).where(Change.kind == "order", Change.ref_id == order_id)
        ).all()
        notices = [
            (item.kind, item.args, item.state, item.attempts, item.max_attempts, item.owner_id)
            for item in db.session.scalars(select(WorkItem).where(WorkItem.kind == MANAGERS_KIND))
            if item.args["params"]["order_id"] == order_id
        ]
        return order, events, logged, notices


@pytest.mark.parametrize("proxy", [False, True])
def test_a_new_order_writes_its_log_line_and_its_event(app, client, world, loop, proxy):
    body = order_body(app)
    who = world.resident
    if proxy:
        who = world.mgr_s1
        body = {**body, "resident_phone": world.resident.phone, "resident_name": "居民"}
    made = loop.call("POST", "/orders", who, body, 201)
    order, events, logged, notices = _rows(app, made["id"])
    assert logged == ["order"]
    args = {
        "site_id": order.dispatch_site_id,
        "kind": "order.submitted",
        "params": {"title": order.title, "order_id": order.id},
        "subject": ["order", order.id],
    }
    assert notices == [(MANAGERS_KIND, args, "queued", 0, 5, None)]
    with app.app_context():
        before = db.session.scalar(select(func.count()).select_from(Notification))
    assert run_worker(app) >= 1
    with app.app_context():
        delivered = db.session.scalars(
            select(Notification).where(Notification.subject_id == str(order.id))
        ).all()
        assert db.session.scalar(select(func.count()).select_from(Notification)) > before
    assert {n.user_id for n in delivered} == {world.mgr_s1.id}
    assert {n.kind for n in delivered} == {"order.submitted"}
    assert len(events) == 1
    action, before, after, actor, proxy_id, assignment, note, at = events[0]
    assert (action, before, after, actor, assignment, note) == (
        "submit",
        None,
        "submitted",
        who.id,
        None,
        None,
    )
    assert proxy_id == (world.mgr_s1.id if proxy else None) == order.proxy_id
    assert order.resident_id == world.resident.id and order.status == "submitted"
    # The defaults the INSERT fills (in a CTE as when it runs alone) and the event's time: the request's.
    assert order.created_at is not None and order.updated_at is not None
    assert abs(order.created_at - at) < timedelta(seconds=5)
    assert made["created_at"] == order.created_at.isoformat()


def test_on_postgresql_one_statement_writes_all_three(app, client, world, monkeypatch):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has no data-modifying CTEs: three INSERTs there")
        engine = db.engine
    seen: list[str] = []

    def on_execute(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))

    for _ in range(2):  # the process's caches of sites and categories filled, and the statement planned
        warm = client.post("/api/v1/orders", json=order_body(app), headers=world.resident.headers)
        assert warm.status_code == 201
    body = order_body(app)
    made = []  # Sessions the request makes: none (extensions.session_used asks without making one)
    registry = db.session.registry
    monkeypatch.setattr(registry, "createfunc", lambda make=registry.createfunc: made.append(1) or make())
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        answer = client.post("/api/v1/orders", json=body, headers=world.resident.headers)
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    assert answer.status_code == 201, answer.json
    assert made == []
    # the caller checked by the statement itself (intake._for_token): nothing else is sent
    assert len(seen) == 1, seen
    order = seen[0]
    assert order.startswith("WITH gate AS (SELECT users.name AS caller_name")
    assert "new_order AS (INSERT INTO orders" in order
    for table in ("report_changes", "order_events", "work_items"):
        assert f"INSERT INTO {table}" in order
    # Longer than the 4,096 bytes psycopg caches its parsing for: unlistened, a plan sends it in
    # PostgreSQL's own form (readplan._dollar), which psycopg does not parse.
    plans = [p for p in list(readplan._PLANS.values()) if isinstance(p, readplan.Plan)]
    mine = [p for p in plans if " ".join(p.sql.split()) == order]
    assert len(mine) == 1 and mine[0].dollar is not None and b"%(" not in mine[0].dollar


def test_a_new_order_is_logged_once_in_its_transaction(app, world):
    """Whatever records the new order again before the commit (a set-based statement, a flush) adds
    no second line: the one statement's line counts (changes.logged)."""
    data = order_body(app)
    for key in ("start_at", "end_at"):
        data["window_" + key.split("_")[0]] = datetime.fromisoformat(data.pop(key))
    with app.app_context():
        user, grants = db.session.get(User, world.resident.id), load_grants(world.resident.id)
        who = Principal(user=user, session_id="t", grants=grants)
        row, _resident = intake._submit(who, data)
        changes.record("order", [row.id])
        db.session.commit()
        lines = db.session.scalars(select(Change.id).where(Change.kind == "order", Change.ref_id == row.id))
        assert len(lines.all()) == 1


@pytest.mark.parametrize("case", ["resident", "keyed", "proxy_new_resident"])
def test_a_new_order_alone_in_autocommit_or_in_the_sessions_transaction(app, client, world, case):
    """PostgreSQL (extensions.writes_alone): a resident's order without an Idempotency-Key is the caller's
    read and the one INSERT, both in autocommit (no BEGIN, no COMMIT: the statement commits itself).
    With a key, the INSERT is in the key's transaction; a proxy's order for a resident not yet known
    writes the new account first, so the INSERT joins the session's transaction. Every row is there
    afterwards and every connection is back in the pool."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite keeps its transaction")
        engine = db.engine
    seen: list[tuple[str, bool]] = []

    def on_execute(conn, _cursor, statement, *_args):
        seen.append((" ".join(statement.split())[:40], conn.connection.dbapi_connection.autocommit))

    who, body, headers = world.resident, order_body(app), {}
    if case == "keyed":
        headers = {"Idempotency-Key": "alone-keyed-1"}
    elif case == "proxy_new_resident":
        who = world.mgr_s1
        body = {**body, "resident_phone": "13800009999", "resident_name": "新居民"}
    warm = client.post("/api/v1/orders", json=order_body(app), headers=world.resident.headers)
    assert warm.status_code == 201  # (the process's caches of sites and categories filled, as in service)
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        answer = client.post("/api/v1/orders", json=body, headers={**who.headers, **headers})
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    assert answer.status_code == 201, answer.json
    writes = ("WITH new_order AS", "WITH gate AS")
    inserts = [autocommit for statement, autocommit in seen if statement.startswith(writes)]
    assert inserts == [case == "resident"], seen
    if case == "resident":  # the caller checked by the INSERT itself (intake._for_token)
        assert [autocommit for _statement, autocommit in seen] == [True], seen
    with app.app_context():
        assert db.engine.pool.checkedout() == 0
    order, events, logged, notices = _rows(app, answer.json["id"])
    assert order.title == body["title"] and len(events) == 1 and logged == ["order"] and len(notices) == 1
    with app.app_context():
        if case == "proxy_new_resident":
            resident = db.session.scalar(select(User).where(User.id == order.resident_id))
            assert resident is not None and resident.name == "新居民"


def test_a_new_order_alone_that_fails_leaves_nothing(app, client, world, monkeypatch):
    """The lone statement is whole or nothing: refused by the database halfway (its INSERT into orders
    passes, then an INSERT of a CTE fails: a category id no row has, let past the service's own check,
    which input cannot do), it leaves no order, no log line, no event, no notice, and its connection
    goes back to the pool."""
    from volunteer_app.sites import service as sites

    tables = (Order, OrderEvent, Change, WorkItem)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite keeps its transaction")
        counts = [db.session.scalar(select(func.count()).select_from(t)) for t in tables]
    warm = client.post("/api/v1/orders", json=order_body(app), headers=world.resident.headers)
    assert warm.status_code == 201
    monkeypatch.setattr(sites, "active_category", lambda _id: None)  # let a missing category through
    body = order_body(app, category_id=987654)
    with pytest.raises(IntegrityError):  # (the tests' app lets it through; served, it is a 500)
        client.post("/api/v1/orders", json=body, headers=world.resident.headers)
    with app.app_context():
        assert db.engine.pool.checkedout() == 0
        now = [db.session.scalar(select(func.count()).select_from(t)) for t in tables]
        assert now == [n + 1 for n in counts]  # the warm-up's rows only
