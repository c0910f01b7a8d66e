"""The rollups stay exact: after random sequences of orders, activities and time-book corrections, made
through the real services (and the deadline job's set-based statements), refreshing the change log
gives exactly what a recount of the raw rows gives (`verify` finds nothing), and a rebuild stores the
very same rows. Also: a change left in the log is counted by the next refresh; a read that finds
another writer counting answers "as of" with its pending changes (PostgreSQL); a tampered rollup row
makes `flask reports verify` exit 1 naming it.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select, update

from tests.conftest import built_once
from tests.orders.test_order_machine import PLACE, RESULTS, OrderMachine
from tests.reports import world
from tests.support import ADMIN_VIEW, headers_now
from volunteer_app.activities import attendance as activity_attendance
from volunteer_app.activities import service as activities
from volunteer_app.activities import signups
from volunteer_app.attendance.models import Assignment
from volunteer_app.errors import DomainError
from volunteer_app.extensions import db
from volunteer_app.reports import rollups
from volunteer_app.reports.models import report_days, report_months, report_people
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.timebank import service as timebank
from volunteer_app.timebank.models import Transfer

ZONES = ("Asia/Shanghai", "America/New_York", "UTC", "Pacific/Kiritimati")  # +8, −5/−4, 0, +14
DONE: Counter = Counter()  # (action, outcome) over all examples: what the machine reached


def stored_rows() -> dict:
    """Every stored rollup row, by table, in key order."""
    return {
        table.name: [tuple(row) for row in db.session.execute(select(table).order_by(*table.primary_key))]
        for table in (report_days, report_months, report_people)
    }


class RollupMachine(OrderMachine):
    """The order loop's machine (tests/orders/test_order_machine.py: submit, dispatch, offer, grab,
    accept, decline, withdraw, check in and out, close, no-show, rate, audit, cancel, reject, the
    deadline job at later and later times), plus activities (publish, sign up, attend, audit, cancel),
    time-book corrections (adjust, reverse) and refreshes of the rollups (whole, or a few change rows
    at a time), with the station's clock in one of several time zones. The order machine's own
    invariants are its test's business: here the one check is the rollups' exactness, at the end."""

    @initialize(
        offsets=st.lists(st.sampled_from([20, 45, 60, 90, 240, -5]), min_size=1, max_size=3),
        length=st.sampled_from([30, 60, 120]),
        needed=st.integers(1, 3),
        zone=st.sampled_from(ZONES),
    )
    def start(self, offsets, length, needed, zone):
        OrderMachine.start(self, offsets, length, needed)
        db.session.execute(update(Site).where(Site.kind == "center").values(settings={"timezone": zone}))
        db.session.commit()
        self.station = db.session.scalar(select(Site.id).where(Site.kind == "station"))
        self.activities: list[int] = []

    @invariant()
    def all_invariants_hold(self):
        pass  # see the class's docstring

    def _try(self, action: str, call) -> None:
        db.session.rollback()
        try:
            call()
        except DomainError as exc:
            db.session.rollback()
            assert exc.status in (404, 409, 422), (action, exc.status, exc.error)
            DONE[(action, exc.error)] += 1
        else:
            db.session.rollback()
            DONE[(action, "ok")] += 1

    @precondition(lambda self: self.orders)
    @rule(data=st.data())
    def advance_far(self, data):
        """Fifteen steps along the loop: with this many rules, closed (audited, rated) orders are
        otherwise rare."""
        for _ in range(15):
            self._next_step(data)

    @rule()
    def days_later(self):
        """The deadline job four days on: ratings lapse (unrated), late orders escalate and expire."""
        self.deadlines(5760)

    # ---- activities ----

    @rule(
        slots=st.integers(1, 3),
        came=st.lists(st.sampled_from([None, 0, 20, 60]), min_size=1, max_size=4),
    )
    def run_activity(self, slots, came):
        """An activity from start to audit: published, signed up (some waitlisted), attended for the
        given minutes (None: never came, a no-show at the audit), audited after its end."""
        self.publish(60, slots, 1, list(range(len(came))))
        activity_id = self.activities[-1]
        mine = dict(
            db.session.execute(
                select(Assignment.volunteer_id, Assignment).where(
                    Assignment.activity_id == activity_id, Assignment.status == "held"
                )
            ).all()
        )
        self.clock.shift(timedelta(minutes=60 + 90 + 5))  # past the end
        now = datetime.now(UTC)
        for volunteer, minutes in zip(self.volunteers, came, strict=False):
            assignment = mine.get(volunteer.user_id)
            if assignment is not None and minutes is not None:
                assignment.status = "checked_out"
                assignment.checkin_at, assignment.checkout_at = now - timedelta(minutes=minutes), now
                assignment.minutes_computed = minutes
        db.session.commit()
        self._try(
            "audit_activity",
            lambda: activity_attendance.audit(
                who=self.manager, activity_id=activity_id, items=[], note="核", confirm_computed=True
            ),
        )

    @precondition(lambda self: len(self.activities) < 4)
    @rule(
        offset=st.sampled_from([60, 180, 1440]),
        slots=st.integers(1, 3),
        waitlist=st.integers(0, 1),
        who=st.lists(st.integers(0, 3), max_size=4, unique=True),
    )
    def publish(self, offset, slots, waitlist, who):
        """Publish an activity and sign some volunteers up at once (the clock moves fast here)."""
        start = datetime.now(UTC) + timedelta(minutes=offset)
        data = {
            "category_id": self.category,
            "title": "理论宣讲",
            "address": "文化家园",
            "lat": PLACE[0],
            "lng": PLACE[1],
            "start_at": start,
            "end_at": start + timedelta(minutes=90),
            "slots": slots,
            "waitlist_max": waitlist,
        }
        activity = activities.create(who=self.manager, site_id=self.station, data=data)
        activity_id = activity.id
        self.activities.append(activity_id)
        db.session.rollback()
        DONE[("publish", "ok")] += 1
        for v in who:
            self._try("sign_up", lambda v=v: signups.signup(who=self.volunteers[v], activity_id=activity_id))

    @precondition(lambda self: self.activities)
    @rule(data=st.data(), v=st.integers(0, 3))
    def sign_up(self, data, v):
        activity_id = data.draw(st.sampled_from(self.activities))
        self._try("sign_up", lambda: signups.signup(who=self.volunteers[v], activity_id=activity_id))

    @precondition(lambda self: self.activities)
    @rule(data=st.data(), minutes=st.sampled_from([0, 30, 75]))
    def attend(self, data, minutes):
        """A holder came and left (written with the ORM: check-in and check-out are the order loop's)."""
        held = list(
            db.session.scalars(
                select(Assignment).where(Assignment.activity_id.is_not(None), Assignment.status == "held")
            )
        )
        if not held:
            db.session.rollback()
            return
        assignment = data.draw(st.sampled_from(held))
        now = datetime.now(UTC)
        assignment.status = "checked_out"
        assignment.checkin_at, assignment.checkout_at = now - timedelta(minutes=minutes), now
        assignment.minutes_computed = minutes
        db.session.commit()
        DONE[("attend", "ok")] += 1

    @precondition(lambda self: self.activities)
    @rule(data=st.data())
    def audit_activity(self, data):
        activity_id = data.draw(st.sampled_from(self.activities))
        activity = activities.get(activity_id)
        ends = activity.end_at
        db.session.rollback()
        now = datetime.now(UTC)
        if now < ends and data.draw(st.booleans()):
            self.clock.shift(ends - now + timedelta(minutes=5))
        self._try(
            "audit_activity",
            lambda: activity_attendance.audit(
                who=self.manager, activity_id=activity_id, items=[], note="核", confirm_computed=True
            ),
        )

    @precondition(lambda self: self.activities)
    @rule(data=st.data())
    def cancel_activity(self, data):
        activity_id = data.draw(st.sampled_from(self.activities))
        self._try(
            "cancel_activity",
            lambda: activities.cancel(who=self.manager, activity_id=activity_id, reason="天气原因"),
        )

    # ---- the time book ----

    @rule(data=st.data(), minutes=st.sampled_from([-30, -5, 10, 45]))
    def adjust(self, data, minutes):
        volunteer = data.draw(st.sampled_from(self.volunteers))
        self._try(
            "adjust",
            lambda: timebank.adjust(
                who=ADMIN_VIEW,
                actor_id=self.manager.user_id,
                user_id=volunteer.user_id,
                minutes=minutes,
                reason="更正",
            ),
        )

    @rule(data=st.data())
    def reverse(self, data):
        ids = list(db.session.scalars(select(Transfer.id).order_by(Transfer.id)))
        db.session.rollback()
        if not ids:
            return
        transfer_id = data.draw(st.sampled_from(ids))
        self._try(
            "reverse",
            lambda: timebank.reverse(
                who=ADMIN_VIEW, actor_id=self.manager.user_id, transfer_id=transfer_id, reason="冲正"
            ),
        )

    # ---- the rollups ----

    @rule(limit=st.sampled_from([1, 2, 5000]))
    def refresh(self, limit):
        """Count some of the logged changes (the rest wait for the next refresh)."""
        db.session.rollback()
        rollups.refresh(limit=limit)
        DONE[("refresh", limit)] += 1

    @rule(minutes=st.sampled_from([60, 300, 1440, 5760]))
    def refresh_then_deadlines(self, minutes):
        """Count everything, then let the deadline job move orders with its set-based statements (which
        the ORM does not see: only their own change records tell the next refresh)."""
        db.session.rollback()
        rollups.refresh_all()
        self.deadlines(minutes)
        self.verify_now()

    @rule()
    def verify_now(self):
        """Whatever was logged is counted by the refresh verify starts with: nothing differs, ever."""
        db.session.rollback()
        result = rollups.verify()
        assert result.differences == [], result.differences
        db.session.rollback()

    def teardown(self):
        try:
            if hasattr(self, "activities"):
                self._rollups_are_exact()
        finally:
            super().teardown()

    def _rollups_are_exact(self):
        db.session.rollback()
        rollups.refresh_all()
        assert rollups.pending_changes() == 0
        refreshed = stored_rows()
        result = rollups.verify()
        assert result.differences == [], result.differences
        sessions = db.session.execute(
            select(func.sum(report_days.c.sessions_orders), func.sum(report_days.c.sessions_activities))
        ).one()
        DONE[("examples with order sessions, activity sessions", tuple(bool(n) for n in sessions))] += 1
        rollups.rebuild()
        assert stored_rows() == refreshed  # a rebuild from the raw rows stores the very same rows
        db.session.rollback()


def test_refreshed_rollups_equal_a_recount(app):
    RollupMachine.app = app
    DONE.clear()
    RESULTS.clear()
    run_state_machine_as_test(
        RollupMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print(sorted(DONE.items(), key=repr))
    print(sorted(RESULTS.items(), key=repr))


# ---- the change log, the lock, verify --------------------------------------------------------------


def _center_nov(app, client, city) -> dict:
    response = client.get(
        f"/api/v1/sites/{city.sites['C']}/stats?from=2026-11-01&to=2026-11-30",
        headers=headers_now(app, city.people["mgr_c"]),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_change_left_in_the_log_is_counted_by_the_next_refresh(app, client):
    city = built_once(app, world.build)
    with app.app_context():
        logged = rollups.pending_changes()
        assert rollups.refresh(limit=5) == 5
        assert rollups.pending_changes() == logged - 5
        assert rollups.refresh() == logged - 5
        assert rollups.pending_changes() == 0
        # A change the ORM does not see (a set-based UPDATE) is logged with changes.record(): here one
        # more volunteer minute on O1, logged by hand as its writer would.
        from volunteer_app import changes

        db.session.execute(
            update(Assignment)
            .where(Assignment.order_id == city.orders["O1"], Assignment.volunteer_id == city.people["V1"])
            .values(minutes_confirmed=121)
            .execution_options(synchronize_session=False)
        )
        changes.record("order", [city.orders["O1"]])
        db.session.commit()
        assert rollups.pending_changes() == 1
    answer = _center_nov(app, client, city)  # the read counts it first
    assert (answer["pending_changes"], answer["figures"]["service_minutes"]) == (0, 846)
    with app.app_context():
        assert rollups.verify().differences == []


def test_a_read_while_another_writer_counts_answers_as_of(app, client):
    city = built_once(app, world.build)
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite has one writer at a time: a read never finds the lock held")
        rollups.refresh_all()
        as_of = rollups.state()["refreshed_at"]
        db.session.add(
            Assignment(
                order_id=city.orders["O9"],
                site_id=city.sites["S1"],
                volunteer_id=city.people["V2"],
                kind="offer",
                status="offered",
            )
        )
        db.session.commit()
        holder = db.engine.connect()
    try:
        holder.execute(sa.text("SELECT id FROM report_state WHERE id = 1 FOR UPDATE"))
        answers: list = []
        reader = threading.Thread(target=lambda: answers.append(_center_nov(app, client, city)))
        reader.start()
        reader.join(timeout=20)
        assert not reader.is_alive(), "the read waited for the other writer's lock"
    finally:
        holder.rollback()
        holder.close()
    (answer,) = answers
    assert answer["pending_changes"] == 1
    assert datetime.fromisoformat(answer["as_of"]) == as_of
    assert answer["figures"]["sessions"]["total"] == 7  # as of the last refresh: November's figures
    answer = _center_nov(app, client, city)  # nobody holds the lock now: counted before answering
    assert answer["pending_changes"] == 0


def test_verify_names_a_tampered_row_and_exits_1(app):
    city = built_once(app, world.build)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["reports", "verify"])
    assert result.exit_code == 0, result.output
    assert "rollups verified: 6 sites" in result.output
    with app.app_context():
        day = datetime(2026, 11, 3).date()  # O1's service day at S1
        tampered = db.session.execute(
            update(report_days)
            .where(
                report_days.c.site_id == city.sites["S1"],
                report_days.c.day == day,
                report_days.c.category_id == city.categories["elder_care"],
            )
            .values(service_minutes=report_days.c.service_minutes + 1)
        )
        assert tampered.rowcount == 1
        db.session.commit()
    result = runner.invoke(args=["reports", "verify"])
    assert result.exit_code == 1
    key = (city.sites["S1"], day, city.categories["elder_care"])
    assert f"report_days {key}: stored" in result.output
    assert "'service_minutes': 211" in result.output and "'service_minutes': 210" in result.output
    assert "the rollups differ from the raw rows (1 shown)" in result.output
    # A rebuild puts it right.
    assert runner.invoke(args=["reports", "rebuild"]).exit_code == 0
    assert runner.invoke(args=["reports", "verify"]).exit_code == 0


def test_a_new_time_zone_is_counted_again(app):
    """A site's new time zone moves its rows (and those of the sites below) to other local days: the
    settings change logs those sites, and the next refresh counts them again whole."""
    city = built_once(app, world.build)
    with app.app_context():
        rollups.refresh_all()
        sites.update_settings(
            who=ADMIN_VIEW, site_id=city.sites["S1"], changes={"timezone": "America/New_York"}, remove=[]
        )
        assert rollups.verify().differences == []
