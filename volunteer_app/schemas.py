"""Shared schema pieces: strict JSON field types, bounded text, ids, phones and times.

JSON bodies are typed strictly: a boolean is `true` or `false`, a number is a JSON number (not a
string, not a boolean), a date is `YYYY-MM-DD` and a time RFC 3339 with an offset, and text is
stripped of surrounding blanks (whitespace and invisible format characters) and refused if nothing
is left. Query strings carry text by nature: their fields parse (`QueryBoolean`: true/false/1/0 only).
Unknown keys are refused by every schema (marshmallow's default, RAISE).

The English messages below are constants so the caller's language can be looked up for them.
"""

from __future__ import annotations

import re
import unicodedata

import marshmallow as ma

from volunteer_app import geo
from volunteer_app.errors import (
    Unprocessable,
    register_field_code,
    register_messages,
)
from volunteer_app.field_messages import register_field_messages
from volunteer_app.phones import normalize_phone

MAX_ID = 2**63 - 1

# Field-level validation messages (English; translations are keyed by these exact strings).
BLANK = "must not be blank"
UNSTORABLE = "contains characters that cannot be stored"
NOT_BOOLEAN = "must be true or false"
NOT_INTEGER = "must be an integer (a JSON number)"
NOT_NUMBER = "must be a number (a JSON number)"
NOT_STRING = "must be a string"
NOT_DATE = "must be a date as YYYY-MM-DD"
NOT_MOMENT = "must be a date and time with an offset (RFC 3339, e.g. 2026-05-01T09:00:00+08:00)"
YEAR_OUT_OF_RANGE = "year out of range"
INVALID_PHONE = "invalid phone number"
NOTHING_TO_CHANGE = "give at least one field to change"
NESTED_TOO_DEEPLY = "nested too deeply"
NOT_JSON = "the body must be JSON (Content-Type: application/json)"
AUDIT_UNNAMED = "name every checked-out assignment, or give confirm_computed: true"
REPEATED = "repeats an earlier item"
BOTH_OR_NEITHER = "lat and lng go together"

register_messages({"phone.invalid": ("手机号格式不正确", "The phone number is not valid")})
register_field_code(INVALID_PHONE, "phone.invalid")

register_field_messages(
    {
        BLANK: "不能为空",
        BOTH_OR_NEITHER: "lat 与 lng 须同时提供",
        UNSTORABLE: "含有无法保存的字符",
        NOT_BOOLEAN: "必须是 true 或 false",
        NOT_INTEGER: "必须是整数（JSON 数字）",
        NOT_NUMBER: "必须是数字（JSON 数字）",
        NOT_STRING: "必须是字符串",
        NOT_DATE: "必须是 YYYY-MM-DD 格式的日期",
        NOT_MOMENT: "必须是带时区偏移的日期时间（RFC 3339，如 2026-05-01T09:00:00+08:00）",
        YEAR_OUT_OF_RANGE: "年份超出范围",
        INVALID_PHONE: "手机号无效",
        NOTHING_TO_CHANGE: "请至少提供一个要修改的字段",
        NESTED_TOO_DEEPLY: "嵌套层级过深",
        NOT_JSON: "请求体必须是 JSON（Content-Type: application/json）",
        AUDIT_UNNAMED: "请逐一列出已签退的分配，或传入 confirm_computed: true 确认按系统计算的时长",
        REPEATED: "与前面的项重复",
    }
)


# ---- text --------------------------------------------------------------------------------------------

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
STORABLE_PATTERN = "^[^\\u0000]*$"  # the OpenAPI pattern of Text: no NUL (surrogates cannot be sent as UTF-8)
# Characters that show nothing although they are not whitespace to str.strip(): fillers and blanks
# that are letters or marks to Unicode (Hangul fillers, braille blank, Khmer inherent vowels, Mongolian
# and other variation selectors, the combining grapheme joiner).
_INVISIBLE_EXTRA = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u180f\u2800\u3164\uffa0"
    + "".join(chr(c) for c in range(0xFE00, 0xFE10))
)
_TAGS = range(0xE0000, 0xE0080)  # emoji flag tags: kept at the end of a flag, but blank alone


def _strippable(ch: str) -> bool:
    """Whitespace, controls and format characters (U+200B, U+200C, U+200D, U+2060, U+FEFF, bidi marks
    and the like), which may surround text unseen. Tags stay (they end emoji flags)."""
    if ch.isspace():
        return True
    category = unicodedata.category(ch)
    return category in ("Cc", "Zs", "Zl", "Zp") or (category == "Cf" and ord(ch) not in _TAGS)


def _invisible(ch: str) -> bool:
    return _strippable(ch) or ch in _INVISIBLE_EXTRA or ord(ch) in _TAGS


def strip_blank(value: str) -> str:
    """The text without surrounding blanks; "" if it shows nothing at all."""
    start, end = 0, len(value)
    while start < end and _strippable(value[start]):
        start += 1
    while end > start and _strippable(value[end - 1]):
        end -= 1
    text = value[start:end]
    return "" if all(_invisible(ch) for ch in text) else text


def storable(value: str) -> None:
    """Refuse NUL (PostgreSQL text cannot hold it) and lone surrogates (not encodable as UTF-8 for
    either database): stored, both would surface as a 500 instead of a 422 naming the field."""
    if _UNSTORABLE.search(value):
        raise ma.ValidationError(UNSTORABLE)


class Str(ma.fields.String):
    """A JSON string, nothing else (marshmallow's String already refuses other types)."""

    default_error_messages = {"invalid": NOT_STRING}


class Text(Str):
    """A bounded string of storable characters, stripped of surrounding blanks; blank is refused
    (required or optional: an optional field given as "   " is an error, not stored)."""

    default_error_messages = {"blank": BLANK}

    def __init__(self, max_length: int, min_length: int = 1, *, validate=None, **kwargs):
        validators = [ma.validate.Length(min=min_length, max=max_length), storable]
        if validate is not None:
            validators += validate if isinstance(validate, (list, tuple)) else [validate]
        # The document says what storable means (a NUL is refused wherever it is: schemathesis found
        # `q` with a NUL refused although the document allowed any string).
        kwargs["metadata"] = {"pattern": STORABLE_PATTERN, **kwargs.get("metadata", {})}
        super().__init__(validate=validators, **kwargs)
        self.at_most = ma.validate.Length(max=max_length)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        # Before stripping: a NUL is refused wherever it is, not quietly cut off, and text longer than
        # the documented maxLength is refused as sent, even if what stripping leaves would fit.
        storable(raw)
        self.at_most(raw)
        return strip_blank(raw) or self._blank()

    def _blank(self):
        """What text that shows nothing gives: an error (SearchText: nothing to search for)."""
        raise self.make_error("blank")


class SearchText(Text):
    """A search box's text (a query parameter): as Text, but empty, or showing nothing (spaces, a
    control character, a zero-width space), it searches for nothing: the list comes unfiltered, as
    without it. A search box sends what was typed; the document allows it (schemathesis sent `\x95`,
    which Text refused as blank although its pattern allowed it)."""

    def __init__(self, max_length: int, **kwargs):
        super().__init__(max_length, min_length=0, **kwargs)

    def _validate(self, value) -> None:
        if value is not None:  # nothing to search for: no length to check
            super()._validate(value)

    def _blank(self) -> None:
        return None


class Password(Str):
    """A secret, taken exactly as typed (never stripped: spaces may be part of it); a new one that
    shows nothing is refused."""

    default_error_messages = {"blank": BLANK}

    def __init__(self, max_length: int, min_length: int = 1, *, new: bool = False, **kwargs):
        self.new = new
        super().__init__(validate=[ma.validate.Length(min=min_length, max=max_length), storable], **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if self.new and not strip_blank(text):
            raise self.make_error("blank")
        return text


class Phone(Str):
    """A phone number, normalised the one way registration does (phones.normalize_phone):
    E.164 of a mainland or international mobile; anything else is refused here, naming the field."""

    default_error_messages = {"phone": INVALID_PHONE}

    def __init__(self, **kwargs):
        kwargs.setdefault("metadata", {"description": "Mainland 11-digit or E.164", "example": "13800138000"})
        self.length = ma.validate.Length(min=5, max=20)
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        raw = super()._deserialize(value, attr, data, **kwargs)
        self.length(raw)
        storable(raw)
        phone = normalize_phone(raw)
        if phone is None:
            raise self.make_error("phone")
        return phone


# ---- numbers and booleans ------------------------------------------------------------------------------


class Boolean(ma.fields.Boolean):
    """JSON true or false only: "yes", "true", 1 and 0 are refused, not read as booleans."""

    default_error_messages = {"invalid": NOT_BOOLEAN}

    def _deserialize(self, value, attr, data, **kwargs) -> bool:
        if value is not True and value is not False:
            raise self.make_error("invalid")
        return value


class QueryBoolean(ma.fields.Boolean):
    """A boolean in a query string: true/false or 1/0, nothing else."""

    default_error_messages = {"invalid": NOT_BOOLEAN}

    def __init__(self, **kwargs):
        super().__init__(truthy={"true", "1"}, falsy={"false", "0"}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> bool:
        if not isinstance(value, str):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class Integer(ma.fields.Integer):
    """A JSON integer: not a string, not a boolean, not 1.0."""

    default_error_messages = {"invalid": NOT_INTEGER}

    def __init__(self, **kwargs):
        kwargs["strict"] = True
        super().__init__(**kwargs)


class Float(ma.fields.Float):
    """A JSON number (integer or not): not a string, not a boolean; never NaN or infinite."""

    default_error_messages = {"invalid": NOT_NUMBER}

    def _validated(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


def Id(*, strict: bool = True, **kwargs) -> ma.fields.Integer:
    """A positive 64-bit id; strict (a JSON number) unless it comes from a query string (strict=False)."""
    field = Integer if strict else ma.fields.Integer
    return field(validate=ma.validate.Range(min=1, max=MAX_ID), **kwargs)


def _degrees(field: type[ma.fields.Float], limit: int, **kwargs) -> ma.fields.Float:
    return field(validate=ma.validate.Range(min=-limit, max=limit), allow_nan=False, **kwargs)


def Lat(**kwargs) -> Float:
    return _degrees(Float, 90, **kwargs)


def Lng(**kwargs) -> Float:
    return _degrees(Float, 180, **kwargs)


def QueryLat(**kwargs) -> ma.fields.Float:
    """A latitude in a query string (text by nature: parsed, not strict)."""
    return _degrees(ma.fields.Float, 90, **kwargs)


def QueryLng(**kwargs) -> ma.fields.Float:
    return _degrees(ma.fields.Float, 180, **kwargs)


COORD_SYSTEM_HELP = (
    "The system of `lat`/`lng`: wgs84 (GPS; the default, what clients sent before this field existed), "
    "gcj02 (mainland maps: AMap, Tencent, WeChat wx.getLocation with type gcj02) or bd09 (Baidu). "
    "Converted to WGS-84, the one system stored and returned."
)


WGS84_OUT = {"description": "WGS-84 (convert for a GCJ-02 or BD-09 map)"}


class Positioned(ma.Schema):
    """A schema carrying `lat`/`lng` with the system they are in (`coord_system`): after loading, the
    point is WGS-84 whatever the phone's map used, and `coord_system` is gone, so services only ever
    see the stored system. Inherit it next to the schema's own base (query strings too). Without
    `coord_system` the point is WGS-84, as it always was; a point that is absent or null is left so."""

    coord_system = Str(
        validate=ma.validate.OneOf(geo.COORD_SYSTEMS),
        metadata={"description": COORD_SYSTEM_HELP, "default": geo.WGS84, "enum": list(geo.COORD_SYSTEMS)},
    )

    # Half a point cannot be converted (nor used): 422 on the missing half, not a stored lone lat. A
    # schema that answers half a point its own way turns this off (registration: no location given).
    refuse_half_a_point = True

    @ma.validates_schema
    def _a_whole_point(self, data, **_kwargs):
        if self.refuse_half_a_point and (data.get("lat") is None) != (data.get("lng") is None):
            raise ma.ValidationError(BOTH_OR_NEITHER, "lat" if data.get("lat") is None else "lng")

    @ma.post_load
    def _to_wgs84(self, data, **_kwargs):
        system = data.pop("coord_system", geo.WGS84)
        lat, lng = data.get("lat"), data.get("lng")
        if lat is not None and lng is not None:
            data["lat"], data["lng"] = geo.to_wgs84(lat, lng, system)
        return data


# ---- dates and times -----------------------------------------------------------------------------------

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_MOMENT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?([Zz]|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)


class Date(ma.fields.Date):
    """A calendar date as YYYY-MM-DD (ISO 8601 extended): "20260101" and "2026-W01-1" are refused."""

    default_error_messages = {"invalid": NOT_DATE, "format": NOT_DATE}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _DATE.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


class AwareDateTime(ma.fields.AwareDateTime):
    """An RFC 3339 date-time with its offset (Z or ±HH:MM); seconds may be left out."""

    default_error_messages = {"invalid": NOT_MOMENT, "format": NOT_MOMENT, "invalid_awareness": NOT_MOMENT}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _MOMENT.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value.upper(), attr, data, **kwargs)


def _plausible(value) -> None:
    # Far-off years would overflow converting to UTC (a 500); no service is booked for year 9999.
    if not 2000 <= value.year <= 2200:
        raise ma.ValidationError(YEAR_OUT_OF_RANGE)


def Moment(**kwargs) -> AwareDateTime:
    """An RFC 3339 time with an offset (a naive time is refused: whose clock would it be?)."""
    return AwareDateTime(validate=_plausible, **kwargs)


# ---- schemas -----------------------------------------------------------------------------------------


class Ok(ma.Schema):
    """A plain acknowledgement."""

    ok = ma.fields.Boolean(required=True)


class PatchSchema(ma.Schema):
    """A PATCH body: every field optional, but at least one given (an empty change would do nothing,
    and a command that does nothing is a 422, never a 200)."""

    @ma.validates_schema(pass_original=True)
    def _something(self, data, original, **_kwargs):
        if not data:
            raise Unprocessable(
                "validation.nothing_to_change", errors={"json": {"_schema": [NOTHING_TO_CHANGE]}}
            )


class UniqueList(ma.fields.List):
    """A list whose items must all differ (ids, codes): documented as `uniqueItems`; a repeat is 422."""

    def __init__(self, cls_or_instance, **kwargs):
        kwargs["metadata"] = {"uniqueItems": True, **kwargs.get("metadata", {})}
        super().__init__(cls_or_instance, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        items = super()._deserialize(value, attr, data, **kwargs)
        for index, item in enumerate(items):
            if item in items[:index]:
                raise ma.ValidationError({index: [REPEATED]})
        return items


# A skill (技能) as volunteers name theirs and orders and activities the ones they need: short free
# text, matched exactly (after Text's stripping). One definition for every place that takes one.
SKILL_LENGTH = 30
MAX_PROFILE_SKILLS = 20  # a volunteer's own list
MAX_WORK_SKILLS = 5  # an order's or activity's: "at least one of these", a few


def Skill(**kwargs) -> Text:
    """One skill: text of 1–30 characters (a query's `skill`, one item of a list)."""
    return Text(SKILL_LENGTH, **kwargs)


def SkillFilter(**kwargs) -> SearchText:
    """A query's `skill` (a search box's): as `Skill`, but empty or showing nothing it does not filter."""
    return SearchText(SKILL_LENGTH, **kwargs)


def Skills(max_items: int, **kwargs) -> UniqueList:
    """A list of skills, each a `Skill`, none repeated (422), at most `max_items`; default empty."""
    kwargs.setdefault("load_default", list)
    return UniqueList(Skill(), validate=ma.validate.Length(max=max_items), **kwargs)
