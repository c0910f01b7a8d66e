"""The statistics' and the ranking's tables as exports (tables.py): what a center hands to the level
above. Both are computed by the statistics themselves (reports.figures, reports.rankings) when the
export runs, so the file shows exactly what GET /sites/{id}/stats and /rankings show for the period."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select

from volunteer_app.db import utcnow
from volunteer_app.exports import tables
from volunteer_app.reports import figures, rankings
from volunteer_app.reports import supervision as supervision_figures
from volunteer_app.reports.periods import Period
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import subtree_of

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


# (zh, en, how to read it from a supervision block: reports/supervision.py)
SUPERVISION_COLUMNS = (
    ("督办下发", "Items raised", lambda f: f["items"]["raised"]),
    ("销号", "Items closed", lambda f: f["items"]["closed"]),
    ("按期销号", "Closed on time", lambda f: f["items"]["closed_on_time"]),
    ("退回重办", "Sent back", lambda f: f["items"]["reopened"]),
    ("当前超期", "Overdue now", lambda f: f["items"]["overdue_now"]),
    ("当前在办", "Open now", lambda f: f["items"]["open_now"]["total"]),
    ("其中红色", "Of which red", lambda f: f["items"]["open_now"]["red"]),
    ("诉求受理", "Complaints received", lambda f: f["complaints"]["received"]),
    ("诉求答复", "Complaints answered", lambda f: f["complaints"]["answered"]),
    ("按时答复", "Answered on time", lambda f: f["complaints"]["answered_on_time"]),
    ("诉求重开", "Complaints reopened", lambda f: f["complaints"]["reopened"]),
    ("诉求当前超期", "Complaints overdue now", lambda f: f["complaints"]["overdue_now"]),
    ("申诉提出", "Appeals filed", lambda f: f["appeals"]["filed"]),
    ("申诉支持", "Appeals upheld", lambda f: f["appeals"]["upheld"]),
    ("申诉驳回", "Appeals rejected", lambda f: f["appeals"]["rejected"]),
    ("申诉补记时长（分钟）", "Minutes credited by appeals", lambda f: f["appeals"]["minutes_credited"]),
    ("回访生成", "Follow-ups created", lambda f: f["follow_ups"]["created"]),
    ("回访完成", "Follow-ups done", lambda f: f["follow_ups"]["done"]),
    ("无法联系", "Unreachable", lambda f: f["follow_ups"]["unreachable"]),
    ("回访率", "Follow-up rate", lambda f: f["follow_ups"]["rate"]),
    ("联系成功率", "Reached share", lambda f: f["follow_ups"]["reached_share"]),
    ("回访平均满意度", "Mean satisfaction", lambda f: f["follow_ups"]["mean_satisfaction"]),
)
SUPERVISION_HEADERS = {
    "zh": ["站点", *(c[0] for c in SUPERVISION_COLUMNS)],
    "en": ["Site", *(c[1] for c in SUPERVISION_COLUMNS)],
}


def supervision_rows(_who, site, args: dict):
    """One row per child site one level down (its whole subtree), one for the site itself, then the
    total of the whole subtree: the statistics' `supervision` block for each."""
    start, end = _period(args)
    tree = figures.subtree(site)
    bounds = (
        *supervision_figures.instants(start, end, ZoneInfo(sites.effective_settings(site)["timezone"])),
        utcnow(),
    )

    def under(path: str):
        return lambda column: column.in_(select(Site.id).where(subtree_of([path])))

    def row(label, in_tree):
        block = supervision_figures.figures(in_tree, *bounds)
        return (label, *(read(block) for _zh, _en, read in SUPERVISION_COLUMNS))

    for child in tree.rows:
        if child.id != site.id and tree.child_of[child.id] == child.id:
            yield row(child.name, under(child.path))
    yield row("本级" if _lang(args) == "zh-CN" else "this site itself", lambda column: column == site.id)
    total = "合计" if _lang(args) == "zh-CN" else "Total"
    yield row(f"{total}（{site.name}）", tree.condition)


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
        "supervision",
        title={"zh": "督办与服务质量", "en": "Supervision"},
        headers=SUPERVISION_HEADERS,
        rows=supervision_rows,
        max_days=1098,
    )
    tables.register(
        "rankings", title={"zh": "考核排名", "en": "Rankings"}, headers=_ranking_headers, rows=ranking_rows
    )


register()
