"""The order state machine, pair by pair: every (state, action) of `OrderStatus` × `states.ACTIONS`.

First the table itself (`states.target`), then through the HTTP API: an order is brought into each state
the API can reach, every user-facing action the table forbids there is refused and changes nothing, and
every action it allows moves the order as the table says.

Refusals are 409 `order.bad_state`, except where the service answers something more specific first:
- hand_over of a dispatched order someone holds a place in: 409 `handover.held`
  (tests/orders/test_handover.py);
- grab: 404 for any order that is not an open grab pool (assign mode, or not dispatched/staffed), since
  such an order is not in the volunteer's feed; 409 `order.full` for a staffed pool;
- accept of a still-open offer on a staffed order: 409 `order.full` (the places went while it waited);
- assignment actions (accept … no_show) on an order that has no assignment at all (submitted, rejected):
  404, as there is no assignment id to act on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.orders.conftest import NEAR
from tests.support import make_volunteer
from volunteer_app.attendance.models import Assignment
from volunteer_app.errors import Conflict
from volunteer_app.extensions import db
from volunteer_app.orders import states
from volunteer_app.orders.deadlines import apply_deadlines
from volunteer_app.orders.models import Order, OrderEvent, OrderStatus
from volunteer_app.orders.states import ACTIONS, TABLE

ROLES = (states.RESIDENT, states.MANAGER, states.VOLUNTEER, states.SCHEDULER)

# ---- the table ------------------------------------------------------------------------------------


def _table_says(state, action) -> dict:
    """What `target` must answer for every role and both `last` values, from the table alone."""
    rule = TABLE.get((state, action))
    if rule is None:
        return {
            (by, last): ("order.bad_state", state or "-", action) for by in ROLES for last in (False, True)
        }
    first, filled = rule.to if isinstance(rule.to, tuple) else (rule.to, rule.to)
    return {
        (by, last): ((filled if last else first) if by in rule.by else RuntimeError)
        for by in ROLES
        for last in (False, True)
    }


def _target_says(state, action) -> dict:
    answers = {}
    for by in ROLES:
        for last in (False, True):
            try:
                answers[(by, last)] = states.target(state, action, by=by, last=last)
            except Conflict as exc:
                answers[(by, last)] = (exc.error, exc.params["status"], exc.params["action"])
            except RuntimeError:
                answers[(by, last)] = RuntimeError
    return answers


# One test per state (each test pays for emptying the database afterwards), every action in it; the
# answers are compared keyed by action, so a failure names each wrong (state, action) pair.
@pytest.mark.parametrize("state", (None, *OrderStatus), ids=["new", *OrderStatus])
def test_target(state):
    assert {a: _target_says(state, a) for a in ACTIONS} == {a: _table_says(state, a) for a in ACTIONS}
    for action in ACTIONS:
        rule = TABLE.get((state, action))
        if rule is not None:
            assert rule.by < set(ROLES), (state, action)  # someone is always refused: RuntimeError
            targets = rule.to if isinstance(rule.to, tuple) else (rule.to,)
            assert set(targets) <= set(OrderStatus), (state, action)


# domain.md's table, written out independently of the code: (from, action, by) -> (to while slots stay
# open / someone is still on site, to when the action fills the last slot / empties the site).
DOMAIN = {
    (None, "submit", "resident"): ("submitted", "submitted"),
    (None, "submit", "manager"): ("submitted", "submitted"),
    ("submitted", "reject", "manager"): ("rejected", "rejected"),
    ("submitted", "dispatch", "manager"): ("dispatched", "dispatched"),
    ("dispatched", "accept", "volunteer"): ("dispatched", "staffed"),
    ("dispatched", "grab", "volunteer"): ("dispatched", "staffed"),
    ("staffed", "withdraw", "volunteer"): ("dispatched", "dispatched"),
    ("dispatched", "check_in", "volunteer"): ("in_service", "in_service"),
    ("staffed", "check_in", "volunteer"): ("in_service", "in_service"),
    ("in_service", "check_out", "volunteer"): ("in_service", "completed"),
    ("in_service", "close_attendance", "manager"): ("in_service", "completed"),
    ("completed", "audit", "manager"): ("closed", "closed"),
    ("completed", "rate", "resident"): ("completed", "completed"),
    ("closed", "rate", "resident"): ("closed", "closed"),
    ("submitted", "cancel", "resident"): ("cancelled", "cancelled"),
    ("staffed", "cancel", "manager"): ("cancelled", "cancelled"),
    ("staffed", "expire", "scheduler"): ("expired", "expired"),
    ("dispatched", "close_pool", "scheduler"): ("staffed", "staffed"),
    ("submitted", "hand_over", "manager"): ("submitted", "submitted"),
    ("dispatched", "hand_over", "manager"): ("submitted", "submitted"),
}
REFUSED = [
    ("in_service", "cancel"),
    ("completed", "cancel"),
    ("in_service", "expire"),
    ("completed", "expire"),
    ("staffed", "grab"),
    ("staffed", "accept"),
    ("closed", "audit"),
    ("dispatched", "audit"),
    ("submitted", "rate"),
    ("rejected", "dispatch"),
    ("expired", "dispatch"),
    ("cancelled", "cancel"),
    ("staffed", "hand_over"),
    ("in_service", "hand_over"),
    ("completed", "hand_over"),
    ("closed", "hand_over"),
    ("rejected", "hand_over"),
]


def test_domain_table():
    for (state, action, by), (first, filled) in DOMAIN.items():
        assert (states.target(state, action, by=by), states.target(state, action, by=by, last=True)) == (
            first,
            filled,
        ), (state, action)
    for state, action in REFUSED:
        with pytest.raises(Conflict) as raised:
            states.target(state, action, by="manager")
        assert raised.value.error == "order.bad_state"
    with pytest.raises(RuntimeError):
        states.target("completed", "audit", by="volunteer")
    with pytest.raises(RuntimeError):
        states.target("dispatched", "grab", by="manager")


def test_table_shape():
    """End states have no way out but the rating bookkeeping; the scheduler alone escalates and expires;
    every state but `new` appears, and nothing leads to an unknown state."""
    assert set(OrderStatus) == {s for s, _ in TABLE if s} | {"rejected", "cancelled", "expired"}
    for (state, action), rule in TABLE.items():
        if state in states.END_STATES:
            assert action in ("rate", "rating_lapsed"), (state, action)
        if action in ("escalate", "expire", "close_pool", "rating_lapsed"):
            assert rule.by == {states.SCHEDULER}
        else:
            assert states.SCHEDULER not in rule.by
    for state in ("rejected", "cancelled", "expired"):
        assert not [a for (s, a) in TABLE if s == state]


# ---- through the API ------------------------------------------------------------------------------

API_STATES = tuple(OrderStatus)  # every state is reachable (expired through the deadline job)
ORDER_ACTIONS = ("dispatch", "offer", "reject", "cancel", "grab", "rate", "audit", "hand_over")
ASSIGNMENT_ACTIONS = ("accept", "decline", "withdraw", "check_in", "check_out", "close_attendance", "no_show")
API_ACTIONS = ORDER_ACTIONS + ASSIGNMENT_ACTIONS
MANAGER_ASSIGNMENT_ACTIONS = ("close_attendance", "no_show")
PATHS = {
    "dispatch": "dispatch",
    "offer": "offers",
    "reject": "reject",
    "cancel": "cancel",
    "grab": "grab",
    "rate": "rating",
    "audit": "audit",
    "hand_over": "handovers",
    "accept": "accept",
    "decline": "decline",
    "withdraw": "withdraw",
    "check_in": "check-in",
    "check_out": "check-out",
    "close_attendance": "close",
    "no_show": "no-show",
}
# Which of the order's assignments a refused action is tried on (the one it would normally act on).
PREFERRED = {
    "accept": "offered",
    "decline": "offered",
    "withdraw": "held",
    "check_in": "held",
    "no_show": "held",
    "check_out": "checked_in",
    "close_attendance": "checked_in",
}


def _row(obj) -> dict:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


class Stage:
    """A station S1 with its manager, a resident, and volunteers A, B, C (offered orders) and D (the
    outsider who grabs or is offered more). Orders start 5 minutes from now, so check-in is open."""

    def __init__(self, app, loop, world):
        self.app, self.loop, self.world = app, loop, world
        s1 = world.sites["S1"]
        self.vols = {
            "A": world.vol_s1,
            "B": make_volunteer(app, s1, 21, "志愿者乙"),
            "C": make_volunteer(app, s1, 22, "志愿者丙"),
            "D": make_volunteer(app, s1, 23, "志愿者丁"),
        }
        self.by_id = {p.id: p for p in self.vols.values()}
        self.manager, self.resident = world.mgr_s1, world.resident

    # -- building an order in a state --

    def order(self, state: str, *, mode: str = "assign", capacity: int = 2) -> int:
        """A fresh order in `state`. Dispatched: A holds a place (accepted or grabbed), B and C are
        offered (assign mode); staffed: B holds one too; in service: A checked in; completed: A checked
        out; closed: audited; cancelled: cancelled while dispatched; expired: staffed, then the deadline
        job ran past the check-in deadline and the escalation delay."""
        loop = self.loop
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
        order_id = loop.submit(self.resident, start=start)["id"]
        if state == "submitted":
            return order_id
        if state == "rejected":
            self.call(order_id, "reject")
            return order_id
        if mode == "assign":
            ids = [self.vols[k].id for k in "ABC"]
            loop.dispatch_assign(self.manager, order_id, ids, capacity=capacity)
            self.act(order_id, "accept", "A")
        else:
            loop.dispatch_grab(self.manager, order_id, capacity=capacity)
            loop.grab(self.vols["A"], order_id)
        if state == "dispatched":
            return order_id
        if state == "cancelled":
            self.call(order_id, "cancel")
            return order_id
        if mode == "assign":
            self.act(order_id, "accept", "B")
        else:
            loop.grab(self.vols["B"], order_id)
        if state == "staffed":
            return order_id
        if state == "expired":
            esc = timedelta(minutes=self.app.config["APP"]["order_escalation_minutes"])
            with self.app.app_context():
                late = db.session.get(Order, order_id).checkin_due_at + timedelta(minutes=1)
                assert apply_deadlines(now=late) == {"escalate:staffed": 1}
                assert apply_deadlines(now=late + esc + timedelta(minutes=1)) == {"expire:staffed": 1}
            return order_id
        self.act(order_id, "check_in", "A")
        if state == "in_service":
            return order_id
        self.act(order_id, "check_out", "A")
        if state == "completed":
            return order_id
        self.call(order_id, "audit")
        assert state == "closed", state
        return order_id

    # -- acting --

    def assignment(self, order_id: int, volunteer: str | None = None, status: str | None = None):
        """The order's assignment of `volunteer`, or the first in `status`, or the first: (id, volunteer)."""
        with self.app.app_context():
            rows = db.session.execute(
                select(Assignment.id, Assignment.volunteer_id, Assignment.status)
                .where(Assignment.order_id == order_id)
                .order_by(Assignment.id)
            ).all()
        if volunteer is not None:
            rows = [r for r in rows if r.volunteer_id == self.vols[volunteer].id]
        elif status is not None:
            rows = [r for r in rows if r.status == status] or rows
        return (rows[0].id, rows[0].volunteer_id) if rows else (None, None)

    def send(self, order_id: int, action: str, volunteer: str | None = None):
        """One action through the API, on the order or on one of its assignments; the raw response."""
        bodies = {
            "dispatch": {"mode": "grab", "capacity": 1},
            "offer": {"volunteer_ids": [self.vols["D"].id]},
            "reject": {"reason": "不在服务范围"},
            "cancel": {"reason": "不需要了"},
            "rate": {"stars": 4, "comment": "及时"},
            "audit": {"confirm_computed": True},
            # 上报 to S1's parent: the hop happens at once (orders/handover.py).
            "hand_over": {"to_site_id": self.world.sites["I1"], "reason": "本站人手不足"},
            "check_in": NEAR,
            "check_out": NEAR,
            "close_attendance": {"reason": "忘记签退"},
            "no_show": {"reason": "未到场"},
        }
        body = bodies.get(action, {})
        if action in ORDER_ACTIONS:
            who = {
                "cancel": self.resident,
                "rate": self.resident,
                "grab": self.vols[volunteer or "D"],
            }.get(action, self.manager)
            path = f"/api/v1/orders/{order_id}/{PATHS[action]}"
            body = None if action == "grab" else body
        else:
            assignment_id, volunteer_id = self.assignment(order_id, volunteer, PREFERRED[action])
            if assignment_id is None:
                assignment_id = 0  # nothing to act on: the order has no assignment at all
            who = self.manager if action in MANAGER_ASSIGNMENT_ACTIONS else self.by_id.get(volunteer_id)
            who = who or self.vols["A"]
            path = f"/api/v1/assignments/{assignment_id}/{PATHS[action]}"
        return self.loop.client.post(path, json=body, headers=self.loop.headers(who))

    def call(self, order_id: int, action: str, volunteer: str | None = None) -> None:
        response = self.send(order_id, action, volunteer)
        assert response.status_code in (200, 201), (action, response.get_json())

    def act(self, order_id: int, action: str, volunteer: str) -> None:
        self.call(order_id, action, volunteer)

    # -- observing --

    def snapshot(self, order_id: int) -> dict:
        with self.app.app_context():
            order = db.session.get(Order, order_id)
            return {
                "order": _row(order),
                "events": db.session.scalar(
                    select(func.count()).select_from(OrderEvent).where(OrderEvent.order_id == order_id)
                ),
                "assignments": [
                    _row(a)
                    for a in db.session.scalars(
                        select(Assignment).where(Assignment.order_id == order_id).order_by(Assignment.id)
                    )
                ],
                "all_events": db.session.scalar(select(func.count()).select_from(OrderEvent)),
                "all_assignments": db.session.scalar(select(func.count()).select_from(Assignment)),
            }

    def last_event(self, order_id: int) -> tuple:
        with self.app.app_context():
            event = db.session.scalars(
                select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id.desc())
            ).first()
            return event.action, event.from_status, event.to_status


def refusal(state: str, action: str, *, mode: str, has_assignments: bool) -> tuple[int, str]:
    """The answer to an action the table forbids in `state` (see the module docstring)."""
    if action == "grab":
        if mode == "grab" and state == "staffed":
            return 409, "order.full"
        return 404, "not_found"
    if action in ASSIGNMENT_ACTIONS and not has_assignments:
        return 404, "not_found"
    if action == "accept" and state == "staffed":  # the offer is still open, the places went
        return 409, "order.full"
    return 409, "order.bad_state"


# The allowed moves, each on a fresh order: (label, action, how the order is built, steps taken first,
# the volunteer acted on or acting, whether the action fills the last place / empties the site).
ALLOWED = {
    "submitted": [
        ("dispatch", "dispatch", {}, [], None, False),
        ("reject", "reject", {}, [], None, False),
        ("cancel", "cancel", {}, [], None, False),
        ("hand_over", "hand_over", {}, [], None, False),
    ],
    "dispatched": [
        ("offer", "offer", {}, [], None, False),
        ("accept", "accept", {"capacity": 3}, [], "B", False),
        ("accept(last)", "accept", {"capacity": 2}, [], "B", True),
        ("grab", "grab", {"mode": "grab", "capacity": 3}, [], "D", False),
        ("grab(last)", "grab", {"mode": "grab", "capacity": 2}, [], "D", True),
        ("decline", "decline", {}, [], "B", False),
        ("withdraw", "withdraw", {}, [], "A", False),
        ("check_in", "check_in", {}, [], "A", False),
        ("no_show", "no_show", {}, [], "A", False),
        ("cancel", "cancel", {}, [], None, False),
        # Only once nobody holds a place: A withdraws; B's and C's open offers end with the hop.
        ("hand_over", "hand_over", {}, [("withdraw", "A")], None, False),
    ],
    "staffed": [
        ("decline", "decline", {}, [], "C", False),
        ("withdraw", "withdraw", {}, [], "A", False),
        ("check_in", "check_in", {}, [], "A", False),
        ("no_show", "no_show", {}, [], "A", False),
        ("cancel", "cancel", {}, [], None, False),
    ],
    "in_service": [
        ("check_in", "check_in", {}, [], "B", False),
        ("check_out", "check_out", {}, [("check_in", "B")], "A", False),
        ("check_out(last)", "check_out", {}, [], "A", True),
        ("close_attendance", "close_attendance", {}, [("check_in", "B")], "A", False),
        ("close_attendance(last)", "close_attendance", {}, [], "A", True),
        ("no_show", "no_show", {}, [], "B", False),
    ],
    "completed": [
        ("audit", "audit", {}, [], None, False),
        ("rate", "rate", {}, [], None, False),
    ],
    "closed": [("rate", "rate", {}, [], None, False)],
    "rejected": [],
    "cancelled": [],
    "expired": [],
}


def test_allowed_moves_cover_the_table():
    for state in API_STATES:
        allowed = {a for a in API_ACTIONS if (state, a) in TABLE}
        assert {entry[1] for entry in ALLOWED[state]} == allowed, state


@pytest.fixture
def stage(app, loop, world) -> Stage:
    return Stage(app, loop, world)


@pytest.mark.parametrize("state", API_STATES)
def test_every_action_in_state(stage, state):
    """Each user-facing action in `state`: refused with nothing changed, or moved as the table says.
    The outcome of every (state, action) is collected and compared at once, keyed by action."""
    outcome, expected = {}, {}
    order_id = stage.order(state)
    has_assignments = stage.assignment(order_id)[0] is not None
    for action in API_ACTIONS:
        if (state, action) in TABLE:
            continue
        before = stage.snapshot(order_id)
        response = stage.send(order_id, action)
        body = response.get_json() or {}
        unchanged = stage.snapshot(order_id) == before
        outcome[action] = (response.status_code, body.get("error"), "unchanged" if unchanged else "CHANGED")
        expected[action] = (
            *refusal(state, action, mode="assign", has_assignments=has_assignments),
            "unchanged",
        )
    if state == "staffed":  # a full pool answers `order.full` to a grab, and stays as it was
        pool = stage.order(state, mode="grab", capacity=2)
        before = stage.snapshot(pool)
        response = stage.send(pool, "grab", "D")
        unchanged = stage.snapshot(pool) == before
        outcome["grab(pool)"] = (response.status_code, response.get_json().get("error"), unchanged)
        expected["grab(pool)"] = (*refusal(state, "grab", mode="grab", has_assignments=True), True)

    for label, action, build, steps, volunteer, last in ALLOWED[state]:
        fresh = stage.order(state, **build)
        for step, who in steps:
            stage.act(fresh, step, who)
        before = stage.snapshot(fresh)
        response = stage.send(fresh, action, volunteer)
        after = stage.snapshot(fresh)
        by = sorted(TABLE[(state, action)].by)[0]
        to = states.target(state, action, by=by, last=last)
        outcome[label] = (
            response.status_code,
            after["order"]["status"],
            after["events"] - before["events"],
            stage.last_event(fresh),
        )
        expected[label] = (201 if action in ("grab", "hand_over") else 200, to, 1, (action, state, to))
    assert outcome == expected


def test_manager_actions_read_the_table_and_the_dispatching_site(app, world, loop):
    """orders.queries.manager_actions (what the console's order page offers): in every state, the moves
    the table gives a manager; reject, dispatch and offer only to a manager of the dispatching site."""
    from types import SimpleNamespace

    from tests.workbench.conftest import set_order
    from volunteer_app.orders.queries import DISPATCHING, MANAGER_ACTIONS, manager_actions
    from volunteer_app.sites.models import Site

    order_id = loop.submit(world.resident)["id"]
    with app.app_context():
        paths = {code: db.session.get(Site, world.sites[code]).path for code in ("S1", "I1")}
    station, institute = (SimpleNamespace(is_admin=False, manager_paths=(paths[c],)) for c in ("S1", "I1"))
    for dispatch_site, dispatches in ((world.sites["S1"], True), (world.sites["I1"], False)):
        set_order(app, order_id, dispatch_site_id=dispatch_site)
        for state in OrderStatus:
            set_order(app, order_id, status=state)
            with app.app_context():
                order = db.session.get(Order, order_id)
                expected = {
                    action: (state, action) in TABLE
                    and states.MANAGER in TABLE[(state, action)].by
                    and (dispatches or action not in DISPATCHING)
                    for action in MANAGER_ACTIONS
                }
                assert manager_actions(order, station) == expected, (state, dispatch_site)
                assert manager_actions(order, institute) == {  # the institute reaches both sites
                    a: (state, a) in TABLE and states.MANAGER in TABLE[(state, a)].by for a in MANAGER_ACTIONS
                }
    assert set(MANAGER_ACTIONS) <= set(ACTIONS)
    # Written out, as a manager of the station reads the page when the station dispatches:
    set_order(app, order_id, dispatch_site_id=world.sites["S1"])
    for state, offered in (
        (OrderStatus.SUBMITTED, {"reject", "dispatch", "cancel"}),
        (OrderStatus.DISPATCHED, {"offer", "cancel", "no_show"}),
        (OrderStatus.IN_SERVICE, {"close_attendance", "no_show"}),
        (OrderStatus.COMPLETED, {"audit"}),
        (OrderStatus.CLOSED, set()),
    ):
        set_order(app, order_id, status=state)
        with app.app_context():
            found = manager_actions(db.session.get(Order, order_id), station)
        assert {action for action, yes in found.items() if yes} == offered, state
