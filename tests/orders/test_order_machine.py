"""Hypothesis state machine over the order loop: random sequences of submit, dispatch (assign or grab),
offer, grab, accept, decline, withdraw, check-in, check-out, manager close, no-show, rate, audit, cancel,
reject and the deadline job at later and later times, through the service layer.

Refusals (404/409/422) are allowed answers, anything else fails. After every step:
- no order holds more volunteers than its capacity; a live order's `taken` is its occupied slots;
- a command that succeeded wrote exactly one timeline event, on its order; one that failed changed
  nothing at all; the deadline job wrote one event per move it reports;
- every order's timeline is a chain (each event starts where the previous ended) ending at its status;
- hours are credited once, and only for audited work, with the audited minutes; the ledger verifies;
- no assignment stays open (offered, held, on site) on an order that has moved past it.

Settings as the ledger's machine (tests/timebank/test_ledger_state.py), but 50 steps: the loop is long
(submit → dispatch → grab/accept → check in → check out → audit), and 25 steps rarely reached its end.
`pytest -s` prints what the examples reached: (action, "ok" or the refusal's error) counts.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import time_machine
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from tests.conftest import _empty_database
from tests.support import ADMIN_VIEW, caller, id_number
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import User
from volunteer_app.accounts.principal import load_grants
from volunteer_app.attendance.models import SLOT_STATUSES, Assignment
from volunteer_app.auth.tokens import Principal
from volunteer_app.errors import DomainError
from volunteer_app.extensions import db
from volunteer_app.orders import dispatch, intake, onsite, review, taking
from volunteer_app.orders.deadlines import apply_deadlines
from volunteer_app.orders.models import Order, OrderEvent, OrderStatus
from volunteer_app.orders.states import END_STATES, TABLE
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Category
from volunteer_app.timebank.models import Transfer
from volunteer_app.timebank.verify import verify

VOLUNTEERS = 4
MAX_ORDERS = 5
START = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)  # 09:00 in the sites' time zone
PLACE = (30.2712, 120.1712)
FAR = (30.30, 120.20)
WAITS = [1, 5, 10, 20, 40]  # minutes the clock moves on between commands
LATER = [15, 60, 180, 600, 1440, 4320]  # minutes before the deadline job runs
OFFSETS = [20, 45, 60, 90, 240, -5]  # the service starts this many minutes after it is ordered
LENGTHS = [30, 60, 120]
GRACE = 30  # checkin_grace_minutes (config default): check-in opens this long before the start
REFUSALS = (404, 409, 422)
# The order states an assignment in each live status may be found on (ended assignments: any).
OPEN_ON = {
    "offered": {"dispatched", "staffed", "in_service"},
    "held": {"dispatched", "staffed", "in_service"},
    "checked_in": {"in_service"},
    "checked_out": {"in_service", "completed"},
    "audited": {"closed"},
}
RESULTS: Counter = Counter()  # (action, outcome) over all examples: what the machine reached


def _allowing(action: str) -> list[str]:
    """The states in which the table allows `action`."""
    return [state for state, act in TABLE if act == action and state]


def _row(obj) -> tuple:
    return tuple(getattr(obj, c.key) for c in obj.__table__.columns)


class OrderMachine(RuleBasedStateMachine):
    """Acts through the order services (`volunteer_app.orders.intake`, `dispatch`, …) as real
    principals; the database is the state, and `self.orders` the ids of the orders submitted so far."""

    app = None  # set by the test

    @initialize(
        offsets=st.lists(st.sampled_from(OFFSETS), min_size=1, max_size=3),
        length=st.sampled_from(LENGTHS),
        needed=st.integers(1, 3),
    )
    def start(self, offsets, length, needed):
        """A center → institute → station, its manager, a resident and four volunteers; the clock stands
        at START; and one to three orders already placed (so no example is spent with nothing to do)."""
        self.traveller = time_machine.travel(START, tick=False)
        self.clock = self.traveller.start()
        self.ctx = self.app.test_request_context()
        self.ctx.push()
        _empty_database()
        sites.ensure_catalogue()
        center = sites.create_site(kind="center", name="中心", code="C", lat=30.25, lng=120.15)
        institute = sites.create_site(kind="institute", name="所", parent_id=center.id, lat=30.26, lng=120.16)
        station = sites.create_site(kind="station", name="站", parent_id=institute.id, lat=30.27, lng=120.17)
        self.category = db.session.scalars(select(Category.id).order_by(Category.id)).first()
        manager = accounts.create_user(
            phone="+8613800000001", name="站长", home_site_id=None, password_hash=None
        )
        accounts.ensure_grant(manager.id, "manager", site_id=station.id)
        resident = accounts.create_user(
            phone="+8613800000002", name="居民", home_site_id=station.id, password_hash=None
        )
        db.session.commit()
        volunteer_ids = []
        for i in range(VOLUNTEERS):
            user = accounts.create_user(
                phone=f"+861370000{i:04d}", name=f"志愿者{i}", home_site_id=station.id, password_hash=None
            )
            application = accounts.apply_as_volunteer(
                who=caller(user.id),
                real_name=f"志愿者{i}",
                id_number=id_number(40 + i),
                site_id=station.id,
                skills=[],
                category_ids=[],
            )
            accounts.approve_application(
                who=ADMIN_VIEW, reviewer_id=manager.id, application_id=application.id
            )
            volunteer_ids.append(user.id)
        db.session.commit()
        self.manager = self._principal(manager.id)
        self.resident = self._principal(resident.id)
        self.volunteers = [self._principal(v) for v in volunteer_ids]
        self.orders: list[int] = []
        self.events: Counter = Counter()  # the model: how many events each order must have
        self.verified: list[int] | None = None  # the transfers the ledger was last verified with
        for offset in offsets:
            self._submit(offset, length, needed)

    def _principal(self, user_id: int) -> Principal:
        return Principal(
            user=db.session.get(User, user_id), session_id="machine", grants=load_grants(user_id)
        )

    def teardown(self):
        if hasattr(self, "ctx"):
            db.session.rollback()
            self.ctx.pop()
        if hasattr(self, "traveller"):
            self.traveller.stop()

    # ---- observing ----

    def _snapshot(self) -> dict:
        return {
            "orders": [_row(o) for o in db.session.scalars(select(Order).order_by(Order.id))],
            "assignments": [_row(a) for a in db.session.scalars(select(Assignment).order_by(Assignment.id))],
            "events": db.session.scalar(select(func.max(OrderEvent.id))),
            "transfers": db.session.scalar(select(func.count()).select_from(Transfer)),
        }

    def _events_after(self, last_id: int | None) -> list[tuple[int, str]]:
        rows = db.session.execute(
            select(OrderEvent.order_id, OrderEvent.action)
            .where(OrderEvent.id > (last_id or 0))
            .order_by(OrderEvent.id)
        )
        return [tuple(row) for row in rows]

    def _attempt(self, action: str, order_id: int | None, call):
        """Run one command. Refused: it must be a domain error and nothing may have changed. Done: it
        wrote exactly one event, for its order, named after the action."""
        before = self._snapshot()
        db.session.rollback()  # the command starts from a fresh transaction, as a request would
        try:
            result = call()
        except DomainError as exc:
            db.session.rollback()
            assert exc.status in REFUSALS, (action, exc.status, exc.error)
            assert self._snapshot() == before, (action, exc.error, "a refused command changed something")
            RESULTS[(action, exc.error)] += 1
            return None
        db.session.rollback()  # committed already; forget what the session holds
        new = self._events_after(before["events"])
        if order_id is None:  # a new order
            order_id = new[0][0] if new else None
        assert new == [(order_id, action)], (action, order_id, new)
        self.events[order_id] += 1
        RESULTS[(action, "ok")] += 1
        return result

    def _assignments(self, *statuses: str, action: str | None = None) -> list[tuple[int, int]]:
        """(assignment id, volunteer id) of every assignment, or of those in `statuses` on an order in a
        state where the table allows `action`."""
        stmt = select(Assignment.id, Assignment.volunteer_id).order_by(Assignment.id)
        if statuses:
            stmt = stmt.where(Assignment.status.in_(statuses))
        if action is not None:
            stmt = stmt.join(Order, Order.id == Assignment.order_id).where(
                Order.status.in_(_allowing(action))
            )
        rows = [tuple(row) for row in db.session.execute(stmt)]
        db.session.rollback()
        return rows

    def _pick_order(self, data, *likely: str, mode: str | None = None) -> int:
        """Mostly an order in a state where the action makes sense (so the machine gets deep into the
        loop), sometimes any order (so refusals are exercised too)."""
        if not likely:
            return data.draw(st.sampled_from(self.orders))
        stmt = select(Order.id).where(Order.status.in_(likely)).order_by(Order.id)
        if mode is not None:
            stmt = stmt.where(Order.mode == mode)
        fitting = list(db.session.scalars(stmt))
        db.session.rollback()
        if fitting and data.draw(st.integers(0, 3)) > 0:
            return data.draw(st.sampled_from(fitting))
        return data.draw(st.sampled_from(self.orders))

    def _volunteer(self, user_id: int) -> Principal:
        return next(p for p in self.volunteers if p.user_id == user_id)

    def _pick_assignment(self, data, action: str, likely: str) -> tuple[int, Principal]:
        """Mostly an assignment in the status the action expects on an order where the table allows it,
        sometimes any; mostly acted on by its own volunteer, sometimes by another (who must get 404)."""
        fitting = self._assignments(likely, action=action) if data.draw(st.integers(0, 3)) > 0 else []
        rows = fitting or self._assignments()
        assignment_id, volunteer_id = data.draw(st.sampled_from(rows))
        own = data.draw(st.integers(0, 5)) > 0
        who = self._volunteer(volunteer_id) if own else data.draw(st.sampled_from(self.volunteers))
        return assignment_id, who

    # ---- the commands (each rule below, and `advance`, goes through these) ----

    def _submit(self, offset: int, length: int, needed: int) -> None:
        now = datetime.now(UTC)  # the travelling clock
        data = {
            "category_id": self.category,
            "title": "陪同就医",
            "address": "文晖街道 12 幢",
            "lat": PLACE[0],
            "lng": PLACE[1],
            "window_start": now + timedelta(minutes=offset),
            "window_end": now + timedelta(minutes=offset + length),
            "volunteers_needed": needed,
        }
        order = self._attempt("submit", None, lambda: intake.submit(who=self.resident, data=data))
        assert order is not None  # a valid order is always taken
        self.orders.append(order.id)

    def _dispatch(self, order_id: int, mode: str, capacity: int, offered) -> None:
        body = {"mode": mode, "capacity": capacity}
        if mode == "assign":
            body["volunteer_ids"] = [self.volunteers[i].user_id for i in sorted(offered)]
        self._attempt(
            "dispatch", order_id, lambda: dispatch.dispatch(who=self.manager, order_id=order_id, data=body)
        )

    def _grab(self, order_id: int, volunteer: Principal) -> None:
        self._attempt("grab", order_id, lambda: taking.grab(who=volunteer, order_id=order_id))

    def _rate(self, order_id: int, stars: int) -> None:
        self._attempt(
            "rate",
            order_id,
            lambda: review.rate(who=self.resident, order_id=order_id, stars=stars, comment="好"),
        )

    def _audit(self, data, order_id: int) -> None:
        done = list(
            db.session.scalars(
                select(Assignment.id).where(
                    Assignment.order_id == order_id, Assignment.status == "checked_out"
                )
            )
        )
        db.session.rollback()
        items = []
        for assignment_id in done:
            minutes = data.draw(st.sampled_from([None, None, None, 0, 10, 45, 1000]))
            if minutes is not None:
                reason = data.draw(st.sampled_from([None, "实际时长", "实际时长"]))
                items.append({"assignment_id": assignment_id, "minutes": minutes, "reason": reason})
        self._attempt(
            "audit",
            order_id,
            lambda: review.audit(
                who=self.manager, order_id=order_id, items=items, note="核", confirm_computed=True
            ),
        )

    def _on_assignment(self, action: str, assignment_id: int, who: Principal, near: bool = True) -> None:
        lat, lng = PLACE if near else FAR
        calls = {
            "accept": lambda: taking.accept(who=who, assignment_id=assignment_id),
            "decline": lambda: taking.decline(who=who, assignment_id=assignment_id, reason=None),
            "withdraw": lambda: taking.withdraw(who=who, assignment_id=assignment_id, reason="有事"),
            "check_in": lambda: onsite.check_in(who=who, assignment_id=assignment_id, lat=lat, lng=lng),
            "check_out": lambda: onsite.check_out(who=who, assignment_id=assignment_id, lat=lat, lng=lng),
            "close_attendance": lambda: onsite.close_attendance(
                who=self.manager, assignment_id=assignment_id, checkout_at=None, reason="忘记签退"
            ),
            "no_show": lambda: onsite.mark_no_show(
                who=self.manager, assignment_id=assignment_id, reason="未到"
            ),
        }
        self._attempt(action, self._order_of(assignment_id), calls[action])

    # ---- one step along the loop, so that examples get deep into it (first: the simplest example
    # hypothesis tries is this rule again and again, i.e. the whole loop) ----

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), steps=st.integers(1, 6))
    def advance(self, data, steps):
        """One to six steps along the loop, the invariants checked after each."""
        for _ in range(steps):
            self._next_step(data)
            self.all_invariants_hold()

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def advance_again(self, data):
        """One more step: rules are drawn evenly, so this doubles how often the loop moves on."""
        self._next_step(data)

    def _next_step(self, data):
        """The next natural action for an order still in the loop, by someone it fits: dispatch, grab or
        accept, check in (the clock first moves to the window if it is not there yet), check out or
        close, audit or rate."""
        live = list(
            db.session.execute(
                select(Order.id, Order.status, Order.mode, Order.window_start)
                .where(Order.status.in_(("submitted", "dispatched", "staffed", "in_service", "completed")))
                .order_by(Order.id)
            )
        )
        db.session.rollback()
        if not live:
            return
        order_id, status, mode, window_start = data.draw(st.sampled_from(live))
        rows = {
            s: [
                (a, v)
                for a, v in db.session.execute(
                    select(Assignment.id, Assignment.volunteer_id).where(
                        Assignment.order_id == order_id, Assignment.status == s
                    )
                )
            ]
            for s in ("offered", "held", "checked_in")
        }
        db.session.rollback()
        if status == "submitted":
            offered = data.draw(st.sets(st.integers(0, VOLUNTEERS - 1), min_size=1))
            self._dispatch(
                order_id,
                data.draw(st.sampled_from(["assign", "grab"])),
                data.draw(st.integers(1, 3)),
                offered,
            )
        elif status == "dispatched" and mode == "grab":
            self._grab(order_id, data.draw(st.sampled_from(self.volunteers)))
        elif status == "dispatched" and rows["offered"]:
            a, v = data.draw(st.sampled_from(rows["offered"]))
            self._on_assignment("accept", a, self._volunteer(v))
        elif status in ("dispatched", "staffed") and rows["held"]:
            a, v = data.draw(st.sampled_from(rows["held"]))
            earliest = window_start - timedelta(minutes=GRACE)
            now = datetime.now(UTC)
            if now < earliest:
                self.clock.shift(earliest - now + timedelta(minutes=data.draw(st.sampled_from([0, 20, 40]))))
            self._on_assignment("check_in", a, self._volunteer(v), data.draw(st.booleans()))
        elif status == "in_service" and rows["checked_in"]:
            a, v = data.draw(st.sampled_from(rows["checked_in"]))
            self.clock.shift(timedelta(minutes=data.draw(st.sampled_from([0, 10, 30, 60]))))
            action = data.draw(st.sampled_from(["check_out", "check_out", "close_attendance"]))
            self._on_assignment(action, a, self._volunteer(v), data.draw(st.booleans()))
        elif status == "completed":
            if data.draw(st.booleans()):
                self._audit(data, order_id)
            else:
                self._rate(order_id, data.draw(st.integers(1, 5)))

    # ---- the clock ----

    @rule(minutes=st.sampled_from(WAITS))
    def wait(self, minutes):
        self.clock.shift(timedelta(minutes=minutes))

    @rule(minutes=st.sampled_from(LATER))
    def deadlines(self, minutes):
        """The deadline job, later: one event per move it reports, each a move the table allows (the
        timeline invariant checks the latter)."""
        self.clock.shift(timedelta(minutes=minutes))
        before = self._snapshot()
        db.session.rollback()
        counts = apply_deadlines()
        new = self._events_after(before["events"])
        reported = Counter()
        for step, n in counts.items():
            if step != "reminded":  # a reminder is not a change of state: no event
                reported[step.split(":")[0]] += n
            RESULTS[("deadlines", step)] += 1
        assert Counter(action for _, action in new) == reported, (counts, new)
        self.events.update(order_id for order_id, _ in new)

    # ---- the resident ----

    @precondition(lambda self: len(self.orders) < MAX_ORDERS)
    @rule(offset=st.sampled_from(OFFSETS), length=st.sampled_from(LENGTHS), needed=st.integers(1, 3))
    def submit(self, offset, length, needed):
        self._submit(offset, length, needed)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), by_manager=st.booleans())
    def cancel(self, data, by_manager):
        order_id = self._pick_order(data)  # any order: cancelling live ones first would end the loop early
        who = self.manager if by_manager else self.resident
        self._attempt(
            "cancel", order_id, lambda: dispatch.cancel(who=who, order_id=order_id, reason="不需要了")
        )

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), stars=st.integers(1, 5))
    def rate(self, data, stars):
        self._rate(self._pick_order(data, *_allowing("rate")), stars)

    # ---- the manager ----

    @precondition(lambda self: self.orders)
    @rule(
        data=st.data(),
        mode=st.sampled_from(["assign", "grab"]),
        capacity=st.integers(1, 3),
        offered=st.sets(st.integers(0, VOLUNTEERS - 1), min_size=1),
    )
    def dispatch(self, data, mode, capacity, offered):
        self._dispatch(self._pick_order(data, *_allowing("dispatch")), mode, capacity, offered)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), offered=st.sets(st.integers(0, VOLUNTEERS - 1), min_size=1))
    def offer(self, data, offered):
        order_id = self._pick_order(data, *_allowing("offer"))
        body = {"volunteer_ids": [self.volunteers[i].user_id for i in sorted(offered)]}
        self._attempt(
            "offer", order_id, lambda: dispatch.offer_more(who=self.manager, order_id=order_id, data=body)
        )

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def reject(self, data):
        order_id = self._pick_order(data)
        self._attempt(
            "reject", order_id, lambda: dispatch.reject(who=self.manager, order_id=order_id, reason="超范围")
        )

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def close_attendance(self, data):
        self._assignment_rule(data, "close_attendance", "checked_in")

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def no_show(self, data):
        self._assignment_rule(data, "no_show", "held")

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def audit(self, data):
        self._audit(data, self._pick_order(data, *_allowing("audit")))

    # ---- the volunteers ----

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), v=st.integers(0, VOLUNTEERS - 1))
    def grab(self, data, v):
        self._grab(self._pick_order(data, *_allowing("grab"), mode="grab"), self.volunteers[v])

    def _order_of(self, assignment_id: int) -> int:
        order_id = db.session.scalar(select(Assignment.order_id).where(Assignment.id == assignment_id))
        db.session.rollback()
        return order_id

    def _assignment_rule(self, data, action: str, likely: str, near: bool = True) -> None:
        if not self._assignments():
            return
        assignment_id, who = self._pick_assignment(data, action, likely)
        self._on_assignment(action, assignment_id, who, near)

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def accept(self, data):
        self._assignment_rule(data, "accept", "offered")

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def decline(self, data):
        self._assignment_rule(data, "decline", "offered")

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def withdraw(self, data):
        self._assignment_rule(data, "withdraw", "held")

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), near=st.booleans())
    def check_in(self, data, near):
        self._assignment_rule(data, "check_in", "held", near)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), near=st.booleans())
    def check_out(self, data, near):
        self._assignment_rule(data, "check_out", "checked_in", near)

    # ---- invariants, after every step ----

    @invariant()
    def all_invariants_hold(self):
        if not hasattr(self, "orders"):
            return
        self._slots_within_capacity()
        self._assignments_fit_their_order()
        self._timelines_are_chains()
        self._hours_only_for_audited_work()

    def _slots_within_capacity(self):
        occupied = dict(
            db.session.execute(
                select(Assignment.order_id, func.count())
                .where(Assignment.status.in_(SLOT_STATUSES))
                .group_by(Assignment.order_id)
            ).all()
        )
        for order in db.session.scalars(select(Order)):
            held = occupied.get(order.id, 0)
            assert order.status in set(OrderStatus)
            assert 0 <= order.taken <= order.capacity, (order.id, order.taken, order.capacity)
            assert held <= order.capacity, (order.id, order.status, held, order.capacity)
            if order.status not in END_STATES:
                assert held == order.taken, (order.id, order.status, held, order.taken)
        db.session.rollback()

    def _assignments_fit_their_order(self):
        """No assignment stays open on an order past the point it could act: a finished order has no
        holder (who would count as an open grab forever) and no pending offer."""
        rows = db.session.execute(
            select(Assignment.id, Assignment.status, Order.status).join(
                Order, Order.id == Assignment.order_id
            )
        ).all()
        for assignment_id, status, order_status in rows:
            if status in OPEN_ON:
                assert order_status in OPEN_ON[status], (assignment_id, status, order_status)
        db.session.rollback()

    def _timelines_are_chains(self):
        status = dict(db.session.execute(select(Order.id, Order.status)).all())
        last: dict[int, str | None] = {}
        for order_id, action, before, after in db.session.execute(
            select(
                OrderEvent.order_id, OrderEvent.action, OrderEvent.from_status, OrderEvent.to_status
            ).order_by(OrderEvent.order_id, OrderEvent.id)
        ):
            assert before == last.get(order_id), (order_id, action, before, last.get(order_id))
            rule = TABLE[(before, action)]
            assert after in (rule.to if isinstance(rule.to, tuple) else (rule.to,)), (order_id, action, after)
            last[order_id] = after
        assert last == status
        counts = dict(
            db.session.execute(select(OrderEvent.order_id, func.count()).group_by(OrderEvent.order_id)).all()
        )
        assert counts == dict(self.events)  # no event written but by the commands and the job counted
        assert sorted(status) == sorted(self.orders)
        db.session.rollback()

    def _hours_only_for_audited_work(self):
        transfers = db.session.execute(
            select(Transfer.id, Transfer.reference, Transfer.minutes).where(
                Transfer.reference.like("service:assignment:%")
            )
        ).all()
        references = [t.reference for t in transfers]
        assert len(references) == len(set(references))  # nothing credited twice
        by_assignment = {int(t.reference.rsplit(":", 1)[1]): t for t in transfers}
        assert db.session.scalar(select(func.count()).select_from(Transfer)) == len(transfers)
        for a in db.session.scalars(select(Assignment)):
            transfer = by_assignment.pop(a.id, None)
            if a.status == "audited":
                if a.minutes_confirmed:
                    assert transfer is not None and transfer.minutes == a.minutes_confirmed, (a.id, transfer)
                    assert a.transfer_id == transfer.id
                else:
                    assert transfer is None and a.transfer_id is None, a.id
            else:
                assert transfer is None and a.transfer_id is None, (a.id, a.status)
        assert not by_assignment, by_assignment  # no transfer for an assignment that does not exist
        # The whole ledger (hash chain, entries, balances, zero sum), whenever a transfer was added:
        # nothing else writes to it, so it is verified as it stands at the end of every example.
        ledger = sorted(t.id for t in transfers)
        if ledger != self.verified:
            report = verify()
            assert report.ok, report.problems
            self.verified = ledger
        db.session.rollback()


def test_order_state_machine(app):
    OrderMachine.app = app
    RESULTS.clear()
    run_state_machine_as_test(
        OrderMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print(sorted(RESULTS.items()))
