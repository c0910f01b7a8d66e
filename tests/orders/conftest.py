"""Helpers for order-loop tests: valid bodies, and each step of the loop through the HTTP API."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from tests.support import headers_now
from volunteer_app.extensions import db
from volunteer_app.orders.models import OrderEvent
from volunteer_app.sites.models import Category, Site
from volunteer_app.worker.runner import Worker

# S1 sits at (30.27, 120.17) in tests/support.py; orders are placed a few hundred metres away.
PLACE = {"lat": 30.2712, "lng": 120.1712}
NEAR = {"lat": 30.2714, "lng": 120.1713}  # ~25 m from PLACE
FAR = {"lat": 30.30, "lng": 120.20}  # ~4 km from PLACE


def iso(moment: datetime) -> str:
    return moment.isoformat()


def category_id(app) -> int:
    with app.app_context():
        return db.session.scalars(select(Category.id).order_by(Category.id)).first()


def order_body(app, *, start: datetime | None = None, minutes: int = 120, **over) -> dict:
    """A valid 点单 body: service starting in 2 hours (or at `start`), lasting `minutes`."""
    start = start or datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    body = {
        "category_id": category_id(app),
        "title": "陪独居老人就医",
        "description": "上午去社区医院复查，需要一名志愿者陪同",
        "address": "文晖街道 12 幢 3 单元",
        **PLACE,
        "start_at": iso(start),
        "end_at": iso(start + timedelta(minutes=minutes)),
        "volunteers_needed": 2,
        "target_groups": ["elderly_alone"],
    }
    body.update(over)
    return body


def timeline(app, order_id: int) -> list[tuple[str, str | None, str]]:
    """The order's events as (action, from, to), oldest first, read from the table."""
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                select(OrderEvent.action, OrderEvent.from_status, OrderEvent.to_status)
                .where(OrderEvent.order_id == order_id)
                .order_by(OrderEvent.id)
            )
        ]


def site_path(app, site_id: int) -> str:
    with app.app_context():
        return db.session.get(Site, site_id).path


class Loop:
    """Each step of the order loop as one HTTP call; asserts the expected status and returns JSON."""

    def __init__(self, app, client):
        self.app, self.client = app, client
        self.traveling = False

    @contextmanager
    def at(self, moment: datetime):
        """Travel to `moment` (the clock stands still); tokens are issued afresh there."""
        with time_machine.travel(moment, tick=False):
            self.traveling = True
            try:
                yield
            finally:
                self.traveling = False

    def headers(self, person) -> dict[str, str]:
        if self.traveling:
            return headers_now(self.app, person.id)
        return person.headers

    def call(self, method: str, path: str, person, body=None, status: int = 200, headers=None):
        response = self.client.open(
            f"/api/v1{path}", method=method, json=body, headers={**self.headers(person), **(headers or {})}
        )
        assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
        return response.get_json() if response.data else None  # 204: no body

    def submit(self, person, status: int = 201, **over) -> dict:
        return self.call("POST", "/orders", person, order_body(self.app, **over), status)

    def dispatch_grab(self, manager, order_id: int, capacity: int = 2, status: int = 200, **over) -> dict:
        body = {"mode": "grab", "capacity": capacity, **over}
        return self.call("POST", f"/orders/{order_id}/dispatch", manager, body, status)

    def dispatch_assign(self, manager, order_id: int, volunteer_ids: list[int], status: int = 200, **over):
        body = {"mode": "assign", "volunteer_ids": volunteer_ids, **over}
        return self.call("POST", f"/orders/{order_id}/dispatch", manager, body, status)

    def grab(self, volunteer, order_id: int, status: int = 201) -> dict:
        return self.call("POST", f"/orders/{order_id}/grab", volunteer, None, status)

    def act(self, person, assignment_id: int, action: str, body=None, status: int = 200) -> dict:
        return self.call("POST", f"/assignments/{assignment_id}/{action}", person, body or {}, status)

    def get(self, person, order_id: int, status: int = 200) -> dict:
        return self.call("GET", f"/orders/{order_id}", person, None, status)

    def events(self, person, order_id: int) -> list[dict]:
        return self.call("GET", f"/orders/{order_id}/events?limit=100", person)["items"]


def run_worker(app) -> int:
    """What `flask worker run --once` does: the queued work (a new order's notice to its managers is
    written by the worker) and the outbox, until nothing is due."""
    with app.app_context():
        return Worker(app).run_once()


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)
