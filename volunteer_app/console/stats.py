"""The Statistics area: a site's figures over a period with charts, the child sites' ranking and the
volunteer leaderboard, the exports (a button per kind and format; stats.js follows the job) and the
exports made from the site.

Every figure comes from the statistics' own functions (reports.service.site_stats, rankings,
leaderboard) called as the caller; the page only lays them out. A period is `?period=2026-11`
(`2026`, `2026-Q4`) or `?from=…&to=…`; by default this month up to today on the site's clock (the
ranking and the leaderboard: last month, their API's default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import marshmallow as ma
from flask import request

from volunteer_app.auth.tokens import current_principal
from volunteer_app.console import blp, charts
from volunteer_app.console.i18n import gettext as _
from volunteer_app.console.i18n import lang, register
from volunteer_app.console.pages import current_site, field_errors, page, render, site_zone
from volunteer_app.errors import Unprocessable, error_body
from volunteer_app.exports import service as exports
from volunteer_app.exports import tables
from volunteer_app.reports import leaderboard, periods, rankings
from volunteer_app.reports import service as reports
from volunteer_app.reports.schemas import StatsArgs
from volunteer_app.sites import service as sites

register(
    {
        "Overview": "概况",
        "Rankings": "考核排名",
        "Exports": "导出",
        "Exports made": "导出记录",
        "Period": "统计区间",
        "This month": "本月",
        "Last month": "上月",
        "This quarter": "本季度",
        "This year": "本年",
        "Month": "月份",
        "Quarter": "季度",
        "Year": "年度",
        "From": "开始日期",
        "To": "结束日期",
        "Show": "查看",
        "Choose a period": "选择区间",
        "{start} to {end}": "{start} 至 {end}",
        "Figures as of {moment}": "数据截至 {moment}",
        "{n} changes not yet counted: the figures will be exact within a minute.": (
            "尚有 {n} 项变动未计入，统计将在一分钟内更新为准确值。"
        ),
        "Exact: every change is counted.": "数据准确：所有变动均已计入。",
        "Sessions": "场次",
        "of which orders": "其中点单",
        "of which activities": "其中活动",
        "Attendances": "人次",
        "Service hours": "服务时长（小时）",
        "People served": "服务群众",
        "Active volunteers": "活跃志愿者",
        "Satisfaction (4–5 stars)": "满意度（4–5星）",
        "No-show rate": "爽约率",
        "Station coverage": "站点覆盖率",
        "Orders by outcome": "点单办理情况",
        "Submitted": "已提交",
        "Closed": "办结",
        "Rejected": "已驳回",
        "Cancelled": "已取消",
        "Expired": "已过期",
        "Still open": "办理中",
        "Escalated": "超时上报",
        "By target group": "按服务对象",
        "Satisfaction": "满意度",
        "Rated": "已评价",
        "Unrated": "未评价",
        "Rating window open": "待评价",
        "Mean stars": "平均星级",
        "Share with 4–5 stars": "4–5星占比",
        "Rating rate": "评价率",
        "Response times": "响应时间",
        "Orders": "订单",
        "Median": "中位数",
        "90th percentile": "90%分位",
        "Beyond 7 days": "超过7天",
        "Submission to dispatch": "提交到派单",
        "Dispatch to fully staffed": "派单到满员",
        "Escalated share": "上报比例",
        "Expired share": "超时未办比例",
        "within {n} min": "{n}分钟内",
        "within {n} h": "{n}小时内",
        "within {n} days": "{n}天内",
        "Volunteers": "志愿者",
        "Approved by the end": "期末志愿者",
        "New": "新增",
        "Active": "活跃",
        "No-shows": "爽约",
        "Time bank movements": "时间银行流水",
        "Books issued": "新开存折",
        "Minutes credited": "存入（分钟）",
        "Minutes adjusted": "调整（分钟）",
        "Minutes reversed": "冲正（分钟）",
        "Minutes redeemed": "兑换（分钟）",
        "Minutes refunded": "退回（分钟）",
        "Minutes given": "转赠（分钟）",
        "Coverage": "覆盖情况",
        "Supervision and service quality": "督办与服务质量",
        "Supervision items raised": "督办下发",
        "Closed (on time)": "销号（按期）",
        "Sent back": "退回重办",
        "Open now (red)": "当前在办（红色）",
        "Overdue now": "当前超期",
        "Complaints received": "诉求受理",
        "Answered (on time)": "答复（按时）",
        "Complaints open now (overdue)": "诉求待答复（超时）",
        "Appeals upheld / rejected": "申诉支持／驳回",
        "Minutes credited by appeals": "申诉补记时长（分钟）",
        "Follow-ups created / done": "回访生成／完成",
        "Follow-up rate": "回访率",
        "Mean satisfaction on follow-up": "回访平均满意度",
        "Stations": "实践站",
        "With sessions": "有服务的站",
        "Idle stations": "无服务的站",
        "None: every station held a session.": "无：每个站都有服务。",
        "Charts": "图表",
        "Chart of": "图表指标",
        "Orders submitted": "提交点单",
        "By month: the 12 months to {end}": "按月：截至 {end} 的12个月",
        "By category": "按服务类别",
        "Child sites side by side": "下级站点对比",
        "Category": "服务类别",
        "Site": "站点",
        "No categories in this period.": "该区间没有分类数据。",
        "Kind": "类型",
        "Format": "格式",
        "Export the period {start} to {end}": "导出区间 {start} 至 {end}",
        "Queued": "排队中",
        "Running": "正在生成",
        "Done": "已完成",
        "Failed": "失败",
        "Download": "下载",
        "All exports": "全部导出记录",
        "Requested": "导出时间",
        "By": "导出人",
        "Rows": "行数",
        "File": "文件",
        "Status": "状态",
        "Ready": "已生成",
        "Being made": "生成中",
        "Score": "总分",
        "Rank": "名次",
        "Component": "指标",
        "Value": "原始值",
        "Weight": "权重",
        "Points": "得分",
        "Component score": "指标分（0–100）",
        "Red list (the best)": "红榜",
        "Black list (the worst)": "黑榜",
        "No child sites to rank.": "没有可排名的下级站点。",
        "Scores of the child sites": "下级站点总分",
        "Volunteer leaderboard": "志愿者排行榜",
        "Volunteer": "志愿者",
        "Home station": "所属站",
        "Hours": "服务时长（小时）",
        "Names are masked unless the volunteer chose to show theirs.": "除本人选择公开外，姓名均已隐去。",
        "Higher is better": "越高越好",
        "Lower is better": "越低越好",
        "No data": "无数据",
        "Ranking period": "排名区间",
    }
)

EXPORT_KINDS = ("orders", "activities", "hours", "stats", "supervision", "rankings")
FORMATS = ("csv", "xlsx")
# What the charts can show: key → (its label, how to read it from a group's figures).
METRICS = {
    "service_hours": ("Service hours", lambda f: f["service_hours"]),
    "sessions": ("Sessions", lambda f: f["sessions"]["total"]),
    "attendances": ("Attendances", lambda f: f["attendances"]),
    "people_served": ("People served", lambda f: f["people_served"]),
    "orders_submitted": ("Orders submitted", lambda f: f["orders"]["submitted"]),
}


@dataclass
class Chosen:
    """The period the page was asked for (None: the service's default) and any error in the asking."""

    period: str | None = None
    start: date | None = None
    end: date | None = None
    errors: dict = field(default_factory=dict)


def chosen_period() -> Chosen:
    """`?period=` (a year, month or quarter) or `?from=&to=`, checked as the API checks them."""
    args = request.args
    if args.get("period"):
        found = periods.parse(args["period"])
        if found is None:
            return Chosen(period=args["period"], errors=field_errors({"period": [periods.BAD_PERIOD]}))
        return Chosen(period=found.label, start=found.start, end=found.end)
    asked = {key: args[key] for key in ("from", "to") if args.get(key)}
    if not asked:
        return Chosen()
    try:
        loaded = StatsArgs().load(asked)
    except ma.ValidationError as error:
        return Chosen(errors=field_errors(error.messages))
    return Chosen(start=loaded["start"], end=loaded["end"])


def _month_back(month: date, n: int) -> date:
    index = month.year * 12 + month.month - 1 - n
    return date(index // 12, index % 12 + 1, 1)


def picker_options(today: date) -> dict:
    """The periods the picker offers: the last 12 months, 8 quarters and 3 years, newest first."""
    this_month = today.replace(day=1)
    months = [f"{_month_back(this_month, n):%Y-%m}" for n in range(12)]
    quarter = (today.month - 1) // 3
    quarters = []
    for n in range(8):
        index = today.year * 4 + quarter - n
        quarters.append(f"{index // 4}-Q{index % 4 + 1}")
    years = [str(today.year - n) for n in range(3)]
    return {
        "months": months,
        "quarters": quarters,
        "years": years,
        "quick": [
            (_("This month"), months[0]),
            (_("Last month"), months[1]),
            (_("This quarter"), quarters[0]),
            (_("This year"), years[0]),
        ],
    }


def within(minutes: int | None) -> str:
    """A response time's bin edge in words: 'within 45 min', 'within 2 h', 'within 3 days', or —."""
    if minutes is None:
        return "—"
    if minutes < 60:
        return _("within {n} min", n=minutes)
    if minutes < 1440:
        return _("within {n} h", n=f"{minutes / 60:g}")
    return _("within {n} days", n=f"{minutes / 1440:g}")


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def number(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def _points(groups: list[dict], read, label=lambda g: g["label"]) -> list[charts.Point]:
    return [(label(g), read(g["figures"]), number(read(g["figures"]))) for g in groups]


def export_forms() -> list[dict]:
    """The export buttons: a kind (its title in the page's language) and its two formats."""
    file_lang = "en" if lang() == "en" else "zh"
    return [
        {"kind": kind, "title": tables.get(kind).title_in(file_lang), "formats": FORMATS}
        for kind in EXPORT_KINDS
        if tables.get(kind) is not None
    ]


def export_titles() -> dict[str, str]:
    """Every kind of export a site's record can name, by its title in the page's language."""
    file_lang = "en" if lang() == "en" else "zh"
    return {name: tables.get(name).title_in(file_lang) for name in tables.names("site")}


@blp.get("/stats")
@page
def stats():
    site = current_site()
    who = current_principal()
    chosen = chosen_period()
    metric = request.args.get("metric", "service_hours")
    metric = metric if metric in METRICS else "service_hours"
    context = {
        "site": site,
        "zone": site_zone(site),
        "chosen": chosen,
        "picker": picker_options(sites.local_time(site).date()),
        "metric": metric,
        "metrics": [(key, _(label)) for key, (label, _read) in METRICS.items()],
        "kinds": export_forms(),
        "titles": export_titles(),
        "within": within,
        "percent": percent,
        "number": number,
    }
    answer = None
    if not chosen.errors:
        try:
            answer = reports.site_stats(
                who=who, site_id=site.id, start=chosen.start, end=chosen.end, group="category"
            )
        except Unprocessable as error:  # the period starts after it ends, or is too long
            chosen.errors = field_errors((error.errors or {}).get("query", {}))
            context["message"] = error_body(error.status, error.error, params=error.params)["message"]
    if answer is None:
        return render("console/stats.html", answer=None, **context), 422
    start, end = answer["start"], answer["end"]
    by_child = reports.site_stats(who=who, site_id=site.id, start=start, end=end, group="child")
    by_month = reports.site_stats(
        who=who, site_id=site.id, start=_month_back(end.replace(day=1), 11), end=end, group="month"
    )
    months = by_month["groups"]
    for group in months:
        group["label"] = group["key"][:7]  # 2026-11-01 → 2026-11
    label, read = METRICS[metric]
    title = " · " + _(label)
    return render(
        "console/stats.html",
        answer=answer,
        start=start,
        end=end,
        children=by_child["groups"],
        months=months,
        month_chart=charts.columns(
            "chart-months",
            _("By month: the 12 months to {end}", end=end.isoformat()) + title,
            _points(months, read),
        ),
        category_chart=charts.hbars(
            "chart-categories", _("By category") + title, _points(answer["groups"], read)
        ),
        child_chart=charts.hbars(
            "chart-children", _("Child sites side by side") + title, _points(by_child["groups"], read)
        ),
        records=exports.list_records(who=who, site_id=site.id, limit=5, cursor=None),
        **context,
    )


@blp.get("/stats/rankings")
@page
def stats_rankings():
    site = current_site()
    who = current_principal()
    zone = site_zone(site)
    today = sites.local_time(site).date()
    context = {"site": site, "zone": zone, "picker": picker_options(today), "titles": export_titles()}
    asked = request.args.get("period")
    period = None
    if asked:
        period = periods.parse(asked)
        if period is None:
            errors = field_errors({"period": [periods.BAD_PERIOD]})
            page_ = render(
                "console/stats_rankings.html", answer=None, board=None, asked=asked, errors=errors, **context
            )
            return page_, 422
    answer = rankings.site_rankings(who=who, site_id=site.id, period=period, lang=lang())
    board = leaderboard.site_leaderboard(who=who, site_id=site.id, period=period, limit=20)
    chart = charts.hbars(
        "chart-scores",
        _("Scores of the child sites") + f" · {answer['period']}",
        [(e["site"]["name"], e["score"], f"{e['score']:.2f}") for e in answer["rankings"]],
    )
    return render(
        "console/stats_rankings.html",
        answer=answer,
        board=board,
        asked=answer["period"],
        errors={},
        chart=chart,
        kinds=export_forms(),
        start=answer["start"],
        end=answer["end"],
        value_of=ranking_value,
        **context,
    )


def ranking_value(component: dict) -> str:
    """A ranking component's raw value as its unit says: a count, minutes (as hours), a share."""
    value = component["value"]
    if value is None:
        return _("No data")
    if component["unit"] == "share":
        return percent(value)
    if component["unit"] == "minutes":
        return within(int(value)) if component["component"] == "response" else f"{value / 60:.2f} h"
    return str(value)


@blp.get("/stats/exports")
@page
def stats_exports():
    site = current_site()
    records = exports.list_records(
        who=current_principal(), site_id=site.id, limit=20, cursor=request.args.get("cursor") or None
    )
    return render(
        "console/stats_exports.html", site=site, zone=site_zone(site), records=records, titles=export_titles()
    )
