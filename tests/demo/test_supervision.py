"""`flask demo load` writes supervision records in every state (volunteer_app/demo/history_supervision.py):
each with a timeline the state tables allow, ending in its status; the upheld appeal's minutes are
credited through the ledger (kind "appeal") and the ledger verifies; a second load adds nothing."""

from __future__ import annotations

from collections import Counter

import sqlalchemy as sa

from tests.api.demo_data import load_demo
from tests.timebank.conftest import ledger_ok
from volunteer_app import demo
from volunteer_app.db import utcnow
from volunteer_app.demo import history_supervision, world
from volunteer_app.extensions import db
from volunteer_app.supervision import states
from volunteer_app.supervision.models import Appeal, Complaint, FollowUp, SupervisionEvent, SupervisionItem
from volunteer_app.timebank.models import Transfer
from volunteer_app.workbench import today


def _replays(machine, record) -> list[str]:
    """The record's actions, checking each event is a move of the table from the state before it."""
    status, actions = None, []
    for event in states.timeline(machine, record.id):
        assert event.from_status == status, (machine.subject, record.id, event.action)
        rule = machine.table.get((status, event.action))
        assert rule is not None and rule.to == event.to_status, (machine.subject, record.id, event.action)
        status = event.to_status
        actions.append(event.action)
    assert status == record.status
    return actions


def test_every_state_with_its_timeline(app):
    with app.app_context():
        created = load_demo(app)
        assert created.supervision == 6 + 6 + 5 + 3
        assert "supervision:" in demo.summary(created)
        now = utcnow()
        items = db.session.scalars(sa.select(SupervisionItem).order_by(SupervisionItem.id)).all()
        shapes = Counter()
        for item in items:
            actions = _replays(states.ITEMS, item)
            overdue = item.status == "open" and item.due_at <= now
            shapes[(item.status, item.level if overdue else None, item.reopened, overdue)] += 1
            if overdue:
                assert item.escalated_at is not None and actions[-1] == "escalate"
        assert shapes == Counter({
            ("open", None, 0, False): 1,
            ("open", "red", 0, True): 1,  # escalated, turned red
            ("reported", None, 0, False): 1,
            ("closed", None, 0, False): 1,
            ("open", None, 1, False): 1,  # sent back, open again
            ("withdrawn", None, 0, False): 1,
        })  # fmt: skip
        closed = next(i for i in items if i.status == "closed")
        assert closed.reported_at <= closed.due_at and closed.closed_at > closed.reported_at
        assert any(i.about_kind == "figure" and i.about_ref.startswith("expired_share:") for i in items)

        complaints = db.session.scalars(sa.select(Complaint)).all()
        seen = Counter()
        for complaint in complaints:
            actions = _replays(states.COMPLAINTS, complaint)
            seen[(complaint.status, "escalate" in actions, complaint.reopened)] += 1
        assert seen == Counter({
            ("open", False, 0): 1,
            ("open", True, 0): 1,
            ("answered", False, 0): 1,
            ("closed", False, 0): 1,
            ("open", False, 1): 1,  # reopened
            ("withdrawn", False, 0): 1,
        })  # fmt: skip

        appeals = db.session.scalars(sa.select(Appeal)).all()
        for appeal in appeals:
            _replays(states.APPEALS, appeal)
        assert sorted(a.status for a in appeals) == ["pending", "rejected", "upheld"]
        upheld = next(a for a in appeals if a.status == "upheld")
        transfer = db.session.get(Transfer, upheld.transfer_id)
        assert (transfer.kind, transfer.minutes) == ("appeal", upheld.minutes_granted - upheld.minutes_before)
        assert transfer.reference == f"service:appeal:{upheld.id}"

        follow_ups = db.session.scalars(sa.select(FollowUp)).all()
        for follow_up in follow_ups:
            _replays(states.FOLLOW_UPS, follow_up)
        # The history's orders settled through the real services, so the low-rated, unrated and sampled
        # ones have theirs too (pending); the demo worked five of them through every state.
        statuses = Counter(f.status for f in follow_ups)
        assert (statuses["done"], statuses["unreachable"]) == (2, 1) and statuses["pending"] >= 2
        assert set(statuses) == {"pending", "done", "unreachable"}
        assert any(f.status == "pending" and f.due_at <= now for f in follow_ups)
        assert all(f.satisfaction for f in follow_ups if f.status == "done")
        assert all(e.at <= now for e in db.session.scalars(sa.select(SupervisionEvent)))

        # The workbench shows them: the first institute's Today.
        center = db.session.scalar(sa.select(SupervisionItem.raised_site_id).limit(1))
        counts = {
            c["key"]: c["count"]
            for c in today.counts(who=world.admin_view(), site_id=center, now=now)["counts"]
        }
        assert counts["items_to_act"] >= 1
    assert ledger_ok(app)
    with app.app_context():
        again = demo.load()
        assert again.supervision == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SupervisionItem)) == 6
        descriptions = db.session.scalars(sa.select(SupervisionItem.description)).all()
        assert all(d.endswith(history_supervision.NOTE) for d in descriptions)
