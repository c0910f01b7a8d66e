"""Request and response shapes of the sites domain (input and output schemas are separate)."""

from __future__ import annotations

import zoneinfo

import marshmallow as ma

from volunteer_app.errors import language
from volunteer_app.field_messages import register_field_messages
from volunteer_app.pagination import PageArgs
from volunteer_app.schemas import (
    WGS84_OUT,
    Boolean,
    Float,
    Id,
    Integer,
    Lat,
    Lng,
    PatchSchema,
    Positioned,
    QueryBoolean,
    SearchText,
    Str,
    Text,
    UniqueList,
)
from volunteer_app.sites.models import RANKING_COMPONENTS, SITE_KINDS

NO_WEIGHT = "at least one weight must be above 0"
register_field_messages({NO_WEIGHT: "至少一个权重须大于 0"})
CODE = ma.validate.Regexp(r"^[A-Za-z0-9_\-]+$", error="letters, digits, _ and - only")


class SiteOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    code = ma.fields.String(allow_none=True)
    parent_id = ma.fields.Integer(allow_none=True)
    address = ma.fields.String(allow_none=True)
    lat = ma.fields.Float(allow_none=True, metadata=WGS84_OUT)
    lng = ma.fields.Float(allow_none=True, metadata=WGS84_OUT)
    created_at = ma.fields.AwareDateTime(required=True)


class SiteIn(Positioned):
    kind = Str(required=True, validate=ma.validate.OneOf(SITE_KINDS))
    name = Text(80, required=True)
    parent_id = Id(load_default=None, allow_none=True)
    code = Str(load_default=None, allow_none=True, validate=[ma.validate.Length(1, 32), CODE])
    address = Text(200, load_default=None, allow_none=True)
    lat = Lat(load_default=None, allow_none=True)
    lng = Lng(load_default=None, allow_none=True)


class SiteListArgs(PageArgs):
    parent_id = Id(strict=False, load_default=None)  # query strings carry text
    kind = ma.fields.String(load_default=None, validate=ma.validate.OneOf(SITE_KINDS))
    q = SearchText(40, load_default=None)


def _timezone(value: str) -> None:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ma.ValidationError("unknown time zone") from exc


def _minutes(max_value: int, **kwargs) -> ma.fields.Integer:
    return Integer(validate=ma.validate.Range(min=0, max=max_value), **kwargs)


# Who dispatches a station's orders: the station itself, or the center above it (orders/intake.py).
DISPATCH_LEVELS = ("station", "center")


def _every_level(value: dict) -> None:
    """supervision_due_days names all three levels. A field validator, not @validates: that one also
    sees what is left once a refused level's value is dropped, and said a named level was missing."""
    if set(value) != {"red", "yellow", "green"}:
        raise ma.ValidationError("name all three levels: red, yellow, green")


class SettingsValues(PatchSchema):
    """Every setting a site can override; `null` in a PATCH removes the override."""

    timezone = Str(validate=[ma.validate.Length(1, 64), _timezone], allow_none=True)
    dispatch_level = Str(validate=ma.validate.OneOf(DISPATCH_LEVELS), allow_none=True)
    dispatch_within_minutes = _minutes(60 * 24 * 30, allow_none=True)
    grab_window_minutes = _minutes(60 * 24 * 30, allow_none=True)
    checkin_grace_minutes = _minutes(60 * 24, allow_none=True)
    checkin_radius_m = Integer(validate=ma.validate.Range(10, 50_000), allow_none=True)
    rating_window_hours = _minutes(24 * 90, allow_none=True)
    audit_window_hours = _minutes(24 * 90, allow_none=True)
    grab_max_open = Integer(validate=ma.validate.Range(1, 100), allow_none=True)
    redemption_ttl_hours = Integer(validate=ma.validate.Range(1, 24 * 365), allow_none=True)
    gift_max_minutes = Integer(validate=ma.validate.Range(1, 100_000), allow_none=True)
    gift_month_max_minutes = Integer(validate=ma.validate.Range(1, 1_000_000), allow_none=True)
    star_thresholds_hours = UniqueList(
        Integer(validate=ma.validate.Range(1, 1_000_000)),
        validate=ma.validate.Length(1, 10),
        allow_none=True,
    )

    ranking_weights = ma.fields.Dict(
        keys=Str(validate=ma.validate.OneOf(RANKING_COMPONENTS)),
        values=Float(validate=ma.validate.Range(min=0, max=1000), allow_nan=False),
        allow_none=True,
        metadata={
            "description": "考核 weights: component → a number ≥ 0, at least one above 0; replaces the "
            "inherited table whole (a component not named weighs 0)"
        },
    )
    ranking_board_size = Integer(
        validate=ma.validate.Range(1, 20),
        allow_none=True,
        metadata={"description": "红黑榜: how many child sites head the ranking and close it"},
    )
    pool_push_radius_m = Integer(
        validate=ma.validate.Range(100, 50_000),
        allow_none=True,
        metadata={"description": "a new grab pool is announced to volunteers whose station is this near"},
    )
    pool_push_max = Integer(
        validate=ma.validate.Range(0, 500),
        allow_none=True,
        metadata={"description": "at most this many volunteers hear of a new pool (0: none)"},
    )

    supervision_due_days = ma.fields.Dict(
        keys=Str(validate=ma.validate.OneOf(("red", "yellow", "green"))),
        values=Integer(validate=ma.validate.Range(1, 365)),
        validate=_every_level,
        allow_none=True,
        metadata={"description": "督办: days to act on an item, by level (red, yellow, green); all three"},
    )
    complaint_window_days = Integer(validate=ma.validate.Range(1, 365), allow_none=True)
    complaint_answer_hours = Integer(validate=ma.validate.Range(1, 24 * 90), allow_none=True)
    appeal_window_days = Integer(validate=ma.validate.Range(1, 365), allow_none=True)
    appeal_decide_hours = Integer(validate=ma.validate.Range(1, 24 * 90), allow_none=True)
    follow_up_sample_percent = Integer(
        validate=ma.validate.Range(0, 100),
        allow_none=True,
        metadata={"description": "回访: percent of the closed orders rated 3–5 stars that are called back"},
    )
    follow_up_due_hours = Integer(validate=ma.validate.Range(1, 24 * 90), allow_none=True)

    @ma.validates("ranking_weights")
    def _some_weight(self, value, **_kwargs):
        if value is not None and not any(weight > 0 for weight in value.values()):
            raise ma.ValidationError(NO_WEIGHT)

    @ma.validates("star_thresholds_hours")
    def _ascending(self, value, **_kwargs):
        if value is not None and value != sorted(set(value)):
            raise ma.ValidationError("thresholds must be strictly ascending")


class SettingRef(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)


class SettingsOut(ma.Schema):
    site_id = ma.fields.Integer(required=True)
    overrides = ma.fields.Dict(required=True)
    effective = ma.fields.Nested(SettingsValues, required=True)
    sources = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Nested(SettingRef, allow_none=True),
        required=True,
        metadata={
            "description": "per setting, the site whose override gives the effective value (this site "
            "or the nearest above it that sets it); null: the deployment default"
        },
    )


class TeamListArgs(PageArgs):
    subtree = QueryBoolean(
        load_default=False,
        metadata={"description": "also the teams of every site below this one"},
    )


class TeamIn(ma.Schema):
    name = Text(80, required=True)
    parent_id = Id(load_default=None, allow_none=True)
    description = Text(500, load_default=None, allow_none=True)


class TeamOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    site_id = ma.fields.Integer(required=True)
    parent_id = ma.fields.Integer(allow_none=True)
    name = ma.fields.String(required=True)
    description = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)


class CategoryOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    code = ma.fields.String(required=True)
    # In the request's language (Accept-Language), for display.
    name = ma.fields.Method("_localized", required=True, metadata={"type": "string"})
    name_zh = ma.fields.String(required=True)
    name_en = ma.fields.String(required=True)
    sort = ma.fields.Integer(required=True)
    active = ma.fields.Boolean(required=True)

    def _localized(self, category) -> str:
        return category.name_en if language() == "en" else category.name_zh


class CategoryIn(ma.Schema):
    code = Str(required=True, validate=[ma.validate.Length(1, 40), CODE])
    name_zh = Text(40, required=True)
    name_en = Text(80, required=True)
    sort = Integer(load_default=0, validate=ma.validate.Range(-10_000, 10_000))


class CategoryPatch(PatchSchema):
    name_zh = Text(40)
    name_en = Text(80)
    sort = Integer(validate=ma.validate.Range(-10_000, 10_000))
    active = Boolean()


class CategoryListArgs(PageArgs):
    include_inactive = QueryBoolean(load_default=False)
