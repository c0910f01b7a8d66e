"""`flask demo load` writes about four months of history before today (volunteer_app/demo/history.py):
uneven stations, every outcome, ratings and lapses, audited service days; each order's timeline is
one the state table allows, in time order, ending in the order's status; the hours credited through
the audit keep the ledger valid; a second load adds nothing."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from tests.api.demo_data import load_demo
from tests.timebank.conftest import ledger_ok
from volunteer_app import demo
from volunteer_app.accounts.models import User, VolunteerProfile
from volunteer_app.activities.jobs import escalate_unaudited
from volunteer_app.activities.models import Activity
from volunteer_app.attendance.models import SLOT_STATUSES, Assignment, AssignmentStatus
from volunteer_app.db import utcnow
from volunteer_app.demo import history, world
from volunteer_app.extensions import db
from volunteer_app.orders.deadlines import apply_deadlines
from volunteer_app.orders.models import Order, OrderEvent, OrderStatus, RatingState
from volunteer_app.orders.states import TABLE
from volunteer_app.sites.models import Site
from volunteer_app.timebank.models import Transfer

TZ = ZoneInfo("Asia/Shanghai")


def _past_orders() -> list[Order]:
    return list(
        db.session.scalars(sa.select(Order).where(Order.description == history.NOTE).order_by(Order.id))
    )


def _station_ids() -> dict[str, int]:
    return dict(db.session.execute(sa.select(Site.code, Site.id).where(Site.kind == "station")).all())


def test_history_gives_the_statistics_a_past(app):
    with app.app_context():
        created = load_demo(app)
        now, today = utcnow(), world.local_today()
        orders = _past_orders()
        assert created.history_orders == len(orders) > 100
        assert created.history_activities > 10
        assert "history:" in demo.summary(created)
        # Before today, across the four months, and each order's own times in order.
        for order in orders:
            assert today - timedelta(days=history.HISTORY_DAYS) <= order.window_start.astimezone(TZ).date()
            assert order.window_start.astimezone(TZ).date() <= today - timedelta(days=2)
            assert order.created_at < order.window_start < order.window_end < now
        statuses = Counter(o.status for o in orders)
        assert {"closed", "rejected", "cancelled", "expired"} <= set(statuses)
        assert statuses["closed"] > len(orders) / 2
        closed = [o for o in orders if o.status == OrderStatus.CLOSED]
        stars = Counter(o.rating_stars for o in closed if o.rating_state == RatingState.RATED)
        assert len(stars) >= 4 and stars[5] > stars[3] > 0
        assert sum(o.rating_state == RatingState.UNRATED for o in closed) >= 10
        assert len({o.category_id for o in orders}) >= 8
        assert len({group for o in orders for group in o.target_groups}) >= 5
        assert sum(o.proxy_id is not None for o in orders) >= 10  # phoned in
        actions = Counter(db.session.scalars(sa.select(OrderEvent.action)))
        for action in ("escalate", "expire", "decline", "no_show", "close_attendance", "rating_lapsed"):
            assert actions[action] > 0, action
        # Uneven on purpose: one busy station, one nearly idle with nothing in the last two months.
        ids = _station_ids()
        per_station = Counter(o.site_id for o in orders)
        busy, idle = per_station[ids["DEMO-ST-1"]], per_station[ids["DEMO-ST-4"]]
        assert busy >= 5 * per_station[ids["DEMO-ST-3"]] / 2 and 0 < idle <= 5
        recent = now - timedelta(days=60)
        assert not [o for o in orders if o.site_id == ids["DEMO-ST-4"] and o.window_start > recent]
        activities = db.session.scalars(sa.select(Activity).where(Activity.description == history.NOTE)).all()
        assert not [a for a in activities if a.site_id == ids["DEMO-ST-4"]]
        assert {a.site_id for a in activities} == {ids["DEMO-ST-1"], ids["DEMO-ST-2"], ids["DEMO-ST-3"]}
        assert any(a.rule_id is not None for a in activities)  # the first station's rules' past days
        audited = [a for a in activities if a.status == "closed"]
        assert len(audited) >= 10 and all(a.closed_at > a.end_at for a in audited)
        signups = db.session.scalars(
            sa.select(Assignment).where(Assignment.activity_id.in_([a.id for a in audited]))
        ).all()
        assert Counter(s.status for s in signups).keys() <= {"audited", "no_show", "cancelled"}
        assert sum(s.status == "audited" for s in signups) >= 50
        # Not every volunteer served; some joined during the history (and served only after).
        served = {
            a.volunteer_id
            for a in db.session.scalars(sa.select(Assignment).where(Assignment.status == "audited"))
        }
        profiles = db.session.scalars(sa.select(VolunteerProfile)).all()
        assert 12 <= len(served) < len(profiles)
        joined = {p.user_id: p.approved_at for p in profiles}
        assert sum(at > now - timedelta(days=history.HISTORY_DAYS) for at in joined.values()) >= 3
        for assignment in db.session.scalars(
            sa.select(Assignment).where(Assignment.created_at < now - timedelta(days=2))
        ):
            assert joined[assignment.volunteer_id] < assignment.created_at
        assert db.session.scalar(sa.select(sa.func.min(User.created_at))) < now - timedelta(days=150)
    assert ledger_ok(app)


def test_every_past_timeline_is_one_the_loop_allows(app):
    with app.app_context():
        load_demo(app)
        now = utcnow()
        credited = {
            t.reference: t for t in db.session.scalars(sa.select(Transfer).where(Transfer.kind == "credit"))
        }
        orders = _past_orders()
        events = {}
        for event in db.session.scalars(sa.select(OrderEvent).order_by(OrderEvent.id)):
            events.setdefault(event.order_id, []).append(event)
        for order in orders:
            timeline = events[order.id]
            assert timeline[0].action == "submit" and timeline[0].from_status is None
            assert timeline[0].at == order.created_at
            status = None
            for previous, event in zip([None, *timeline], timeline, strict=False):
                assert event.from_status == status, (order.id, event.action)
                rule = TABLE[(event.from_status, event.action)]
                assert event.to_status in (rule.to if isinstance(rule.to, tuple) else (rule.to,))
                assert previous is None or previous.at <= event.at, (order.id, event.action)
                assert event.at <= now
                status = event.to_status
            assert status == order.status, order.id
            assert order.updated_at == timeline[-1].at
            assignments = db.session.scalars(
                sa.select(Assignment).where(Assignment.order_id == order.id)
            ).all()
            if order.status != OrderStatus.CLOSED:
                assert not [a for a in assignments if a.status == AssignmentStatus.AUDITED]
                continue
            audit = next(e for e in timeline if e.action == "audit")
            assert order.closed_at == audit.at and order.audited_by_id == audit.actor_id
            assert order.taken == order.capacity == sum(a.status in SLOT_STATUSES for a in assignments)
            assert {a.status for a in assignments} <= {"audited", "no_show", "declined"}
            for a in assignments:
                if a.status == AssignmentStatus.AUDITED:
                    transfer = credited[f"service:assignment:{a.id}"]
                    assert a.transfer_id == transfer.id and transfer.minutes == a.minutes_confirmed > 0
                    assert transfer.service_date == order.window_start.astimezone(TZ).date()
                    assert a.checkin_at < a.checkout_at <= order.completed_at <= audit.at
            if order.rating_state == RatingState.RATED:
                rate = next(e for e in timeline if e.action == "rate")
                assert rate.note == f"{order.rating_stars}★" and order.rated_at == rate.at
            else:
                assert order.rating_state in (RatingState.UNRATED, RatingState.PENDING)
                assert (order.rating_state == RatingState.UNRATED) == (order.rating_due_at <= now)


def test_the_deadline_jobs_find_nothing_left_in_the_past(app):
    """Every deadline the history passed was met or acted on in it: the sweeps move no past order and
    escalate no past activity (a rating or audit still due is due after now)."""
    with app.app_context():
        load_demo(app)
        now = utcnow()
        before = {o.id: (o.status, o.rating_state, o.updated_at) for o in _past_orders()}
        apply_deadlines(now=now)
        escalate_unaudited(now)
        db.session.expire_all()
        assert {o.id: (o.status, o.rating_state, o.updated_at) for o in _past_orders()} == before
        escalated = sa.select(Activity.id).where(Activity.escalated_at.is_not(None))
        assert not db.session.scalars(escalated.where(Activity.description == history.NOTE)).all()


def test_loading_twice_adds_no_history(app):
    models = (Order, OrderEvent, Assignment, Activity, Transfer, User)

    def counts():
        return {m.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in models}

    with app.app_context():
        load_demo(app)
        before = counts()
        again = demo.load()
        assert (again.history_orders, again.history_activities) == (0, 0)
        assert counts() == before
        assert "history:" not in demo.summary(again)
    assert ledger_ok(app)
