"""The complaint machine, pair by pair: every (state, action) of ComplaintStatus × the actions.

First the table itself (`states.target`), then through the HTTP API: a complaint is brought into each
state, every action the table allows there moves it as the table says with exactly one event, every one
it forbids is 409 `complaint.bad_state` and changes nothing. `submit` (from no state) is the POST;
`escalate` is the deadline sweep's (tests/supervision/test_complaints_deadlines.py).
"""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error
from tests.orders.conftest import Loop
from tests.supervision.complaint_support import complaint_in, snapshot
from volunteer_app.errors import Conflict
from volunteer_app.supervision import states
from volunteer_app.supervision.models import ComplaintStatus
from volunteer_app.supervision.states import COMPLAINT_TABLE, COMPLAINTS

ROLES = (states.RAISER, states.ACTOR, states.DECIDER, states.RESIDENT, states.VOLUNTEER, states.SCHEDULER)

# The table as domain.md words it, written out independently of the code: (from, action) -> (to, by).
EXPECTED = {
    (None, "submit"): ("open", states.RESIDENT),
    ("open", "answer"): ("answered", states.ACTOR),
    ("open", "note"): ("open", states.ACTOR),
    ("open", "supervise"): ("open", states.ACTOR),
    ("answered", "supervise"): ("answered", states.ACTOR),
    ("answered", "accept"): ("closed", states.RESIDENT),
    ("answered", "reopen"): ("open", states.RESIDENT),
    ("open", "withdraw"): ("withdrawn", states.RESIDENT),
    ("open", "escalate"): ("open", states.SCHEDULER),
}


def test_the_table_is_the_expected_one():
    assert {key: (rule.to, set(rule.by)) for key, rule in COMPLAINT_TABLE.items()} == {
        key: (to, {by}) for key, (to, by) in EXPECTED.items()
    }


@pytest.mark.parametrize("state", (None, *ComplaintStatus), ids=["new", *ComplaintStatus])
def test_target(state):
    for action in COMPLAINTS.actions:
        expected = EXPECTED.get((state, action))
        for by in ROLES:
            if expected is None:
                with pytest.raises(Conflict) as refused:
                    states.target(COMPLAINTS, state, action, by=by)
                assert refused.value.error == "complaint.bad_state"
            elif by == expected[1]:
                assert states.target(COMPLAINTS, state, action, by=by) == expected[0]
            else:
                with pytest.raises(RuntimeError):
                    states.target(COMPLAINTS, state, action, by=by)


# The API's actions: who takes each, and its body.
HTTP = {
    "answer": ("mgr_s1", {"resolution": "已与志愿者沟通，下次提前联系"}),
    "note": ("mgr_s1", {"note": "已电话联系志愿者了解情况"}),
    "supervise": ("mgr_i1", {"level": "yellow"}),  # a manager above the dispatch station
    "accept": ("resident", None),
    "reopen": ("resident", {"text": "还是没有解决"}),
    "withdraw": ("resident", None),
}


PATHS = {"note": "notes"}


def test_every_action_the_api_takes_is_in_the_table():
    assert set(HTTP) == set(COMPLAINTS.actions) - {"submit", "escalate"}


@pytest.mark.parametrize("state", list(ComplaintStatus))
def test_each_action_in_each_state_moves_once_or_is_refused(app, client, world, state):
    loop = Loop(app, client)
    for action, (who, body) in HTTP.items():
        complaint_id = complaint_in(loop, world, state)
        before, events = snapshot(app, complaint_id)
        assert before["status"] == state
        response = client.post(
            f"/api/v1/complaints/{complaint_id}/{PATHS.get(action, action)}",
            json=body,
            headers=world.people[who].headers,
        )
        after, events_after = snapshot(app, complaint_id)
        expected = EXPECTED.get((state, action))
        if expected is None:
            assert_error(response, 409, "complaint.bad_state")
            assert (after, events_after) == (before, events), (state, action)
        else:
            assert response.status_code == 200, (state, action, response.get_json())
            assert after["status"] == expected[0], (state, action)
            assert events_after == events + 1, (state, action)
            timeline = response.get_json()["timeline"]
            assert (timeline[-1]["action"], timeline[-1]["from"], timeline[-1]["to"]) == (
                action,
                state,
                expected[0],
            )
