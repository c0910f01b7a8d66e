"""ITEM_TABLE pair by pair, through the HTTP API where a move has an endpoint: every allowed move moves
with exactly one event; every forbidden one is 409 `supervision.bad_state` and changes nothing. Raise
and escalate have no endpoint on an existing item: raise is checked on the table, escalate through the
deadline sweep's transition_many."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.race import race
from tests.supervision.conftest import API, MOVES, events, move, raise_item
from volunteer_app.errors import Conflict
from volunteer_app.extensions import db
from volunteer_app.supervision import states
from volunteer_app.supervision.models import ItemStatus, SupervisionItem

HTTP_ACTIONS = {action: segment for segment, (action, _) in MOVES.items()}
ITEM_STATES = [s.value for s in ItemStatus]


def test_the_table_names_only_known_states_actions_and_roles():
    assert set(states.ITEMS.states) == {None, *ITEM_STATES}
    assert set(states.ITEMS.actions) == {*HTTP_ACTIONS, "raise", "escalate"}
    roles = {states.RAISER, states.ACTOR, states.SCHEDULER}
    assert all(rule.by <= roles for rule in states.ITEM_TABLE.values())


def _item_in(client, world, state: str) -> int:
    """An item of S1 raised by I1, brought to `state` through the API."""
    item_id = raise_item(client, world.mgr_i1, world.sites["S1"])["id"]
    if state in ("reported", "closed"):
        move(client, world.mgr_s1, item_id, "report")
    if state == "closed":
        move(client, world.mgr_i1, item_id, "close")
    if state == "withdrawn":
        move(client, world.mgr_i1, item_id, "withdraw")
    return item_id


def _snapshot(app, item_id: int) -> dict:
    with app.app_context():
        item = db.session.get(SupervisionItem, item_id)
        return {c.key: getattr(item, c.key) for c in sa.inspect(SupervisionItem).column_attrs}


PAIRS = [(state, action) for state in ITEM_STATES for action in sorted(HTTP_ACTIONS)]


@pytest.mark.parametrize(("state", "action"), PAIRS, ids=[f"{s}-{a}" for s, a in PAIRS])
def test_each_http_move_from_each_state(app, client, world, state, action):
    item_id = _item_in(client, world, state)
    assert _snapshot(app, item_id)["status"] == state
    before, trail = _snapshot(app, item_id), events(app, item_id)
    rule = states.ITEM_TABLE.get((state, action))
    # The admin may take either side, so what decides is the table alone.
    if rule is None:
        assert (
            move(client, world.admin, item_id, HTTP_ACTIONS[action], 409)["error"] == "supervision.bad_state"
        )
        assert _snapshot(app, item_id) == before
        assert events(app, item_id) == trail
    else:
        body = move(client, world.admin, item_id, HTTP_ACTIONS[action])
        assert body["status"] == rule.to
        assert events(app, item_id) == [*trail, (action, state, rule.to)]
        assert body["events"][-1]["actor_id"] == world.admin.id


def test_raise_only_begins_an_item():
    assert states.target(states.ITEMS, None, "raise", by=states.RAISER) == ItemStatus.OPEN
    for state in ITEM_STATES:
        with pytest.raises(Conflict):
            states.target(states.ITEMS, state, "raise", by=states.RAISER)
    for action in states.ITEMS.actions:
        if action != "raise":
            with pytest.raises(Conflict):
                states.target(states.ITEMS, None, action, by=states.RAISER)


@pytest.mark.parametrize("state", ITEM_STATES)
def test_escalate_from_each_state(app, client, world, state):
    item_id = _item_in(client, world, state)
    trail = events(app, item_id)
    later = datetime.now(UTC) + timedelta(days=30)
    with app.app_context():
        db.session.execute(sa.update(SupervisionItem).values(due_at=datetime.now(UTC) - timedelta(days=1)))
        db.session.commit()
        before = _snapshot(app, item_id)
        moved = (
            states.transition_many(
                states.ITEMS,
                "escalate",
                state,
                where=[SupervisionItem.escalated_at.is_(None)],
                order_by=(SupervisionItem.id,),
                values={"escalated_at": later, "level": "red"},
                now=later,
                limit=10,
            )
            if (state, "escalate") in states.ITEM_TABLE
            else None
        )
        db.session.commit()
    if moved is None:
        with pytest.raises(Conflict):
            states.target(states.ITEMS, state, "escalate", by=states.SCHEDULER)
        assert _snapshot(app, item_id) == before and events(app, item_id) == trail
    else:
        assert [r.id for r in moved] == [item_id]
        assert events(app, item_id) == [*trail, ("escalate", state, state)]
        assert _snapshot(app, item_id)["level"] == "red"


def test_two_raisers_deciding_at_once_one_wins(app, client, world):
    """Close and send back race on one reported item: the row lock makes them take turns; the second
    finds it no longer reported (409) and nothing of it is written."""
    for _ in range(3):
        item_id = _item_in(client, world, "reported")
        responses = race(
            app,
            [
                lambda c, url=f"{API}/supervision-items/{item_id}/{seg}", who=who, body=MOVES[seg][1]: c.post(
                    url, json=body, headers=who.headers
                )
                for seg, who in (("close", world.mgr_i1), ("send-back", world.mgr_c1))
            ],
        )
        assert Counter(r.status_code for r in responses) == {200: 1, 409: 1}, [
            r.get_json() for r in responses
        ]
        trail = events(app, item_id)
        assert len(trail) == 3 and trail[-1][0] in ("close", "send_back")


def test_each_machine_refuses_with_its_own_code():
    for machine in states.MACHINES:
        assert states._bad_state(machine, {}).error == machine.error
