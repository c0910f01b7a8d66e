"""Request and response shapes of the follow-ups (回访)."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.field_messages import register_field_messages
from volunteer_app.pagination import PageArgs
from volunteer_app.schemas import Boolean, Integer, QueryBoolean, Text
from volunteer_app.supervision.models import FOLLOW_UP_REASONS, FollowUpStatus

NOT_REACHED = "only when reached"
register_field_messages({NOT_REACHED: "仅在接通时填写"})


class FollowUpListArgs(PageArgs):
    status = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf([s.value for s in FollowUpStatus])
    )
    reason = ma.fields.String(load_default=None, validate=ma.validate.OneOf(list(FOLLOW_UP_REASONS)))
    overdue = QueryBoolean(
        load_default=None,
        metadata={"description": "true: pending past due; false: every other one"},
    )


class FollowUpCallIn(ma.Schema):
    reached = Boolean(required=True, metadata={"description": "Whether the call reached the resident"})
    satisfaction = Integer(
        load_default=None,
        validate=ma.validate.Range(1, 5),
        metadata={"description": "1–5, required when reached, refused when not"},
    )
    notes = Text(2000, load_default=None)

    @ma.validates_schema
    def _satisfaction(self, data, **_):
        if data.get("reached") and data.get("satisfaction") is None:
            raise ma.ValidationError("Missing data for required field.", "satisfaction")
        if data.get("reached") is False and data.get("satisfaction") is not None:
            raise ma.ValidationError(NOT_REACHED, "satisfaction")


class FollowUpGiveUpIn(ma.Schema):
    note = Text(1000, required=True)


class FollowUpOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    order_id = ma.fields.Integer(required=True)
    site_id = ma.fields.Integer(required=True, metadata={"description": "The serving station"})
    reason = ma.fields.String(required=True, metadata={"enum": list(FOLLOW_UP_REASONS)})
    status = ma.fields.String(required=True, metadata={"enum": [s.value for s in FollowUpStatus]})
    due_at = ma.fields.AwareDateTime(required=True)
    attempts = ma.fields.Integer(required=True, metadata={"description": "Calls made"})
    reached = ma.fields.Boolean(allow_none=True, metadata={"description": "The last call's outcome"})
    satisfaction = ma.fields.Integer(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    done_by_id = ma.fields.Integer(allow_none=True)
    done_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class FollowUpOrderOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    start_at = ma.fields.AwareDateTime(required=True, attribute="window_start")
    end_at = ma.fields.AwareDateTime(required=True, attribute="window_end")
    rating_state = ma.fields.String(allow_none=True)
    rating_stars = ma.fields.Integer(allow_none=True)
    rating_comment = ma.fields.String(allow_none=True)
    rated_at = ma.fields.AwareDateTime(allow_none=True)


class FollowUpResidentOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    phone = ma.fields.String(required=True, metadata={"description": "As the order's detail shows it"})


class FollowUpEventOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    action = ma.fields.String(required=True)
    from_status = ma.fields.String(allow_none=True, data_key="from")
    to_status = ma.fields.String(required=True, data_key="to")
    actor_id = ma.fields.Integer(allow_none=True, metadata={"description": "null: created by the system"})
    note = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True, attribute="at")


class FollowUpDetail(FollowUpOut):
    """The task at the top level, with its order, the resident and the timeline."""

    order = ma.fields.Nested(FollowUpOrderOut, required=True)
    resident = ma.fields.Nested(FollowUpResidentOut, required=True)
    timeline = ma.fields.List(ma.fields.Nested(FollowUpEventOut), required=True)

    @ma.pre_dump
    def _flatten(self, data, **_):
        follow_up = data["follow_up"]
        flat = {field: getattr(follow_up, field) for field in FollowUpOut._declared_fields}
        return {**flat, "order": data["order"], "resident": data["resident"], "timeline": data["timeline"]}
