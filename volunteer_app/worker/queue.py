"""The queue of background work: enqueue in the caller's transaction (and wake the workers when it
commits), claim one due item with a conditional UPDATE, record its outcome (done, failed with a
backoff, dead after its attempts), report progress and keep the lease while it runs; store a result
file (small: one column; large: 1 MiB chunks in work_result_chunks) and purge expired ones."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.sql.dml import Insert

from volunteer_app import logs
from volunteer_app.db import UTCDateTime, utcnow
from volunteer_app.extensions import db
from volunteer_app.worker.models import WorkItem, WorkResultChunk, WorkState
from volunteer_app.worker.registry import CHANNEL, lease, registered, result_keep

log = logging.getLogger(__name__)

RETRY_FIRST = timedelta(seconds=10)
RETRY_MAX = timedelta(hours=1)
PROGRESS_EVERY = 0.5  # seconds: progress written at most this often (the last one always)
CHUNK = 1024 * 1024  # bytes per work_result_chunks row
PURGE_BATCH = 50  # items whose results one purge transaction deletes


@dataclass(frozen=True)
class ResultFile:
    """A handler's downloadable result: served at GET /jobs/{id}/result to the owner until it expires
    (`[worker] result_keep_days`). Either `data` (small, held in memory) or `path`: a temporary file the
    handler wrote on local disk, copied into the database in CHUNK pieces at completion (never whole
    in memory) and then deleted by the queue."""

    name: str
    content_type: str
    data: bytes | None = None
    summary: dict | None = None
    path: str | None = None


def enqueue(kind: str, args: dict | None = None, *, owner_id: int | None = None) -> int:
    """Add an item of work in the caller's transaction and return its id (the caller commits, and the
    work exists only if the change that causes it does). Workers are woken when it commits. One INSERT
    past the ORM's unit of work (a resident's new order queues one): nothing else is flushed, and on
    PostgreSQL the same statement is the workers' wake-up."""
    work = _registered_work(kind)
    connection = db.session.connection()
    # On PostgreSQL the INSERT wakes the workers itself (its RETURNING calls pg_notify): no round trip.
    item_id = connection.execute(
        _INSERT_ITEM_AND_WAKE if connection.dialect.name == "postgresql" else _INSERT_ITEM,
        {
            "kind": kind,
            "args": dict(args or {}),
            "owner_id": owner_id,
            "state": WorkState.QUEUED,
            "max_attempts": work.max_attempts,
            "run_after": utcnow(),
        },
    ).scalar_one()  # the id (and, on PostgreSQL, pg_notify's void)
    # Named in the request's line (or its own line, with the context's ids): the thread an operator
    # follows to the worker's lines (which carry work_id). A rolled-back request names it all the same.
    queued(item_id, kind)
    return item_id


def queued(item_id: int, kind: str) -> None:
    """Say an item was queued (by `enqueue`, or by a caller's own statement: `enqueue_from`): in a
    request, in its request line; elsewhere in a line of its own (logs.work_queued)."""
    logs.work_queued(item_id, kind)


def enqueue_from(kind: str, args) -> Insert:
    """PostgreSQL: `enqueue`'s INSERT for a statement of the caller's own, which writes the item with
    the change causing it (a new order: orders.states.create): `args` an SQL expression of the item's
    JSON arguments over that statement's rows, the other values as `enqueue` writes them (its run_after
    and created_at the bound `work_at`). RETURNING the id and the workers' wake (pg_notify, delivered at
    the commit). The caller says `queued()` with the id. Build it once (the kind's values are in it)."""
    work = _registered_work(kind)
    table, at = WorkItem.__table__, bindparam("work_at", type_=UTCDateTime)
    values = {
        "kind": literal(kind, String),
        "args": args,
        "owner_id": null(),
        "state": literal(WorkState.QUEUED, String),
        "attempts": literal(0, Integer),
        "max_attempts": literal(work.max_attempts, Integer),
        "run_after": at,
        "done": literal(0, Integer),
        "created_at": at,
    }
    return insert(table).from_select(list(values), select(*values.values())).returning(table.c.id, _WAKE)


def _registered_work(kind: str):
    work = registered().kinds.get(kind)
    if work is None:
        raise ValueError(f"unknown work kind: {kind!r}")
    return work


_INSERT_ITEM = insert(WorkItem.__table__).returning(WorkItem.__table__.c.id)
_WAKE = func.pg_notify(CHANNEL, "")  # wake(), in an INSERT's RETURNING
_INSERT_ITEM_AND_WAKE = _INSERT_ITEM.returning(_WAKE)
_NOTIFY = text("SELECT pg_notify(:channel, '')")


def wake() -> None:
    """Wake the listening workers when the current transaction commits (PostgreSQL delivers a NOTIFY at
    commit, and never for a rolled-back one); SQLite's workers poll. Part of the caller's transaction."""
    if db.engine.dialect.name == "postgresql":
        db.session.connection().execute(_NOTIFY, {"channel": CHANNEL})  # Core: no ORM execution path


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the n-th failed attempt: 10 s, doubling, at most an hour."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_MAX)


def due(now: datetime):
    return or_(
        and_(WorkItem.state.in_((WorkState.QUEUED, WorkState.FAILED)), WorkItem.run_after <= now),
        and_(WorkItem.state == WorkState.RUNNING, WorkItem.lease_until <= now),
    )


@dataclass(frozen=True)
class Claim:
    id: int
    kind: str
    args: dict
    owner_id: int | None
    attempt: int
    max_attempts: int
    worker: str


def _mine(claim: Claim):
    """This claim still holds the item (its lease was not taken over by another worker)."""
    return and_(
        WorkItem.id == claim.id,
        WorkItem.state == WorkState.RUNNING,
        WorkItem.claimed_by == claim.worker,
        WorkItem.attempts == claim.attempt,
    )


def claim(worker: str, now: datetime | None = None) -> Claim | None:
    """Claim the next due item for `worker`: queued or failed work whose time has come, or running work
    whose lease expired (its worker died). One conditional UPDATE (`FOR UPDATE SKIP LOCKED` on
    PostgreSQL, so concurrent claimers skip each other's rows; SQLite's write lock serialises them).
    An expired item already out of attempts is marked dead instead. Commits."""
    while True:
        now = now or utcnow()
        candidate = (
            select(WorkItem.id)
            .where(due(now))
            .order_by(WorkItem.run_after, WorkItem.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        row = db.session.execute(
            update(WorkItem)
            .where(WorkItem.id == candidate, due(now))
            .values(
                state=WorkState.RUNNING,
                attempts=WorkItem.attempts + 1,
                claimed_by=worker,
                lease_until=now + lease(),
                started_at=func.coalesce(WorkItem.started_at, now),
            )
            .returning(
                WorkItem.id,
                WorkItem.kind,
                WorkItem.args,
                WorkItem.owner_id,
                WorkItem.attempts,
                WorkItem.max_attempts,
            ),
            execution_options={"synchronize_session": False},
        ).first()
        if row is None:
            db.session.commit()
            return None
        found = Claim(
            row.id, row.kind, dict(row.args or {}), row.owner_id, row.attempts, row.max_attempts, worker
        )
        if found.attempt <= found.max_attempts:
            db.session.commit()
            return found
        # Its workers died holding it, max_attempts times: give up on it rather than crash another.
        _finish(found, WorkState.DEAD, now, last_error="lease expired: its worker stopped")
        db.session.commit()


def complete(claim: Claim, outcome: Any, now: datetime | None = None) -> bool:
    """Record the handler's outcome as done, in the handler's own transaction (its uncommitted changes
    are committed with it), only if this claim still holds the item. Commits; returns whether it did
    (False: the lease was lost and everything is rolled back)."""
    now = now or utcnow()
    values: dict[str, Any] = {"result": outcome if isinstance(outcome, dict) else None}
    if isinstance(outcome, ResultFile):
        values = {
            "result": outcome.summary,
            "result_name": outcome.name,
            "result_type": outcome.content_type,
            "result_bytes": outcome.data if outcome.path is None else None,
            "result_size": len(outcome.data or b"") if outcome.path is None else None,
            "result_chunks": 0,
            "result_expires_at": now + result_keep(),
        }
    path = outcome.path if isinstance(outcome, ResultFile) else None
    try:
        if _finish(claim, WorkState.DONE, now, **values):
            if path is not None:
                _store_chunks(claim.id, path)  # the item's row is locked by _finish's UPDATE
            db.session.commit()
            return True
    finally:
        if path is not None and os.path.exists(path):
            os.unlink(path)
    db.session.rollback()
    log.warning("work %s (%s): lease lost before it finished; its changes rolled back", claim.id, claim.kind)
    return False


def _store_chunks(item_id: int, path: str) -> None:
    """Copy a result file into work_result_chunks, CHUNK bytes a row, in the completing transaction."""
    db.session.execute(delete(WorkResultChunk).where(WorkResultChunk.item_id == item_id))
    seq = size = 0
    with open(path, "rb") as source:
        while data := source.read(CHUNK):
            db.session.execute(insert(WorkResultChunk), [{"item_id": item_id, "seq": seq, "data": data}])
            seq += 1
            size += len(data)
    db.session.execute(
        update(WorkItem).where(WorkItem.id == item_id).values(result_chunks=seq, result_size=size),
        execution_options={"synchronize_session": False},
    )


def result_pieces(item_id: int, chunks: int, small: bytes | None) -> Iterator[bytes]:
    """A stored result in order: the small one at once, a chunked one a chunk at a time, each read in
    a short transaction of its own (a slow download holds no transaction and at most one chunk). A
    chunk purged meanwhile ends the stream early (the client sees fewer bytes than Content-Length)."""
    if not chunks:
        yield small or b""
        return
    for seq in range(chunks):
        with db.engine.connect() as conn:
            data = conn.scalar(
                select(WorkResultChunk.data).where(
                    WorkResultChunk.item_id == item_id, WorkResultChunk.seq == seq
                )
            )
        if data is None:
            return
        yield bytes(data)


def purge_results(now: datetime | None = None) -> int:
    """Delete the files of results past `result_expires_at` (chunks and small bodies), PURGE_BATCH
    items per transaction; the items stay, so their owners are told the file expired (410). Commits;
    returns how many results it deleted."""
    now = now or utcnow()
    purged = 0
    while True:
        ids = list(
            db.session.scalars(
                select(WorkItem.id)
                .where(
                    WorkItem.result_expires_at <= now,
                    or_(WorkItem.result_chunks > 0, WorkItem.result_bytes.is_not(None)),
                )
                .order_by(WorkItem.id)
                .limit(PURGE_BATCH)
            )
        )
        if not ids:
            db.session.commit()
            return purged
        db.session.execute(delete(WorkResultChunk).where(WorkResultChunk.item_id.in_(ids)))
        db.session.execute(
            update(WorkItem).where(WorkItem.id.in_(ids)).values(result_bytes=None, result_chunks=0),
            execution_options={"synchronize_session": False},
        )
        db.session.commit()
        purged += len(ids)


def fail(claim: Claim, error: str, now: datetime | None = None) -> str:
    """Roll back the handler's changes and record the failure: failed with a backoff, or dead after
    max_attempts, with the error. Commits; returns the new state."""
    now = now or utcnow()
    db.session.rollback()
    state = WorkState.DEAD if claim.attempt >= claim.max_attempts else WorkState.FAILED
    _finish(claim, state, now, last_error=error[:500], run_after=now + retry_delay(claim.attempt))
    db.session.commit()
    return state


def release(claim: Claim) -> None:
    """Give an item back untried (a stopping worker that will not run it): queued, attempt not counted."""
    db.session.rollback()
    db.session.execute(
        update(WorkItem)
        .where(_mine(claim))
        .values(state=WorkState.QUEUED, attempts=WorkItem.attempts - 1, lease_until=None, claimed_by=None),
        execution_options={"synchronize_session": False},
    )
    db.session.commit()


def _finish(claim: Claim, state: str, now: datetime, **values: Any) -> bool:
    done = state in (WorkState.DONE, WorkState.DEAD)
    result = db.session.execute(
        update(WorkItem)
        .where(_mine(claim))
        .values(
            state=state,
            lease_until=None,
            finished_at=now if done else None,
            done=func.coalesce(WorkItem.total, WorkItem.done) if state == WorkState.DONE else WorkItem.done,
            **values,
        ),
        execution_options={"synchronize_session": False},
    )
    return bool(result.rowcount)


def renew(
    engine: Engine, claim: Claim, lease_for: timedelta, *, done: int | None = None, total: int | None = None
) -> bool:
    """Extend the claim's lease (and record progress) in a short transaction of its own connection, so
    it is visible at once whatever the handler's session holds. Returns whether the claim still holds."""
    values: dict[str, Any] = {"lease_until": utcnow() + lease_for}
    if done is not None:
        values["done"] = done
    if total is not None:
        values["total"] = total
    with engine.begin() as conn:
        return bool(conn.execute(update(WorkItem).where(_mine(claim)).values(**values)).rowcount)


class Context:
    """What a handler gets: the item's id, owner and attempt, and `progress(done, total)` (written at
    most every PROGRESS_EVERY seconds, and renews the lease). Call progress between steps, not inside
    a write transaction of your own: on SQLite that transaction holds the one write lock."""

    def __init__(self, claim: Claim):
        self.claim = claim
        self.id = claim.id
        self.owner_id = claim.owner_id
        self.attempt = claim.attempt
        self.engine = db.engine
        self.lease = lease()
        self._written = 0.0

    def progress(self, done: int, total: int | None = None, *, force: bool = False) -> None:
        if done < 0 or (total is not None and total < 0):
            raise ValueError("progress counts are never negative")
        moment = time.monotonic()
        if not force and moment - self._written < PROGRESS_EVERY and done != total:
            return
        if self.engine.dialect.name == "sqlite" and db.session().in_transaction():
            return  # the handler holds SQLite's write lock: this would wait for it (the lease thread retries)
        self._written = moment
        renew(self.engine, self.claim, self.lease, done=done, total=total)
