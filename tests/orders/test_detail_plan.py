"""An order's detail looks its sites up by key (sites/reach.py, `one_row`): PostgreSQL never collects
a manager's whole subtree for one order, whatever it estimates."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import event, text

from tests.orders.conftest import order_body
from volunteer_app.extensions import db

API = "/api/v1"


def _reads_sites(node: dict) -> bool:
    return node.get("Relation Name") == "sites" or any(_reads_sites(c) for c in node.get("Plans", []))


def _hashed_over_sites(plan: dict) -> bool:
    """Whether a hashed subplan (run once over every row it matches, not a probe per row) reads sites:
    a filter says "hashed SubPlan N", and the node of that name is the subplan."""
    hashed = set(re.findall(r"hashed (SubPlan \d+)", json.dumps(plan)))

    def walk(node: dict) -> bool:
        if node.get("Subplan Name") in hashed and _reads_sites(node):
            return True
        return any(walk(child) for child in node.get("Plans", []))

    return walk(plan)


@pytest.mark.parametrize("manager", ["mgr_c1", "mgr_s1"])
def test_the_detail_probes_its_sites_by_key(app, client, world, manager):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("query plans are PostgreSQL's")
        engine = db.engine
    made = client.post(f"{API}/orders", json=order_body(app), headers=world.resident.headers)
    assert made.status_code == 201
    seen = []

    def capture(_conn, _cursor, statement, parameters, *_args):
        if statement.startswith("SELECT a.id AS a_id"):
            seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        answer = client.get(f"{API}/orders/{made.json['id']}", headers=world.people[manager].headers)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert answer.status_code == 200 and answer.json["resident"]["phone"] == world.resident.phone
    statement, parameters = seen[-1]
    with app.app_context():
        connection = db.session.connection()
        # With fresh statistics a few sites are cheap to scan: what tempted PostgreSQL to hash them.
        connection.execute(text("ANALYZE sites"))
        for mode in ("force_generic_plan", "force_custom_plan"):
            connection.execute(text(f"SET LOCAL plan_cache_mode = {mode}"))
            plan = connection.exec_driver_sql("EXPLAIN (FORMAT JSON) " + statement, parameters).scalar()
            assert not _hashed_over_sites(plan[0]["Plan"]), (mode, plan)
        db.session.rollback()
