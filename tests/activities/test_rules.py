"""Service-day recurrence rules: pure, table-driven, with controlled dates (no clock), plus properties
against an independent oracle that walks every day of the month."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from volunteer_app.activities import rules

Z = UTC


def dom(*days, part="afternoon", **extra):
    return {"kind": "days_of_month", "days": list(days), "part_of_day": part, **extra}


def nth_weekday(nth, weekday, part="afternoon", **extra):
    return {"kind": "nth_weekday", "nth": nth, "weekday": weekday, "part_of_day": part, **extra}


def nth_week(nth, weekdays=None, part="morning", **extra):
    spec = {"kind": "nth_week", "nth": nth, "part_of_day": part, **extra}
    if weekdays is not None:
        spec["weekdays"] = weekdays
    return spec


def annual(*dates, part="full_day", **extra):
    return {"kind": "annual", "dates": list(dates), "part_of_day": part, **extra}


def days(spec, year, month):
    """The day numbers dates_in_month gives (after checking they are all in that month)."""
    result = rules.dates_in_month(spec, year, month)
    assert all((d.year, d.month) == (year, month) for d in result)
    return [d.day for d in result]


# ---- days_of_month -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "year", "month", "expected"),
    [
        (dom(5, 15, 25), 2025, 1, [5, 15, 25]),
        (dom(25, 5, 15, 5), 2025, 2, [5, 15, 25]),  # unordered, duplicated input
        (dom(31), 2025, 1, [31]),
        (dom(31), 2025, 4, []),  # April has no 31st: nothing, not clamped to the 30th
        (dom(30, 31), 2024, 2, []),
        (dom(29), 2024, 2, [29]),  # leap
        (dom(29), 2025, 2, []),
        (dom(29), 2028, 2, [29]),
        (dom(29), 2100, 2, []),  # divisible by 100, not by 400
        (dom(29), 2000, 2, [29]),  # divisible by 400
        (dom(-1), 2025, 1, [31]),
        (dom(-1), 2025, 4, [30]),
        (dom(-1), 2024, 2, [29]),
        (dom(-1), 2025, 2, [28]),
        (dom(-1), 2100, 2, [28]),
        (dom(31, -1), 2025, 1, [31]),  # the same day twice gives one occurrence
        (dom(31, -1), 2025, 4, [30]),
        (dom(1, 28, -1), 2025, 2, [1, 28]),
        (dom(*range(1, 32)), 2025, 4, list(range(1, 31))),
    ],
)
def test_days_of_month(spec, year, month, expected):
    assert days(spec, year, month) == expected


# ---- nth_weekday -------------------------------------------------------------------------------

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


@pytest.mark.parametrize(
    ("nth", "weekday", "year", "month", "expected"),
    [
        (1, FRI, 2025, 1, [3]),  # 每月第一个星期五: Jan 2025 starts on a Wednesday
        (1, WED, 2025, 1, [1]),  # the 1st itself
        (1, TUE, 2025, 1, [7]),  # the day before the 1st's weekday: a whole week later
        (5, FRI, 2025, 1, [31]),  # a 5th Friday on the month's last day
        (5, FRI, 2025, 2, []),  # February 2025 has four Fridays
        (5, THU, 2024, 2, [29]),  # leap day is the 5th Thursday
        (5, THU, 2025, 2, []),
        (5, TUE, 2028, 2, [29]),
        (-1, FRI, 2025, 2, [28]),
        (-1, WED, 2025, 4, [30]),  # last day of April
        (-1, SUN, 2025, 4, [27]),
        (-1, THU, 2024, 2, [29]),
        (-1, MON, 2100, 2, [22]),  # 2100-02-01 is a Monday, no leap day
        (1, MON, 2025, 9, [1]),
        (4, SUN, 2025, 6, [22]),
    ],
)
def test_nth_weekday(nth, weekday, year, month, expected):
    assert days(nth_weekday(nth, weekday), year, month) == expected
    for d in rules.dates_in_month(nth_weekday(nth, weekday), year, month):
        assert d.weekday() == weekday


# ---- nth_week (calendar rows, Monday first) ----------------------------------------------------


@pytest.mark.parametrize(
    ("nth", "weekdays", "year", "month", "expected"),
    [
        # June 2025 starts on a Sunday: week 1 is that one day; it has six rows (the 6th is the 30th).
        (1, None, 2025, 6, [1]),
        (1, [SAT, SUN], 2025, 6, [1]),
        (1, [MON, TUE, WED, THU, FRI], 2025, 6, []),
        (2, None, 2025, 6, [2, 3, 4, 5, 6, 7, 8]),
        (6, None, 2025, 6, [30]),
        (-1, None, 2025, 6, [30]),
        (-1, [SAT, SUN], 2025, 6, []),  # the last row has only a Monday
        # March 2025 (31 days from a Saturday): six rows, the last is Monday the 31st.
        (6, [MON, TUE], 2025, 3, [31]),
        (6, [TUE], 2025, 3, []),
        (1, None, 2025, 3, [1, 2]),
        # 每月第三周 周六、周日: November 2025 starts on a Saturday.
        (3, [SAT, SUN], 2025, 11, [15, 16]),
        (6, None, 2025, 11, []),  # five rows
        # February 2021 starts on a Monday: exactly four rows.
        (4, None, 2021, 2, [22, 23, 24, 25, 26, 27, 28]),
        (5, None, 2021, 2, []),
        (-1, None, 2021, 2, [22, 23, 24, 25, 26, 27, 28]),
        (-1, [SUN], 2021, 2, [28]),
        # February 2026 starts on a Sunday: five rows, the last one short of a Sunday.
        (5, None, 2026, 2, [23, 24, 25, 26, 27, 28]),
        (5, [SUN], 2026, 2, []),
        (-1, [SAT], 2026, 2, [28]),
        # Leap years: the 29th is in the last row.
        (-1, None, 2024, 2, [26, 27, 28, 29]),
        (5, [TUE], 2028, 2, [29]),
        (-1, None, 2100, 2, [22, 23, 24, 25, 26, 27, 28]),
        (-1, None, 2025, 1, [27, 28, 29, 30, 31]),
        (-1, None, 2025, 4, [28, 29, 30]),
    ],
)
def test_nth_week(nth, weekdays, year, month, expected):
    assert days(nth_week(nth, weekdays), year, month) == expected


# ---- annual ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dates", "year", "month", "expected"),
    [
        (["03-05", "12-05"], 2025, 3, [5]),  # 学雷锋日
        (["03-05", "12-05"], 2025, 12, [5]),  # 国际志愿者日
        (["03-05", "12-05"], 2025, 1, []),
        (["01-31", "01-01", "01-31"], 2025, 1, [1, 31]),
        (["04-30"], 2025, 4, [30]),
        (["02-29"], 2024, 2, [29]),
        (["02-29"], 2028, 2, [29]),
        (["02-29"], 2000, 2, [29]),
        (["02-29"], 2025, 2, []),  # no occurrence, not moved to the 28th or March 1st
        (["02-29"], 2100, 2, []),
        (["02-28", "02-29"], 2100, 2, [28]),
    ],
)
def test_annual(dates, year, month, expected):
    assert days(annual(*dates), year, month) == expected


# ---- times and UTC -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        ("morning", (time(8, 30), time(11, 30))),
        ("afternoon", (time(14, 30), time(17, 30))),
        ("evening", (time(19, 0), time(21, 0))),
        ("full_day", (time(9, 0), time(17, 0))),
    ],
)
def test_parts_default_times(part, expected):
    assert rules.times(dom(5, part=part)) == expected


def test_explicit_times_override_the_part():
    assert rules.times(dom(5, part="afternoon", start_time="15:00")) == (time(15, 0), time(17, 30))
    assert rules.times(dom(5, part="afternoon", end_time="16:00")) == (time(14, 30), time(16, 0))
    assert rules.times(dom(5, part="evening", start_time="18:00", end_time="20:30")) == (
        time(18, 0),
        time(20, 30),
    )


def test_shanghai_afternoon_is_0630_utc():
    occ = rules.occurrences_in_month(dom(5, 15, 25), "Asia/Shanghai", 2025, 1)
    assert occ == [
        rules.Occurrence(
            date(2025, 1, d), datetime(2025, 1, d, 6, 30, tzinfo=Z), datetime(2025, 1, d, 9, 30, tzinfo=Z)
        )
        for d in (5, 15, 25)
    ]
    assert all(o.start.utcoffset() == timedelta(0) for o in occ)


def test_early_local_start_is_the_previous_utc_day_but_keeps_its_local_date():
    spec = nth_weekday(1, FRI, part="morning", start_time="07:00")
    [occ] = rules.occurrences_in_month(spec, "Asia/Shanghai", 2025, 1)
    assert occ.local_date == date(2025, 1, 3)
    assert occ.start == datetime(2025, 1, 2, 23, 0, tzinfo=Z)
    assert occ.end == datetime(2025, 1, 3, 3, 30, tzinfo=Z)


def test_berlin_times_stay_local_across_spring_forward():
    # Summer time starts in Berlin on Sunday 2025-03-30: 14:30 is 13:30Z before, 12:30Z after.
    occ = rules.occurrences_in_month(dom(29, 30, 31), "Europe/Berlin", 2025, 3)
    assert [(o.start, o.end) for o in occ] == [
        (datetime(2025, 3, 29, 13, 30, tzinfo=Z), datetime(2025, 3, 29, 16, 30, tzinfo=Z)),
        (datetime(2025, 3, 30, 12, 30, tzinfo=Z), datetime(2025, 3, 30, 15, 30, tzinfo=Z)),
        (datetime(2025, 3, 31, 12, 30, tzinfo=Z), datetime(2025, 3, 31, 15, 30, tzinfo=Z)),
    ]


def test_berlin_times_stay_local_across_fall_back():
    # Summer time ends on Sunday 2025-10-26.
    occ = rules.occurrences_in_month(nth_weekday(-1, SUN, part="evening"), "Europe/Berlin", 2025, 10)
    assert [(o.local_date, o.start) for o in occ] == [
        (date(2025, 10, 26), datetime(2025, 10, 26, 18, 0, tzinfo=Z))
    ]
    occ = rules.occurrences_in_month(nth_weekday(-1, SAT, part="evening"), "Europe/Berlin", 2025, 10)
    assert [o.start for o in occ] == [datetime(2025, 10, 25, 17, 0, tzinfo=Z)]


def test_local_times_in_a_dst_gap_or_overlap():
    # 02:00-03:00 does not exist in Berlin on 2025-03-30: a time in it moves forward by the gap.
    spec = dom(30, part="morning", start_time="01:30", end_time="02:30")
    [occ] = rules.occurrences_in_month(spec, "Europe/Berlin", 2025, 3)
    assert (occ.start, occ.end) == (
        datetime(2025, 3, 30, 0, 30, tzinfo=Z),
        datetime(2025, 3, 30, 1, 30, tzinfo=Z),
    )
    # A window that would end before it starts once moved is left out (the date itself is still a date).
    spec = dom(30, part="morning", start_time="02:30", end_time="03:15")
    assert rules.occurrences_in_month(spec, "Europe/Berlin", 2025, 3) == []
    assert rules.dates_in_month(spec, 2025, 3) == [date(2025, 3, 30)]
    # 02:30 happens twice on 2025-10-26: the first one (summer time) counts.
    spec = dom(26, part="morning", start_time="02:30", end_time="04:00")
    [occ] = rules.occurrences_in_month(spec, "Europe/Berlin", 2025, 10)
    assert (occ.start, occ.end) == (
        datetime(2025, 10, 26, 0, 30, tzinfo=Z),
        datetime(2025, 10, 26, 3, 0, tzinfo=Z),
    )


# ---- next_occurrences --------------------------------------------------------------------------


def starts(occurrences):
    return [o.start for o in occurrences]


def test_next_occurrences_across_a_year_boundary():
    after = datetime(2025, 12, 20, tzinfo=Z)
    result = rules.next_occurrences(dom(5, 15, 25), "Asia/Shanghai", after, count=4)
    assert [o.local_date for o in result] == [
        date(2025, 12, 25),
        date(2026, 1, 5),
        date(2026, 1, 15),
        date(2026, 1, 25),
    ]
    assert result[0].start == datetime(2025, 12, 25, 6, 30, tzinfo=Z)


def test_next_occurrences_excludes_an_occurrence_starting_exactly_at_after():
    at = datetime(2025, 12, 25, 6, 30, tzinfo=Z)
    result = rules.next_occurrences(dom(5, 15, 25), "Asia/Shanghai", at, count=2)
    assert starts(result) == [datetime(2026, 1, 5, 6, 30, tzinfo=Z), datetime(2026, 1, 15, 6, 30, tzinfo=Z)]
    just_before = at - timedelta(microseconds=1)
    assert rules.next_occurrences(dom(5, 15, 25), "Asia/Shanghai", just_before, count=1)[0].start == at
    # An occurrence already under way (started, not ended) is not "next".
    during = at + timedelta(hours=1)
    [occ] = rules.next_occurrences(dom(5, 15, 25), "Asia/Shanghai", during, count=1)
    assert occ.local_date == date(2026, 1, 5)


def test_next_occurrences_default_count_and_any_offset_for_after():
    # Shanghai's midnight given with a +08:00 offset, i.e. 16:00Z the day before.
    after = datetime(2025, 1, 1, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    result = rules.next_occurrences(nth_weekday(1, FRI), "Asia/Shanghai", after)
    assert [o.local_date for o in result] == [
        date(2025, 1, 3),
        date(2025, 2, 7),
        date(2025, 3, 7),
        date(2025, 4, 4),
        date(2025, 5, 2),
    ]


def test_next_occurrences_looks_into_the_next_local_month_when_utc_is_still_in_the_last():
    # 2025-12-31T20:00Z is 04:00 on 2026-01-01 in Shanghai; the 1st's 08:30 (00:30Z) is still ahead.
    after = datetime(2025, 12, 31, 20, 0, tzinfo=Z)
    [occ] = rules.next_occurrences(dom(1, part="morning"), "Asia/Shanghai", after, count=1)
    assert occ.start == datetime(2026, 1, 1, 0, 30, tzinfo=Z)


def test_next_occurrences_stops_at_the_horizon():
    after = datetime(2025, 3, 1, tzinfo=Z)
    leap = annual("02-29")
    assert rules.next_occurrences(leap, "Asia/Shanghai", after) == []  # no Feb 29 before 2027-03
    found = rules.next_occurrences(leap, "Asia/Shanghai", after, horizon_months=36)
    assert [o.local_date for o in found] == [date(2028, 2, 29)]
    both = annual("03-05", "12-05")
    found = rules.next_occurrences(both, "Asia/Shanghai", after, count=10, horizon_months=12)
    assert [o.local_date for o in found] == [date(2025, 3, 5), date(2025, 12, 5), date(2026, 3, 5)]
    assert rules.next_occurrences(both, "Asia/Shanghai", after, count=10, horizon_months=0) == found[:1]


def test_next_occurrences_edge_arguments():
    after = datetime(2025, 1, 1, tzinfo=Z)
    assert rules.next_occurrences(dom(5), "Asia/Shanghai", after, count=0) == []
    with pytest.raises(ValueError, match="aware"):
        rules.next_occurrences(dom(5), "Asia/Shanghai", datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        rules.next_occurrences({"kind": "days_of_month"}, "Asia/Shanghai", after)


# ---- check -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        dom(5, 15, 25),
        dom(-1, part="morning"),
        dom(*range(1, 32)),
        dom(*([5] * 31)),
        nth_weekday(5, SUN, part="evening"),
        nth_weekday(-1, MON),
        nth_week(3, [SAT, SUN]),
        nth_week(1),
        nth_week(6, [MON]),
        nth_week(-1, list(range(7))),
        annual("03-05", "12-05"),
        annual("02-29"),
        dom(5, start_time="00:00", end_time="23:59"),
        dom(5, part="morning", end_time="12:00"),
    ],
)
def test_check_accepts(spec):
    assert rules.check(spec) == {}


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        (None, "kind", "spec must be an object"),
        ([1, 2], "kind", "spec must be an object"),
        ("days_of_month", "kind", "spec must be an object"),
        ({"part_of_day": "morning"}, "kind", "is required"),
        ({**dom(5), "kind": "weekly"}, "kind", "must be one of"),
        ({**dom(5), "kind": None}, "kind", "must be one of"),
        ({**dom(5), "kind": ["days_of_month"]}, "kind", "must be one of"),
        ({**dom(5), "kind": {"a": 1}}, "kind", "must be one of"),
        # keys the kind does not take are refused, each by name
        ({**dom(5), "theme": "学雷锋"}, "theme", "Unknown field."),
        ({**dom(5), "unknown": [1, 2]}, "unknown", "Unknown field."),
        ({**nth_weekday(1, FRI), "days": [5]}, "days", "Unknown field."),
        ({**annual("03-05"), "weekdays": [1]}, "weekdays", "Unknown field."),
        # days
        ({"kind": "days_of_month", "part_of_day": "morning"}, "days", "is required"),
        (dom(), "days", "must not be empty"),
        ({**dom(5), "days": 5}, "days", "must be a list"),
        ({**dom(5), "days": "5,15"}, "days", "must be a list"),
        ({**dom(5), "days": {"5": 1}}, "days", "must be a list"),
        (dom(0), "days", "must be between 1 and 31 or -1"),
        (dom(32), "days", "must be between 1 and 31 or -1"),
        (dom(-2), "days", "must be between 1 and 31 or -1"),
        (dom(10**100), "days", "must be between 1 and 31 or -1"),
        (dom(True), "days", "must be integers"),
        (dom(5, False), "days", "must be integers"),
        (dom(5.0), "days", "must be integers"),
        (dom("5"), "days", "must be integers"),
        (dom(None), "days", "must be integers"),
        (dom([5]), "days", "must be integers"),
        (dom(*([5] * 32)), "days", "at most 31"),
        (dom(*range(10**5)), "days", "at most 31"),
        # nth / weekday
        ({"kind": "nth_weekday", "weekday": 4, "part_of_day": "morning"}, "nth", "is required"),
        ({"kind": "nth_weekday", "nth": 1, "part_of_day": "morning"}, "weekday", "is required"),
        (nth_weekday(0, FRI), "nth", "must be between 1 and 5 or -1"),
        (nth_weekday(6, FRI), "nth", "must be between 1 and 5 or -1"),
        (nth_weekday(-2, FRI), "nth", "must be between 1 and 5 or -1"),
        (nth_weekday(True, FRI), "nth", "must be an integer"),
        (nth_weekday("1", FRI), "nth", "must be an integer"),
        (nth_weekday(1.0, FRI), "nth", "must be an integer"),
        (nth_weekday(None, FRI), "nth", "must be an integer"),
        (nth_weekday(1, 7), "weekday", "must be between 0 (Monday) and 6 (Sunday)"),
        (nth_weekday(1, -1), "weekday", "must be between 0 (Monday) and 6 (Sunday)"),
        (nth_weekday(1, False), "weekday", "must be an integer"),
        (nth_weekday(1, [4]), "weekday", "must be an integer"),
        (nth_weekday(1, "Friday"), "weekday", "must be an integer"),
        # nth_week
        ({"kind": "nth_week", "part_of_day": "morning"}, "nth", "is required"),
        (nth_week(0), "nth", "must be between 1 and 6 or -1"),
        (nth_week(7), "nth", "must be between 1 and 6 or -1"),
        (nth_week(False), "nth", "must be an integer"),
        (nth_week(3, []), "weekdays", "must not be empty"),
        (nth_week(3, 5), "weekdays", "must be a list"),
        ({**nth_week(3), "weekdays": None}, "weekdays", "must be a list"),
        (nth_week(3, [7]), "weekdays", "must be between 0 (Monday) and 6 (Sunday)"),
        (nth_week(3, [True]), "weekdays", "must be integers"),
        (nth_week(3, ["6"]), "weekdays", "must be integers"),
        (nth_week(3, [6] * 32), "weekdays", "at most 31"),
        (nth_week(6, [SAT, SUN]), "weekdays", "week 6 only ever has Monday and Tuesday"),
        # dates
        ({"kind": "annual", "part_of_day": "morning"}, "dates", "is required"),
        (annual(), "dates", "must not be empty"),
        ({**annual("03-05"), "dates": "03-05"}, "dates", "must be a list"),
        (annual("3-5"), "dates", "must be valid dates as MM-DD"),
        (annual("03/05"), "dates", "must be valid dates as MM-DD"),
        (annual("2025-03-05"), "dates", "must be valid dates as MM-DD"),
        (annual("13-01"), "dates", "must be valid dates as MM-DD"),
        (annual("00-10"), "dates", "must be valid dates as MM-DD"),
        (annual("02-30"), "dates", "must be valid dates as MM-DD"),
        (annual("04-31"), "dates", "must be valid dates as MM-DD"),
        (annual("03-00"), "dates", "must be valid dates as MM-DD"),
        (annual("０３-０５"), "dates", "must be valid dates as MM-DD"),  # full-width digits
        (annual(305), "dates", "must be valid dates as MM-DD"),
        (annual(None), "dates", "must be valid dates as MM-DD"),
        (annual(*(["03-05"] * 32)), "dates", "at most 31"),
        # part_of_day and times
        ({"kind": "days_of_month", "days": [5]}, "part_of_day", "is required"),
        (dom(5, part="night"), "part_of_day", "must be one of"),
        (dom(5, part=None), "part_of_day", "must be one of"),
        (dom(5, part=["morning"]), "part_of_day", "must be one of"),
        (dom(5, part={"x": 1}), "part_of_day", "must be one of"),
        (dom(5, start_time="8:30"), "start_time", "must be a time as HH:MM"),
        (dom(5, start_time="24:00"), "start_time", "must be a time as HH:MM"),
        (dom(5, start_time="12:60"), "start_time", "must be a time as HH:MM"),
        (dom(5, start_time="12:00:00"), "start_time", "must be a time as HH:MM"),
        (dom(5, start_time="noon"), "start_time", "must be a time as HH:MM"),
        (dom(5, start_time=1430), "start_time", "must be a time as HH:MM"),
        (dom(5, start_time=None), "start_time", "must be a time as HH:MM"),
        (dom(5, start_time="１２:００"), "start_time", "must be a time as HH:MM"),
        (dom(5, end_time=""), "end_time", "must be a time as HH:MM"),
        (dom(5, start_time="15:00", end_time="15:00"), "end_time", "must be after start_time"),
        (dom(5, start_time="15:00", end_time="14:00"), "end_time", "must be after start_time"),
        # no overnight windows
        (dom(5, start_time="22:00", end_time="02:00"), "end_time", "must be after start_time"),
        (dom(5, part="morning", end_time="08:00"), "end_time", "must be after start_time"),
        (dom(5, part="morning", start_time="12:00"), "start_time", "must be before the morning end 11:30"),
        (dom(5, part="noon", start_time="12:00", end_time="11:00"), "end_time", "must be after start_time"),
    ],
)
def test_check_rejects(spec, field, message):
    errors = rules.check(spec)
    assert field in errors, errors
    assert any(message in m for m in errors[field]), errors
    assert all(isinstance(k, str) and v and all(isinstance(m, str) for m in v) for k, v in errors.items())


def test_check_reports_every_bad_field_at_once():
    errors = rules.check(
        {"kind": "nth_weekday", "nth": 9, "weekday": "x", "part_of_day": "noon", "end_time": "x"}
    )
    assert set(errors) == {"nth", "weekday", "part_of_day", "end_time"}


def test_functions_refuse_an_invalid_spec():
    bad = dom(32)
    for call in (
        lambda: rules.normalize(bad),
        lambda: rules.dates_in_month(bad, 2025, 1),
        lambda: rules.occurrences_in_month(bad, "Asia/Shanghai", 2025, 1),
        lambda: rules.describe(bad),
    ):
        with pytest.raises(ValueError, match="invalid service-day rule"):
            call()


# ---- normalize ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            dom(25, -1, 5, 15, 5, 31),
            {
                "kind": "days_of_month",
                "days": [5, 15, 25, 31, -1],
                "part_of_day": "afternoon",
                "start_time": "14:30",
                "end_time": "17:30",
            },
        ),
        (
            nth_weekday(1, FRI),
            {
                "kind": "nth_weekday",
                "nth": 1,
                "weekday": 4,
                "part_of_day": "afternoon",
                "start_time": "14:30",
                "end_time": "17:30",
            },
        ),
        (
            nth_week(3, part="evening", end_time="20:00"),
            {
                "kind": "nth_week",
                "nth": 3,
                "weekdays": [0, 1, 2, 3, 4, 5, 6],
                "part_of_day": "evening",
                "start_time": "19:00",
                "end_time": "20:00",
            },
        ),
        (
            nth_week(-1, [6, 5, 6]),
            {
                "kind": "nth_week",
                "nth": -1,
                "weekdays": [5, 6],
                "part_of_day": "morning",
                "start_time": "08:30",
                "end_time": "11:30",
            },
        ),
        (
            annual("12-05", "03-05", "12-05", start_time="09:30"),
            {
                "kind": "annual",
                "dates": ["03-05", "12-05"],
                "part_of_day": "full_day",
                "start_time": "09:30",
                "end_time": "17:00",
            },
        ),
    ],
)
def test_normalize(spec, expected):
    assert rules.normalize(spec) == expected
    assert rules.normalize(expected) == expected
    assert rules.check(expected) == {}


# ---- describe ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "zh", "en"),
    [
        (dom(5, 15, 25), "每月5日、15日、25日 下午", "Monthly on the 5th, 15th and 25th, afternoon"),
        (dom(-1, part="evening"), "每月最后一天 晚上", "Monthly on the last day, evening"),
        (dom(1, 2, 3, 11, 12, 13, 21, 22, 23, -1, part="morning"),
         "每月1日、2日、3日、11日、12日、13日、21日、22日、23日、最后一天 上午",
         "Monthly on the 1st, 2nd, 3rd, 11th, 12th, 13th, 21st, 22nd, 23rd and last day, morning"),
        (nth_weekday(1, FRI), "每月第一个星期五 下午", "Monthly on the first Friday, afternoon"),
        (nth_weekday(-1, SUN, part="full_day"),
         "每月最后一个星期日 全天", "Monthly on the last Sunday, full day"),
        (nth_week(3, [SUN, SAT]),
         "每月第三周 周六、周日 上午", "Monthly in the third week, Saturday and Sunday, morning"),
        (nth_week(3), "每月第三周 上午", "Monthly in the third week, morning"),
        (nth_week(-1, [MON], part="evening"),
         "每月最后一周 周一 晚上", "Monthly in the last week, Monday, evening"),
        (annual("12-05", "03-05"), "每年3月5日、12月5日 全天", "Yearly on March 5 and December 5, full day"),
        (annual("02-29", part="morning", start_time="09:00", end_time="11:00"),
         "每年2月29日 上午 09:00–11:00", "Yearly on February 29, morning 09:00–11:00"),
    ],
)  # fmt: skip
def test_describe(spec, zh, en):
    assert rules.describe(spec) == zh
    assert rules.describe(spec, "zh-CN") == zh
    assert rules.describe(spec, "en") == en


def test_describe_shows_times_only_when_they_differ_from_the_part():
    assert rules.describe(dom(5, part="afternoon", start_time="14:30")) == "每月5日 下午"
    assert rules.describe(dom(5, part="afternoon", start_time="15:00")) == "每月5日 下午 15:00–17:30"


# ---- properties against an independent oracle --------------------------------------------------


def oracle(spec: dict, year: int, month: int) -> list[int]:
    """Walk every day of the month and keep the ones the plain-words definition picks."""
    rows = calendar.Calendar(firstweekday=0).monthdayscalendar(year, month)
    row_of = {d: i + 1 for i, row in enumerate(rows) for d in row if d}
    length = max(row_of)
    picked = []
    for d in range(1, length + 1):
        day = date(year, month, d)
        kind = spec["kind"]
        if kind == "days_of_month":
            ok = d in spec["days"] or (-1 in spec["days"] and d == length)
        elif kind == "nth_weekday":
            same_weekday_so_far = sum(
                1 for e in range(1, d + 1) if date(year, month, e).weekday() == day.weekday()
            )
            is_last = d + 7 > length
            ok = day.weekday() == spec["weekday"] and (
                same_weekday_so_far == spec["nth"] or (spec["nth"] == -1 and is_last)
            )
        elif kind == "nth_week":
            wanted_row = len(rows) if spec["nth"] == -1 else spec["nth"]
            ok = row_of[d] == wanted_row and day.weekday() in spec.get("weekdays", range(7))
        else:
            ok = day.strftime("%m-%d") in spec["dates"]
        if ok:
            picked.append(d)
    return picked


weekday_lists = st.lists(st.integers(0, 6), min_size=1, max_size=10)
mmdd = st.dates(date(2000, 1, 1), date(2000, 12, 31)).map(lambda d: d.strftime("%m-%d"))
times_part = st.fixed_dictionaries({"part_of_day": st.sampled_from(sorted(rules.PARTS))})
valid_specs = st.one_of(
    st.fixed_dictionaries(
        {
            "kind": st.just("days_of_month"),
            "days": st.lists(st.integers(1, 31) | st.just(-1), min_size=1, max_size=31),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just("nth_weekday"),
            "nth": st.sampled_from([1, 2, 3, 4, 5, -1]),
            "weekday": st.integers(0, 6),
        }
    ),
    st.fixed_dictionaries(
        {"kind": st.just("nth_week"), "nth": st.sampled_from([1, 2, 3, 4, 5, -1])},
        optional={"weekdays": weekday_lists},
    ),
    st.fixed_dictionaries(
        {"kind": st.just("nth_week"), "nth": st.just(6), "weekdays": weekday_lists.map(lambda w: [*w, 0])}
    ),
    st.fixed_dictionaries({"kind": st.just("annual"), "dates": st.lists(mmdd, min_size=1, max_size=31)}),
).flatmap(lambda spec: times_part.map(lambda t: {**spec, **t}))
months = st.tuples(st.integers(1900, 2200), st.integers(1, 12))


@given(spec=valid_specs, year_month=months)
def test_dates_in_month_matches_the_oracle(spec, year_month):
    year, month = year_month
    assert rules.check(spec) == {}
    expected = oracle(spec, year, month)
    assert days(spec, year, month) == expected
    assert days(rules.normalize(spec), year, month) == expected


@given(spec=valid_specs)
def test_normalize_is_idempotent_and_valid(spec):
    once = rules.normalize(spec)
    assert rules.check(once) == {}
    assert rules.normalize(once) == once
    assert rules.times(once) == rules.times(spec)
    assert rules.describe(once) == rules.describe(spec)
    assert rules.describe(spec, "en")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=40) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=60,
)
known_keys = st.sampled_from(["kind", "days", "nth", "weekday", "weekdays", "dates", "part_of_day",
                              "start_time", "end_time"])  # fmt: skip
json_ish_specs = st.one_of(
    json_values,
    st.dictionaries(known_keys, json_values, max_size=9),
    st.dictionaries(known_keys, json_values, max_size=9).flatmap(
        lambda d: st.sampled_from(rules.KINDS).map(lambda k: {**d, "kind": k})
    ),
    valid_specs.flatmap(lambda s: st.tuples(known_keys, json_values).map(lambda kv: {**s, kv[0]: kv[1]})),
)


@given(spec=json_ish_specs)
def test_check_never_raises_and_valid_means_usable(spec):
    errors = rules.check(spec)
    assert isinstance(errors, dict)
    assert all(isinstance(k, str) and v and all(isinstance(m, str) for m in v) for k, v in errors.items())
    if not errors:  # whatever check accepts, the rest of the module can use
        rules.normalize(spec)
        rules.dates_in_month(spec, 2024, 2)
        rules.occurrences_in_month(spec, "Asia/Shanghai", 2025, 3)
        rules.describe(spec, "en")


@given(spec=valid_specs, after=st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1), timezones=st.just(Z)))
def test_next_occurrences_are_ascending_after_and_the_first_ones(spec, after):
    found = rules.next_occurrences(spec, "Europe/Berlin", after, count=3)
    assert all(o.start > after for o in found)
    assert starts(found) == sorted(starts(found))
    assert len(found) <= 3
    if found:  # nothing skipped: every occurrence from after's month up to the last found is in the result
        last = found[-1].start
        month_starts = []
        y, m = after.year, after.month
        while (y, m) <= (last.year, last.month):
            month_starts += starts(rules.occurrences_in_month(spec, "Europe/Berlin", y, m))
            y, m = (y + 1, 1) if m == 12 else (y, m + 1)
        assert starts(found) == [s for s in month_starts if after < s <= last]
