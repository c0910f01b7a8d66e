"""Request and response shapes of notifications and devices."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.field_messages import register_field_messages
from volunteer_app.notifications.messages import SUBJECT_TYPES
from volunteer_app.notifications.models import PLATFORMS
from volunteer_app.pagination import MAX_LIMIT, PageArgs
from volunteer_app.schemas import Boolean, Id, QueryBoolean, Str, Text, UniqueList


class NotificationListArgs(PageArgs):
    unread = QueryBoolean(load_default=False, metadata={"description": "Only the unread ones"})


class NotificationOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"description": "Stable: branch on it"})
    title = ma.fields.String(required=True, metadata={"description": "The text, in the Accept-Language"})
    params = ma.fields.Dict(required=True, metadata={"description": "What the text was made from"})
    order_id = ma.fields.Integer(
        allow_none=True, required=True, metadata={"description": "The order's id when the subject is one"}
    )
    subject_type = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={
            "enum": list(SUBJECT_TYPES),
            "description": "What it is about, to open it: "
            + "; ".join(f"{name}: {what}" for name, what in SUBJECT_TYPES.items())
            + " (null only on notifications older than this field)",
        },
    )
    subject_id = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={"description": "Its id, as a string (an order's id, a month YYYY-MM, a book number)"},
    )
    read_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    created_at = ma.fields.AwareDateTime(required=True)


class MarkReadIn(ma.Schema):
    """Either `ids` (of my notifications; others' are ignored) or `all: true`."""

    ids = UniqueList(Id(), load_default=None, validate=ma.validate.Length(min=1, max=MAX_LIMIT))
    all = Boolean(load_default=False)

    @ma.validates_schema
    def _one_way(self, data, **_kwargs):
        if (data.get("ids") is not None) == bool(data.get("all")):
            raise ma.ValidationError("give ids, or all: true", "ids")


class MarkReadOut(ma.Schema):
    updated = ma.fields.Integer(required=True, metadata={"description": "How many were unread before"})


class DeviceIn(ma.Schema):
    platform = Str(required=True, validate=ma.validate.OneOf(PLATFORMS))
    token = Str(
        required=True,
        validate=[
            ma.validate.Length(min=1, max=255),
            ma.validate.Regexp(r"^[!-~]+$", error="printable ASCII without spaces"),
        ],
        metadata={"description": "The push token the platform gave the app"},
    )
    app_version = Text(32, load_default=None, allow_none=True)


class DeviceOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    platform = ma.fields.String(required=True, metadata={"enum": list(PLATFORMS)})
    app_version = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    last_seen_at = ma.fields.AwareDateTime(required=True)


# ---- WeChat: the caller's binding and subscription consents ------------------------------------------

KINDS_OR_RESULTS = "give kinds or results"
register_field_messages({KINDS_OR_RESULTS: "请提供 kinds 或 results"})


class WechatConsentIn(ma.Schema):
    kinds = UniqueList(
        Str(validate=ma.validate.Length(min=1, max=64)),
        load_default=list,
        validate=ma.validate.Length(max=50),
        metadata={"description": "Notification kinds the user allowed (one message each)"},
    )
    results = ma.fields.Dict(
        keys=Str(validate=ma.validate.Length(min=1, max=128)),
        values=Str(validate=ma.validate.Length(max=200)),
        load_default=dict,
        validate=ma.validate.Length(max=50),
        metadata={
            "description": "What wx.requestSubscribeMessage answered, as is: {templateId: accept | reject | "
            "ban | filter, errMsg: ...}; each accepted template counts one consent"
        },
    )

    @ma.validates_schema
    def _something(self, data, **_kwargs):
        if not data.get("kinds") and not data.get("results"):
            raise ma.ValidationError(KINDS_OR_RESULTS, "_schema")


class WechatSubscriptionOut(ma.Schema):
    kind = ma.fields.String(required=True)
    template_id = ma.fields.String(required=True)
    remaining = ma.fields.Integer(required=True, metadata={"description": "Messages of it still allowed"})


class WechatStatusOut(ma.Schema):
    bound = ma.fields.Boolean(required=True, metadata={"description": "A WeChat mini-program user is bound"})
    bound_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    subscriptions = ma.fields.List(
        ma.fields.Nested(WechatSubscriptionOut),
        required=True,
        metadata={"description": "Each kind WeChat can carry and the consents left (empty when not bound)"},
    )
