"""The statistics' query arguments and answers (docs/statistics.md defines every figure)."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.reports.figures import GROUPS
from volunteer_app.schemas import YEAR_OUT_OF_RANGE, Date

F, Int, N, S = ma.fields, ma.fields.Integer, ma.fields.Float, ma.fields.String


def _plausible(value) -> None:
    if not 2000 <= value.year <= 2200:
        raise ma.ValidationError(YEAR_OUT_OF_RANGE)


# The document says which years are taken (a date's own pattern would allow 0001–9999).
PLAUSIBLE_DATE = "^(2[01][0-9]{2}|2200)-[0-9]{2}-[0-9]{2}$"


class StatsArgs(ma.Schema):
    start = Date(
        data_key="from",
        load_default=None,
        validate=_plausible,
        metadata={
            "description": "first day (site's clock), years 2000–2200; default: the 1st of `to`'s month",
            "pattern": PLAUSIBLE_DATE,
        },
    )
    end = Date(
        data_key="to",
        load_default=None,
        validate=_plausible,
        metadata={
            "description": "last day, inclusive, years 2000–2200; default: today",
            "pattern": PLAUSIBLE_DATE,
        },
    )
    group = S(
        load_default="none",
        validate=ma.validate.OneOf(GROUPS),
        metadata={"description": "one breakdown: child sites one level down, categories, or a series"},
    )


class SessionsOut(ma.Schema):
    total, orders, activities = Int(), Int(), Int()


class OrdersOut(ma.Schema):
    submitted, rejected, cancelled, expired, escalated, closed = Int(), Int(), Int(), Int(), Int(), Int()
    other = Int(metadata={"description": "still open (submitted in the period, not yet at an end)"})


class TargetGroupOut(ma.Schema):
    code, name, submitted = S(), S(), Int()


class SatisfactionOut(ma.Schema):
    rated, unrated = Int(), Int()
    pending = Int(metadata={"description": "closed orders whose rating window is still open"})
    mean_stars = N(allow_none=True)
    share_4_5_stars = N(allow_none=True)
    rating_rate = N(allow_none=True, metadata={"description": "rated ÷ closed orders (sessions)"})


class ResponseTimeOut(ma.Schema):
    count = Int()
    median_within_minutes = Int(
        allow_none=True, metadata={"description": "upper edge of the bin holding the median"}
    )
    p90_within_minutes = Int(allow_none=True)
    beyond_7_days = Int()


class ResponseOut(ma.Schema):
    dispatch = F.Nested(ResponseTimeOut, metadata={"description": "submission → dispatch"})
    staffing = F.Nested(ResponseTimeOut, metadata={"description": "dispatch → fully staffed"})
    escalated_share = N(allow_none=True)
    expired_share = N(allow_none=True)


class VolunteersOut(ma.Schema):
    approved = Int(allow_none=True)
    new = Int(allow_none=True)
    active = Int(allow_none=True)
    no_shows = Int()
    no_show_rate = N(allow_none=True)


class TimebankOut(ma.Schema):
    books_issued = Int(allow_none=True)
    credited_minutes, adjusted_minutes, reversed_minutes = Int(), Int(), Int()
    redeemed_minutes, refunded_minutes, gifted_minutes = Int(), Int(), Int()


class FiguresOut(ma.Schema):
    sessions = F.Nested(SessionsOut)
    attendances = Int()
    service_minutes = Int()
    service_hours = N()
    people_served = Int(allow_none=True)
    orders = F.Nested(OrdersOut)
    target_groups = F.List(F.Nested(TargetGroupOut))
    satisfaction = F.Nested(SatisfactionOut)
    response = F.Nested(ResponseOut)
    volunteers = F.Nested(VolunteersOut)
    timebank = F.Nested(TimebankOut)


class StatsSite(ma.Schema):
    id, kind, name = Int(), S(), S()


class IdleStation(ma.Schema):
    id, name = Int(), S()


class CoverageOut(ma.Schema):
    stations, with_sessions = Int(), Int()
    share = N(allow_none=True)
    idle = F.List(F.Nested(IdleStation), metadata={"description": "stations with no session"})


class GroupOut(ma.Schema):
    key = S(metadata={"description": "site id, category id, or the first day of the bucket"})
    label = S()
    kind = S(metadata={"description": "child sites: the site's kind"})
    figures = F.Nested(FiguresOut)


class StatsOut(ma.Schema):
    site = F.Nested(StatsSite)
    start = F.Date(data_key="from")
    end = F.Date(data_key="to")
    timezone = S()
    as_of = F.AwareDateTime(
        allow_none=True, metadata={"description": "the figures count every change before this"}
    )
    pending_changes = Int(metadata={"description": "changes not yet counted (0: the figures are exact now)"})
    figures = F.Nested(FiguresOut)
    coverage = F.Nested(CoverageOut)
    group = S()
    groups = F.List(F.Nested(GroupOut))
