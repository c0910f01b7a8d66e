"""Idempotency-Key for creating POSTs: the same key and body replays the first response.

A retry must never apply a command twice, and a crash must never leave a key stuck "in progress"
(issue 13). So the claim, the command and the record are one transaction:

1. **Claim, as the command's first statement.** The decorator opens one connection and transaction and
   inserts the key's row (scope, key, fingerprint of the request) with `ON CONFLICT`. A duplicate sent
   while the first still runs waits on that insert: PostgreSQL holds an insert into a unique index
   until the transaction that holds the same key ends, and SQLite's writers queue on the write lock
   (`BEGIN IMMEDIATE`, busy timeout). When the first commits, the duplicate finds its record and
   replays it; when the first rolled back, the duplicate's insert goes through and it runs the command
   itself. The same key with another body is 422 `idempotency.key_reused`.
2. **Command and record.** The request's session joins that transaction in "create_savepoint" mode,
   so the service's single `commit()` releases a savepoint instead of committing. After the view the
   response is written onto the claim row, then the transaction commits: the effect and the key's
   record are one COMMIT.
3. **Failure and crash.** A view that fails, even after its service's commit, rolls the whole
   transaction back, the claim with it. So does a crash (kill -9, a lost connection: the database ends
   the transaction). Either way nothing happened and nothing is left: a retry runs afresh at once.

A refused request (a 4xx raised by the service) thus costs a few statements more than without a key
(the claim's INSERT and a savepoint; and where the view reads its caller as a mapped row, not a
snapshot, the caller's user again on the command's connection) and no COMMIT. A `reads_first` view on
PostgreSQL (the grab, the redemption: a storm's losers) looks before it claims: the claim is made at
its `writes_begin()`, and a refusal from the look reads the key, whose committed answer it replays
(`_run_looking_first`). Elsewhere, where it reads a snapshot (`keyed_snapshot`), the connection
opens before authentication and the caller is read in the claim's transaction: one connection, one
BEGIN. A duplicate holds a web worker while it waits for the first; that is the price of answering it
with the first's real response.
The wait is bounded: a first request stuck past gunicorn's worker timeout (`GUNICORN_TIMEOUT`, 30 s) is
killed, its connection closes and the database rolls its transaction back, the claim with it (SQLite's
writers give up after the busy timeout, 15 s, with a 503).

An older release claimed keys in a transaction of their own, with a lease (`locked_until`) and a
fencing token (`attempt`). Its unfinished rows are still honoured: one within its lease is 409
`idempotency.in_progress`; one past it is taken over by the claim's insert (`attempt + 1`), which its
old owner's fenced record then fails. Rows are deleted `idempotency_ttl_hours` (24) after their claim.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import namedtuple
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, wraps

from flask import current_app, g, request
from sqlalchemy import JSON, Connection, String, UniqueConstraint, and_, bindparam, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, dialect_insert, utcnow
from volunteer_app.errors import Conflict, DomainError, Unprocessable, register_messages
from volunteer_app.extensions import Blueprint, LookRider, db, lend_first_reads, read_rows, user_snapshot

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


class IdempotencyKey(db.Model):
    """A claimed key: the request's fingerprint and, once done, the response to replay (committed with
    the command's effect; an unfinished row is an older release's claim, with its lease and fencing
    token)."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column()
    response: Mapped[dict | list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # An older release's claims only: which claim of the key may record it (bumped by a takeover), and
    # until when the claim is live. Claims of this release are never committed unfinished.
    attempt: Mapped[int] = mapped_column(default=1, server_default="1")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


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


@cache
def _claim_statement(dialect: str):
    """INSERT the claim, or take over an older release's claim whose request died (its lease passed,
    same body), RETURNING its id; no row when the key is anyone else's. Built once per dialect over
    bound `scope`, `key`, `fingerprint` and `now`."""
    table = IdempotencyKey.__table__
    now = bindparam("now", type_=UTCDateTime)
    fingerprint = bindparam("fingerprint", type_=String)
    return (
        dialect_insert(dialect)(table)
        .values(
            scope=bindparam("scope", type_=String),
            key=bindparam("key", type_=String),
            fingerprint=fingerprint,
            attempt=1,
            created_at=now,
        )
        .on_conflict_do_update(
            index_elements=[table.c.scope, table.c.key],
            set_={"attempt": table.c.attempt + 1, "locked_until": None},
            where=table.c.status_code.is_(None)
            & (table.c.locked_until < now)
            & (table.c.fingerprint == fingerprint),
        )
        .returning(table.c.id)
    )


def _claim(conn: Connection, scope: str, key: str, fingerprint: str) -> int | Stored:
    """Claim the key in `conn`'s transaction (its first statement) and return the claim row's id; or
    return the first request's stored response to replay. Waits while another transaction holds the
    key. Raises 422 for the same key with another body, 409 while an older release's claim is live."""
    claim = _claim_statement(conn.dialect.name)
    values = {"scope": scope, "key": key, "fingerprint": fingerprint, "now": utcnow()}
    claimed = conn.execute(claim, values).scalar()  # (no row when the conflict's update was refused)
    if claimed is not None:
        return claimed
    found = conn.execute(_recorded_query(), {"scope": scope, "key": key}).first()
    stored = _answer_of(found, fingerprint)
    if stored is not None:
        return stored
    raise Conflict("idempotency.in_progress")  # an older release's live claim (or one purged just now)


# What a key's row answers with (`_answer_of`): read by scope and key, or riding on a look (key_rider).
_RECORD = ("fingerprint", "status_code", "response", "locked_until")
_Record = namedtuple("_Record", _RECORD)


@cache
def _recorded_query():
    """A key's row (`_RECORD`) by scope and key."""
    table = IdempotencyKey.__table__
    return select(*(table.c[name] for name in _RECORD)).where(
        table.c.scope == bindparam("scope"), table.c.key == bindparam("key")
    )


def _answer_of(found, fingerprint: str) -> Stored | None:
    """What a key's row (`_recorded_query`, or None) answers a request with this fingerprint: its
    stored response, or None while it has none; 422 when the key came with another body."""
    if found is None:
        return None
    if found.fingerprint != fingerprint:
        raise Unprocessable("idempotency.key_reused", errors={"headers": {HEADER: ["reused"]}})
    if found.status_code is not None:
        return Stored(found.status_code, found.response)
    return None


def _replay(stored: Stored):
    return current_app.response_class(
        json.dumps(stored.response),
        status=stored.status_code,
        mimetype="application/json",
        headers={"Idempotent-Replayed": "true"},
    )


def _run(scope: str, key: str, fingerprint: str, fn, args, kwargs):
    """Claim, the view with its effects, and the key's record in one transaction (the module docstring):
    on the connection `keyed_snapshot` opened before authentication, or on one of its own. A
    `reads_first` view on its own autocommit connection claims at its `writes_begin()` instead
    (`_run_looking_first`)."""
    if g.get("first_reads_owned"):
        return _run_looking_first(scope, key, fingerprint, fn, args, kwargs)
    session = db.session()
    session.rollback()  # nothing of the session's may stay open on another connection
    mode = session.join_transaction_mode
    early = g.pop(_EARLY, None)
    g.pop("read_connection", None)  # from here the view's reads go through the session (and flush)
    conn = early if early is not None else db.engine.connect()
    with conn:  # closing it rolls back whatever was not committed
        if early is None:
            conn.begin()
        claimed = _claim(conn, scope, key, fingerprint)
        if isinstance(claimed, Stored):
            return _replay(claimed)
        lend_first_reads(conn)  # (a reads_first view's first look, past the session: no savepoint)
        # Flask-SQLAlchemy's Session.get_bind picks an engine per model and ignores `bind`: the
        # session's own objects (the caller's User) stay in it, only their connection is ours.
        session.get_bind = lambda *_args, **_kwargs: conn
        session.join_transaction_mode = "create_savepoint"
        try:
            response = current_app.make_response(fn(*args, **kwargs))
            db.session.rollback()  # what the view left uncommitted is discarded, as at teardown
            conn.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.id == claimed)
                .values(status_code=response.status_code, response=response.get_json(silent=True))
            )
            conn.commit()
        finally:
            try:
                session.rollback()
            finally:
                del session.get_bind
                session.join_transaction_mode = mode
    return response


class _Replayed(Exception):
    """The key, claimed at writes_begin(), holds a first answer: the view stops and that is replayed."""

    def __init__(self, stored: Stored) -> None:
        super().__init__("replayed")
        self.stored = stored


def _run_looking_first(scope: str, key: str, fingerprint: str, fn, args, kwargs):
    """A keyed `reads_first` view: its first look (in autocommit, `extensions.reads_first`) comes
    before the claim, which is made at its `writes_begin()`, in the transaction that then carries the
    command and the key's record as `_run` does. A refusal from the look claims nothing: a storm's
    keyed loser reads the caller, the pool or the reward, and the key (3 reads, no transaction), where
    it claimed the key and rolled the claim back (BEGIN, 3 statements, ROLLBACK).

    A refusal still answers what the key holds. The key's record commits with the command's effect, so
    a look that saw that effect (the last unit gone) is followed by a read of the key that sees the
    record: the first answer is replayed, a key reused with another body is 422, as with the claim. A
    first request still in flight (claimed, not committed) is not seen; its duplicate refused by the
    look answers the refusal the first will also meet, without waiting for it, and a duplicate that
    looks past the look waits at the claim as before. What the view read before its claim it reads
    again after (the conditional UPDATEs decide). The request's Session is not touched before the
    claim: a loser never makes one."""
    held: dict = {}

    def claim() -> None:  # (writes_begin calls it)
        conn = held["conn"] = db.engine.connect()
        conn.begin()
        claimed = _claim(conn, scope, key, fingerprint)
        if isinstance(claimed, Stored):
            raise _Replayed(claimed)
        held["claimed"] = claimed
        session = held["session"] = db.session()
        held["mode"] = session.join_transaction_mode
        session.rollback()  # nothing of the session's may stay open on another connection
        session.get_bind = lambda *_args, **_kwargs: conn
        session.join_transaction_mode = "create_savepoint"

    g.before_writes = claim
    g.key_looking_first = (scope, key)
    try:
        try:
            response = current_app.make_response(fn(*args, **kwargs))
        except _Replayed as replayed:
            return _replay(replayed.stored)
        except DomainError as refusal:
            if "claimed" in held or refusal.status >= 500:
                raise
            found = g.pop("key_seen", _UNSEEN)  # (as the service's first look saw it: key_rider)
            if found is _UNSEEN:
                found = read_rows(_recorded_query(), {"scope": scope, "key": key}).first()
            stored = _answer_of(found, fingerprint)
            if stored is not None:
                return _replay(stored)
            if found is not None and found.locked_until is not None and found.locked_until > utcnow():
                raise Conflict("idempotency.in_progress") from None  # an older release's live claim
            raise
        if "claimed" not in held:  # answered without writing: claimed now, for the record
            try:
                claim()
            except _Replayed as replayed:
                return _replay(replayed.stored)
        db.session.rollback()  # what the view left uncommitted is discarded, as at teardown
        conn = held["conn"]
        conn.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == held["claimed"])
            .values(status_code=response.status_code, response=response.get_json(silent=True))
        )
        conn.commit()
        return response
    finally:
        g.pop("before_writes", None)
        g.pop("key_looking_first", None)
        g.pop("key_seen", None)
        try:
            if "session" in held:
                session = held["session"]
                try:
                    session.rollback()
                finally:
                    session.__dict__.pop("get_bind", None)
                    session.join_transaction_mode = held["mode"]
        finally:
            if "conn" in held:
                held["conn"].close()  # (rolls back whatever was not committed: the claim with it)


_UNSEEN = object()


def key_rider() -> LookRider | None:
    """For the first look of a keyed `reads_first` view (`_run_looking_first`; extensions.first_look):
    the key's row rides on the look, read in the look's own snapshot. A refusal from the look answers
    from it (a first answer replayed, a reused key 422) without reading the key again: the record
    commits with the command's effect, so a look that saw the effect sees the record in the same
    snapshot, as the read after it would. None for any other request."""
    looking = g.get("key_looking_first")
    if looking is None:
        return None

    def take(row) -> None:
        if row is not None:
            seen = _Record(*(row._mapping[f"key_{name}"] for name in _RECORD))
            g.key_seen = seen if seen.fingerprint is not None else None  # (NOT NULL: None is no row)

    return LookRider(_with_key, {"key_scope": looking[0], "key_value": looking[1]}, take)


def _with_key(look):
    """A look outer-joined to the bound key's row (`key_scope`, `key_value`): its `_RECORD` columns,
    labelled `key_<name>`."""
    table = IdempotencyKey.__table__
    return look.outerjoin(
        table, and_(table.c.scope == bindparam("key_scope"), table.c.key == bindparam("key_value"))
    ).add_columns(*(table.c[name].label(f"key_{name}") for name in _RECORD))


_EARLY = "idempotency_connection"


def keyed_snapshot(view):
    """`extensions.user_snapshot` for an @idempotent view, placed where it would be (above
    @auth_required): a request with an Idempotency-Key opens its command's connection and transaction
    before authentication, so the caller is read (a snapshot, `read_rows`) in the transaction that then
    claims the key. One connection and one transaction, where the caller's read in a transaction of its
    own, its ROLLBACK, a second checkout and a second BEGIN went before (a refused keyed request: 9
    statements → 7). The claim is still where a duplicate waits; what it read of the caller before the
    wait is what any request in flight knows of its caller."""

    snapshot = user_snapshot(view)
    looks_first = getattr(view, "reads_first", False)

    @wraps(view)
    def wrapper(*args, **kwargs):
        if request.headers.get(HEADER) is None or (looks_first and db.engine.dialect.name == "postgresql"):
            return snapshot(*args, **kwargs)  # (a reads_first view looks, then claims: _run_looking_first)
        conn = db.engine.connect()
        try:
            conn.begin()
            setattr(g, _EARLY, conn)  # _run takes it
            g.read_connection = conn  # the principal's read (a snapshot) on it, until _run takes it
            return snapshot(*args, **kwargs)
        finally:
            if g.get(_EARLY) is conn:  # not taken (refused before _run: 401, 429, a bad key): discarded
                g.pop(_EARLY)
                g.pop("read_connection", None)
                conn.close()

    return wrapper


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
            return _run(_scope(scope_of), key, _fingerprint(), fn, args, kwargs)

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


def purge_older_than(hours: int) -> int:
    """Delete keys older than `hours` (for the scheduler's cleanup job); commits; returns the count."""
    cutoff = utcnow() - timedelta(hours=hours)
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    db.session.commit()
    return result.rowcount or 0
