"""What changed since the statistics last looked: a log of changed rows, written in the transaction of
the change, that `reports.rollups.refresh` consumes (README "Statistics").

A model takes part by declaring `__changes__`: a function of an instance giving the `(kind, id)` it
stands for (an assignment stands for its order or activity), or None. Every ORM flush records the
new, changed and deleted instances of such models; set-based statements (which the ORM does not see)
call `record()` with the ids they touched. Each (kind, id) is written once per transaction. The core
knows no domain: the kinds are just names ("order", "activity", "transfer").
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import BigInteger, String, event, insert, literal, select
from sqlalchemy.orm import Mapped, Session, mapped_column
from sqlalchemy.sql.dml import Insert

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db

_WRITTEN = "changes.written"  # session.info: the (kind, id) pairs this transaction has logged


class Change(db.Model):
    """One changed row the statistics have not yet counted again. Deleted once counted."""

    __tablename__ = "report_changes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def record(kind: str, ids: Iterable[int], session: Session | None = None) -> None:
    """Log that the rows `ids` of `kind` changed, in the current transaction (set-based statements)."""
    _write(session or db.session(), {(kind, int(i)) for i in ids if i is not None})


def logging_insert(kind: str, ref_id, at) -> Insert:
    """An INSERT logging the row `ref_id` (a column of a statement's own: a new row's id read from a
    data-modifying CTE) of `kind` at `at`, for a statement that writes the row and its log at once (a
    new order: orders.states.create). Its caller says so with `logged()` once it ran."""
    return insert(Change.__table__).from_select(
        ["kind", "ref_id", "at"], select(literal(kind, String), ref_id, at)
    )


def logged(kind: str, ids: Iterable[int], session: Session | None = None) -> None:
    """The rows `ids` of `kind` were logged in the current transaction by the caller's own statement
    (`logging_insert`): not logged again."""
    (session or db.session()).info.setdefault(_WRITTEN, set()).update((kind, int(i)) for i in ids)


def _write(session: Session, pairs: set[tuple[str, int]]) -> None:
    written = session.info.setdefault(_WRITTEN, set())
    fresh = pairs - written
    if not fresh:
        return
    now = utcnow()
    session.connection().execute(
        insert(Change.__table__), [{"kind": kind, "ref_id": ref, "at": now} for kind, ref in sorted(fresh)]
    )
    written.update(fresh)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context) -> None:
    pairs = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        of = getattr(type(obj), "__changes__", None)
        if of is not None and (pair := of(obj)) is not None and pair[1] is not None:
            pairs.add(pair)
    if pairs:
        _write(session, pairs)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, *_args) -> None:
    session.info.pop(_WRITTEN, None)
