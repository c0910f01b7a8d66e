"""Request and response shapes of activities and service-day rules."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.activities import rules
from volunteer_app.activities.states import ActivityStatus
from volunteer_app.attendance.schemas import AssignmentOut
from volunteer_app.pagination import PageArgs
from volunteer_app.schemas import (
    MAX_WORK_SKILLS,
    WGS84_OUT,
    Boolean,
    Id,
    Integer,
    Lat,
    Lng,
    Moment,
    Positioned,
    QueryBoolean,
    Skills,
    Str,
    Text,
)
from volunteer_app.timebank.service import hours

MAX_SLOTS = 500


def Slots(**kwargs) -> ma.fields.Integer:
    return Integer(validate=ma.validate.Range(1, MAX_SLOTS), **kwargs)


def Waitlist(**kwargs) -> ma.fields.Integer:
    return Integer(load_default=0, validate=ma.validate.Range(0, MAX_SLOTS), **kwargs)


class SiteActivityArgs(PageArgs):
    when = ma.fields.String(
        load_default="upcoming",
        validate=ma.validate.OneOf(["upcoming", "past", "to_audit"]),
        metadata={
            "description": "upcoming: not ended yet, by start; past: ended, the latest first; to_audit: "
            "ended and still open (waiting for the audit), the oldest first. past and to_audit are for "
            "the site's managers"
        },
    )
    subtree = QueryBoolean(
        load_default=False, metadata={"description": "Also the activities of the sites below this one"}
    )


class SignupArgs(PageArgs):
    waitlist = QueryBoolean(
        load_default=None,
        metadata={
            "description": "true: only the waitlist, in the order it moves up; false: all but the "
            "waitlist. Default: every sign-up in sign-up order"
        },
    )


class ActivityIn(Positioned):
    """Publish an activity: where, when, how many places, and how long a waitlist (0: none)."""

    category_id = Id(required=True)
    title = Text(60, required=True)
    theme = Text(60, load_default=None)
    description = Text(1000, load_default=None)
    address = Text(200, required=True)
    lat = Lat(required=True)
    lng = Lng(required=True)
    start_at = Moment(required=True)
    end_at = Moment(required=True)
    slots = Slots(required=True)
    waitlist_max = Waitlist()
    skills = Skills(
        MAX_WORK_SKILLS,
        metadata={"description": "skills it needs (a volunteer with one of them fits); default none"},
    )


class ActivityOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    site_id = ma.fields.Integer(required=True)
    category_id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    theme = ma.fields.String(allow_none=True)
    description = ma.fields.String(allow_none=True)
    skills = ma.fields.List(ma.fields.String(), required=True, metadata={"description": "skills it needs"})
    address = ma.fields.String(required=True)
    lat = ma.fields.Float(required=True, metadata=WGS84_OUT)
    lng = ma.fields.Float(required=True, metadata=WGS84_OUT)
    start_at = ma.fields.AwareDateTime(required=True)
    end_at = ma.fields.AwareDateTime(required=True)
    slots = ma.fields.Integer(required=True)
    taken = ma.fields.Integer(required=True)
    waitlist_max = ma.fields.Integer(required=True)
    waiting = ma.fields.Integer(required=True)
    status = ma.fields.String(required=True, metadata={"enum": [s.value for s in ActivityStatus]})
    rule_id = ma.fields.Integer(allow_none=True)
    local_date = ma.fields.Date(allow_none=True)
    cancel_reason = ma.fields.String(allow_none=True)
    closed_at = ma.fields.AwareDateTime(allow_none=True)
    audit_note = ma.fields.String(allow_none=True)


class ActivityDetail(ActivityOut):
    slots_left = ma.fields.Integer(required=True)
    waitlist_left = ma.fields.Integer(required=True)
    signup_open = ma.fields.Boolean(required=True)
    my_assignment = ma.fields.Nested(AssignmentOut, allow_none=True)


class SignupOut(AssignmentOut):
    """A sign-up as its managers see it: the assignment and the volunteer's name."""

    volunteer_name = ma.fields.String(allow_none=True)

    def _hours(self, obj):
        return None if obj["minutes_confirmed"] is None else hours(obj["minutes_confirmed"])


# ---- service-day rules -----------------------------------------------------------------------------


class SpecIn(ma.Schema):
    """When a service day falls (see the kinds); checked by activities/rules.py, errors per field."""

    class Meta:
        unknown = ma.INCLUDE  # the kind's own fields; rules.check names any that are wrong or unknown

    kind = Str(required=True, validate=ma.validate.OneOf(rules.KINDS))

    @ma.post_load(pass_original=True)
    def _whole(self, data, original, **_):
        errors = rules.check(original)
        if errors:
            raise ma.ValidationError(errors)
        return rules.normalize(original)


SPEC_HELP = (
    "kind days_of_month {days: [5, 15, 25] (-1: last day)}; nth_weekday {nth: 1..5 or -1, weekday: "
    "0=Mon..6=Sun}; nth_week {nth, weekdays: [..]} (calendar week of the month, Monday first); annual "
    "{dates: ['03-05', '12-05']}. Each with part_of_day morning|afternoon|evening|full_day and optional "
    "start_time/end_time 'HH:MM'."
)


class RuleIn(Positioned):
    spec = ma.fields.Nested(SpecIn, required=True, metadata={"description": SPEC_HELP})
    theme = Text(60, required=True)
    title = Text(60, required=True)
    category_id = Id(required=True)
    description = Text(1000, load_default=None)
    address = Text(200, required=True)
    lat = Lat(required=True)
    lng = Lng(required=True)
    slots = Slots(required=True)
    waitlist_max = Waitlist()


class RulePatch(ma.Schema):
    active = Boolean(required=True, metadata={"description": "false pauses the rule"})


class PreviewArgs(ma.Schema):
    """A rule's spec as query parameters (lists repeat: ?days=5&days=15)."""

    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(rules.KINDS))
    days = ma.fields.List(ma.fields.Integer(), load_default=None)
    nth = ma.fields.Integer(load_default=None)
    weekday = ma.fields.Integer(load_default=None)
    weekdays = ma.fields.List(ma.fields.Integer(), load_default=None)
    dates = ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=5)), load_default=None)
    part_of_day = ma.fields.String(load_default=None)
    start_time = ma.fields.String(load_default=None, validate=ma.validate.Length(max=5))
    end_time = ma.fields.String(load_default=None, validate=ma.validate.Length(max=5))
    count = ma.fields.Integer(load_default=5, validate=ma.validate.Range(1, 24))


class OccurrenceOut(ma.Schema):
    date = ma.fields.Date(required=True)
    start_at = ma.fields.AwareDateTime(required=True)
    end_at = ma.fields.AwareDateTime(required=True)


class PreviewOut(ma.Schema):
    description = ma.fields.String(required=True)
    description_en = ma.fields.String(required=True)
    timezone = ma.fields.String(required=True)
    next_occurrences = ma.fields.List(ma.fields.Nested(OccurrenceOut), required=True)


class RuleOut(PreviewOut):
    id = ma.fields.Integer(required=True)
    site_id = ma.fields.Integer(required=True)
    spec = ma.fields.Dict(required=True)
    theme = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    category_id = ma.fields.Integer(required=True)
    description = ma.fields.String(allow_none=True)
    address = ma.fields.String(required=True)
    lat = ma.fields.Float(required=True, metadata=WGS84_OUT)
    lng = ma.fields.Float(required=True, metadata=WGS84_OUT)
    slots = ma.fields.Integer(required=True)
    waitlist_max = ma.fields.Integer(required=True)
    active = ma.fields.Boolean(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
