"""Idempotency-Key for creating POSTs: the same key and body replays the first response.

Three short steps at the request boundary: claim the key (its own commit, so a concurrent duplicate
sees it), run the view (whose service commits its effects), then store the response. A client
retrying while the first attempt runs gets 409 `idempotency.in_progress`; the same key with another
body gets 422 `idempotency.key_reused`. If the view fails unexpectedly the claim is released so a
retry can proceed. Known window: a crash between the service's commit and storing the response
leaves the key "in progress" until it expires (the effect happened once; it is never repeated).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta
from functools import wraps

from flask import current_app, request
from flask_smorest import Blueprint
from sqlalchemy import JSON, String, UniqueConstraint, delete, select, update
from sqlalchemy.exc import IntegrityError
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


class IdempotencyKey(db.Model):
    """A claimed key, the request's fingerprint and, once done, the response to replay."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(100))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column()
    response: Mapped[dict | list | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


def _fingerprint() -> str:
    """Keyed hash of method, path and body: comparable, but reveals nothing about the body at rest."""
    body = request.get_data(cache=True) or b""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, request.method.encode() + b" " + request.path.encode() + b"\n", hashlib.sha256)
    digest.update(body)
    return digest.hexdigest()


def _scope(scope_of) -> str:
    return scope_of() if scope_of else f"addr:{request.remote_addr or '-'}"


def _claim(scope: str, key: str, fingerprint: str):
    """Claim the key or return the stored row (commits on its own: this is the request boundary)."""
    row = db.session.scalars(
        select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
    ).first()
    if row is None:
        claim = IdempotencyKey(scope=scope, key=key, fingerprint=fingerprint)
        db.session.add(claim)
        try:
            db.session.commit()
            return None, claim.id
        except IntegrityError:
            db.session.rollback()
            raise Conflict("idempotency.in_progress") from None
    db.session.rollback()
    if row.fingerprint != fingerprint:
        raise Unprocessable("idempotency.key_reused", errors={"headers": {HEADER: ["reused"]}})
    if row.status_code is None:
        raise Conflict("idempotency.in_progress")
    return row, row.id


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
            scope = _scope(scope_of)
            stored, claim_id = _claim(scope, key, _fingerprint())
            if stored is not None:
                return current_app.response_class(
                    json.dumps(stored.response),
                    status=stored.status_code,
                    mimetype="application/json",
                    headers={"Idempotent-Replayed": "true"},
                )
            try:
                response = current_app.make_response(fn(*args, **kwargs))
            except Exception:
                # Errors change nothing (one transaction per command), so a retry may run afresh.
                _release(claim_id)
                raise
            _store(claim_id, response)
            return response

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


def _release(claim_id: int) -> None:
    db.session.rollback()
    db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim_id))
    db.session.commit()


def _store(claim_id: int, response) -> None:
    body = response.get_json(silent=True)
    db.session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == claim_id)
        .values(status_code=response.status_code, response=body)
    )
    db.session.commit()


def purge_older_than(hours: int) -> int:
    """Delete keys older than `hours` (for the scheduler's cleanup job); commits; returns the count."""
    cutoff = utcnow() - timedelta(hours=hours)
    result = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < cutoff))
    db.session.commit()
    return result.rowcount or 0
