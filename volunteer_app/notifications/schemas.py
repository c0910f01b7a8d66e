"""Request and response shapes of notifications and devices."""

from __future__ import annotations

import re

import marshmallow as ma

from volunteer_app.field_messages import register_field_messages
from volunteer_app.notifications.channels import CHANNEL_NAMES
from volunteer_app.notifications.messages import SUBJECT_TYPES
from volunteer_app.notifications.models import PLATFORMS, OutboxStatus
from volunteer_app.pagination import MAX_LIMIT, PageArgs
from volunteer_app.schemas import Boolean, Id, PatchSchema, QueryBoolean, Str, Text, UniqueList


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


# ---- my notification settings ---------------------------------------------------------------------------

CHOOSABLE_CHANNELS = ("push", "sms", "wechat")
DEFAULT_CLOCK = "local time HH:MM; null: the deployment's"
LOCAL_TIME = "a local time HH:MM"
WINDOW_EMPTY = "start and end must differ"
register_field_messages(
    {
        LOCAL_TIME: "须为当地时间 HH:MM（00:00–23:59）",
        WINDOW_EMPTY: "开始与结束时间不能相同",
        # preferences.update_settings: "<kind>: cannot turn off <channels>"
        re.compile(r"(.+): cannot turn off (.+)"): "{0}：不能关闭 {1}",
    }
)
CLOCK = ma.validate.Regexp(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", error=LOCAL_TIME)


class QuietHoursIn(ma.Schema):
    enabled = Boolean(required=True)
    start = Str(
        load_default=None, allow_none=True, validate=CLOCK, metadata={"description": "HH:MM; null: default"}
    )
    end = Str(
        load_default=None, allow_none=True, validate=CLOCK, metadata={"description": "HH:MM; null: default"}
    )

    @ma.validates_schema
    def _a_window(self, data, **_kwargs):
        if data.get("start") is not None and data.get("start") == data.get("end"):
            raise ma.ValidationError(WINDOW_EMPTY, "end")


def _opt_out(**kwargs) -> ma.fields.Dict:
    return ma.fields.Dict(
        keys=Str(validate=ma.validate.Length(1, 40)),
        values=UniqueList(
            Str(validate=ma.validate.OneOf(CHOOSABLE_CHANNELS)), validate=ma.validate.Length(max=3)
        ),
        validate=ma.validate.Length(max=50),
        metadata={"description": "kind → the channels not to use for it ([] turns them all back on)"},
        **kwargs,
    )


class NotificationSettingsIn(ma.Schema):
    """PUT: both, whole."""

    opt_out = _opt_out(required=True)
    quiet_hours = ma.fields.Nested(QuietHoursIn, required=True)


class NotificationSettingsPatch(PatchSchema):
    """PATCH: the kinds named in `opt_out` are set, the others kept; `quiet_hours` replaced if given."""

    opt_out = _opt_out()
    quiet_hours = ma.fields.Nested(QuietHoursIn)


class QuietHoursOut(ma.Schema):
    enabled = ma.fields.Boolean(required=True)
    start = ma.fields.String(required=True, metadata={"description": "local time HH:MM"})
    end = ma.fields.String(required=True, metadata={"description": "local time HH:MM"})
    timezone = ma.fields.String(required=True, metadata={"description": "my home site's time zone"})


class ChoosableKind(ma.Schema):
    kind = ma.fields.String(required=True)
    channels = ma.fields.List(ma.fields.String(metadata={"enum": list(CHOOSABLE_CHANNELS)}), required=True)


class NotificationSettingsOut(ma.Schema):
    opt_out = ma.fields.Dict(
        keys=ma.fields.String(), values=ma.fields.List(ma.fields.String()), required=True
    )
    quiet_hours = ma.fields.Nested(QuietHoursOut, required=True)
    kinds = ma.fields.List(
        ma.fields.Nested(ChoosableKind),
        required=True,
        metadata={
            "description": "the kinds I may turn channels off for, with those channels (security "
            "alerts are not among them; they always come)"
        },
    )


# ---- deliveries, for admins ---------------------------------------------------------------------------


class DeliveryListArgs(PageArgs):
    user_id = Id(strict=False, load_default=None)
    channel = Str(load_default=None, validate=ma.validate.OneOf(CHANNEL_NAMES))
    status = Str(load_default=None, validate=ma.validate.OneOf([s.value for s in OutboxStatus]))


class DeliveryOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    notification_id = ma.fields.Integer(required=True)
    user_id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    channel = ma.fields.String(required=True, metadata={"enum": list(CHANNEL_NAMES)})
    target = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "masked: a phone's last four digits, a token's or openid's first characters"
        },
    )
    status = ma.fields.String(required=True, metadata={"enum": [s.value for s in OutboxStatus]})
    attempts = ma.fields.Integer(required=True)
    last_error = ma.fields.String(
        allow_none=True,
        required=True,
        metadata={
            "description": "the provider's code (jpush:1011, tencent:…, wechat:43101), timeout, "
            "device.gone, user.inactive, or cap (over the daily cap: skipped)"
        },
    )
    next_try_at = ma.fields.AwareDateTime(required=True)
    sent_at = ma.fields.AwareDateTime(allow_none=True, required=True)
    created_at = ma.fields.AwareDateTime(required=True)


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
