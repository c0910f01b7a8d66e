"""Orders (订单): the queue of the current site's subtree, filterable as GET /api/v1/orders is, and one
order's page with its assignments, its timeline and a form for each action its state allows.

Reads call the order domain's own queries as the caller (`orders.queries.list_orders`, `detail`,
`events`); every form is sent by console.js to the JSON API (dispatch, offers, reject, cancel, audit,
and the assignments' close and no-show), so each rule stays in its service. Which forms a page shows
follows the domain (`orders.queries.manager_actions`, the state table read): the API still decides.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import request, url_for
from sqlalchemy import select

from volunteer_app import phones
from volunteer_app.accounts import service as accounts
from volunteer_app.auth.tokens import current_principal
from volunteer_app.console import blp
from volunteer_app.console.i18n import register
from volunteer_app.console.pages import (
    category_names,
    current_site,
    field_errors,
    load_query,
    page,
    render,
    site_names,
    site_zone,
    utc_offset,
)
from volunteer_app.db import utcnow
from volunteer_app.errors import Unprocessable, error_body, language
from volunteer_app.extensions import db
from volunteer_app.orders import handover, queries
from volunteer_app.orders.common import close_default, readable
from volunteer_app.orders.models import TARGET_GROUPS, Order, OrderStatus
from volunteer_app.orders.schemas import OrderListArgs
from volunteer_app.pagination import MAX_LIMIT
from volunteer_app.schemas import Id, Text
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site, Team
from volunteer_app.sites.reach import subtree_of

PAGE_SIZE = 20
# Sites the station filter offers below the chosen one (a search narrows the rest).
STATION_CHOICES = 100
# The queue's filters: GET /api/v1/orders' own names (links from Today use them).
FILTERS = ("status", "from", "to", "category_id", "site_id", "escalated", "need")
# Shorter names a link may use for the `need` of an overdue step.
OVERDUE = {"checkout": "checkout_overdue", "audit": "audit_overdue"}

STATUS_LABEL = {
    "submitted": "Submitted",
    "rejected": "Rejected",
    "dispatched": "Dispatched",
    "staffed": "Fully staffed",
    "in_service": "In service",
    "completed": "Completed, to audit",
    "closed": "Audited and closed",
    "cancelled": "Cancelled",
    "expired": "Expired",
}
STATUS_COLOUR = {
    "submitted": "amber",
    "dispatched": "amber",
    "staffed": "green",
    "in_service": "green",
    "completed": "amber",
    "rejected": "red",
    "expired": "red",
}
KIND_LABEL = {"offer": "Offer", "grab": "Grab", "signup": "Sign-up"}
MODE_LABEL = {"assign": "Offered to named volunteers", "grab": "Open to grabbing"}
ACTION_LABEL = {
    "submit": "Ordered",
    "reject": "Rejected",
    "dispatch": "Dispatched",
    "offer": "Offered to more",
    "accept": "Offer accepted",
    "grab": "Grabbed",
    "decline": "Offer declined",
    "withdraw": "Place given back",
    "check_in": "Checked in",
    "check_out": "Checked out",
    "close_attendance": "Check-out closed by the station",
    "no_show": "No-show recorded",
    "audit": "Audited",
    "rate": "Rated",
    "rating_lapsed": "Rating window lapsed",
    "cancel": "Cancelled",
    "escalate": "Escalated",
    "expire": "Expired",
    "close_pool": "Grab pool closed",
}

register(
    {
        "Submitted": "已提交",
        "Rejected": "已驳回",
        "Dispatched": "已派单",
        "Fully staffed": "人员已满",
        "In service": "服务中",
        "Completed, to audit": "已完成待审核",
        "Audited and closed": "已审核结单",
        "Cancelled": "已取消",
        "Expired": "已过期",
        "Checked in": "已签到",
        "Checked out": "已签退",
        "Audited": "已审核",
        "Offer": "邀请",
        "Grab": "抢单",
        "Sign-up": "报名",
        "Offered to named volunteers": "派单给指定志愿者",
        "Open to grabbing": "开放抢单",
        "Ordered": "下单",
        "Offered to more": "追加邀请",
        "Offer accepted": "接受邀请",
        "Grabbed": "抢单成功",
        "Offer declined": "拒绝邀请",
        "Place given back": "退出任务",
        "Check-out closed by the station": "站点补签退",
        "No-show recorded": "登记缺席",
        "Rated": "已评价",
        "Rating window lapsed": "评价期已过",
        "Escalated": "超时上报",
        "Grab pool closed": "抢单截止",
        # the queue
        "Order queue": "订单队列",
        "All states": "全部状态",
        "Any": "不限",
        "From": "开始日期",
        "To": "结束日期",
        "Category": "服务类别",
        "All categories": "全部类别",
        "Station": "站点",
        "All stations": "全部站点",
        "Find a station": "查找站点",
        "More sites below: choose one or search by name.": "下级站点较多：请逐级选择或按名称查找。",
        "Escalated only": "仅超时督办",
        "Not escalated": "未督办",
        "Filter": "筛选",
        "Clear": "清除",
        "Showing": "显示",
        "remove": "移除",
        "Order": "订单",
        "Resident": "居民",
        "Service window": "服务时间",
        "Places": "名额",
        "escalated": "已督办",
        "The filters could not be used.": "筛选条件有误。",
        "Next page": "下一页",
        # the order's page
        "Order #{id}": "订单 #{id}",
        "Back to the queue": "返回订单队列",
        "Title": "标题",
        "Description": "说明",
        "Address": "地址",
        "Location": "位置",
        "Dispatching site": "派单站点",
        "Ordered by": "代下单",
        "Target groups": "服务对象",
        "Volunteers asked": "需要人数",
        "Places filled": "已占名额",
        "Mode": "派单方式",
        "Ordered at": "下单时间",
        "Dispatch due": "派单期限",
        "Offers or pool close": "接单截止",
        "Check-in due": "签到期限",
        "Check-out due": "签退期限",
        "Audit due": "审核期限",
        "Escalated at": "督办时间",
        "Completed at": "完成时间",
        "Closed at": "结单时间",
        "Reason": "原因",
        "Audit note": "审核备注",
        "Rating": "评价",
        "Rating due": "评价截止",
        "Awaiting rating": "待评价",
        "Not rated": "未评价",
        "Volunteers": "志愿者",
        "Volunteer": "志愿者",
        "Kind": "类型",
        "Check-in": "签到",
        "Check-out": "签退",
        "Computed": "计算时长",
        "Confirmed": "确认时长",
        "minutes": "分钟",
        "hours": "小时",
        "{m} m away": "距 {m} 米",
        "by check-in code": "扫码",
        "No one yet.": "暂无志愿者。",
        "Timeline": "时间线",
        "by the system": "系统",
        "Actions": "操作",
        "Nothing to do in this state.": "当前状态无可执行的操作。",
        # forms
        "Reject": "驳回",
        "Reject this order?": "确定驳回该订单？",
        "Cancel the order": "取消订单",
        "Cancel this order?": "确定取消该订单？",
        "Dispatch to named volunteers": "派单给指定志愿者",
        "Dispatch to a team": "派单给服务队",
        "Offer to a team": "追加邀请服务队",
        "Team": "服务队",
        "Choose a team": "选择服务队",
        "Deadline to accept": "接单截止时间",
        "Deadline": "截止时间",
        "Default: the site's grab window, before the start": "默认：站点的接单时限，且不晚于开始时间",
        "Note": "备注",
        "Send offers": "发送邀请",
        "Open a grab pool": "开放抢单",
        "Open it": "开放抢单",
        "Offer to more volunteers": "追加邀请志愿者",
        "Find volunteers": "查找志愿者",
        "Name, or the phone's last four": "姓名或手机尾号",
        "Skill": "技能",
        "Any team": "全部服务队",
        "Search": "搜索",
        "Chosen": "已选",
        "None chosen yet.": "尚未选择。",
        "Choose": "选择",
        "Star level": "星级",
        "Open tasks": "进行中任务",
        "Teams": "服务队",
        "Skills": "技能",
        "No volunteers found.": "未找到志愿者。",
        "Fits this order": "匹配本单",
        "Its category": "服务类别",
        "Match": "匹配",
        "Close the check-out": "补签退",
        "Check-out time": "签退时间",
        "Close this check-out?": "确定为该志愿者补签退？",
        "Mark a no-show": "登记缺席",
        "Mark this volunteer as a no-show?": "确定登记该志愿者缺席？",
        "Audit": "审核",
        "Confirm the minutes": "确认时长并结单",
        "A reason is needed for any change from the computed minutes.": "修改计算时长须填写原因。",
        "Confirm these minutes and close the order? The hours go into the volunteers' books.": (
            "确认以上时长并结单？时长将记入志愿者的时间存折。"
        ),
        "Loading…": "加载中…",
        # passing an order on
        "Passed on": "转派与上报",
        "Passed to a sibling station (转派)": "转派",
        "Referred up (上报)": "上报",
        "Waiting for an answer": "待对方答复",
        "Accepted by them": "已接收",
        "Withdrawn by the station": "已撤回",
        "Pass it on": "转派或上报",
        "Pass to": "转至",
        "Pass it on?": "确定转派或上报该订单？",
        "Accept the order": "接收订单",
        "Accept this order? Your station will dispatch it.": "确定接收？将由本站派单。",
        "Decline": "拒绝",
        "Withdraw the request": "撤回申请",
    }
)


# ---- the queue ---------------------------------------------------------------------------------


def _queue_args(site: Site) -> tuple[dict, dict]:
    """The queue's filters from the query string, read with GET /orders' own schema: (filters for
    list_orders, errors by field). The queue is the current site's subtree unless `site_id` names a
    site in the caller's reach."""
    raw = {key: value.strip() for key in FILTERS if (value := request.args.get(key, "")).strip()}
    errors: dict = {}
    overdue = request.args.get("overdue", "").strip()
    if overdue:
        if overdue in OVERDUE:
            raw.setdefault("need", OVERDUE[overdue])
        else:
            errors["overdue"] = [f"Must be one of: {', '.join(OVERDUE)}."]
    raw.setdefault("site_id", str(site.id))
    raw["scope"] = "managed"
    raw["limit"] = str(PAGE_SIZE)
    if request.args.get("cursor"):
        raw["cursor"] = request.args["cursor"]
    args, invalid = load_query(OrderListArgs(), raw)
    return args, field_errors(errors) | invalid


class StationSearch(ma.Schema):
    """The station filter's own search: a fragment of a site's name."""

    station_q = Text(40, load_default=None)


def _id_or_none(raw: str | None) -> int | None:
    """An id from the query string as the API reads one, else None: never a ValueError (a number of
    5000 digits is past int()'s limit, and '²' passes isdigit() but not int())."""
    try:
        return Id(strict=False).deserialize(raw) if raw else None
    except ma.ValidationError:
        return None


def _stations(site: Site, chosen: str | None, search: str | None) -> dict:
    """The station filter's options, never the whole subtree (a center has thousands of stations):
    the way down from the current site to the chosen one (`site_id`, a site of the subtree) and the
    chosen one's children (choosing one lists its own; `site_id` means its subtree); with a search,
    the chosen subtree's sites whose name holds it instead of the children. At most STATION_CHOICES
    of either: {"trail", "below", "more"}, `more` when more sites match than are offered."""
    picked = site
    chosen_id = _id_or_none(chosen)
    if chosen_id is not None:
        found = db.session.get(Site, chosen_id)
        if found is not None and found.path.startswith(site.path):
            picked = found
    trail = list(
        db.session.scalars(
            select(Site)
            .where(Site.id.in_(picked.ancestor_ids()), Site.path.startswith(site.path, autoescape=True))
            .order_by(Site.path)
        )
    )
    if search:  # in tree order (a site's path groups the sites below it)
        stmt = select(Site).where(
            subtree_of([picked.path]), Site.id != picked.id, Site.name.contains(search, autoescape=True)
        )
        stmt = stmt.order_by(Site.path)
    else:  # in the order they were made, as GET /sites lists them
        stmt = select(Site).where(Site.parent_id == picked.id).order_by(Site.id)
    below = list(db.session.scalars(stmt.limit(STATION_CHOICES + 1)))
    return {"trail": trail, "below": below[:STATION_CHOICES], "more": len(below) > STATION_CHOICES}


@blp.get("/orders")
@page
def orders():
    site = current_site()
    args, errors = _queue_args(site)
    search, search_errors = load_query(StationSearch())
    errors |= search_errors
    rows = {"items": [], "next_cursor": None}
    status = 200
    if not errors:
        try:
            rows = queries.list_orders(who=current_principal(), **args)
        except Unprocessable as error:  # e.g. a period that starts after it ends
            errors = field_errors((error.errors or {}).get("query", {}))
            message = error_body(error.status, error.error, params=error.params)["message"]
            errors["_schema"] = " ".join(filter(None, (errors.get("_schema"), message)))
    if errors:
        status = 422
    items = rows["items"]
    residents = accounts.users_by_id({o.resident_id for o in items})
    station_ids = {o.site_id for o in items}
    zones = sites.zones_of(station_ids)
    kept = {key: request.args[key] for key in (*FILTERS, "overdue", "station_q") if request.args.get(key)}
    more = (
        url_for("console.orders", site=site.id, **kept, cursor=rows["next_cursor"])
        if rows["next_cursor"]
        else None
    )
    return render(
        "console/orders.html",
        site=site,
        items=items,
        residents=residents,
        station_names=site_names(station_ids),
        zones={sid: ZoneInfo(zone) for sid, zone in zones.items()},
        categories=category_names(),
        stations=_stations(site, kept.get("site_id"), search.get("station_q")),
        chosen=kept,
        errors=errors,
        more=more,
        without_need=url_for(
            "console.orders", site=site.id, **{k: v for k, v in kept.items() if k not in ("need", "overdue")}
        ),
        statuses=list(OrderStatus),
        status_label=STATUS_LABEL,
        status_colour=STATUS_COLOUR,
        overdue=OVERDUE,
        mask=phones.mask_phone,
    ), status


# ---- one order ---------------------------------------------------------------------------------


def _minute_up(moment: datetime) -> datetime:
    whole = moment.replace(second=0, microsecond=0)
    return whole if whole == moment else whole + timedelta(minutes=1)


def _teams_for(order: Order, who) -> list[Team]:
    """Teams a dispatcher may name for this order: those in reach at the station or above it."""
    station = db.session.get(Site, order.site_id)
    stmt = (
        sites.teams_in_reach(who)
        .where(Team.site_id.in_(station.ancestor_ids()))
        .order_by(Team.site_id, Team.name)
        .limit(200)
    )
    return list(db.session.scalars(stmt))


HANDOVER_KIND = {"transfer": "Passed to a sibling station (转派)", "refer_up": "Referred up (上报)"}
HANDOVER_STATUS = {
    "pending": "Waiting for an answer",
    "accepted": "Accepted by them",
    "declined": "Declined",
    "cancelled": "Withdrawn by the station",
}


def _passing_on(order: Order, handovers: list, who) -> dict:
    """转派 / 上报 on the order's page: the order's hops with their sites' names, and what the caller may
    do now (orders.handover.offers: where it may go, whether to answer or withdraw a pending one)."""
    pending = next((h for h in handovers if h.status == "pending"), None)
    ids = {h.from_site_id for h in handovers} | {h.to_site_id for h in handovers}
    return {
        **handover.offers(order, pending, who),
        "handovers": handovers,
        "names": site_names(ids),
        "pending": pending,
        "kind_label": HANDOVER_KIND,
        "status_label": HANDOVER_STATUS,
    }


@blp.get("/orders/<int:order_id>")
@page
def order(order_id: int):
    who = current_principal()
    # A manager's page: only orders the caller may read as a manager (orders.common.read_condition: a
    # station it was passed from still reads it; an open pool a manager could see as a volunteer is not
    # theirs to run): otherwise the console's 404, like missing.
    found = readable(order_id, who)
    data = queries.detail(found, who)
    both = sites.sites_by_id({found.site_id, found.dispatch_site_id})
    station, dispatcher = both[found.site_id], both.get(found.dispatch_site_id)
    # The header keeps the site the manager came from (the queue's `?site=`), else the order's station.
    nav_site = current_site() if request.args.get("site") else station
    zone = site_zone(station)
    timeline = queries.events(who=who, order_id=found.id, limit=MAX_LIMIT, cursor=request.args.get("events"))
    people = accounts.users_by_id(
        {e.actor_id for e in timeline["items"] if e.actor_id}
        | {e.proxy_id for e in timeline["items"] if e.proxy_id}
        | ({found.proxy_id} if found.proxy_id else set())
    )
    allowed = queries.manager_actions(found, who)  # the state table's rules, read
    can = {**allowed, "close": allowed["close_attendance"]}
    passing = _passing_on(found, data["handovers"], who)
    english = language() == "en"
    more_events = (
        url_for("console.order", order_id=found.id, site=nav_site.id, events=timeline["next_cursor"])
        if timeline["next_cursor"]
        else None
    )
    return render(
        "console/order.html",
        site=nav_site,
        order=data,
        station=station,
        dispatcher=dispatcher,
        zone=zone,
        offset=utc_offset(zone, found.window_start),
        events=timeline["items"],
        more_events=more_events,
        people=people,
        category=category_names().get(found.category_id, found.category_id),
        target_groups=[
            TARGET_GROUPS[g][1 if english else 0] for g in found.target_groups if g in TARGET_GROUPS
        ],
        can=can,
        passing=passing,
        teams=_teams_for(found, who) if (can["dispatch"] or can["offer"]) else [],
        # The default of a missed check-out (the domain's), shown to the minute and rounded up so it
        # never falls before a check-in made in the same minute.
        close_default=_minute_up(close_default(found, utcnow())),
        status_label=STATUS_LABEL,
        status_colour=STATUS_COLOUR,
        kind_label=KIND_LABEL,
        mode_label=MODE_LABEL,
        action_label=ACTION_LABEL,
    )
