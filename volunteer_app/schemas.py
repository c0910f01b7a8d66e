"""Shared schema pieces: bounded field constructors and the id path/field types."""

from __future__ import annotations

import marshmallow as ma

MAX_ID = 2**63 - 1


def Id(**kwargs) -> ma.fields.Integer:
    """A positive 64-bit id."""
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1, max=MAX_ID), **kwargs)


def Text(max_length: int, min_length: int = 1, **kwargs) -> ma.fields.String:
    """A bounded string."""
    return ma.fields.String(validate=ma.validate.Length(min=min_length, max=max_length), **kwargs)


def Lat(**kwargs) -> ma.fields.Float:
    return ma.fields.Float(validate=ma.validate.Range(min=-90, max=90), allow_nan=False, **kwargs)


def Lng(**kwargs) -> ma.fields.Float:
    return ma.fields.Float(validate=ma.validate.Range(min=-180, max=180), allow_nan=False, **kwargs)


class Ok(ma.Schema):
    """A plain acknowledgement."""

    ok = ma.fields.Boolean(required=True)
