"""`flask demo load`: the demo volunteers have hours to spend and print, the stations have rewards,
and loading twice changes nothing."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from tests.api.demo_data import load_demo
from tests.timebank.conftest import ledger_ok
from volunteer_app import demo
from volunteer_app.accounts.models import User
from volunteer_app.demo import history, timebook, world
from volunteer_app.extensions import db
from volunteer_app.sites.models import Site
from volunteer_app.timebank.models import FamilyLink, Reward, TimeAccount, Transfer

API = "/api/v1"


def _snapshot() -> dict:
    """Row counts and every balance: what a second load must leave exactly as it was."""
    counts = {
        model.__name__: db.session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in (User, Site, Transfer, TimeAccount, Reward, FamilyLink)
    }
    balances = dict(db.session.execute(sa.select(TimeAccount.key, TimeAccount.balance)).all())
    return {"counts": counts, "balances": balances}


def test_demo_gives_volunteers_hours_and_stations_rewards(app):
    with app.app_context():
        created = load_demo(app)
        assert created.credits > 0 and created.rewards > 0 and created.links == 1
        books = db.session.scalars(sa.select(TimeAccount).where(TimeAccount.kind == "book")).all()
        assert len(books) == world.VOLUNTEERS
        assert all(book.balance > 0 for book in books)
        credits = db.session.scalars(sa.select(Transfer)).all()
        # 示范记录 credits, the audited service of the history (history.py), credited by the audit, and
        # the one upheld appeal of the demo's supervision (history_supervision.py).
        assert {t.kind for t in credits} == {"demo", "credit", "appeal"}
        assert [t.reference.startswith("service:appeal:") for t in credits if t.kind == "appeal"] == [True]
        assert all(t.memo.startswith(timebook.DEMO_MARK) for t in credits if t.kind == "demo")
        assert all(t.reference.startswith("service:assignment:") for t in credits if t.kind == "credit")
        first = date.today() - timedelta(days=history.HISTORY_DAYS + 1)
        assert all(first <= t.service_date <= date.today() for t in credits)
        stations = db.session.scalars(sa.select(Site.id).where(Site.kind == "station")).all()
        for station in stations:
            titles = set(db.session.scalars(sa.select(Reward.title).where(Reward.site_id == station)))
            assert {"理发服务", "爱心超市 大米5kg", "上门助老保洁"} <= titles
        assert "time book" in demo.summary(created)
    assert ledger_ok(app)


def test_loading_twice_changes_nothing(app):
    with app.app_context():
        load_demo(app)
        before = _snapshot()
        again = demo.load()
        assert (again.already, again.credits, again.rewards, again.links) == (True, 0, 0, 0)
        assert _snapshot() == before
        assert "time book" not in demo.summary(again)
    assert ledger_ok(app)


def test_a_demo_database_from_before_the_time_book_gets_one(app):
    with app.app_context():
        world.create_world(demo.Created())  # what `flask demo load` used to leave
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Transfer)) == 0
        created = demo.load()
        assert created.already and created.credits > 0 and created.rewards > 0
    assert ledger_ok(app)


def test_a_demo_volunteer_can_print_a_certificate_at_once(app, client):
    with app.app_context():
        load_demo(app)
        today = world.local_today()  # the station's (a certificate may not end after it)
    login = client.post(f"{API}/auth/login", json={"phone": "13700000001", "password": world.PASSWORD})
    headers = {"Authorization": f"Bearer {login.json['access_token']}"}
    book = client.get(f"{API}/me/timebook", headers=headers).json
    assert book["balance_minutes"] >= 120  # enough for a haircut and a bag of rice
    body = {
        "date_from": (today - timedelta(days=history.HISTORY_DAYS + 1)).isoformat(),
        "date_to": today.isoformat(),
    }
    r = client.post(f"{API}/me/certificates", json=body, headers=headers)
    assert r.status_code == 201, r.json
    assert r.json["total_minutes"] == book["lifetime_minutes"]
    assert client.get(f"{API}/certificates/{r.json['id']}/print", headers=headers).status_code == 200
