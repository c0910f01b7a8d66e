"""The Settings area: a site's settings as the manager may change them (every site in reach).

Each setting shows its effective value, where it comes from (set here, inherited from a site above,
or the deployment default: sites.service.get_settings) and an input. The form sends PATCH
/api/v1/sites/{id}/settings with only the fields changed (settings.js leaves the others out); an
override set here has its own small form that sends `{"field": null}`, which removes it. The API
checks every value and its errors show next to the fields.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

from volunteer_app.auth.tokens import current_principal
from volunteer_app.console import blp
from volunteer_app.console.i18n import lang, register
from volunteer_app.console.pages import current_site, page, render
from volunteer_app.reports.rankings import COMPONENTS
from volunteer_app.sites import schemas as sites_schemas
from volunteer_app.sites import service as sites

register(
    {
        "Settings apply to this site and to every site below it, unless a site below sets its own.": (
            "设置对本站点及其下级站点生效，下级站点另有设置的除外。"
        ),
        "Set here": "本站设置",
        "Inherited from {name}": "继承自 {name}",
        "Default": "系统默认",
        "Remove this override": "恢复继承",
        "Remove this site's own value and use the inherited one?": "删除本站设置，改用上级或默认值？",
        "Save changes": "保存修改",
        "Only the values you change are saved, as this site's own.": (
            "只保存您修改过的项，作为本站自己的设置。"
        ),
        "Sites below": "下级站点",
        "Dispatch": "派单",
        "Check-in, rating and audit": "签到、评价与审核",
        "Who dispatches orders": "派单方",
        "The station": "实践站派单",
        "The center": "实践中心派单",
        "Dispatch within": "派单时限",
        "A grab pool stays open for": "抢单开放时长",
        "Grabs a volunteer may hold unfinished": "每名志愿者可同时持有的抢单数",
        "A new pool is announced to volunteers within": "新抢单通知此范围内的志愿者",
        "At most this many volunteers hear of a new pool": "每个新抢单最多通知的志愿者人数",
        "Check-in radius": "签到半径",
        "Check-in and check-out grace": "签到签退宽限",
        "Rating window": "评价期限",
        "Audit window": "审核期限",
        "Star level thresholds": "星级门槛",
        "Redemption codes valid for": "兑换码有效期",
        "Most minutes per gift": "单次转赠上限",
        "Most minutes given per month": "每月转赠上限",
        "Ranking weights": "考核权重",
        "Red and black list size": "红黑榜人数",
        "Time zone": "时区",
        "minutes": "分钟",
        "hours": "小时",
        "metres": "米",
        "sites": "个站点",
        "hours, ascending, separated by commas": "小时，从低到高，用逗号分隔",
        "a weight of 0 leaves a component out; the table replaces the inherited one whole": (
            "权重为 0 表示不计该指标；保存时整表替换继承的权重"
        ),
        "Supervision and service quality": "督办与服务质量",
        "督办 deadlines by level": "督办时限（按颜色）",
        "Red": "红色",
        "Yellow": "黄色",
        "Green": "绿色",
        "days": "天",
        "percent": "%",
        "Residents may complain until": "群众可投诉期限",
        "days after the order": "天（订单结束后）",
        "Answer complaints within": "诉求办理时限",
        "Volunteers may appeal until": "志愿者可申诉期限",
        "days after the audit": "天（审核后）",
        "Decide appeals within": "申诉裁定时限",
        "Call back this share of well-rated orders": "好评订单回访抽样比例",
        "Call back within": "回访时限",
        "Setting": "设置项",
        "Current value": "当前取值",
        "Where it comes from": "来源",
    }
)


@dataclass(frozen=True)
class Field:
    key: str
    label: str  # English; the page shows it through _()
    kind: str  # int | ints | select | weights | levels | text
    unit: str | None = None
    hint: str | None = None


GROUPS = (
    (
        "Dispatch",
        (
            Field("dispatch_level", "Who dispatches orders", "select"),
            Field("dispatch_within_minutes", "Dispatch within", "int", "minutes"),
            Field("grab_window_minutes", "A grab pool stays open for", "int", "minutes"),
            Field("grab_max_open", "Grabs a volunteer may hold unfinished", "int"),
            Field("pool_push_radius_m", "A new pool is announced to volunteers within", "int", "metres"),
            Field("pool_push_max", "At most this many volunteers hear of a new pool", "int"),
        ),
    ),
    (
        "Check-in, rating and audit",
        (
            Field("checkin_radius_m", "Check-in radius", "int", "metres"),
            Field("checkin_grace_minutes", "Check-in and check-out grace", "int", "minutes"),
            Field("rating_window_hours", "Rating window", "int", "hours"),
            Field("audit_window_hours", "Audit window", "int", "hours"),
        ),
    ),
    (
        "Time bank",
        (
            Field(
                "star_thresholds_hours",
                "Star level thresholds",
                "ints",
                hint="hours, ascending, separated by commas",
            ),
            Field("redemption_ttl_hours", "Redemption codes valid for", "int", "hours"),
            Field("gift_max_minutes", "Most minutes per gift", "int", "minutes"),
            Field("gift_month_max_minutes", "Most minutes given per month", "int", "minutes"),
        ),
    ),
    (
        "Rankings",
        (
            Field(
                "ranking_weights",
                "Ranking weights",
                "weights",
                hint="a weight of 0 leaves a component out; the table replaces the inherited one whole",
            ),
            Field("ranking_board_size", "Red and black list size", "int", "sites"),
        ),
    ),
    (
        "Supervision and service quality",
        (
            Field("supervision_due_days", "督办 deadlines by level", "levels", "days"),
            Field("complaint_window_days", "Residents may complain until", "int", "days after the order"),
            Field("complaint_answer_hours", "Answer complaints within", "int", "hours"),
            Field("appeal_window_days", "Volunteers may appeal until", "int", "days after the audit"),
            Field("appeal_decide_hours", "Decide appeals within", "int", "hours"),
            Field("follow_up_sample_percent", "Call back this share of well-rated orders", "int", "percent"),
            Field("follow_up_due_hours", "Call back within", "int", "hours"),
        ),
    ),
    ("Site", (Field("timezone", "Time zone", "text"),)),
)
LEVEL_LABELS = {"station": "The station", "center": "The center"}
DISPATCH_LEVELS = tuple((level, LEVEL_LABELS[level]) for level in sites_schemas.DISPATCH_LEVELS)
TIME_ZONES = ("Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "Asia/Macau", "Asia/Taipei")


def shown(value) -> str:
    """A setting's value as an input holds it: numbers plainly, lists with commas."""
    if isinstance(value, list | tuple):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def weight_rows(weights: dict) -> list[tuple[str, str, str]]:
    """(component, its label in the page's language, the weight as shown) for every component."""
    return [
        (key, c.en if lang() == "en" else c.zh, shown(weights.get(key, 0))) for key, c in COMPONENTS.items()
    ]


LEVELS = (("red", "Red"), ("yellow", "Yellow"), ("green", "Green"))


def level_rows(days: dict) -> list[tuple[str, str, str]]:
    """(level, its label, the days as shown) for the 督办 levels."""
    return [(key, label, shown(days.get(key))) for key, label in LEVELS]


@blp.get("/settings")
@page
def settings_page():
    site = current_site()
    answer = sites.get_settings(who=current_principal(), site_id=site.id)
    below = sites.list_sites(parent_id=site.id, limit=100, cursor=request.args.get("cursor") or None)
    return render(
        "console/settings.html",
        site=site,
        answer=answer,
        groups=GROUPS,
        levels=DISPATCH_LEVELS,
        zones=TIME_ZONES,
        weights=weight_rows(answer["effective"]["ranking_weights"]),
        due_days=level_rows(answer["effective"]["supervision_due_days"]),
        shown=shown,
        below=below,
    )
