"""Idempotency-Key for creating POSTs: the same key and body replays the first response.

A retry must never apply a command twice, and a crash must never leave a key stuck "in progress"
(issue 13: a kill -9 between claim and commit kept the key busy for 24 h). So a key goes through:

1. **Claim**, in its own short transaction so a concurrent duplicate sees it: a row (scope, key) with
   the request's fingerprint, a fencing token `attempt` and a lease `locked_until` (now +
   `idempotency_lease_seconds`, 60; longer than gunicorn's worker timeout, so a request that is still
   running holds a live lease). While the lease runs, a duplicate gets 409 `idempotency.in_progress`;
   the same key with another body gets 422 `idempotency.key_reused`.
2. **Command and record in one transaction.** The decorator opens one connection and transaction and
   joins the request's session to it in "create_savepoint" mode, so the service's single `commit()`
   releases a savepoint instead of committing. The transaction first locks the claim row, fenced by
   `attempt`; after the view it writes the status and response onto that row, then commits: the
   effect and the key's record are one COMMIT. A crash before it leaves only the claim (nothing
   happened), a crash after it leaves both (the retry replays). A view that fails, even after its
   service's commit, rolls the whole transaction back and the claim is deleted: a retry runs afresh.
3. **Takeover.** A claim without a record whose lease has passed belongs to a request that died: a
   retry takes it with a conditional update (attempt + 1, a new lease) and runs the command. At most
   once still holds if the first request is alive after all: from its command's start it holds the
   claim row locked (PostgreSQL) or the write lock (SQLite), so the takeover waits for it and then
   finds the record and replays; and a first request whose claim was taken before its command began
   fails the fenced lock (409, nothing applied).

Lease times come from the web process's clock; a clock skew between machines shortens or stretches
the lease by that much. Rows are deleted `idempotency_ttl_hours` (24) after their claim.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

from flask import current_app, request
from flask_smorest import Blueprint
from sqlalchemy import JSON, Connection, String, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.errors import Conflict, Unprocessable, register_messages
from volunteer_app.extensions import db

register_messages(
    {
        "idempotency.key_reused": (
            "该幂等键已用于另一个请求",
            "This Idempotency-Key was used with a different request",
        ),
        "idempotency.in_progress": (
            "相同的请求正在处理中，请稍后重试",
            "The same request is still in progress",
        ),
        "idempotency.bad_key": (
            "幂等键格式错误（1–100 个可见字符）",
            "Idempotency-Key must be 1–100 visible characters",
        ),
    }
)

HEADER = "Idempotency-Key"
log = logging.getLogger(__name__)


class IdempotencyKey(db.Model):
    """A claimed key: the request's fingerprint, its lease and fencing token and, once done, the
    response to replay."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column()
    response: Mapped[dict | list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Which claim of the key may record it (bumped by a takeover), and until when the claim is live.
    attempt: Mapped[int] = mapped_column(default=1, server_default="1")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Claim:
    """The claim this request holds: the row and the attempt it may record."""

    id: int
    attempt: int


@dataclass(frozen=True)
class Stored:
    """A finished key's response."""

    status_code: int
    response: dict | list | None


def _fingerprint() -> str:
    """Keyed hash of method, path and body: comparable, but reveals nothing about the body at rest."""
    body = request.get_data(cache=True) or b""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, request.method.encode() + b" " + request.path.encode() + b"\n", hashlib.sha256)
    digest.update(body)
    return digest.hexdigest()


def _scope(scope_of) -> str:
    return scope_of() if scope_of else f"addr:{request.remote_addr or '-'}"


def _lease_end() -> datetime:
    return utcnow() + timedelta(seconds=float(current_app.config["APP"].get("idempotency_lease_seconds", 60)))


def _find(scope: str, key: str):
    """The key's row as plain values (nothing the session could expire), or None; ends the read."""
    row = db.session.execute(
        select(
            IdempotencyKey.id,
            IdempotencyKey.fingerprint,
            IdempotencyKey.status_code,
            IdempotencyKey.response,
            IdempotencyKey.attempt,
            IdempotencyKey.locked_until,
        ).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    ).first()
    db.session.rollback()
    return row


def _claim(scope: str, key: str, fingerprint: str) -> Claim | Stored:
    """Claim the key, take over a claim past its lease, or return the stored response to replay.
    Commits on its own (this is the request boundary); raises 409 while another claim is live."""
    row = _find(scope, key)
    if row is None:
        claim = IdempotencyKey(
            scope=scope, key=key, fingerprint=fingerprint, attempt=1, locked_until=_lease_end()
        )
        db.session.add(claim)
        try:
            db.session.flush()
            claimed = Claim(claim.id, 1)  # read before the commit expires it (a reload would begin anew)
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            raise Conflict("idempotency.in_progress") from None
        return claimed
    if row.fingerprint != fingerprint:
        raise Unprocessable("idempotency.key_reused", errors={"headers": {HEADER: ["reused"]}})
    if row.status_code is not None:
        return Stored(row.status_code, row.response)
    if row.locked_until is not None and row.locked_until > utcnow():
        raise Conflict("idempotency.in_progress")
    return _take_over(scope, key, row)


def _take_over(scope: str, key: str, row) -> Claim | Stored:
    """Take a claim whose lease has passed (its request died), unless it was finished or taken meanwhile."""
    taken = db.session.execute(
        update(IdempotencyKey)
        .where(*_unfinished(Claim(row.id, row.attempt)))
        .values(attempt=row.attempt + 1, locked_until=_lease_end())
    )
    db.session.commit()
    if taken.rowcount == 1:
        log.warning("idempotency claim %d: attempt %d outlived its lease; taken over", row.id, row.attempt)
        return Claim(row.id, row.attempt + 1)
    now = _find(scope, key)  # the old owner finished after all, or another retry took it first
    if now is not None and now.status_code is not None:
        return Stored(now.status_code, now.response)
    raise Conflict("idempotency.in_progress")


def _unfinished(claim: Claim) -> tuple:
    """Conditions matching the claim's row only while it is this claim's and unfinished (the fence)."""
    return (
        IdempotencyKey.id == claim.id,
        IdempotencyKey.attempt == claim.attempt,
        IdempotencyKey.status_code.is_(None),
    )


def _fenced(claim: Claim, **values):
    """An update of the claim's row that changes nothing once the claim was taken over or finished."""
    return update(IdempotencyKey).where(*_unfinished(claim)).values(**values)


@contextmanager
def _one_transaction(claim: Claim) -> Iterator[Connection]:
    """Run the block in one transaction that holds the claim row locked, with the request's session
    joined to it: the service's commit() releases a savepoint; the caller commits at the end."""
    session = db.session()
    session.rollback()  # nothing of the session's may stay open on another connection
    mode = session.join_transaction_mode
    with db.engine.connect() as conn:  # closing it rolls back whatever was not committed
        conn.begin()
        # Flask-SQLAlchemy's Session.get_bind picks an engine per model and ignores `bind`: the
        # session's own objects (the caller's User) stay in it, only their connection is ours.
        session.get_bind = lambda *_args, **_kwargs: conn
        session.join_transaction_mode = "create_savepoint"
        try:
            if conn.execute(_fenced(claim, locked_until=_lease_end())).rowcount != 1:
                raise Conflict("idempotency.in_progress")  # taken over before we began: apply nothing
            yield conn
        finally:
            try:
                session.rollback()  # what the view left uncommitted is discarded, as at teardown
            finally:
                del session.get_bind
                session.join_transaction_mode = mode


def _run(claim: Claim, fn, args, kwargs):
    """The view, its effects and the key's record in one transaction (see the module docstring)."""
    try:
        with _one_transaction(claim) as conn:
            response = current_app.make_response(fn(*args, **kwargs))
            db.session.rollback()
            body = response.get_json(silent=True)
            record = _fenced(claim, status_code=response.status_code, response=body, locked_until=None)
            if conn.execute(record).rowcount != 1:
                raise Conflict("idempotency.in_progress")
            conn.commit()
    except Exception:
        # The transaction rolled back: nothing happened, so a retry may run afresh.
        _release(claim)
        raise
    return response


def idempotent(scope_of=None):
    """Honour Idempotency-Key on a creating POST. `scope_of` names whose keys these are (default: address)."""

    def decorator(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            key = request.headers.get(HEADER)
            if key is None:
                return fn(*args, **kwargs)
            if not 1 <= len(key) <= 100 or not key.isprintable():
                raise Unprocessable("idempotency.bad_key", errors={"headers": {HEADER: ["1-100 characters"]}})
            claim = _claim(_scope(scope_of), key, _fingerprint())
            if isinstance(claim, Stored):
                return current_app.response_class(
                    json.dumps(claim.response),
                    status=claim.status_code,
                    mimetype="application/json",
                    headers={"Idempotent-Replayed": "true"},
                )
            return _run(claim, fn, args, kwargs)

        return Blueprint.doc(
            parameters=[
                {
                    "in": "header",
                    "name": HEADER,
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 100},
                    "description": "Retry-safe creation: the same key and body replays the first response.",
                }
            ]
        )(wrapper)

    return decorator


def _release(claim: Claim) -> None:
    """Delete our unfinished claim; if the database is unreachable it simply expires with its lease."""
    try:
        db.session.rollback()
        db.session.execute(delete(IdempotencyKey).where(*_unfinished(claim)))
        db.session.commit()
    except SQLAlchemyError:
        log.warning("idempotency claim %d not released; it expires with its lease", claim.id, exc_info=True)
        db.session.rollback()


def purge_older_than(hours: int) -> int:
    """Delete keys older than `hours` (for the scheduler's cleanup job); commits; returns the count."""
    cutoff = utcnow() - timedelta(hours=hours)
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    db.session.commit()
    return result.rowcount or 0
