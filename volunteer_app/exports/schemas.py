"""Request and response shapes of exports."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.exports.writers import FORMATS
from volunteer_app.schemas import Date, Id


class ExportIn(ma.Schema):
    kind = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=40),
        metadata={
            "description": "orders, activities (one row per sign-up), hours (工时汇总: audited hours by "
            "month), statement (a volunteer's book: give volunteer_id), or a registered table (stats …)",
            "example": "orders",
        },
    )
    format = ma.fields.String(required=True, validate=ma.validate.OneOf(sorted(FORMATS)))
    from_ = Date(
        data_key="from",
        load_default=None,
        metadata={"description": "First day, in the site's time zone (required but for statements)"},
    )
    to = Date(load_default=None, metadata={"description": "Last day, inclusive; at most 366 days in all"})
    volunteer_id = Id(load_default=None, metadata={"description": "statement: whose book"})


class OwnStatementIn(ma.Schema):
    format = ma.fields.String(required=True, validate=ma.validate.OneOf(sorted(FORMATS)))
    from_ = Date(data_key="from", load_default=None, metadata={"description": "First day (optional)"})
    to = Date(load_default=None, metadata={"description": "Last day, inclusive (optional)"})


class Ref(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(allow_none=True, required=True)


class ExportRecordOut(ma.Schema):
    id = ma.fields.Integer(required=True, attribute="record.id")
    user = ma.fields.Nested(Ref, required=True, metadata={"description": "Who exported"})
    site = ma.fields.Nested(Ref, allow_none=True, required=True)
    kind = ma.fields.String(required=True, attribute="record.kind")
    format = ma.fields.String(required=True, attribute="record.format")
    params = ma.fields.Dict(
        required=True,
        attribute="record.params",
        metadata={"description": "from, to, volunteer_id, lang, tz as requested"},
    )
    status = ma.fields.String(
        required=True,
        attribute="record.status",
        metadata={"enum": ["requested", "done"], "description": "requested: queued or running (see the job)"},
    )
    rows = ma.fields.Integer(allow_none=True, required=True, attribute="record.rows")
    file_name = ma.fields.String(allow_none=True, required=True, attribute="record.file_name")
    job_id = ma.fields.Integer(allow_none=True, required=True, attribute="record.job_id")
    requested_at = ma.fields.AwareDateTime(required=True, attribute="record.requested_at")
    finished_at = ma.fields.AwareDateTime(allow_none=True, required=True, attribute="record.finished_at")
