"""The statistics' and the ranking's tables as exports (tables.py): what a center hands to the level
above. Both are computed by the statistics themselves (reports.figures, reports.rankings) when the
export runs, so the file shows exactly what GET /sites/{id}/stats and /rankings show for the period."""

from __future__ import annotations

from datetime import date

from volunteer_app.exports import tables
from volunteer_app.reports import figures, rankings
from volunteer_app.reports.periods import Period
from volunteer_app.sites import service as sites

# (zh, en, how to read it from a group's figures)
STATS_COLUMNS = (
    ("场次", "Sessions", lambda f: f["sessions"]["total"]),
    ("其中点单", "Order sessions", lambda f: f["sessions"]["orders"]),
    ("其中活动", "Activity sessions", lambda f: f["sessions"]["activities"]),
    ("人次", "Attendances", lambda f: f["attendances"]),
    ("服务时长（小时）", "Service hours", lambda f: f["service_hours"]),
    ("服务群众", "People served", lambda f: f["people_served"]),
    ("提交点单", "Orders submitted", lambda f: f["orders"]["submitted"]),
    ("驳回", "Rejected", lambda f: f["orders"]["rejected"]),
    ("取消", "Cancelled", lambda f: f["orders"]["cancelled"]),
    ("超时未办", "Expired", lambda f: f["orders"]["expired"]),
    ("上报", "Escalated", lambda f: f["orders"]["escalated"]),
    ("办结", "Closed", lambda f: f["orders"]["closed"]),
    ("已评价", "Rated", lambda f: f["satisfaction"]["rated"]),
    ("平均星级", "Mean stars", lambda f: f["satisfaction"]["mean_stars"]),
    ("4–5星占比", "Share 4–5 stars", lambda f: f["satisfaction"]["share_4_5_stars"]),
    ("未评价", "Unrated", lambda f: f["satisfaction"]["unrated"]),
    ("评价率", "Rating rate", lambda f: f["satisfaction"]["rating_rate"]),
    (
        "派单用时中位数（分钟内）",
        "Dispatch median (within min)",
        lambda f: f["response"]["dispatch"]["median_within_minutes"],
    ),
    (
        "派单用时P90（分钟内）",
        "Dispatch p90 (within min)",
        lambda f: f["response"]["dispatch"]["p90_within_minutes"],
    ),
    (
        "满员用时中位数（分钟内）",
        "Staffing median (within min)",
        lambda f: f["response"]["staffing"]["median_within_minutes"],
    ),
    ("志愿者（期末）", "Volunteers (at the end)", lambda f: f["volunteers"]["approved"]),
    ("新增志愿者", "New volunteers", lambda f: f["volunteers"]["new"]),
    ("活跃志愿者", "Active volunteers", lambda f: f["volunteers"]["active"]),
    ("爽约", "No-shows", lambda f: f["volunteers"]["no_shows"]),
    ("爽约率", "No-show rate", lambda f: f["volunteers"]["no_show_rate"]),
    ("存入时长（分钟）", "Minutes credited", lambda f: f["timebank"]["credited_minutes"]),
    ("兑换时长（分钟）", "Minutes redeemed", lambda f: f["timebank"]["redeemed_minutes"]),
    ("转赠时长（分钟）", "Minutes given", lambda f: f["timebank"]["gifted_minutes"]),
)
STATS_HEADERS = {
    "zh": ["站点", *(c[0] for c in STATS_COLUMNS)],
    "en": ["Site", *(c[1] for c in STATS_COLUMNS)],
}


def _lang(args: dict) -> str:
    return "en" if args.get("lang") == "en" else "zh-CN"


def _period(args: dict) -> tuple[date, date]:
    return date.fromisoformat(args["from"]), date.fromisoformat(args["to"])


def stats_rows(_who, site, args: dict):
    """One row per child site one level down (and the site itself when it has rows of its own), then
    the total of the whole subtree."""
    start, end = _period(args)
    answer = figures.stats(site, start, end, "child", _lang(args))
    for group in answer["groups"]:
        yield (group["label"], *(read(group["figures"]) for _zh, _en, read in STATS_COLUMNS))
    total = "合计" if _lang(args) == "zh-CN" else "Total"
    yield (f"{total}（{site.name}）", *(read(answer["figures"]) for _zh, _en, read in STATS_COLUMNS))


def _ranking_headers(args: dict) -> dict[str, list[str]]:
    zh, en = ["名次", "站点", "总分"], ["Rank", "Site", "Score"]
    for c in rankings.COMPONENTS.values():
        zh += [f"{c.zh}（值）", f"{c.zh}（得分）"]
        en += [f"{c.en} (value)", f"{c.en} (points)"]
    return {"zh": zh, "en": en}


def ranking_rows(_who, site, args: dict):
    start, end = _period(args)
    period = Period(f"{start}…{end}", start, end)
    answer = rankings.rank(site, period, sites.effective_settings(site), _lang(args))
    for entry in answer["rankings"]:
        cells = [entry["rank"], entry["site"]["name"], entry["score"]]
        for component in entry["components"]:
            cells += [component["value"], component["points"]]
        yield tuple(cells)


def register() -> None:
    tables.register(
        "stats",
        title={"zh": "统计", "en": "Statistics"},
        headers=STATS_HEADERS,
        rows=stats_rows,
        max_days=1098,
    )
    tables.register(
        "rankings", title={"zh": "考核排名", "en": "Rankings"}, headers=_ranking_headers, rows=ranking_rows
    )


register()
