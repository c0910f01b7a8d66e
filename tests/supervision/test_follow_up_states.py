"""FOLLOW_UP_TABLE pair by pair: every (state, action) of the follow-up machine, first through
`states.target`, then applied to a real follow-up row by `states.transition` (an allowed move moves as
the table says with exactly one event; a forbidden one is 409 `follow_up.bad_state` and changes
nothing), then through the API for the three user actions in each state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.api.helpers import assert_error
from tests.orders.conftest import Loop
from tests.supervision.follow_up_support import API, audit, rate, served
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict
from volunteer_app.extensions import db
from volunteer_app.supervision import states
from volunteer_app.supervision.models import FollowUp, FollowUpStatus, SupervisionEvent
from volunteer_app.supervision.states import FOLLOW_UP_TABLE, FOLLOW_UPS

ROLES = (
    states.RAISER,
    states.ACTOR,
    states.DECIDER,
    states.RESIDENT,
    states.VOLUNTEER,
    states.SCHEDULER,
    states.SYSTEM,
)
STATES = (None, *FollowUpStatus)
ACTIONS = FOLLOW_UPS.actions

# The table written out independently: (from, action) -> (to, who).
EXPECTED = {
    (None, "create"): ("pending", {"system"}),
    ("pending", "reached"): ("done", {"actor"}),
    ("pending", "missed"): ("pending", {"actor"}),
    ("pending", "give_up"): ("unreachable", {"actor"}),
}


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def test_the_table_is_the_expected_one():
    assert {key: (rule.to, set(rule.by)) for key, rule in FOLLOW_UP_TABLE.items()} == EXPECTED
    assert set(ACTIONS) == {"create", "reached", "missed", "give_up"}
    assert set(FOLLOW_UPS.states) == set(STATES)


@pytest.mark.parametrize("state", STATES, ids=["new", *FollowUpStatus])
def test_target_pair_by_pair(state):
    for action in ACTIONS:
        expected = EXPECTED.get((state, action))
        for by in ROLES:
            if expected is None:
                with pytest.raises(Conflict) as raised:
                    states.target(FOLLOW_UPS, state, action, by=by)
                assert (raised.value.error, raised.value.status) == ("follow_up.bad_state", 409)
            elif by in expected[1]:
                assert states.target(FOLLOW_UPS, state, action, by=by) == expected[0], (state, action)
            else:
                with pytest.raises(RuntimeError):
                    states.target(FOLLOW_UPS, state, action, by=by)


def _row(follow_up: FollowUp) -> dict:
    return {c.key: getattr(follow_up, c.key) for c in FollowUp.__table__.columns}


def _events() -> int:
    return db.session.scalar(select(func.count()).select_from(SupervisionEvent))


def test_transition_pair_by_pair(app, world, loop):
    """Each pair on a row of a real order in that state, rolled back after (one order serves all)."""
    order_id = served(app, world, loop)
    with app.app_context():
        for state in STATES:
            for action in ACTIONS:
                expected = EXPECTED.get((state, action))
                by = next(iter(expected[1])) if expected else states.ACTOR
                record = FollowUp(
                    order_id=order_id,
                    site_id=world.sites["S1"],
                    reason="sample",
                    due_at=utcnow() + timedelta(hours=1),
                    attempts=0,
                )
                if state is not None:
                    record.status = state
                    db.session.add(record)
                    db.session.flush()
                before, events = (_row(record) if state else None), _events()
                if expected is None:
                    with pytest.raises(Conflict) as raised:
                        states.transition(FOLLOW_UPS, record, action, by=by, actor_id=None)
                    assert raised.value.error == "follow_up.bad_state", (state, action)
                    if state is not None:
                        assert _row(record) == before, (state, action)
                    assert _events() == events, (state, action)
                else:
                    event = states.transition(FOLLOW_UPS, record, action, by=by, actor_id=None)
                    assert record.status == expected[0], (state, action)
                    assert _events() == events + 1, (state, action)
                    assert (event.subject, event.subject_id, event.action) == ("follow_up", record.id, action)
                    assert (event.from_status, event.to_status) == (state, expected[0])
                db.session.rollback()


# ---- through the API: the three user actions in each state -----------------------------------------

API_ACTIONS = {
    "reached": ("calls", {"reached": True, "satisfaction": 4}),
    "missed": ("calls", {"reached": False}),
    "give_up": ("give-up", {"note": "多次无人接听"}),
}


@pytest.mark.parametrize("state", list(FollowUpStatus))
def test_api_pair_by_pair(app, client, world, loop, state):
    order_id = served(app, world, loop)
    rate(loop, world, order_id, 1)
    audit(loop, world, order_id)
    with app.app_context():
        follow_up = db.session.scalars(select(FollowUp).where(FollowUp.order_id == order_id)).one()
        follow_up.status, follow_up.attempts = state, 1  # tried once: give-up is about the state only
        db.session.commit()
        follow_up_id = follow_up.id
    for action, (path, body) in API_ACTIONS.items():
        with app.app_context():
            follow_up = db.session.get(FollowUp, follow_up_id)
            follow_up.status, follow_up.attempts = state, 1
            db.session.commit()
            before, events = _row(follow_up), _events()
        response = client.post(
            f"{API}/follow-ups/{follow_up_id}/{path}", json=body, headers=world.mgr_s1.headers
        )
        expected = EXPECTED.get((state, action))
        with app.app_context():
            after = _row(db.session.get(FollowUp, follow_up_id))
            if expected is None:
                assert_error(response, 409, "follow_up.bad_state")
                assert after == before, (state, action)
                assert _events() == events, (state, action)
            else:
                assert response.status_code == 200, (state, action, response.get_json())
                assert after["status"] == expected[0], (state, action)
                assert _events() == events + 1, (state, action)
