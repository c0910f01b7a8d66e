"""The appeal's state table, pair by pair: every (state, action) of APPEAL_TABLE's states × actions.

First the table itself (`states.target`), then on a stored appeal through `states.transition`: every
allowed move moves as the table says with exactly one timeline event, every forbidden one is 409
`appeal.bad_state` and changes nothing. Then through the API: from each state the API reaches, each
decision and the withdrawal are refused or move as the table says, and the deadline sweep escalates
only a pending appeal, once.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.api.helpers import assert_error
from tests.supervision.appeal_helpers import API, appeal, cut, notified
from volunteer_app.errors import Conflict
from volunteer_app.extensions import db
from volunteer_app.supervision import deadlines, states
from volunteer_app.supervision.models import Appeal, AppealStatus, SupervisionEvent

MACHINE = states.APPEALS
PAIRS = list(itertools.product(MACHINE.states, MACHINE.actions))
ROLES = (states.VOLUNTEER, states.DECIDER, states.SCHEDULER)


def test_the_table_covers_every_status_and_names_its_roles():
    assert set(MACHINE.states) == {None, *AppealStatus}
    assert MACHINE.actions == ("escalate", "reject", "submit", "uphold", "withdraw")
    for rule in states.APPEAL_TABLE.values():
        assert rule.by <= set(ROLES)


@pytest.mark.parametrize(("state", "action"), PAIRS)
def test_target_pair_by_pair(state, action):
    rule = states.APPEAL_TABLE.get((state, action))
    for role in ROLES:
        if rule is None:
            with pytest.raises(Conflict) as refused:
                states.target(MACHINE, state, action, by=role)
            assert refused.value.error == "appeal.bad_state"
        elif role in rule.by:
            assert states.target(MACHINE, state, action, by=role) == rule.to
        else:
            with pytest.raises(RuntimeError):  # a programming error, never a user's
                states.target(MACHINE, state, action, by=role)


def _events(appeal_id: int) -> int:
    return db.session.scalar(
        select(func.count()).where(
            SupervisionEvent.subject == "appeal", SupervisionEvent.subject_id == appeal_id
        )
    )


def test_transition_pair_by_pair(app, world, loop):
    _, assignment_id = cut(app, world, loop)
    made = appeal(loop, world.vol_s1, assignment_id)
    _, unappealed = cut(app, world, loop)
    with app.app_context():
        stored = db.session.get(Appeal, made["id"])
        template = {c.key: getattr(stored, c.key) for c in Appeal.__table__.columns if c.key != "id"}
    for state, action in PAIRS:
        rule = states.APPEAL_TABLE.get((state, action))
        role = next(iter(rule.by)) if rule else states.VOLUNTEER
        with app.app_context():
            if state is None:
                record = Appeal(**{**template, "status": None})
                if rule is None:
                    with pytest.raises(Conflict):
                        states.transition(MACHINE, record, action, by=role, actor_id=None)
                    assert record.id is None and record not in db.session
                else:  # submit: a new record with its first event
                    record.assignment_id = unappealed
                    event = states.transition(MACHINE, record, action, by=role, actor_id=None)
                    assert (record.status, event.from_status, event.to_status) == (rule.to, None, rule.to)
                    assert _events(record.id) == 1
                db.session.rollback()
                continue
            db.session.execute(
                update(Appeal).where(Appeal.id == made["id"]).values(status=state, escalated_at=None)
            )
            record = db.session.scalars(select(Appeal).where(Appeal.id == made["id"]).with_for_update()).one()
            before = _events(record.id)
            if rule is None:
                with pytest.raises(Conflict) as refused:
                    states.transition(MACHINE, record, action, by=role, actor_id=None)
                assert refused.value.error == "appeal.bad_state", (state, action)
                assert record.status == state and _events(record.id) == before, (state, action)
            else:
                event = states.transition(MACHINE, record, action, by=role, actor_id=None, note="n")
                assert record.status == rule.to, (state, action)
                assert (event.action, event.from_status, event.to_status) == (action, state, rule.to)
                assert _events(record.id) == before + 1, (state, action)
            db.session.rollback()


# ---- through the API -----------------------------------------------------------------------------

DECISIONS = {
    "uphold": ("mgr_i1", {"minutes_granted": 45}),
    "reject": ("mgr_i1", {"note": "维持"}),
    "withdraw": ("vol_s1", {}),
}


def _into(app, world, loop, state: str) -> int:
    """An appeal brought into `state` through the API."""
    _, assignment_id = cut(app, world, loop)
    appeal_id = appeal(loop, world.vol_s1, assignment_id)["id"]
    if state != "pending":
        action = {"upheld": "uphold", "rejected": "reject", "withdrawn": "withdraw"}[state]
        who, body = DECISIONS[action]
        loop.call("POST", f"/appeals/{appeal_id}/{action}", getattr(world, who), body)
    return appeal_id


@pytest.mark.parametrize("state", [str(s) for s in AppealStatus])
def test_every_api_action_from_every_state(app, world, loop, state):
    for action, (who, body) in DECISIONS.items():
        appeal_id = _into(app, world, loop, state)
        rule = states.APPEAL_TABLE.get((state, action))
        with app.app_context():
            events = _events(appeal_id)
        response = loop.client.post(
            f"{API}/appeals/{appeal_id}/{action}", json=body, headers=getattr(world, who).headers
        )
        if rule is None:
            assert_error(response, 409, "appeal.bad_state")
            with app.app_context():
                assert db.session.get(Appeal, appeal_id).status == state and _events(appeal_id) == events
        else:
            assert response.status_code == 200, response.get_json()
            assert response.get_json()["status"] == rule.to
            with app.app_context():
                assert _events(appeal_id) == events + 1


def test_the_sweep_escalates_an_overdue_pending_appeal_once(app, world, loop):
    pending = _into(app, world, loop, "pending")
    decided = _into(app, world, loop, "rejected")
    with app.app_context():
        due = db.session.get(Appeal, pending).due_at
        assert due - db.session.get(Appeal, pending).created_at == timedelta(hours=168)  # appeal_decide_hours
        assert deadlines.apply_deadlines(now=due - timedelta(seconds=1)) == {}
        assert deadlines.apply_deadlines(now=due) == {"escalate:appeal": 1}
        assert deadlines.apply_deadlines(now=due + timedelta(hours=1)) == {}
        escalated = db.session.get(Appeal, pending)
        assert escalated.status == "pending" and escalated.escalated_at == due
        assert db.session.get(Appeal, decided).escalated_at is None
    # The managers above the deciding site (I1): the center's; once.
    told = notified(app, world.mgr_c1.id, "appeal.overdue")
    assert [n.subject_id for n in told] == [str(pending)]
    assert notified(app, world.mgr_i1.id, "appeal.overdue") == []
    with loop.at(due + timedelta(hours=1)):
        detail = loop.call("GET", f"/appeals/{pending}", world.mgr_i1)
        assert [e["action"] for e in detail["timeline"]] == ["submit", "escalate"]
        assert detail["overdue"] is True and detail["escalated_at"] is not None
        # Deciding late still works, and clears the escalation.
        upheld = loop.call("POST", f"/appeals/{pending}/uphold", world.mgr_c1, {"minutes_granted": 40})
    assert upheld["status"] == "upheld" and upheld["escalated_at"] is None and upheld["overdue"] is False
