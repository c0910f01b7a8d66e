"""Helpers for supervision tests: raising a 督办 item and moving it through the HTTP API, reading it
back; the order loop (`loop`) for appeals of audited and absent assignments."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.api.helpers import assert_error
from tests.orders.conftest import Loop
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Notification
from volunteer_app.supervision.models import SupervisionEvent, SupervisionItem

API = "/api/v1"
# The HTTP moves of an item: path segment, the state table's action, a valid body.
MOVES = {
    "notes": ("note", {"note": "已约谈相关人员"}),
    "report": ("report", {"result": "已整改完毕"}),
    "close": ("close", {"note": "同意销号"}),
    "send-back": ("send_back", {"reason": "整改不到位"}),
    "withdraw": ("withdraw", {"reason": "口径有误"}),
}


def item_body(**over) -> dict:
    return {
        "subject": "订单审核不及时",
        "description": "本月多张订单逾期未审核，请核查整改",
        "level": "yellow",
        **over,
    }


def call(client, person, method: str, path: str, body=None, status: int = 200, headers=None):
    r = client.open(f"{API}{path}", method=method, json=body, headers={**person.headers, **(headers or {})})
    if status >= 400:
        return assert_error(r, status)
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True)[:400])
    return r.get_json()


def raise_item(client, person, site_id: int, expect: int = 201, **over) -> dict:
    return call(client, person, "POST", f"/sites/{site_id}/supervision-items", item_body(**over), expect)


def move(client, person, item_id: int, segment: str, status: int = 200, body=None) -> dict:
    body = MOVES[segment][1] if body is None else body
    return call(client, person, "POST", f"/supervision-items/{item_id}/{segment}", body, status)


def row(app, item_id: int) -> SupervisionItem:
    with app.app_context():
        item = db.session.get(SupervisionItem, item_id)
        db.session.expunge_all()
        return item


def events(app, item_id: int) -> list[tuple]:
    with app.app_context():
        return [
            tuple(r)
            for r in db.session.execute(
                sa.select(SupervisionEvent.action, SupervisionEvent.from_status, SupervisionEvent.to_status)
                .where(SupervisionEvent.subject == "item", SupervisionEvent.subject_id == item_id)
                .order_by(SupervisionEvent.id)
            )
        ]


def notices(app, kind: str) -> list[tuple[int, str]]:
    """(user id, subject id) of every notification of `kind`."""
    with app.app_context():
        return sorted(
            tuple(r)
            for r in db.session.execute(
                sa.select(Notification.user_id, Notification.subject_id).where(Notification.kind == kind)
            )
        )


def parse(moment: str) -> datetime:
    return datetime.fromisoformat(moment).astimezone(UTC)


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)
