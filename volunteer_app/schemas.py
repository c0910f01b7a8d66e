"""Shared schema pieces: bounded field constructors and the id path/field types."""

from __future__ import annotations

import re

import marshmallow as ma

MAX_ID = 2**63 - 1


def Id(*, strict: bool = True, **kwargs) -> ma.fields.Integer:
    """A positive 64-bit id; strict (a JSON number) unless it comes from a query string (strict=False)."""
    return ma.fields.Integer(strict=strict, validate=ma.validate.Range(min=1, max=MAX_ID), **kwargs)


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> None:
    """Refuse NUL (PostgreSQL text cannot hold it) and lone surrogates (not encodable as UTF-8 for
    either database): stored, both would surface as a 500 instead of a 422 naming the field."""
    if _UNSTORABLE.search(value):
        raise ma.ValidationError("contains characters that cannot be stored")


def Text(max_length: int, min_length: int = 1, **kwargs) -> ma.fields.String:
    """A bounded string of storable characters."""
    return ma.fields.String(validate=[ma.validate.Length(min=min_length, max=max_length), storable], **kwargs)


def Lat(**kwargs) -> ma.fields.Float:
    return ma.fields.Float(validate=ma.validate.Range(min=-90, max=90), allow_nan=False, **kwargs)


def Lng(**kwargs) -> ma.fields.Float:
    return ma.fields.Float(validate=ma.validate.Range(min=-180, max=180), allow_nan=False, **kwargs)


class Ok(ma.Schema):
    """A plain acknowledgement."""

    ok = ma.fields.Boolean(required=True)


def _plausible(value) -> None:
    # Far-off years would overflow converting to UTC (a 500); no service is booked for year 9999.
    if not 2000 <= value.year <= 2200:
        raise ma.ValidationError("year out of range")


def Moment(**kwargs) -> ma.fields.AwareDateTime:
    """An RFC 3339 time with an offset (a naive time is refused: whose clock would it be?)."""
    return ma.fields.AwareDateTime(validate=_plausible, **kwargs)


class UniqueList(ma.fields.List):
    """A list whose items must all differ (ids, codes): documented as `uniqueItems`; a repeat is 422."""

    def __init__(self, cls_or_instance, **kwargs):
        kwargs["metadata"] = {"uniqueItems": True, **kwargs.get("metadata", {})}
        super().__init__(cls_or_instance, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        items = super()._deserialize(value, attr, data, **kwargs)
        for index, item in enumerate(items):
            if item in items[:index]:
                raise ma.ValidationError({index: ["repeats an earlier item"]})
        return items
