"""The demo data (`./dev serve`, volunteer_app/demo/) in the test database, with the ids it gets on a
fresh database, so the OpenAPI document's examples (which name them) can be sent as they are."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import select

from tests.conftest import replayed
from tests.support import fresh_session
from volunteer_app import demo
from volunteer_app.accounts.models import User
from volunteer_app.demo import world
from volunteer_app.extensions import db


def _id_sequences() -> list[tuple[sa.Table, str]]:
    """PostgreSQL: each table's id sequence (SQLite hands out max(id) + 1 by itself)."""
    if db.engine.dialect.name != "postgresql":
        return []
    found = []
    for table in db.metadata.sorted_tables:
        column = table.columns.get("id")
        if column is not None and isinstance(column.type, sa.Integer):
            sequence = db.session.scalar(sa.select(sa.func.pg_get_serial_sequence(table.name, "id")))
            if sequence is not None:
                found.append((table, sequence))
    return found


def _last_values(sequences) -> dict[str, int]:
    return {
        seq: db.session.execute(sa.text(f"SELECT last_value FROM {seq}")).scalar() for _t, seq in sequences
    }


def _set_sequences(sequences, *, at_least: dict[str, int] | None = None) -> None:
    """Start each sequence after its table's highest id (and after `at_least`, when given)."""
    for table, sequence in sequences:
        top = db.session.scalar(select(sa.func.max(table.columns["id"]))) or 0
        top = max(top, (at_least or {}).get(sequence, 0))
        db.session.execute(sa.select(sa.func.setval(sequence, top + 1, False)))
    db.session.commit()


@contextmanager
def demo_loaded(app) -> Iterator[dict[str, _Token]]:
    """The demo loaded with the ids it gets on a fresh database; yields a token per demo phone number.

    PostgreSQL keeps counting ids after earlier tests' rows were deleted, so the id sequences are set
    back for the load, and forward again afterwards: the `world` snapshot replays rows with the ids
    they had, and a later test's new row must not take one of those."""
    with app.app_context():
        sequences = _id_sequences()
        before = _last_values(sequences)
        _set_sequences(sequences)
        replayed(app, "demo with fresh ids", demo.load)
        _set_sequences(sequences)  # past the ids a replay put back (a load left them there already)
        users = {u.phone.removeprefix("+86"): u.id for u in db.session.scalars(select(User))}
    try:
        yield {phone: _Token(app, user_id) for phone, user_id in users.items()}
    finally:
        with app.app_context():
            _set_sequences(sequences, at_least=before)


def load_demo(app) -> demo.Created:
    """`demo.load()` on the database as the test found it (inside an app context): what it returns, and
    its rows. It runs for real at most once a minute; in between the rows it added are put back (see
    tests/conftest.py `replayed`), which is most of the demo tests' time saved. A second load in a test
    (loading twice) calls demo.load() itself."""
    return replayed(app, "demo", demo.load)


class _Token:
    """A token issued when first used (issuing one for every demo user would be wasted work)."""

    def __init__(self, app, user_id: int):
        self.app, self.user_id, self._value = app, user_id, None

    def __str__(self) -> str:
        if self._value is None:
            self._value = fresh_session(self.app, self.user_id).token
        return self._value


ADMIN = world.ADMIN_PHONE
VOLUNTEER = "13700000001"  # 王伟, user 9, at DEMO-ST-1 (site 4), may gift to 13600000001
RESIDENT = "13600000001"  # 居民1
NEW_RESIDENT = "13600000002"  # 居民2: not a volunteer, no family link
