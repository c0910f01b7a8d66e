"""Service-day recurrence rules (志愿服务日): validation, normalization and interpretation of a rule spec.

A spec is a plain dict as stored in a JSON column. Pure functions only: no database, no Flask.

Kinds:
- ``days_of_month`` ``{"days": [5, 15, 25]}``: days 1..31, or -1 for the month's last day. A day the
  month lacks (31 in April) gives nothing that month (not clamped); 31 and -1 in a 31-day month give
  one occurrence.
- ``nth_weekday`` ``{"nth": 1, "weekday": 4}``: nth 1..5 or -1 (last), weekday 0=Monday..6=Sunday
  (每月第一个星期五). A 5th weekday the month lacks gives nothing that month.
- ``nth_week`` ``{"nth": 3, "weekdays": [5, 6]}``: the nth calendar week (row of a Monday-first wall
  calendar; week 1 is the row holding the 1st, -1 the row holding the last day), only the days inside
  the month, filtered by ``weekdays`` (default all seven). A week the month lacks gives nothing.
- ``annual`` ``{"dates": ["03-05", "12-05"]}``: MM-DD; "02-29" only in leap years.

Every kind carries ``part_of_day`` (morning | afternoon | evening | full_day, required) and optional
``start_time``/``end_time`` ("HH:MM", local) overriding the part's default times; end after start, same day.
Keys this module does not know are ignored by ``check`` and dropped by ``normalize``.

Local times become UTC in the site's zone. A local time that does not exist (skipped by a daylight
saving change) is read as the wall-clock time after the clocks moved forward (shifted by the gap, as
PostgreSQL and ``zoneinfo`` with ``fold=0`` do); an ambiguous one as its first occurrence. An
occurrence whose end would then not be after its start is left out (only possible in such a gap).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

KINDS = ("days_of_month", "nth_weekday", "nth_week", "annual")

PARTS: dict[str, tuple[time, time]] = {
    "morning": (time(8, 30), time(11, 30)),
    "afternoon": (time(14, 30), time(17, 30)),
    "evening": (time(19, 0), time(21, 0)),
    "full_day": (time(9, 0), time(17, 0)),
}

MAX_ITEMS = 31  # cap on every list in a spec

_KIND_KEYS = {
    "days_of_month": ("days",),
    "nth_weekday": ("nth", "weekday"),
    "nth_week": ("nth", "weekdays"),
    "annual": ("dates",),
}
_COMMON_KEYS = ("part_of_day", "start_time", "end_time")
_ALL_KIND_KEYS = {key for keys in _KIND_KEYS.values() for key in keys}
UNKNOWN_KEY = "Unknown field."  # as marshmallow says it: a key the kind does not take is refused
_HHMM = re.compile(r"[0-9]{2}:[0-9]{2}")
_MMDD = re.compile(r"[0-9]{2}-[0-9]{2}")
# Days per month in a leap year: the longest each month gets (02-29 is a valid annual date).
_MAX_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
# A sixth calendar row holds only what spills past day 28 + 7: at most Monday and Tuesday.
_WEEK6_WEEKDAYS = frozenset({0, 1})


# ---------------------------------------------------------------- validation


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_hhmm(value: Any) -> time | None:
    if not isinstance(value, str) or not _HHMM.fullmatch(value):
        return None
    hour, minute = int(value[:2]), int(value[3:])
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def _parse_mmdd(value: Any) -> tuple[int, int] | None:
    if not isinstance(value, str) or not _MMDD.fullmatch(value):
        return None
    month, day = int(value[:2]), int(value[3:])
    if not 1 <= month <= 12 or not 1 <= day <= _MAX_DAYS[month - 1]:
        return None
    return month, day


def _check_list(spec: dict, key: str, errors: dict[str, list[str]], *, required: bool) -> list | None:
    """The list under `key` if it is a non-empty list within the cap, else None (error recorded)."""
    if key not in spec:
        if required:
            errors.setdefault(key, []).append("is required")
        return None
    value = spec[key]
    if not isinstance(value, list):
        errors.setdefault(key, []).append("must be a list")
        return None
    if not value:
        errors.setdefault(key, []).append("must not be empty")
        return None
    if len(value) > MAX_ITEMS:
        errors.setdefault(key, []).append(f"must have at most {MAX_ITEMS} items")
        return None
    return value


def _check_int(spec: dict, key: str, ok, message: str, errors: dict[str, list[str]]) -> int | None:
    if key not in spec:
        errors.setdefault(key, []).append("is required")
        return None
    value = spec[key]
    if not _is_int(value):
        errors.setdefault(key, []).append("must be an integer")
        return None
    if not ok(value):
        errors.setdefault(key, []).append(message)
        return None
    return value


def _check_weekday_list(items: list, key: str, errors: dict[str, list[str]]) -> bool:
    if not all(_is_int(v) for v in items):
        errors.setdefault(key, []).append("must be integers")
        return False
    if not all(0 <= v <= 6 for v in items):
        errors.setdefault(key, []).append("must be between 0 (Monday) and 6 (Sunday)")
        return False
    return True


def _check_days_of_month(spec: dict, errors: dict[str, list[str]]) -> None:
    days = _check_list(spec, "days", errors, required=True)
    if days is not None:
        if not all(_is_int(v) for v in days):
            errors["days"] = ["must be integers"]
        elif not all(1 <= v <= 31 or v == -1 for v in days):
            errors["days"] = ["must be between 1 and 31 or -1"]


def _check_nth_weekday(spec: dict, errors: dict[str, list[str]]) -> None:
    _check_int(spec, "nth", lambda v: 1 <= v <= 5 or v == -1, "must be between 1 and 5 or -1", errors)
    _check_int(spec, "weekday", lambda v: 0 <= v <= 6, "must be between 0 (Monday) and 6 (Sunday)", errors)


def _check_nth_week(spec: dict, errors: dict[str, list[str]]) -> None:
    nth = _check_int(spec, "nth", lambda v: 1 <= v <= 6 or v == -1, "must be between 1 and 6 or -1", errors)
    weekdays = _check_list(spec, "weekdays", errors, required=False)
    valid = weekdays is not None and _check_weekday_list(weekdays, "weekdays", errors)
    if valid and nth == 6 and not _WEEK6_WEEKDAYS.intersection(weekdays or ()):
        errors["weekdays"] = ["week 6 only ever has Monday and Tuesday"]


def _check_annual(spec: dict, errors: dict[str, list[str]]) -> None:
    dates = _check_list(spec, "dates", errors, required=True)
    if dates is not None and not all(_parse_mmdd(v) for v in dates):
        errors["dates"] = ["must be valid dates as MM-DD"]


_KIND_CHECKS = {
    "days_of_month": _check_days_of_month,
    "nth_weekday": _check_nth_weekday,
    "nth_week": _check_nth_week,
    "annual": _check_annual,
}


def _check_kind(spec: dict, errors: dict[str, list[str]]) -> str | None:
    """The spec's kind if it is one of KINDS (its own keys checked), else None (error recorded)."""
    kind = spec.get("kind")
    if "kind" not in spec:
        errors["kind"] = ["is required"]
    elif not isinstance(kind, str) or kind not in KINDS:
        errors["kind"] = ["must be one of: " + ", ".join(KINDS)]
    else:
        _KIND_CHECKS[kind](spec, errors)
        return kind
    return None


def _check_unknown_keys(spec: dict, kind: str | None, errors: dict[str, list[str]]) -> None:
    """A key neither common nor the kind's (any kind's, when the kind is not known) is refused."""
    known = {"kind", *_COMMON_KEYS, *(_KIND_KEYS[kind] if kind is not None else _ALL_KIND_KEYS)}
    for key in spec:
        if key not in known:
            errors[str(key)] = [UNKNOWN_KEY]


def _check_times(spec: dict, errors: dict[str, list[str]]) -> None:
    """`part_of_day` and the times it gives (or `start_time`/`end_time` instead): end after start."""
    part = spec.get("part_of_day")
    if "part_of_day" not in spec:
        errors["part_of_day"] = ["is required"]
    elif not isinstance(part, str) or part not in PARTS:
        errors["part_of_day"] = ["must be one of: " + ", ".join(PARTS)]
        part = None
    bounds: dict[str, time | None] = {}
    for key in ("start_time", "end_time"):
        if key in spec:
            bounds[key] = _parse_hhmm(spec[key])
            if bounds[key] is None:
                errors[key] = ["must be a time as HH:MM"]
    if "start_time" in errors or "end_time" in errors:
        return
    defaults = PARTS.get(part) if isinstance(part, str) else None
    start = bounds["start_time"] if "start_time" in bounds else defaults and defaults[0]
    end = bounds["end_time"] if "end_time" in bounds else defaults and defaults[1]
    if start is not None and end is not None and end <= start:
        if "end_time" in bounds:
            errors["end_time"] = ["must be after start_time"]
        else:
            errors["start_time"] = [f"must be before the {part} end {end:%H:%M}"]


def check(spec: Any) -> dict[str, list[str]]:
    """Field errors for a spec, {} if valid. Never raises, whatever JSON-ish value it gets."""
    if not isinstance(spec, dict):
        return {"kind": ["spec must be an object"]}
    errors: dict[str, list[str]] = {}
    kind = _check_kind(spec, errors)
    _check_unknown_keys(spec, kind, errors)
    _check_times(spec, errors)
    return errors


def _require_valid(spec: Any) -> None:
    errors = check(spec)
    if errors:
        raise ValueError(f"invalid service-day rule: {errors}")


def _sorted_days(days: list[int]) -> list[int]:
    """Ascending, the last day (-1) after all the numbered days."""
    return sorted(set(days), key=lambda d: (d == -1, d))


def normalize(spec: dict) -> dict:
    """A valid spec with defaults filled, lists sorted and deduplicated, only known keys: what gets stored.

    Precondition: check(spec) == {} (ValueError otherwise).
    """
    _require_valid(spec)
    kind = spec["kind"]
    out: dict[str, Any] = {"kind": kind}
    if kind == "days_of_month":
        out["days"] = _sorted_days(spec["days"])
    elif kind == "nth_weekday":
        out["nth"] = spec["nth"]
        out["weekday"] = spec["weekday"]
    elif kind == "nth_week":
        out["nth"] = spec["nth"]
        out["weekdays"] = sorted(set(spec.get("weekdays", range(7))))
    else:
        out["dates"] = sorted(set(spec["dates"]))
    start, end = times(spec)
    out["part_of_day"] = spec["part_of_day"]
    out["start_time"] = f"{start:%H:%M}"
    out["end_time"] = f"{end:%H:%M}"
    return out


# ---------------------------------------------------------------- interpretation


def times(spec: dict) -> tuple[time, time]:
    """Local start and end time of day: start_time/end_time where given, else the part's defaults."""
    default_start, default_end = PARTS[spec["part_of_day"]]
    start = _parse_hhmm(spec["start_time"]) if "start_time" in spec else default_start
    end = _parse_hhmm(spec["end_time"]) if "end_time" in spec else default_end
    if start is None or end is None:
        raise ValueError("start_time and end_time must be times as HH:MM")
    return start, end


def _week_of(day: int, first_weekday: int) -> int:
    """Calendar row (1-based, Monday-first) of `day` in a month whose 1st falls on `first_weekday`."""
    return (day - 1 + first_weekday) // 7 + 1


def _days(spec: dict, year: int, month: int) -> set[int]:
    first_weekday, ndays = calendar.monthrange(year, month)
    kind = spec["kind"]
    if kind == "days_of_month":
        return {ndays if d == -1 else d for d in spec["days"] if d <= ndays}
    if kind == "nth_weekday":
        nth, weekday = spec["nth"], spec["weekday"]
        if nth == -1:
            last_weekday = (first_weekday + ndays - 1) % 7
            return {ndays - (last_weekday - weekday) % 7}
        day = 1 + (weekday - first_weekday) % 7 + 7 * (nth - 1)
        return {day} if day <= ndays else set()
    if kind == "nth_week":
        weeks = _week_of(ndays, first_weekday)
        week = weeks if spec["nth"] == -1 else spec["nth"]
        if week > weeks:
            return set()
        weekdays = set(spec.get("weekdays", range(7)))
        # The row's Monday may be before the 1st (day <= 0): those days are not in the month.
        monday = 1 - first_weekday + 7 * (week - 1)
        return {monday + offset for offset in weekdays if 1 <= monday + offset <= ndays}
    annual_dates = (_parse_mmdd(mmdd) for mmdd in spec["dates"])
    return {d for m, d in filter(None, annual_dates) if m == month and d <= ndays}


def dates_in_month(spec: dict, year: int, month: int) -> list[date]:
    """The local dates the rule gives in that month, ascending, no duplicates."""
    _require_valid(spec)
    return [date(year, month, d) for d in sorted(_days(spec, year, month))]


@dataclass(frozen=True)
class Occurrence:
    local_date: date
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC


def _to_utc(day: date, at: time, zone: ZoneInfo) -> datetime:
    # fold=0: a skipped local time moves forward by the gap, a repeated one is its first occurrence.
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def _occurrences(spec: dict, zone: ZoneInfo, year: int, month: int) -> list[Occurrence]:
    start_time, end_time = times(spec)
    result = []
    for d in sorted(_days(spec, year, month)):
        day = date(year, month, d)
        start, end = _to_utc(day, start_time, zone), _to_utc(day, end_time, zone)
        if end > start:
            result.append(Occurrence(local_date=day, start=start, end=end))
    return result


def occurrences_in_month(spec: dict, tz: str, year: int, month: int) -> list[Occurrence]:
    """Each date's start/end at the local times in the IANA zone `tz`, converted to UTC."""
    _require_valid(spec)
    return _occurrences(spec, ZoneInfo(tz), year, month)


def _add_months(year: int, month: int, n: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + n
    return index // 12, index % 12 + 1


def next_occurrences(
    spec: dict, tz: str, after: datetime, count: int = 5, horizon_months: int = 24
) -> list[Occurrence]:
    """The first `count` occurrences whose start is strictly after `after` (an aware datetime),
    looking at most `horizon_months` months past the local month of `after` (fewer may be found)."""
    _require_valid(spec)
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError("after must be timezone-aware")
    if count <= 0:
        return []
    zone = ZoneInfo(tz)
    local = after.astimezone(zone)
    found: list[Occurrence] = []
    # From the month before: a late occurrence pushed forward by a DST gap may start in the next month.
    for n in range(-1, max(horizon_months, 0) + 1):
        year, month = _add_months(local.year, local.month, n)
        if not 1 <= year <= 9999:
            continue
        found.extend(o for o in _occurrences(spec, zone, year, month) if o.start > after)
        if len(found) >= count:
            break
    found.sort(key=lambda o: (o.start, o.local_date))
    return found[:count]


# ---------------------------------------------------------------- description

_ZH_NTH = {1: "第一", 2: "第二", 3: "第三", 4: "第四", 5: "第五", 6: "第六", -1: "最后一"}
_ZH_WEEKDAY = "一二三四五六日"
_ZH_PART = {"morning": "上午", "afternoon": "下午", "evening": "晚上", "full_day": "全天"}
_EN_NTH = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth", 6: "sixth", -1: "last"}
_EN_WEEKDAY = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_EN_PART = {"morning": "morning", "afternoon": "afternoon", "evening": "evening", "full_day": "full day"}
_EN_MONTH = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _en_join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _time_text(spec: dict, names: dict[str, str]) -> str:
    part = spec["part_of_day"]
    start, end = times(spec)
    text = names[part]
    if (start, end) != PARTS[part]:
        text += f" {start:%H:%M}–{end:%H:%M}"
    return text


def describe(spec: dict, lang: str = "zh-CN") -> str:
    """Human text a manager can read back: "每月第一个星期五 下午"; English for lang "en"."""
    spec = normalize(spec)
    kind = spec["kind"]
    if lang.lower().startswith("en"):
        if kind == "days_of_month":
            days = [("last day" if d == -1 else _ordinal(d)) for d in spec["days"]]
            what = f"Monthly on the {_en_join(days)}"
        elif kind == "nth_weekday":
            what = f"Monthly on the {_EN_NTH[spec['nth']]} {_EN_WEEKDAY[spec['weekday']]}"
        elif kind == "nth_week":
            what = f"Monthly in the {_EN_NTH[spec['nth']]} week"
            if len(spec["weekdays"]) < 7:
                what += ", " + _en_join([_EN_WEEKDAY[w] for w in spec["weekdays"]])
        else:
            dates = [f"{_EN_MONTH[int(d[:2]) - 1]} {int(d[3:])}" for d in spec["dates"]]
            what = f"Yearly on {_en_join(dates)}"
        return f"{what}, {_time_text(spec, _EN_PART)}"
    if kind == "days_of_month":
        what = "每月" + "、".join("最后一天" if d == -1 else f"{d}日" for d in spec["days"])
    elif kind == "nth_weekday":
        what = f"每月{_ZH_NTH[spec['nth']]}个星期{_ZH_WEEKDAY[spec['weekday']]}"
    elif kind == "nth_week":
        what = f"每月{_ZH_NTH[spec['nth']]}周"
        if len(spec["weekdays"]) < 7:
            what += " " + "、".join(f"周{_ZH_WEEKDAY[w]}" for w in spec["weekdays"])
    else:
        what = "每年" + "、".join(f"{int(d[:2])}月{int(d[3:])}日" for d in spec["dates"])
    return f"{what} {_time_text(spec, _ZH_PART)}"
