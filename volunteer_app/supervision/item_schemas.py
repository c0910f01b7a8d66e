"""Request and response shapes of 督办 items (supervision/item_views.py)."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.field_messages import register_field_messages
from volunteer_app.pagination import PageArgs
from volunteer_app.schemas import Id, Moment, QueryBoolean, Str, Text
from volunteer_app.supervision.common import NOTE_MAX
from volunteer_app.supervision.items import SIDES
from volunteer_app.supervision.models import ItemStatus, Level

ABOUT_KINDS_API = ("order", "activity", "figure")  # a complaint's item is raised by the complaint itself
NEEDS_ID = "required for an order or an activity"
NEEDS_REF = "required for a figure"
NOT_HERE = "not allowed for this kind"
register_field_messages(
    {NEEDS_ID: "订单或活动须提供 id", NEEDS_REF: "统计数字须提供 ref", NOT_HERE: "该类型不接受此字段"}
)


class AboutIn(ma.Schema):
    """What the item is about besides the site: an order or an activity of the acting site (by id), or
    a figure of the statistics (by ref, e.g. "expired_share:2026-11")."""

    kind = Str(required=True, validate=ma.validate.OneOf(ABOUT_KINDS_API))
    id = Id(load_default=None)
    ref = Text(100, load_default=None)

    @ma.validates_schema
    def _one_of(self, data, **_):
        errors = {}
        if data["kind"] == "figure":
            if data.get("ref") is None:
                errors["ref"] = [NEEDS_REF]
            if data.get("id") is not None:
                errors["id"] = [NOT_HERE]
        else:
            if data.get("id") is None:
                errors["id"] = [NEEDS_ID]
            if data.get("ref") is not None:
                errors["ref"] = [NOT_HERE]
        if errors:
            raise ma.ValidationError(errors)


class SupervisionItemIn(ma.Schema):
    """Raise a 督办 item against a site: without `due_at` it is due after the level's
    `supervision_due_days` of the raising site."""

    subject = Text(100, required=True)
    description = Text(2000, required=True)
    level = Str(required=True, validate=ma.validate.OneOf([lv.value for lv in Level]))
    due_at = Moment(load_default=None, metadata={"description": "in the future; default by the level"})
    about = ma.fields.Nested(AboutIn, load_default=None)


class SupervisionItemArgs(PageArgs):
    side = Str(
        load_default="acting",
        validate=ma.validate.OneOf(SIDES),
        metadata={
            "description": "acting: the items this site or a site below it must act on; raised: the "
            "items this site or a site below it raised"
        },
    )
    level = Str(load_default=None, validate=ma.validate.OneOf([lv.value for lv in Level]))
    status = Str(load_default=None, validate=ma.validate.OneOf([s.value for s in ItemStatus]))
    overdue = QueryBoolean(
        load_default=None, metadata={"description": "true: open past the deadline; false: all others"}
    )


class ItemNoteIn(ma.Schema):
    note = Text(NOTE_MAX, required=True)


class ItemReportIn(ma.Schema):
    result = Text(2000, required=True, metadata={"description": "what was done"})


class ItemCloseIn(ma.Schema):
    note = Text(NOTE_MAX, load_default=None)


class ItemSendBackIn(ma.Schema):
    reason = Text(NOTE_MAX, required=True)
    due_at = Moment(
        load_default=None, metadata={"description": "in the future; default now + the level's days"}
    )


class ItemWithdrawIn(ma.Schema):
    reason = Text(NOTE_MAX, required=True)


class AboutOut(ma.Schema):
    kind = ma.fields.String(required=True)
    id = ma.fields.Integer(allow_none=True)
    ref = ma.fields.String(allow_none=True)


class SupervisionItemOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    site_id = ma.fields.Integer(required=True, metadata={"description": "the site that must act"})
    site_name = ma.fields.String(required=True)
    raised_site_id = ma.fields.Integer(required=True, metadata={"description": "the site that raised it"})
    raised_site_name = ma.fields.String(required=True)
    raised_by_id = ma.fields.Integer(required=True)
    subject = ma.fields.String(required=True)
    description = ma.fields.String(required=True)
    level = ma.fields.String(required=True, metadata={"enum": [lv.value for lv in Level]})
    status = ma.fields.String(required=True, metadata={"enum": [s.value for s in ItemStatus]})
    due_at = ma.fields.AwareDateTime(required=True)
    overdue = ma.fields.Boolean(required=True, metadata={"description": "open past its deadline"})
    escalated_at = ma.fields.AwareDateTime(
        allow_none=True, metadata={"description": "when the deadline job told the level above (late)"}
    )
    about = ma.fields.Nested(AboutOut, allow_none=True)
    result = ma.fields.String(allow_none=True, metadata={"description": "what was done (the report)"})
    reopened = ma.fields.Integer(required=True, metadata={"description": "times sent back"})
    reported_at = ma.fields.AwareDateTime(allow_none=True)
    closed_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    updated_at = ma.fields.AwareDateTime(required=True)


class ItemEventOut(ma.Schema):
    action = ma.fields.String(required=True)
    from_status = ma.fields.String(data_key="from", allow_none=True)
    to_status = ma.fields.String(data_key="to", required=True)
    actor_id = ma.fields.Integer(allow_none=True, metadata={"description": "none: the deadline job"})
    actor_name = ma.fields.String(allow_none=True)
    note = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)


class SupervisionItemDetail(SupervisionItemOut):
    raised_by_name = ma.fields.String(allow_none=True)
    events = ma.fields.List(
        ma.fields.Nested(ItemEventOut), required=True, metadata={"description": "oldest first"}
    )
