"""Request and response schemas of complaints (诉求)."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.pagination import PageArgs
from volunteer_app.schemas import Moment, QueryBoolean, Str, Text
from volunteer_app.supervision.models import COMPLAINT_CATEGORIES, ComplaintStatus, Level

CATEGORY_HELP = ", ".join(f"{code} {names[0]}" for code, names in COMPLAINT_CATEGORIES.items())


class ComplaintIn(ma.Schema):
    category = Str(
        required=True,
        validate=ma.validate.OneOf(list(COMPLAINT_CATEGORIES)),
        metadata={"description": CATEGORY_HELP},
    )
    text = Text(2000, required=True, metadata={"description": "what went wrong"})


class ComplaintReopenIn(ma.Schema):
    text = Text(1000, required=True, metadata={"description": "why the answer does not settle it"})


class ComplaintNoteIn(ma.Schema):
    note = Text(
        1000,
        required=True,
        metadata={
            "description": "progress, for the staff (the resident sees that a note was written, not what)"
        },
    )


class ComplaintAnswerIn(ma.Schema):
    resolution = Text(2000, required=True, metadata={"description": "what was done: the resident sees it"})


class ComplaintSuperviseIn(ma.Schema):
    level = Str(required=True, validate=ma.validate.OneOf(list(Level)))
    subject = Text(
        100, load_default=None, metadata={"description": "default: the complaint's number and category"}
    )
    description = Text(2000, load_default=None, metadata={"description": "default: the complaint's text"})
    due_at = Moment(load_default=None, metadata={"description": "default: the level's supervision_due_days"})


class MyComplaintArgs(PageArgs):
    status = Str(load_default=None, validate=ma.validate.OneOf(list(ComplaintStatus)))


class SiteComplaintArgs(PageArgs):
    status = Str(load_default=None, validate=ma.validate.OneOf(list(ComplaintStatus)))
    category = Str(load_default=None, validate=ma.validate.OneOf(list(COMPLAINT_CATEGORIES)))
    overdue = QueryBoolean(
        load_default=None, metadata={"description": "true: open and past due; false: all others"}
    )


class ComplaintEventOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    action = ma.fields.String(required=True)
    from_status = ma.fields.String(allow_none=True, data_key="from")
    to_status = ma.fields.String(required=True, data_key="to")
    actor_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "who acted (a resident sees only their own id)"}
    )
    note = ma.fields.String(allow_none=True, metadata={"description": "a staff note is the staff's only"})
    created_at = ma.fields.AwareDateTime(required=True, attribute="at")


class ComplaintSummary(ma.Schema):
    id = ma.fields.Integer(required=True)
    order_id = ma.fields.Integer(required=True)
    site_id = ma.fields.Integer(required=True, metadata={"description": "the order's dispatch site"})
    resident_id = ma.fields.Integer(required=True)
    category = ma.fields.String(required=True)
    text = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    due_at = ma.fields.AwareDateTime(required=True, metadata={"description": "to be answered by"})
    overdue = ma.fields.Boolean(required=True)
    escalated_at = ma.fields.AwareDateTime(allow_none=True)
    resolution = ma.fields.String(allow_none=True)
    answered_at = ma.fields.AwareDateTime(allow_none=True)
    answered_by_id = ma.fields.Integer(allow_none=True, metadata={"description": "staff only"})
    reopened = ma.fields.Integer(required=True)
    item_id = ma.fields.Integer(
        allow_none=True, metadata={"description": "the 督办 item it triggered (staff only)"}
    )
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class ComplaintOut(ComplaintSummary):
    timeline = ma.fields.List(ma.fields.Nested(ComplaintEventOut), required=True)
