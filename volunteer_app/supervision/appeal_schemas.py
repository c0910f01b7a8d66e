"""Request and response shapes of volunteers' appeals (申诉)."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.pagination import PageArgs, page_schema
from volunteer_app.schemas import Integer, QueryBoolean, Text
from volunteer_app.supervision.appeals import SIDES
from volunteer_app.supervision.models import APPEAL_KINDS, AppealStatus

# A day is the most any service window lasts; the service check (the window's own minutes) is tighter.
MAX_MINUTES = 24 * 60


class AppealIn(ma.Schema):
    minutes_claimed = Integer(
        required=True,
        validate=ma.validate.Range(min=1, max=MAX_MINUTES),
        metadata={
            "description": "The total asked for: more than the audit confirmed (0 for a no-show), at most "
            "the service window's minutes"
        },
    )
    reason = Text(1000, required=True)


class AppealUpholdIn(ma.Schema):
    minutes_granted = Integer(
        required=True,
        validate=ma.validate.Range(min=1, max=MAX_MINUTES),
        metadata={"description": "The new total: more than the audit's minutes, at most the claim"},
    )
    note = Text(1000, load_default=None)


class AppealRejectIn(ma.Schema):
    note = Text(1000, required=True)


class AppealWithdrawIn(ma.Schema):
    pass


class AppealListArgs(PageArgs):
    side = ma.fields.String(
        load_default="deciding",
        validate=ma.validate.OneOf(SIDES),
        metadata={"description": "deciding: the appeals this site decides; audited: those of its audits"},
    )
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(list(AppealStatus)))
    overdue = QueryBoolean(load_default=None, metadata={"description": "pending past its due time"})


class AppealEventOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    action = ma.fields.String(required=True)
    from_status = ma.fields.String(allow_none=True, required=True, data_key="from")
    to_status = ma.fields.String(required=True, data_key="to")
    actor_id = ma.fields.Integer(allow_none=True, required=True)
    note = ma.fields.String(allow_none=True, required=True)
    created_at = ma.fields.AwareDateTime(required=True, attribute="at")


class AppealOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    assignment_id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True, metadata={"description": "The order's or activity's title"})
    volunteer_id = ma.fields.Integer(required=True)
    site_id = ma.fields.Integer(required=True, metadata={"description": "The audited site"})
    deciding_site_id = ma.fields.Integer(required=True, metadata={"description": "One level up"})
    kind = ma.fields.String(required=True, metadata={"enum": list(APPEAL_KINDS)})
    status = ma.fields.String(required=True, metadata={"enum": [str(s) for s in AppealStatus]})
    minutes_before = ma.fields.Integer(required=True, metadata={"description": "Confirmed by the audit"})
    minutes_claimed = ma.fields.Integer(required=True)
    reason = ma.fields.String(required=True)
    due_at = ma.fields.AwareDateTime(required=True)
    overdue = ma.fields.Boolean(required=True)
    escalated_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    minutes_granted = ma.fields.Integer(allow_none=True, required=True, metadata={"description": "New total"})
    minutes_credited = ma.fields.Integer(
        allow_none=True, required=True, metadata={"description": "Credited by the appeal (granted − before)"}
    )
    decision_note = ma.fields.String(allow_none=True, required=True)
    decided_by_id = ma.fields.Integer(allow_none=True, required=True)
    decided_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    transfer_id = ma.fields.Integer(allow_none=True, required=True, metadata={"description": "The credit"})
    created_at = ma.fields.AwareDateTime(required=True)


class AppealDetail(AppealOut):
    timeline = ma.fields.List(ma.fields.Nested(AppealEventOut), required=True)


AppealPage = page_schema(AppealOut, "AppealPage")
