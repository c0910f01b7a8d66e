"""Keyset (cursor) pagination: `?limit=20&cursor=…` → {"items": [...], "next_cursor": "…" | null}."""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime
from typing import Any

import marshmallow as ma
from sqlalchemy import Select, and_, or_

from volunteer_app.errors import Unprocessable, register_messages
from volunteer_app.extensions import db

register_messages({"pagination.bad_cursor": ("分页游标无效", "The cursor is invalid")})

MAX_LIMIT = 100


class PageArgs(ma.Schema):
    """Query parameters every list endpoint accepts."""

    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=MAX_LIMIT))
    cursor = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))


def page_schema(item_schema: type[ma.Schema], name: str) -> type[ma.Schema]:
    """A response schema {"items": [item], "next_cursor": str | null} for one item schema."""
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
            "next_cursor": ma.fields.String(allow_none=True, required=True),
        },
        name=name,
    )


def _encode(values: list[Any]) -> str:
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode().rstrip("=")


def _bad_cursor() -> Unprocessable:
    return Unprocessable("pagination.bad_cursor", errors={"query": {"cursor": ["invalid"]}})


def _decode(cursor: str, keys: list) -> list[Any]:
    """Decode a cursor and check each value has its key column's type (a forged one gets 422, not 500)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError) as exc:
        raise _bad_cursor() from exc
    if not isinstance(values, list) or len(values) != len(keys):
        raise _bad_cursor()
    decoded = []
    for key, value in zip(keys, values, strict=True):
        expected = key.type.python_type
        if expected is datetime and isinstance(value, str):
            try:
                value = datetime.fromisoformat(value)
            except ValueError as exc:
                raise _bad_cursor() from exc
            if value.tzinfo is None:
                raise _bad_cursor()
        if isinstance(value, bool) or not isinstance(value, expected):
            raise _bad_cursor()
        if expected is int and not -(2**63) <= value < 2**63:
            raise _bad_cursor()
        # JSON readers accept NaN and Infinity: no row's key is either (a forged cursor).
        if expected is float and not math.isfinite(value):
            raise _bad_cursor()
        decoded.append(value)
    return decoded


def paginate(stmt: Select, keys: list, *, limit: int, cursor: str | None, descending: bool = False) -> dict:
    """Run `stmt` ordered by `keys` (unique together, the last usually the id) one page at a time.

    Keys must be plain columns (integer, string or datetime); the page is found by the index on them,
    so a deep page costs the same as the first.
    """
    if cursor:
        values = _decode(cursor, keys)
        stmt = stmt.where(_after(keys, values, descending))
    order = [k.desc() if descending else k.asc() for k in keys]
    rows = db.session.scalars(stmt.order_by(*order).limit(limit + 1)).all()
    items = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = items[-1]
        next_cursor = _encode([getattr(last, k.key) for k in keys])
    return {"items": items, "next_cursor": next_cursor}


def _after(keys: list, values: list[Any], descending: bool):
    """(k1, k2, …) > (v1, v2, …) written portably as nested OR/AND."""
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j] == values[j] for j in range(i)]
        beyond = key < values[i] if descending else key > values[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


def paginate_rows(
    stmt: Select, keys: list, *, limit: int, cursor: str | None, params: dict | None = None
) -> tuple[list, str | None]:
    """Like `paginate`, for keys that are computed expressions (labelled, typed): `stmt` must select
    them by their labels so each row carries its own key values (no recomputation in Python, whose
    floats could disagree with the database's). `params` are the values of `stmt`'s bound
    parameters."""
    if cursor:
        stmt = stmt.where(_after(keys, _decode(cursor, keys), False))
    rows = db.session.execute(stmt.order_by(*keys).limit(limit + 1), params).all()
    items = rows[:limit]
    next_cursor = _encode([getattr(items[-1], k.key) for k in keys]) if len(rows) > limit else None
    return items, next_cursor
