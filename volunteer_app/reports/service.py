"""What a manager asks of the statistics: a site's figures over a period, within reach."""

from __future__ import annotations

import re
from datetime import date, timedelta

from volunteer_app.errors import Unprocessable, language, register_messages
from volunteer_app.field_messages import register_field_messages
from volunteer_app.reports import figures
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, get_in_reach

register_messages(
    {
        "stats.bad_period": ("统计区间的开始日期晚于结束日期", "The period starts after it ends"),
        "stats.period_too_long": (
            "统计区间过长：按{group}分组时最多{days}天",
            "The period is too long: at most {days} days when grouped by {group}",
        ),
    }
)

AFTER_END = "after 'to'"
TOO_LONG = "at most {} days from 'from' to 'to'"
register_field_messages(
    {
        AFTER_END: "晚于结束日期（to）",
        re.compile(r"at most (\d+) days from 'from' to 'to'"): "从开始到结束最多{0}天",
    }
)

# The longest period per grouping, in days (a series of more points is no longer readable).
MAX_DAYS = {"none": 1098, "child": 1098, "category": 1098, "month": 1098, "week": 731, "day": 92}


def period(site: Site, start: date | None, end: date | None, group: str) -> tuple[date, date]:
    """The asked period, defaulting to this month up to today on the site's clock; checked."""
    today = sites.local_time(site).date()
    end = end or today
    start = start or end.replace(day=1)
    if start > end:
        raise Unprocessable("stats.bad_period", errors={"query": {"from": [AFTER_END]}})
    if (end - start) + timedelta(days=1) > timedelta(days=MAX_DAYS[group]):
        raise Unprocessable(
            "stats.period_too_long",
            params={"group": group, "days": MAX_DAYS[group]},
            errors={"query": {"from": [TOO_LONG.format(MAX_DAYS[group])]}},
        )
    return start, end


def site_stats(*, who: Reacher, site_id: int, start: date | None, end: date | None, group: str) -> dict:
    """A site's figures for its whole subtree (managers in reach; others 404)."""
    site = get_in_reach(Site, site_id, Site.id, who)
    start, end = period(site, start, end, group)
    return figures.stats(site, start, end, group, language())
