"""Activities and service days (活动与志愿服务日): a site's activities (its sub-sites' too), one
activity with its sign-ups, the waitlist in the order it moves up, and the actions on them; the
site's service-day rules with a form that previews a rule before saving it.

Reads call activities/service.py and activities/service_days.py as the caller; every change is a form
sent to the JSON API (`/api/v1/sites/{id}/activities`, `/activities/{id}/cancel|audit`,
`/assignments/{id}/close|no-show`, `/sites/{id}/service-day-rules[/preview]`,
`/service-day-rules/{id}`); `static/activities.js` builds the audit's list and runs the preview.
"""

from __future__ import annotations

from flask import request, url_for

from volunteer_app.activities import rules as rule_specs
from volunteer_app.activities import service as activities
from volunteer_app.activities import service_days
from volunteer_app.activities.states import ActivityStatus
from volunteer_app.attendance.models import AssignmentStatus
from volunteer_app.auth.tokens import current_principal
from volunteer_app.console import blp
from volunteer_app.console.i18n import lang, register
from volunteer_app.console.pages import (
    category_names,
    current_site,
    page,
    render,
    site_names,
    site_zone,
    utc_offset,
)
from volunteer_app.db import utcnow
from volunteer_app.sites import service as sites
from volunteer_app.sites.reach import path_in_reach

PAGE = 20
# Sites below listed at once (the rest behind "More").
SITES_PAGE = 100
SIGNUPS_PAGE = 100
# An activity's sign-ups are bounded (places and waitlist ≤ 500 each, plus cancelled rows): the
# waitlist and the audit table walk them whole.
MAX_PAGES = 20


PHASES = {
    "signing_up": "Signing up",
    "under_way": "Under way",
    "to_audit": "To audit",
    ActivityStatus.CLOSED: "Audited",
    ActivityStatus.CANCELLED: "Cancelled",
}
KINDS = {
    "days_of_month": "Days of the month",
    "nth_weekday": "The nth weekday of the month",
    "nth_week": "A week of the month",
    "annual": "Dates of the year",
}
PARTS = {"morning": "Morning", "afternoon": "Afternoon", "evening": "Evening", "full_day": "Full day"}


@blp.app_template_global("activity_words")
def _words() -> dict:
    """The labels of the activity pages' stored values (each an English word of the catalogue)."""
    return {"phases": PHASES, "kinds": KINDS, "parts": PARTS}


# The list's filter (`?when=`): everything (upcoming, then past), or only those waiting for their
# audit (the service's `when=to_audit`, what Today counts).
SHOW = {"": "Upcoming and past", "to_audit": "To audit"}


@blp.get("/activities")
@page
def activities_list():
    site = current_site()
    zone = site_zone(site)
    args = request.args
    who = current_principal()
    show = args.get("when", "")
    bad_filter = show not in SHOW  # a 422 that says so, nothing listed
    empty = {"items": [], "next_cursor": None}
    to_audit = upcoming = past = empty
    if show == "to_audit":
        to_audit = activities.list_for_site(
            who=who, site_id=site.id, limit=PAGE, cursor=args.get("cursor"), when="to_audit", subtree=True
        )
    elif not bad_filter:
        upcoming = activities.list_for_site(
            who=who, site_id=site.id, limit=PAGE, cursor=args.get("cursor"), when="upcoming", subtree=True
        )
        past = activities.list_for_site(
            who=who, site_id=site.id, limit=PAGE, cursor=args.get("past_cursor"), when="past", subtree=True
        )
    parent = sites.get_site(site.parent_id) if site.parent_id else None
    children = sites.list_sites(parent_id=site.id, limit=SITES_PAGE, cursor=args.get("sites_cursor"))

    def more(page_data: dict, name: str, other: str) -> str | None:
        """The next page of one list, keeping the other list where it is."""
        if not page_data["next_cursor"]:
            return None
        keep = {other: args[other]} if args.get(other) else {}
        return url_for("console.activities_list", site=site.id, **{name: page_data["next_cursor"]}, **keep)

    html = render(
        "console/activities.html",
        site=site,
        zone=zone,
        offset=utc_offset(zone),  # the publish form's fallback: a new activity has no moment yet
        show=show,
        shows=SHOW,
        bad_filter=bad_filter,
        to_audit=to_audit,
        upcoming=upcoming,
        past=past,
        more_to_audit=to_audit["next_cursor"]
        and url_for("console.activities_list", site=site.id, when="to_audit", cursor=to_audit["next_cursor"]),
        more_upcoming=more(upcoming, "cursor", "past_cursor"),
        more_past=more(past, "past_cursor", "cursor"),
        parent=parent if parent is not None and path_in_reach(parent.path, who) else None,
        children=children,
        more_children=(
            url_for("console.activities_list", site=site.id, sites_cursor=children["next_cursor"])
            if children["next_cursor"]
            else None
        ),
        site_names=site_names(a.site_id for a in to_audit["items"] + upcoming["items"] + past["items"]),
        categories=category_names(include_inactive=False),
        category_names=category_names(),
        phase=activities.phase,
        now=utcnow(),
    )
    return html, 422 if bad_filter else 200


def _walk(who, activity_id: int, *, waitlist: bool) -> list[dict]:
    """All of one side of an activity's sign-ups, through the service's pages: the whole waitlist
    (numbered in the order places go), or every placed sign-up (the audit table names each one)."""
    found, cursor = [], None
    for _ in range(MAX_PAGES):
        chunk = activities.signups(
            who=who, activity_id=activity_id, limit=SIGNUPS_PAGE, cursor=cursor, waitlist=waitlist
        )
        found.extend(chunk["items"])
        cursor = chunk["next_cursor"]
        if cursor is None:
            break
    return found


@blp.get("/activities/<int:activity_id>")
@page
def activity_page(activity_id: int):
    who = current_principal()
    activity = activities.managed(who=who, activity_id=activity_id)
    site = sites.get_site(activity.site_id)
    zone = site_zone(site)
    now = utcnow()
    cursor = request.args.get("cursor")
    placed = activities.signups(
        who=who, activity_id=activity.id, limit=SIGNUPS_PAGE, cursor=cursor, waitlist=False
    )
    waitlist = _walk(who, activity.id, waitlist=True)
    can = activities.allowed_actions(activity, now)  # the rules the API enforces, read
    to_audit = []
    if can["audit"]:
        placed_all = _walk(who, activity.id, waitlist=False)
        to_audit = [s for s in placed_all if s["status"] == AssignmentStatus.CHECKED_OUT]
    rule = service_days.get_rule(who=who, rule_id=activity.rule_id) if activity.rule_id else None
    return render(
        "console/activity.html",
        site=site,
        zone=zone,
        offset=utc_offset(zone, activity.end_at),  # a missed check-out closes near the end
        activity=activity,
        placed=placed,
        waitlist=waitlist,
        rule=rule,
        rule_text=rule_specs.describe(rule.spec, lang()) if rule else None,
        category_names=category_names(),
        phase=activities.phase(activity, now),
        can=can,
        to_audit=to_audit,
        window_minutes=int((activity.end_at - activity.start_at).total_seconds() // 60),
    )


@blp.get("/activities/rules")
@page
def service_day_rules():
    site = current_site()
    zone = site_zone(site)
    rules = service_days.list_rules(
        who=current_principal(), site_id=site.id, limit=PAGE, cursor=request.args.get("cursor")
    )
    return render(
        "console/rules.html",
        site=site,
        zone=zone,
        rules=rules,
        categories=category_names(include_inactive=False),
        category_names=category_names(),
        kinds=[kind for kind in rule_specs.KINDS if kind in KINDS],
        parts=[part for part in rule_specs.PARTS if part in PARTS],
        part_times={part: (f"{a:%H:%M}", f"{b:%H:%M}") for part, (a, b) in rule_specs.PARTS.items()},
        en=lang() == "en",
    )


register(
    {
        # the list
        "Upcoming": "即将开展",
        "Past": "已结束",
        "Create activity": "发布活动",
        "Service-day rules": "志愿服务日规则",
        "Title": "标题",
        "Category": "服务类别",
        "Theme": "主题",
        "Description": "说明",
        "Address": "地址",
        "Latitude": "纬度",
        "Longitude": "经度",
        "The check-in point; the site's position unless changed.": "签到位置，默认为站点位置。",
        "Starts": "开始时间",
        "Ends": "结束时间",
        "On the site's clock ({offset}).": "按站点所在时区（{offset}）。",
        "Places": "名额",
        "Waitlist places": "候补名额",
        "0: no waitlist.": "0 表示不设候补。",
        "Publish": "发布",
        "When": "时间",
        "Waitlist": "候补",
        "Activity": "活动",
        "Sites below": "下级站点",
        "Up to {name}": "返回上级：{name}",
        "Nothing upcoming.": "暂无即将开展的活动。",
        "Nothing past.": "暂无已结束的活动。",
        "Show": "查看",
        "Upcoming and past": "即将开展和已结束",
        "Nothing to audit.": "暂无待审核的活动。",
        "Filter": "筛选",
        "No such filter.": "没有这个筛选条件。",
        "From a rule": "由规则生成",
        # an activity's phase (PHASES)
        "Signing up": "报名中",
        "Under way": "进行中",
        "To audit": "待审核",
        "Audited": "已审核",
        "Cancelled": "已取消",
        # the activity
        "Sign-ups": "报名名单",
        "Volunteer": "志愿者",
        "Signed up": "报名时间",
        "Joined the waitlist": "候补时间",
        "Check-in": "签到",
        "Check-out": "签退",
        "Minutes": "分钟",
        "Hours confirmed": "确认时长（小时）",
        "Computed minutes": "系统计算（分钟）",
        "Confirmed minutes": "确认时长（分钟）",
        "Reason": "原因",
        "Cancel activity": "取消活动",
        "Cancel this activity and tell everyone signed up?": "确定取消该活动并通知所有报名者？",
        "Cancelled: {reason}": "已取消：{reason}",
        "Close the check-out": "补签退",
        "Check-out time": "签退时间",
        "Default: the end of the activity, or now.": "默认为活动结束时间或当前时间。",
        "Mark a no-show": "登记缺席",
        "Record that this volunteer never came?": "确定记录该志愿者缺席？",
        "Audit": "审核",
        "Audit note": "审核备注",
        "Confirm the minutes and credit the hours": "确认时长并计入时间存折",
        "Audit and close this activity? Hours are credited at once.": (
            "确定审核并关闭该活动？时长将立即计入。"
        ),
        "Changing the computed minutes needs a reason.": "修改系统计算的时长须填写原因。",
        "No one checked out. Auditing closes the activity; those holding a place become no-shows.": (
            "无人签退。审核将关闭活动，占用名额未到场者记为缺席。"
        ),
        "The audit opens when the activity has ended.": "活动结束后方可审核。",
        "Audited {when}": "审核于 {when}",
        "Audit due": "审核期限",
        "The waitlist, in the order places go": "候补名单（按递补顺序）",
        "No one is waiting.": "无人候补。",
        "No one has signed up.": "暂无报名。",
        "Back to activities": "返回活动列表",
        "Actions": "操作",
        "Rule": "规则",
        "Window": "服务时段",
        "minutes": "分钟",
        # rules
        "In use": "启用中",
        "Paused": "已暂停",
        "Pause": "暂停",
        "Resume": "恢复",
        "Pause this rule? Activities already generated stay.": "确定暂停该规则？已生成的活动保留。",
        "Next dates": "最近日期",
        "None while paused.": "暂停中，不再生成。",
        "Write a rule": "新建规则",
        "Repeats": "重复方式",
        # a rule's kinds (KINDS) and parts of day (PARTS)
        "Days of the month": "每月固定日期",
        "The nth weekday of the month": "每月第几个星期几",
        "A week of the month": "每月第几周",
        "Dates of the year": "每年固定日期",
        "Days": "日期",
        "e.g. 5, 15, 25": "如 5, 15, 25",
        "and the last day of the month": "以及每月最后一天",
        "Which": "第几个",
        "Week of the month": "第几周",
        "Weekday": "星期",
        "Weekdays": "星期",
        "last": "最后一",
        "Dates (month-day)": "日期（月-日）",
        "e.g. 03-05, 12-05": "如 03-05, 12-05",
        "Part of day": "时段",
        "Morning": "上午",
        "Afternoon": "下午",
        "Evening": "晚上",
        "Full day": "全天",
        "Starts at": "开始时间",
        "Ends at": "结束时间",
        "Leave the times empty for the part of day's own.": "不填时间则按所选时段的默认时间。",
        "Each activity it generates": "每次生成的活动",
        "Preview": "预览",
        "Save rule": "保存规则",
        "Preview the rule before saving it.": "保存前请先预览规则。",
        "Reads as": "规则解读",
        "Time zone": "时区",
        "No date in the next two years.": "未来两年内没有日期。",
        "Saving generates this month's and next month's activities.": "保存后将生成本月和下月的活动。",
        "Monday": "星期一",
        "Tuesday": "星期二",
        "Wednesday": "星期三",
        "Thursday": "星期四",
        "Friday": "星期五",
        "Saturday": "星期六",
        "Sunday": "星期日",
    }
)
