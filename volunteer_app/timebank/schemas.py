"""Request and response shapes of the time book."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.accounts.schemas import SiteRef
from volunteer_app.pagination import PageArgs
from volunteer_app.schemas import Id, Text

MAX_ADJUST_MINUTES = 100_000


class TimebookOut(ma.Schema):
    book_no = ma.fields.String(required=True)
    balance_minutes = ma.fields.Integer(required=True)
    balance_hours = ma.fields.Float(required=True)
    lifetime_minutes = ma.fields.Integer(required=True, metadata={"description": "Audited service, net"})
    lifetime_hours = ma.fields.Float(required=True)
    star_level = ma.fields.Integer(required=True)
    next_star_hours = ma.fields.Integer(allow_none=True, required=True)
    issuing_site = ma.fields.Nested(SiteRef, required=True)
    opened_at = ma.fields.AwareDateTime(
        allow_none=True, metadata={"description": "null until the first movement"}
    )


class StatementArgs(PageArgs):
    month = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="YYYY-MM"),
        metadata={"description": "Calendar month in the issuing station's time zone"},
    )


class StatementLine(ma.Schema):
    transfer_id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    minutes = ma.fields.Integer(required=True, metadata={"description": "Signed: + in, − out"})
    hours = ma.fields.Float(required=True)
    balance_after_minutes = ma.fields.Integer(required=True)
    balance_after_hours = ma.fields.Float(required=True)
    memo = ma.fields.String(allow_none=True)
    service_date = ma.fields.Date(allow_none=True)
    reverses_id = ma.fields.Integer(allow_none=True)
    at = ma.fields.AwareDateTime(required=True)


class AdjustmentIn(ma.Schema):
    """Either reverse a transfer (`reverse_transfer_id`) or correct a book (`user_id` and ± `minutes`)."""

    reverse_transfer_id = Id(load_default=None)
    user_id = Id(load_default=None)
    minutes = ma.fields.Integer(
        strict=True, load_default=None, validate=ma.validate.Range(-MAX_ADJUST_MINUTES, MAX_ADJUST_MINUTES)
    )
    reason = Text(200, required=True)

    @ma.validates_schema
    def _one_kind(self, data, **_kwargs):
        reversing = data.get("reverse_transfer_id") is not None
        correcting = data.get("user_id") is not None or data.get("minutes") is not None
        if reversing == correcting:
            raise ma.ValidationError(
                "give reverse_transfer_id, or user_id and minutes", "reverse_transfer_id"
            )
        if correcting and (data.get("user_id") is None or not data.get("minutes")):
            raise ma.ValidationError("user_id and a non-zero minutes are required", "minutes")


class TransferOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    minutes = ma.fields.Integer(required=True)
    from_account_id = ma.fields.Integer(required=True)
    to_account_id = ma.fields.Integer(required=True)
    reverses_id = ma.fields.Integer(allow_none=True)
    memo = ma.fields.String(allow_none=True)
    service_date = ma.fields.Date(allow_none=True)
    site_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
