"""The statistics' query arguments and answers (docs/statistics.md defines every figure)."""

from __future__ import annotations

import re

import marshmallow as ma

from volunteer_app.reports import periods
from volunteer_app.reports.figures import GROUPS
from volunteer_app.reports.me import MAX_MONTHS
from volunteer_app.schemas import YEAR_OUT_OF_RANGE, Date
from volunteer_app.sites.models import RANKING_COMPONENTS

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


class OpenByLevel(ma.Schema):
    total, red, yellow, green = Int(), Int(), Int(), Int()


class ItemFigures(ma.Schema):
    raised = Int(metadata={"description": "督办 items raised against the subtree's sites in the period"})
    closed = Int(metadata={"description": "销号 in the period"})
    closed_on_time = Int(metadata={"description": "of those, reported done by their deadline"})
    reopened = Int(metadata={"description": "sent back in the period"})
    overdue_now = Int(metadata={"description": "open and past their deadline now"})
    reported_now = Int(metadata={"description": "reported done, awaiting 销号 now"})
    open_now = F.Nested(OpenByLevel, metadata={"description": "open now, by level"})


class ComplaintFigures(ma.Schema):
    received, answered, reopened, open_now, overdue_now = Int(), Int(), Int(), Int(), Int()
    answered_on_time = Int(metadata={"description": "answered in the period by the answer's deadline"})


class AppealFigures(ma.Schema):
    filed, upheld, rejected, pending_now, overdue_now = Int(), Int(), Int(), Int(), Int()
    minutes_credited = Int(metadata={"description": "minutes credited by the appeals upheld in the period"})


class FollowUpReasons(ma.Schema):
    low_rating, unrated, sample = Int(), Int(), Int()


class FollowUpFigures(ma.Schema):
    created = Int()
    by_reason = F.Nested(FollowUpReasons)
    done, unreachable, pending_now, overdue_now = Int(), Int(), Int(), Int()
    rate = N(
        allow_none=True, metadata={"description": "of the follow-ups created in the period, the share done"}
    )
    reached_share = N(allow_none=True, metadata={"description": "done ÷ (done + unreachable) in the period"})
    mean_satisfaction = N(
        allow_none=True, metadata={"description": "1–5, the calls that reached in the period"}
    )


class SupervisionFigures(ma.Schema):
    items = F.Nested(ItemFigures)
    complaints = F.Nested(ComplaintFigures)
    appeals = F.Nested(AppealFigures)
    follow_ups = F.Nested(FollowUpFigures)


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
    supervision = F.Nested(
        SupervisionFigures,
        metadata={
            "description": "督办, complaints, appeals, follow-ups of the whole subtree (not per group)"
        },
    )
    group = S()
    groups = F.List(F.Nested(GroupOut))


# ---- rankings, the leaderboard, a volunteer's own summary ------------------------------------------


class PeriodField(ma.fields.String):
    """A period as `YYYY`, `YYYY-MM` or `YYYY-Qn` (reports/periods.py), loaded as a Period."""

    default_error_messages = {"invalid": periods.BAD_PERIOD}

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        period = periods.parse(value)
        if period is None:
            raise self.make_error("invalid")
        return period


def _period(**kwargs) -> PeriodField:
    return PeriodField(
        load_default=None,
        metadata={
            "description": "a year (2026), a month (2026-11) or a quarter (2026-Q4) on the site's clock; "
            "default: last month",
            "pattern": "^" + re.sub(r"\?P<\w+>", "", periods.PATTERN.pattern) + "$",
            "example": "2026-11",
        },
        **kwargs,
    )


class RankingArgs(ma.Schema):
    period = _period()


class RankingComponentOut(ma.Schema):
    component = S(metadata={"description": "|".join(RANKING_COMPONENTS)})
    label = S()
    better = S(metadata={"description": "higher or lower"})
    unit = S(metadata={"description": "what `value` is: count, minutes or share (0–1)"})
    value = N(allow_none=True, metadata={"description": "the raw figure; null: no data (scores 0)"})
    score = N(metadata={"description": "normalised, 0–100"})
    weight = N()
    points = N(metadata={"description": "score × weight ÷ the sum of the weights"})


class RankingEntryOut(ma.Schema):
    rank = Int()
    site = F.Nested(StatsSite)
    score = N(metadata={"description": "the sum of the points, 0–100"})
    components = F.List(F.Nested(RankingComponentOut))


class BoardEntryOut(ma.Schema):
    rank = Int()
    site = F.Nested(StatsSite)
    score = N()


class RankingsOut(ma.Schema):
    site = F.Nested(StatsSite)
    period = S()
    start = F.Date(data_key="from")
    end = F.Date(data_key="to")
    timezone = S()
    as_of = F.AwareDateTime(allow_none=True)
    pending_changes = Int()
    weights = F.Dict(keys=S(), values=N(), metadata={"description": "the asked site's effective weights"})
    board_size = Int()
    rankings = F.List(F.Nested(RankingEntryOut), metadata={"description": "the child sites, best first"})
    red = F.List(F.Nested(BoardEntryOut), metadata={"description": "红榜: the best, best first"})
    black = F.List(F.Nested(BoardEntryOut), metadata={"description": "黑榜: the worst, worst first"})


class LeaderboardArgs(ma.Schema):
    period = _period()
    limit = Int(
        load_default=20,
        validate=ma.validate.Range(1, 100),
        metadata={"description": "how many volunteers from the top"},
    )


class LeaderboardEntryOut(ma.Schema):
    rank = Int()
    volunteer_id = Int()
    name = S(metadata={"description": "masked (张*) unless the volunteer opted in"})
    name_masked = F.Boolean()
    station = S(allow_none=True, metadata={"description": "the volunteer's home station"})
    minutes, hours, sessions = Int(), N(), Int()


class LeaderboardOut(ma.Schema):
    site = F.Nested(StatsSite)
    period = S()
    start = F.Date(data_key="from")
    end = F.Date(data_key="to")
    timezone = S()
    as_of = F.AwareDateTime(allow_none=True)
    pending_changes = Int()
    entries = F.List(F.Nested(LeaderboardEntryOut))
    me = F.Nested(
        LeaderboardEntryOut, allow_none=True, metadata={"description": "the caller's own place, if on it"}
    )


class MyStatsArgs(ma.Schema):
    months = Int(
        load_default=12,
        validate=ma.validate.Range(1, MAX_MONTHS),
        metadata={"description": "calendar months up to this one"},
    )


class MyMonthOut(ma.Schema):
    month = S(metadata={"description": "YYYY-MM"})
    service_minutes = Int(metadata={"description": "audited minutes by month of service"})
    service_hours = N()
    sessions = Int()
    credited_minutes = Int(metadata={"description": "minutes credited to my book by month of posting"})
    credited_hours = N()


class MyTotalsOut(ma.Schema):
    service_minutes, service_hours, sessions = Int(), N(), Int()
    credited_minutes, credited_hours = Int(), N()


class StarProgressOut(ma.Schema):
    level = Int()
    lifetime_minutes = Int()
    lifetime_hours = N()
    next_level = Int(allow_none=True)
    next_threshold_hours = Int(allow_none=True)
    minutes_to_next = Int(allow_none=True, metadata={"description": "null at the top level"})


class MyStatsOut(ma.Schema):
    timezone = S()
    start = F.Date(data_key="from")
    end = F.Date(data_key="to")
    months = F.List(F.Nested(MyMonthOut), metadata={"description": "oldest first"})
    totals = F.Nested(MyTotalsOut)
    star = F.Nested(StarProgressOut)
