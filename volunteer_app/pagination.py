"""Keyset (cursor) pagination: `?limit=20&cursor=…` → {"items": [...], "next_cursor": "…" | null}."""

from __future__ import annotations

import base64
import functools
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import marshmallow as ma
from sqlalchemy import Integer, Select, and_, bindparam, or_
from sqlalchemy.sql import sqltypes
from sqlalchemy.types import TypeDecorator

from volunteer_app.errors import BadRequest, register_messages
from volunteer_app.extensions import db, read_rows

register_messages({"pagination.bad_cursor": ("分页游标无效", "The cursor is invalid")})

MAX_LIMIT = 100
MAX_CURSOR = 200  # characters; the longest cursor written is under 100


class PageArgs(ma.Schema):
    """Query parameters every list endpoint accepts."""

    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=MAX_LIMIT))
    # Checked when decoded (any cursor the server did not write is one 400 `pagination.bad_cursor`).
    cursor = ma.fields.String(load_default=None, metadata={"maxLength": MAX_CURSOR})


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


def _bad_cursor() -> BadRequest:
    return BadRequest("pagination.bad_cursor", errors={"query": {"cursor": ["invalid"]}})


def _datetime(value: Any) -> datetime:
    """An aware ISO 8601 datetime (as `_encode` writes it), in UTC."""
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError(value)
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(value)
    return parsed.astimezone(UTC)


def _integer(value: Any) -> int:
    """A 64-bit integer (no bool, no float: 2.0 is no id)."""
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise ValueError(value)
    return value


def _float(value: Any) -> float:
    """A finite number: JSON readers accept NaN and Infinity, and no row's key is either."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(value)
    value = float(value)  # an int beyond a double's range raises OverflowError
    if not math.isfinite(value):
        raise ValueError(value)
    return value


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(value)
    return value


def _reader(key) -> Callable[[Any], Any]:
    """How a cursor's value for `key` (a column or a labelled expression) is read back, from the SQL
    type of the key (a TypeDecorator by the type it stores as). Not `python_type`: a TypeDecorator's
    is `object` (UTCDateTime), which let every datetime cursor through unparsed (a 500 on page 2)."""
    sql_type = key.type
    if isinstance(sql_type, TypeDecorator):
        sql_type = sql_type.impl_instance
    if isinstance(sql_type, sqltypes.DateTime):
        return _datetime
    if isinstance(sql_type, sqltypes.Integer):
        return _integer
    if isinstance(sql_type, sqltypes.Float | sqltypes.Numeric):
        return _float
    if isinstance(sql_type, sqltypes.String):
        return _string
    raise TypeError(f"no cursor reader for the key {key} of type {key.type!r}")


def _decode(cursor: str, readers: list[Callable[[Any], Any]]) -> list[Any]:
    """Decode a cursor and read each value as its key's type: a forged one is 400, never a 500."""
    if len(cursor) > MAX_CURSOR:
        raise _bad_cursor()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, TypeError, RecursionError) as exc:
        raise _bad_cursor() from exc
    if not isinstance(values, list) or len(values) != len(readers):
        raise _bad_cursor()
    try:
        return [read(value) for read, value in zip(readers, values, strict=True)]
    except (ValueError, TypeError, OverflowError) as exc:
        raise _bad_cursor() from exc


def cursor_values(cursor: str | None, keys: list) -> list[Any] | None:
    """The key values a cursor holds, each read as its key's type (None for the first page; a forged
    cursor is 400), for a service that plans its query by where the page starts (the feed)."""
    return _decode(cursor, [_reader(k) for k in keys]) if cursor else None


def check_cursor(cursor: str | None, keys: list) -> None:
    """Refuse a forged cursor (400) where a list answers an empty page without running its query."""
    if cursor:
        _decode(cursor, [_reader(k) for k in keys])


def paginate(
    stmt: Select,
    keys: list,
    *,
    limit: int,
    cursor: str | None,
    descending: bool = False,
    rows: bool = False,
    params: dict | None = None,
    prebuilt: bool = False,
) -> dict:
    """Run `stmt` ordered by `keys` (unique together, the last usually the id) one page at a time.

    Keys must be plain columns (integer, float, string or datetime); the page is found by the index on them,
    so a deep page costs the same as the first. The items are `stmt`'s first entity, or with `rows` its
    rows (a select of columns, each key among them under its own name: no ORM objects to build).
    Rows are read past the ORM's execution path (extensions.read_rows), objects through it.
    `params` are the values of `stmt`'s bound parameters (a statement built once, bound per call);
    with `prebuilt` (such a `stmt`, kept), the paged statements are built once too (`_paged`).
    """
    paged, params = _page(stmt, keys, limit, cursor, descending, params, prebuilt)
    found = (read_rows(paged, params) if rows else db.session.scalars(paged, params)).all()
    items = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = items[-1]
        next_cursor = _encode([getattr(last, k.key) for k in keys])
    return {"items": items, "next_cursor": next_cursor}


def _page(stmt, keys, limit, cursor, descending, params, prebuilt) -> tuple[Select, dict | None]:
    """The statement of one page and its bound values: `stmt` after the cursor's keys (a forged cursor
    is 400), ordered by `keys` and limited to one row more than the page (which says whether another
    follows); with `prebuilt`, a `_paged` statement built once over bound values."""
    readers = [_reader(k) for k in keys]  # also on the first page: a key with no reader fails at once
    values = _decode(cursor, readers) if cursor else None
    if prebuilt:
        return _paged(stmt, tuple(keys), values is not None, descending), _page_params(params, limit, values)
    if values is not None:
        stmt = stmt.where(_after(keys, values, descending))
    order = [k.desc() if descending else k.asc() for k in keys]
    return stmt.order_by(*order).limit(limit + 1), params


@functools.cache
def _paged(stmt: Select, keys: tuple, after: bool, descending: bool) -> Select:
    """`stmt` ordered by `keys`, limited by the bound `page_limit`, and with `after` beyond the bound
    `after_0`, `after_1` … (the cursor's values)."""
    if after:
        bound = [bindparam(f"after_{i}", type_=key.type) for i, key in enumerate(keys)]
        stmt = stmt.where(_after(list(keys), bound, descending))
    order = [k.desc() if descending else k.asc() for k in keys]
    return stmt.order_by(*order).limit(bindparam("page_limit", type_=Integer))


def _page_params(params: dict | None, limit: int, values: list | None) -> dict:
    """The bound values of a `_paged` statement: the caller's, the page's limit, the cursor's."""
    bound = {**(params or {}), "page_limit": limit + 1}
    if values is not None:
        bound.update({f"after_{i}": value for i, value in enumerate(values)})
    return bound


def _after(keys: list, values: list[Any], descending: bool):
    """(k1, k2, …) > (v1, v2, …) written portably as nested OR/AND."""
    clauses = []
    for i, key in enumerate(keys):
        equal = [keys[j] == values[j] for j in range(i)]
        beyond = key < values[i] if descending else key > values[i]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


def paginate_rows(
    stmt: Select,
    keys: list,
    *,
    limit: int,
    cursor: str | None,
    params: dict | None = None,
    prebuilt: bool = False,
) -> tuple[list, str | None]:
    """Like `paginate`, for keys that are computed expressions (labelled, typed): `stmt` must select
    them by their labels so each row carries its own key values (no recomputation in Python, whose
    floats could disagree with the database's). `params` are the values of `stmt`'s bound
    parameters. With `prebuilt` (a `stmt` built once per process and kept, as the feed's), the paged
    statements are built once too, over bound values for the limit and the cursor: the feed's UNION is
    large, and a new statement each request cost a fresh cache key over all of it."""
    paged, params = _page(stmt, keys, limit, cursor, False, params, prebuilt)
    rows = read_rows(paged, params).all()
    items = rows[:limit]
    next_cursor = _encode([getattr(items[-1], k.key) for k in keys]) if len(rows) > limit else None
    return items, next_cursor
