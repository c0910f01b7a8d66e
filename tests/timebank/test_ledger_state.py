"""Hypothesis state machine over the time book: random credits, repeated credits, corrections,
reversals, redemptions, fulfilments, expiries and gifts, with the ledger's invariants checked after
every step against a plain model of what the balances and the stock must be."""

from __future__ import annotations

from datetime import date, timedelta

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
from tests.support import ADMIN_VIEW, caller
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import VolunteerProfile
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, DomainError
from volunteer_app.extensions import db
from volunteer_app.sites import service as sites
from volunteer_app.timebank import gifts, rewards, service
from volunteer_app.timebank.models import Entry, FamilyLink, Reward, TimeAccount, Transfer
from volunteer_app.timebank.verify import verify

PEOPLE = 3


def _by_person(column) -> dict[int, int]:
    rows = db.session.execute(select(TimeAccount.user_id, column).where(TimeAccount.kind == "book")).all()
    return {user_id: value for user_id, value in rows}


class LedgerMachine(RuleBasedStateMachine):
    """The model: expected balance and lifetime per person, and which records were credited."""

    app = None  # set by the test

    @initialize()
    def start(self):
        self.ctx = self.app.test_request_context()
        self.ctx.push()
        _empty_database()
        center = sites.create_site(kind="center", name="中心", code=None)
        institute = sites.create_site(kind="institute", name="所", parent_id=center.id)
        self.stations = [
            sites.create_site(kind="station", name=f"站{i}", parent_id=institute.id).id for i in (1, 2)
        ]
        self.people = []
        for i in range(PEOPLE):
            user = accounts.create_user(
                phone=f"+86137{i:08d}",
                name=f"志愿者{i}",
                home_site_id=self.stations[i % 2],
                password_hash=None,
            )
            db.session.add(
                VolunteerProfile(user_id=user.id, site_id=self.stations[i % 2], volunteer_no=f"ZYT{i}")
            )
            db.session.commit()
            self.people.append(user.id)
        self.reward = Reward(site_id=self.stations[0], kind="goods", title="大米", price_minutes=60, stock=3)
        db.session.add(self.reward)
        db.session.add(
            FamilyLink(
                user_id=self.people[0],
                relative_id=self.people[1],
                relation="child",
                status="approved",
                site_id=self.stations[0],
            )
        )
        db.session.commit()
        self.link_id = db.session.scalar(select(FamilyLink.id))
        self.stock = 3
        self.codes: dict[str, tuple[int, str]] = {}  # code -> (person, status)
        self.gifted = 0
        self.balance = dict.fromkeys(self.people, 0)
        self.lifetime = dict.fromkeys(self.people, 0)
        self.credited: dict[str, tuple[int, int, int]] = {}  # record -> (person, minutes, transfer id)
        self.reversed: set[int] = set()

    def teardown(self):
        if hasattr(self, "ctx"):
            db.session.rollback()
            self.ctx.pop()

    @rule(who=st.integers(0, PEOPLE - 1), minutes=st.integers(1, 600), record=st.integers(1, 12))
    def credit(self, who, minutes, record):
        key = f"r{record}"
        person = self.people[who]
        t = service.credit_service(
            record_key=key,
            user_id=person,
            site_id=self.stations[who % 2],
            minutes=minutes,
            memo="服务",
            service_date=date(2026, 10, 1),
            actor_id=None,
        )
        db.session.commit()
        if key in self.credited:  # the same service again: nothing new
            assert t.id == self.credited[key][2]
            return
        self.credited[key] = (person, minutes, t.id)
        self.balance[person] += minutes
        self.lifetime[person] += minutes

    @rule(who=st.integers(0, PEOPLE - 1), minutes=st.integers(-600, 600).filter(bool))
    def adjust(self, who, minutes):
        person = self.people[who]
        try:
            service.adjust(who=ADMIN_VIEW, actor_id=None, user_id=person, minutes=minutes, reason="更正")
        except Conflict as exc:
            db.session.rollback()
            assert exc.error == "timebook.insufficient"
            assert self.balance[person] + minutes < 0
            return
        self.balance[person] += minutes
        self.lifetime[person] += minutes

    @precondition(lambda self: self.credited)
    @rule(data=st.data())
    def reverse(self, data):
        record = data.draw(st.sampled_from(sorted(self.credited)))
        person, minutes, transfer_id = self.credited[record]
        try:
            service.reverse(who=ADMIN_VIEW, actor_id=None, transfer_id=transfer_id, reason="冲正")
        except Conflict as exc:
            db.session.rollback()
            if transfer_id in self.reversed:
                assert exc.error == "timebook.already_reversed"
            else:
                assert exc.error == "timebook.insufficient" and self.balance[person] < minutes
            return
        assert transfer_id not in self.reversed
        self.reversed.add(transfer_id)
        self.balance[person] -= minutes
        self.lifetime[person] -= minutes

    @rule(who=st.integers(0, PEOPLE - 1))
    def redeem(self, who):
        person = self.people[who]
        try:
            code = rewards.redeem(who=caller(person), reward_id=self.reward.id)["code"]
        except DomainError as exc:
            db.session.rollback()
            reasons = set()
            if self.stock == 0:
                reasons.add("reward.out_of_stock")
            if self.balance[person] < 60:
                reasons |= {"timebook.insufficient", "timebook.not_volunteer"}
            assert exc.error in reasons, (exc.error, reasons)
            return
        assert self.stock > 0 and self.balance[person] >= 60
        self.codes[code] = (person, "issued")
        self.stock -= 1
        self.balance[person] -= 60

    @precondition(lambda self: self.codes)
    @rule(data=st.data())
    def fulfil(self, data):
        code = data.draw(st.sampled_from(sorted(self.codes)))
        person, status = self.codes[code]
        try:
            rewards.fulfil(who=ADMIN_VIEW, actor_id=None, code=code)
        except DomainError:
            db.session.rollback()
            assert status != "issued"
            return
        assert status == "issued"
        self.codes[code] = (person, "fulfilled")

    @rule()
    def expire_everything_due(self):
        rewards.expire_redemptions(now=utcnow() + timedelta(days=365))
        for code, (person, status) in list(self.codes.items()):
            if status == "issued":  # refunded, and the unit of stock goes back on the shelf
                self.codes[code] = (person, "expired")
                self.balance[person] += 60
                self.stock += 1

    @rule(minutes=st.integers(1, 700))
    def gift(self, minutes):
        giver, relative = self.people[0], self.people[1]
        try:
            gifts.give(who=caller(giver), minutes=minutes, family_link_id=self.link_id)
        except DomainError as exc:
            db.session.rollback()
            over = minutes > 600 or self.gifted + minutes > 1200
            assert over or self.balance[giver] < minutes, exc.error
            return
        assert minutes <= 600 and self.gifted + minutes <= 1200 and self.balance[giver] >= minutes
        self.gifted += minutes
        self.balance[giver] -= minutes
        self.balance[relative] += minutes

    # ---- invariants, after every step ----

    @invariant()
    def books_match_the_model(self):
        if not hasattr(self, "people"):
            return
        rows = _by_person(TimeAccount.balance)
        assert {p: rows.get(p, 0) for p in self.people} == self.balance
        lifetimes = _by_person(TimeAccount.lifetime_minutes)
        assert {p: lifetimes.get(p, 0) for p in self.people} == self.lifetime

    @invariant()
    def ledger_is_sound(self):
        if not hasattr(self, "people"):
            return
        assert db.session.scalar(select(func.coalesce(func.sum(Entry.amount), 0))) == 0
        assert (
            db.session.scalar(
                select(func.count()).where(TimeAccount.kind != "issuance", TimeAccount.balance < 0)
            )
            == 0
        )
        credited = db.session.scalar(select(func.count()).where(Transfer.reference.like("service:%")))
        assert credited == len(self.credited)  # no service credited twice
        assert db.session.scalar(select(Reward.stock).where(Reward.id == self.reward.id)) == self.stock >= 0
        report = verify()
        assert report.ok, report.problems


def test_ledger_state_machine(app):
    LedgerMachine.app = app
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
