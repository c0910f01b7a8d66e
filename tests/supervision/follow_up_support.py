"""Helpers of the follow-up tests: a served order of S1, its audit, rating and lapse; the station's
sample setting; the follow-ups and their events as the tables hold them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.orders.conftest import NEAR
from tests.orders.test_rating_audit import completed
from volunteer_app.extensions import db
from volunteer_app.orders.deadlines import apply_deadlines
from volunteer_app.orders.models import Order
from volunteer_app.sites.models import Site
from volunteer_app.supervision.models import FollowUp, SupervisionEvent

API = "/api/v1"
AUDIT = {"confirm_computed": True, "note": "核实无误"}


def served(app, world, loop) -> int:
    """An order of S1 served by vol_s1, completed (rating pending, not audited)."""
    order_id, _, _ = completed(app, world, loop, [(0, 60, NEAR)])
    return order_id


def audit(loop, world, order_id: int, status: int = 200):
    return loop.call("POST", f"/orders/{order_id}/audit", world.mgr_s1, AUDIT, status)


def rate(loop, world, order_id: int, stars: int, status: int = 200):
    return loop.call("POST", f"/orders/{order_id}/rating", world.resident, {"stars": stars}, status)


def lapse(app, order_id: int) -> dict:
    """Run the deadline job just after the order's rating window closed."""
    with app.app_context():
        due = db.session.get(Order, order_id).rating_due_at
        return apply_deadlines(now=due + timedelta(minutes=1))


def set_sample(app, site_id: int, percent: int, due_hours: int | None = None) -> None:
    with app.app_context():
        site = db.session.get(Site, site_id)
        settings = {**(site.settings or {}), "follow_up_sample_percent": percent}
        if due_hours is not None:
            settings["follow_up_due_hours"] = due_hours
        site.settings = settings
        db.session.commit()


def follow_ups_of(app, order_id: int) -> list[FollowUp]:
    with app.app_context():
        return list(db.session.scalars(select(FollowUp).where(FollowUp.order_id == order_id)))


def events_of(app, follow_up_id: int) -> list[tuple[str, str | None, str, int | None]]:
    with app.app_context():
        return [
            tuple(row)
            for row in db.session.execute(
                select(
                    SupervisionEvent.action,
                    SupervisionEvent.from_status,
                    SupervisionEvent.to_status,
                    SupervisionEvent.actor_id,
                )
                .where(SupervisionEvent.subject == "follow_up", SupervisionEvent.subject_id == follow_up_id)
                .order_by(SupervisionEvent.id)
            )
        ]
