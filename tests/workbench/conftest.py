"""Helpers of the workbench tests: the order loop through the API (tests/orders), the services called
as a signed-in caller, and lists read to their end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from tests.orders.conftest import Loop
from tests.support import ADMIN_VIEW, caller, id_number, make_user
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import User
from volunteer_app.demo.world import principal
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order
from volunteer_app.sites.models import Category

API = "/api/v1"


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def as_caller(app, person, fn, **kwargs):
    """`fn(who=<person signed in>, **kwargs)` inside a request context (as the console calls it)."""
    with app.test_request_context():
        return fn(who=principal(db.session.get(User, person.id)), **kwargs)


def categories(app, n: int = 2) -> list[int]:
    with app.app_context():
        return list(db.session.scalars(select(Category.id).order_by(Category.id).limit(n)))


def volunteer(
    app, site_id: int, n: int, name: str, skills: list[str] | None = None, phone: str | None = None
):
    """An approved volunteer of a station with these skills (n: a distinct ID number)."""
    person = make_user(app, name=name, home_site_id=site_id, phone=phone)
    with app.test_request_context():
        application = accounts.apply_as_volunteer(
            who=caller(person.id),
            real_name=f"{name}实名",
            id_number=id_number(n),
            site_id=site_id,
            skills=skills or [],
            category_ids=[],
        )
        accounts.approve_application(who=ADMIN_VIEW, reviewer_id=person.id, application_id=application.id)
    return person


def soon(minutes: int = 1) -> dict:
    """A window that opens check-in at once: starting a minute ago."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes)
    return {"start": start}


def set_order(app, order_id: int, **values) -> None:
    """Move an order's times directly (the API refuses windows in the past)."""
    with app.app_context():
        db.session.execute(update(Order).where(Order.id == order_id).values(**values))
        db.session.commit()


def read_all(client, person, path: str, query: dict) -> list[dict]:
    """Every item of a list, page by page (limit=2) through next_cursor."""
    items, cursor = [], None
    while True:
        args = {**query, "limit": "2", **({"cursor": cursor} if cursor else {})}
        response = client.get(path, query_string=args, headers=person.headers)
        assert response.status_code == 200, (path, args, response.get_json())
        body = response.get_json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


def deadline(hours: float) -> str:
    return (datetime.now(UTC).replace(microsecond=0) + timedelta(hours=hours)).isoformat()
