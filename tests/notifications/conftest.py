"""Helpers for notification tests: the memory sender, notifying directly, reading the outbox."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from volunteer_app.extensions import db
from volunteer_app.notifications import delivery, senders, service
from volunteer_app.notifications.messages import KIND_SUBJECTS
from volunteer_app.notifications.models import OutboxMessage
from volunteer_app.worker.runner import Worker


@pytest.fixture
def sent(app, monkeypatch):
    """Switch the app to the memory sender; yields its list of sent messages."""
    monkeypatch.setitem(app.config["APP"], "notification_sender", "memory")
    app.extensions.pop("notification_sender", None)
    senders.SENT.clear()
    yield senders.SENT
    app.extensions.pop("notification_sender", None)
    senders.SENT.clear()


class FailingSender:
    """A gateway that is down."""

    def send(self, message):
        raise ConnectionError("gateway unreachable")


@pytest.fixture
def failing(app):
    """Make every send fail until the test ends."""
    app.extensions["notification_sender"] = FailingSender()
    yield
    app.extensions.pop("notification_sender", None)


# A subject of each type for notices made up by tests (services pass the real one).
SAMPLE_IDS = {
    "order": 1,
    "activity": 1,
    "statement": "2026-01",
    "timebook": "SJ0000010000000001",
    "ledger": None,
}


def notify(app, people, kind="order.filled", *, order_id=None, **kwargs) -> int:
    """Notify these people (Person objects or ids) as a service would, and commit; about the order
    `order_id` (or a sample subject of the kind's type)."""
    kwargs.setdefault("params", {"title": "助老陪护"})
    subject_type = KIND_SUBJECTS[kind][0]
    kwargs.setdefault("subject", (subject_type, order_id or SAMPLE_IDS[subject_type]))
    with app.app_context():
        count = service.notify([getattr(p, "id", p) for p in people], kind, **kwargs)
        db.session.commit()
    return count


def deliver(app, **kwargs) -> int:
    with app.app_context():
        return delivery.deliver_pending(**kwargs)


def outbox(app) -> list[OutboxMessage]:
    with app.app_context():
        rows = db.session.scalars(sa.select(OutboxMessage).order_by(OutboxMessage.id)).all()
        db.session.expunge_all()
        return list(rows)


def run_worker(app) -> int:
    """What `flask worker run --once` does: send the outbox and run queued work until nothing is due."""
    with app.app_context():
        return Worker(app).run_once()
