"""The demo data (`./dev serve`, volunteer_app/demo.py) in the test database, with the ids it gets on a
fresh database, so the OpenAPI document's examples (which name them) can be sent as they are."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import select

from tests.api.helpers import fresh_access_token
from volunteer_app import demo
from volunteer_app.accounts.models import User
from volunteer_app.extensions import db


def _restart_ids() -> None:
    """PostgreSQL keeps counting ids after the previous tests' rows were deleted; start each table's
    sequence after its highest id, as on a fresh database (SQLite does so by itself)."""
    if db.engine.dialect.name != "postgresql":
        return
    for table in db.metadata.sorted_tables:
        column = table.columns.get("id")
        if column is None or not isinstance(column.type, sa.Integer):
            continue
        sequence = db.session.scalar(sa.select(sa.func.pg_get_serial_sequence(table.name, "id")))
        if sequence is not None:
            top = db.session.scalar(select(sa.func.max(column))) or 0
            db.session.execute(sa.select(sa.func.setval(sequence, top + 1, False)))
    db.session.commit()


def load_demo(app) -> dict[str, str]:
    """Load the demo; returns a fresh access token for each demo phone number that logs in."""
    with app.app_context():
        _restart_ids()
        demo.load()
        users = {u.phone.removeprefix("+86"): u.id for u in db.session.scalars(select(User))}
    return {phone: _Token(app, user_id) for phone, user_id in users.items()}


class _Token:
    """A token issued when first used (issuing one for every demo user would be wasted work)."""

    def __init__(self, app, user_id: int):
        self.app, self.user_id, self._value = app, user_id, None

    def __str__(self) -> str:
        if self._value is None:
            self._value = fresh_access_token(self.app, self.user_id)
        return self._value


ADMIN = demo.ADMIN_PHONE
VOLUNTEER = "13700000001"  # 王伟, user 9, at DEMO-ST-1 (site 4), may gift to 13600000001
RESIDENT = "13600000001"  # 居民1
NEW_RESIDENT = "13600000002"  # 居民2: not a volunteer, no family link
