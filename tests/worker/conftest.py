"""Helpers for worker tests: the test kinds registered on the app, enqueueing, reading items."""

from __future__ import annotations

import pytest

from tests.worker.fakes import KINDS
from volunteer_app.extensions import db
from volunteer_app.worker import queue, registry
from volunteer_app.worker.models import WorkItem


@pytest.fixture
def kinds(app):
    """Register the test kinds for this test."""
    before = registry.registered(app)
    registry.add(app, *KINDS)
    yield
    app.extensions[registry.EXTENSION] = before


def enqueue(app, kind: str, args: dict | None = None, owner=None) -> int:
    with app.app_context():
        item_id = queue.enqueue(kind, args or {}, owner_id=getattr(owner, "id", owner))
        db.session.commit()
        return item_id


def item(app, item_id: int) -> WorkItem:
    with app.app_context():
        row = db.session.get(WorkItem, item_id)
        db.session.expunge_all()
        return row
