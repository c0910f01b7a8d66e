"""The periods rankings and leaderboards are asked for: a year (`2026`), a month (`2026-11`) or a quarter
(`2026-Q4`), as local dates on the asked site's clock; by default the last whole month."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from volunteer_app.field_messages import register_field_messages

# Years 2000–2200 as for dates everywhere (schemas.YEAR_OUT_OF_RANGE); the OpenAPI document carries
# this pattern, so what it allows is exactly what is accepted.
PATTERN = re.compile(
    r"(?P<year>20[0-9]{2}|21[0-9]{2}|2200)(?:-(?:(?P<month>0[1-9]|1[0-2])|Q(?P<quarter>[1-4])))?", re.ASCII
)
BAD_PERIOD = "must be a year (YYYY, 2000–2200), a month (YYYY-MM) or a quarter (YYYY-Qn)"
register_field_messages({BAD_PERIOD: "应为年份（YYYY，2000–2200）、月份（YYYY-MM）或季度（YYYY-Qn）"})


@dataclass(frozen=True)
class Period:
    label: str  # as asked: "2026", "2026-11", "2026-Q4"
    start: date  # the first local day
    end: date  # the last local day, inclusive


def _month_end(year: int, month: int) -> date:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    return first_next - timedelta(days=1)


def parse(text: str) -> Period | None:
    """The period a text names, or None when it names none (a bad shape, month 13, year 1999 …)."""
    match = PATTERN.fullmatch(text)
    if match is None:
        return None
    year = int(match["year"])
    if match["month"]:
        month = int(match["month"])
        return Period(text, date(year, month, 1), _month_end(year, month))
    if match["quarter"]:
        first = 3 * int(match["quarter"]) - 2
        return Period(text, date(year, first, 1), _month_end(year, first + 2))
    return Period(text, date(year, 1, 1), date(year, 12, 31))


def last_month(today: date) -> Period:
    """The whole month before today's."""
    end = today.replace(day=1) - timedelta(days=1)
    return Period(f"{end:%Y-%m}", end.replace(day=1), end)
