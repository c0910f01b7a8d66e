"""The deadline sweep on 督办 items (supervision/deadlines.py): an open item past its deadline is
escalated once, even by concurrent sweeps: its level turns red and the managers of the acting site's
parent are told. A reported item waits on its raiser and is not escalated; an item sent back and late
again is escalated again."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import time_machine

from tests.supervision.conftest import call, events, move, notices, parse, raise_item, row
from tests.support import headers_now
from volunteer_app.extensions import db
from volunteer_app.supervision.deadlines import apply_deadlines
from volunteer_app.supervision.models import SupervisionEvent


def sweep_together(app, now: datetime, sweepers: int = 2) -> list[dict]:
    barrier = threading.Barrier(sweepers)

    def run(_):
        with app.app_context():
            barrier.wait(timeout=30)
            return apply_deadlines(now=now, batch=3)

    with ThreadPoolExecutor(max_workers=sweepers) as pool:
        return list(pool.map(run, range(sweepers)))


def test_an_overdue_item_is_escalated_once_by_concurrent_sweeps(app, client, world):
    # Raised by the center: the acting station's parent (I1) is told, not the raiser.
    ids = [raise_item(client, world.mgr_c1, world.sites["S1"], level="green")["id"] for _ in range(7)]
    due = parse(call(client, world.mgr_s1, "GET", f"/supervision-items/{ids[0]}")["due_at"])
    assert sweep_together(app, due - timedelta(seconds=1)) == [{}, {}]  # not yet late
    late = parse(call(client, world.mgr_s1, "GET", f"/supervision-items/{ids[-1]}")["due_at"])
    results = sweep_together(app, late, sweepers=4)
    assert sum(r.get("escalate:item", 0) for r in results) == 7
    for item_id in ids:
        item = row(app, item_id)
        assert (item.level, item.status, item.escalated_at is not None) == ("red", "open", True)
        assert events(app, item_id) == [("raise", None, "open"), ("escalate", "open", "open")]
    assert Counter(user for user, _ in notices(app, "supervision.overdue")) == {world.mgr_i1.id: 7}
    assert sorted(int(s) for _, s in notices(app, "supervision.overdue")) == sorted(ids)
    # Nothing is left, however often it runs.
    assert sweep_together(app, late + timedelta(days=1)) == [{}, {}]
    # The item reads as overdue and escalated; its timeline names no actor for the job's step.
    with time_machine.travel(late, tick=False):
        headers = headers_now(app, world.mgr_s1.id)
        body = client.get(f"/api/v1/supervision-items/{ids[0]}", headers=headers).get_json()
    assert (body["overdue"], body["level"], body["escalated_at"] is not None) == (True, "red", True)
    assert (body["events"][-1]["action"], body["events"][-1]["actor_id"]) == ("escalate", None)


def test_a_reported_item_is_not_escalated_and_a_late_one_sent_back_is_again(app, client, world):
    reported = raise_item(client, world.mgr_i1, world.sites["S1"])["id"]
    move(client, world.mgr_s1, reported, "report")
    late = raise_item(client, world.mgr_i1, world.sites["S1"])["id"]
    far = datetime.now(UTC) + timedelta(days=30)
    with app.app_context():
        assert apply_deadlines(now=far) == {"escalate:item": 1}
    assert row(app, reported).escalated_at is None and row(app, reported).level == "yellow"
    assert [a for a, *_ in events(app, reported)] == ["raise", "report"]
    # The late one is reported, sent back with a deadline that passes again: escalated again.
    move(client, world.mgr_s1, late, "report")
    assert row(app, late).escalated_at is None  # a change of state ends the escalation
    due = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    move(client, world.mgr_i1, late, "send-back", body={"reason": "再查", "due_at": due.isoformat()})
    with app.app_context():
        assert apply_deadlines(now=due - timedelta(minutes=1)) == {}
        assert apply_deadlines(now=due) == {"escalate:item": 1}
        assert apply_deadlines(now=due + timedelta(days=1)) == {}
        escalations = db.session.scalar(
            sa.select(sa.func.count()).where(
                SupervisionEvent.subject == "item",
                SupervisionEvent.subject_id == late,
                SupervisionEvent.action == "escalate",
            )
        )
    assert escalations == 2
    assert notices(app, "supervision.overdue") == [(world.mgr_i1.id, str(late))] * 2
