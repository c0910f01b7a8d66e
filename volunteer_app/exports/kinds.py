"""The built-in kinds of export, registered as tables (tables.py): orders with their outcome,
activities with their sign-ups, each volunteer's audited hours by month (工时汇总), and a time book's
statement. Each streams its rows from one query restricted to the site's subtree."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, select, true, union_all

from volunteer_app.accounts.models import User, VolunteerProfile
from volunteer_app.activities.models import Activity
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.errors import NotFound, invalid
from volunteer_app.exports import tables
from volunteer_app.exports.tables import (
    in_subtree,
    local,
    local_column,
    mask_name,
    mask_phone,
    period_bounds,
    stream,
    word,
)
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order, OrderEvent
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Category, Site
from volunteer_app.timebank.models import Entry, TimeAccount, Transfer

ORDER_STATUS = {
    "submitted": ("已提交", "Submitted"),
    "rejected": ("已驳回", "Rejected"),
    "dispatched": ("已派单", "Dispatched"),
    "staffed": ("人员已满", "Fully staffed"),
    "in_service": ("服务中", "In service"),
    "completed": ("已完成待审核", "Completed, to audit"),
    "closed": ("已审核结单", "Audited and closed"),
    "cancelled": ("已取消", "Cancelled"),
    "expired": ("已过期", "Expired"),
}
ORDER_MODE = {"assign": ("派单", "Assigned"), "grab": ("抢单", "Open to grab")}
RATING_STATE = {
    "pending": ("待评价", "Awaiting rating"),
    "rated": ("已评价", "Rated"),
    "unrated": ("未评价", "Not rated"),
}
YES_NO = {True: ("是", "Yes"), False: ("否", "No")}
ACTIVITY_STATUS = {
    "open": ("进行中", "Open"),
    "closed": ("已审核", "Audited"),
    "cancelled": ("已取消", "Cancelled"),
}
SIGNUP_STATUS = {
    "offered": ("已邀请", "Offered"),
    "waitlisted": ("候补", "Waitlisted"),
    "held": ("已报名", "Signed up"),
    "checked_in": ("已签到", "Checked in"),
    "checked_out": ("已签退", "Checked out"),
    "audited": ("已审核", "Audited"),
    "declined": ("已拒绝", "Declined"),
    "withdrawn": ("已退出", "Withdrawn"),
    "no_show": ("缺席", "No-show"),
    "cancelled": ("已取消", "Cancelled"),
}
TRANSFER_KIND = {
    "credit": ("服务入账", "Service credited"),
    "adjustment": ("调整", "Adjustment"),
    "reversal": ("冲正", "Reversal"),
    "redeem": ("兑换", "Redemption"),
    "refund": ("兑换退回", "Redemption refund"),
    "gift": ("转赠", "Gift"),
    "donate": ("捐赠", "Donation"),
    "demo": ("演示", "Demo"),
    "appeal": ("申诉补记", "Appeal upheld"),
}


def _yes_no(value: bool, lang: str) -> str:
    return YES_NO[bool(value)][1 if lang == "en" else 0]


def _within(column, args: dict):
    """Condition: `column` (a UTC time) falls in the period's local days."""
    start, end = period_bounds(args)
    conditions = []
    if start is not None:
        conditions.append(column >= start)
    if end is not None:
        conditions.append(column < end)
    return and_(*conditions) if conditions else true()


# ---- orders -------------------------------------------------------------------------------------------


ORDER_HEADERS = {
    "zh": [
        "订单编号", "实践站", "服务类别", "标题", "提交时间", "服务开始", "服务结束", "状态", "方式",
        "需要人数", "已接人数", "是否超时督办", "结单时间", "审核时长（分钟）", "评价星级", "评价状态",
        "居民", "居民电话",
    ],
    "en": [
        "Order", "Station", "Category", "Title", "Submitted at", "Service start", "Service end", "Status",
        "Mode", "Volunteers needed", "Volunteers taken", "Escalated", "Closed at", "Audited minutes",
        "Rating stars", "Rating state", "Resident", "Resident phone",
    ],
}  # fmt: skip


def _orders_query(site: Site, args: dict, *columns):
    return (
        select(*columns)
        .select_from(Order)
        .where(in_subtree(Order.site_id, site), _within(Order.created_at, args))
    )


def order_rows(who, site: Site, args: dict):
    lang = args.get("lang", "zh")
    category = Category.name_en if lang == "en" else Category.name_zh
    escalated = exists().where(OrderEvent.order_id == Order.id, OrderEvent.action == "escalate")
    minutes = (
        select(func.coalesce(func.sum(Assignment.minutes_confirmed), 0))
        .where(Assignment.order_id == Order.id, Assignment.status == AssignmentStatus.AUDITED)
        .scalar_subquery()
    )
    stmt = (
        _orders_query(
            site,
            args,
            Order.id,
            Site.name,
            category,
            Order.title,
            local_column(Order.created_at, args),
            local_column(Order.window_start, args),
            local_column(Order.window_end, args),
            Order.status,
            Order.mode,
            Order.volunteers_needed,
            Order.taken,
            escalated,
            local_column(Order.closed_at, args),
            minutes,
            Order.rating_stars,
            Order.rating_state,
            User.name,
            User.phone,
        )
        .join(Site, Site.id == Order.site_id)
        .join(Category, Category.id == Order.category_id)
        .join(User, User.id == Order.resident_id)
        .order_by(Order.id)
    )
    en = 1 if lang == "en" else 0
    status_words = {k: v[en] for k, v in ORDER_STATUS.items()}
    mode_words = {k: v[en] for k, v in ORDER_MODE.items()}
    rating_words = {k: v[en] for k, v in RATING_STATE.items()}
    yes, no = YES_NO[True][en], YES_NO[False][en]
    for r in stream(stmt):
        yield (
            r[0],
            r[1],
            r[2],
            r[3],
            local(r[4], args),
            local(r[5], args),
            local(r[6], args),
            status_words.get(r[7], r[7]),
            mode_words.get(r[8], "") if r[8] else "",
            r[9],
            r[10],
            yes if r[11] else no,
            local(r[12], args),
            int(r[13] or 0),
            r[14],
            rating_words.get(r[15], "") if r[15] else "",
            mask_name(r[16]),
            mask_phone(r[17]),
        )


def order_count(who, site: Site, args: dict) -> int:
    return db.session.scalar(_orders_query(site, args, func.count(Order.id))) or 0


# ---- activities and sign-ups ---------------------------------------------------------------------------


ACTIVITY_HEADERS = {
    "zh": [
        "活动编号", "站点", "标题", "开始时间", "结束时间", "活动状态", "志愿者", "志愿者编号",
        "报名状态", "签到时间", "签退时间", "确认时长（分钟）",
    ],
    "en": [
        "Activity", "Site", "Title", "Start", "End", "Activity status", "Volunteer", "Volunteer number",
        "Sign-up status", "Checked in", "Checked out", "Confirmed minutes",
    ],
}  # fmt: skip


def activity_rows(who, site: Site, args: dict):
    lang = args.get("lang", "zh")
    stmt = (
        select(
            Activity.id,
            Site.name,
            Activity.title,
            local_column(Activity.start_at, args),
            local_column(Activity.end_at, args),
            Activity.status,
            User.name,
            VolunteerProfile.volunteer_no,
            Assignment.status,
            local_column(Assignment.checkin_at, args),
            local_column(Assignment.checkout_at, args),
            Assignment.minutes_confirmed,
        )
        .select_from(Activity)
        .join(Site, Site.id == Activity.site_id)
        .outerjoin(Assignment, Assignment.activity_id == Activity.id)
        .outerjoin(User, User.id == Assignment.volunteer_id)
        .outerjoin(VolunteerProfile, VolunteerProfile.user_id == Assignment.volunteer_id)
        .where(in_subtree(Activity.site_id, site), _within(Activity.start_at, args))
        .order_by(Activity.start_at, Activity.id, Assignment.id)
    )
    for r in stream(stmt):
        yield (
            r[0],
            r[1],
            r[2],
            local(r[3], args),
            local(r[4], args),
            word(ACTIVITY_STATUS, r[5], lang),
            mask_name(r[6]) if r[6] else None,
            r[7],
            word(SIGNUP_STATUS, r[8], lang) if r[8] else None,
            local(r[9], args),
            local(r[10], args),
            r[11],
        )


def activity_count(who, site: Site, args: dict) -> int:
    """One row per sign-up, and one per activity without any: the outer join's rows."""
    stmt = (
        select(func.count())
        .select_from(Activity)
        .outerjoin(Assignment, Assignment.activity_id == Activity.id)
        .where(in_subtree(Activity.site_id, site), _within(Activity.start_at, args))
    )
    return db.session.scalar(stmt) or 0


# ---- 工时汇总: each volunteer's audited hours by month ------------------------------------------------


def months(args: dict) -> list[str]:
    """The period's months as YYYY-MM, first to last."""
    first, last = date.fromisoformat(args["from"]), date.fromisoformat(args["to"])
    found, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


HOURS_HEADERS = {  # the month columns go between the third and the last
    "zh": ["志愿者编号", "姓名", "实践站", "合计（小时）"],
    "en": ["Volunteer number", "Name", "Station", "Total (hours)"],
}


def hours_headers(args: dict) -> dict[str, list[str]]:
    columns = months(args)
    zh, en = HOURS_HEADERS["zh"], HOURS_HEADERS["en"]
    return dict(
        zh=[*zh[:3], *(f"{m[:4]}年{int(m[5:])}月" for m in columns), zh[3]],
        en=[*en[:3], *columns, en[3]],
    )


def _hours(minutes: int) -> float:
    """Hours with one decimal, halves away from zero (minutes stay the truth; this is for reading)."""
    return float((Decimal(minutes) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def _served(start: datetime, end: datetime):
    """Audited minutes with the service's start (an order's window or an activity's start), in a window
    a day wider than the period on each side (each station's own zone decides the date, in Python)."""
    audited = Assignment.status == AssignmentStatus.AUDITED
    wide_start, wide_end = start - timedelta(days=1), end + timedelta(days=1)
    by_orders = (
        select(Assignment.volunteer_id, Assignment.site_id, Order.window_start.label("at"),
               Assignment.minutes_confirmed.label("minutes"))
        .join(Order, Order.id == Assignment.order_id)
        .where(audited, Order.window_start >= wide_start, Order.window_start < wide_end)
    )  # fmt: skip
    by_activities = (
        select(Assignment.volunteer_id, Assignment.site_id, Activity.start_at.label("at"),
               Assignment.minutes_confirmed.label("minutes"))
        .join(Activity, Activity.id == Assignment.activity_id)
        .where(audited, Activity.start_at >= wide_start, Activity.start_at < wide_end)
    )  # fmt: skip
    return union_all(by_orders, by_activities).subquery("served")


def hours_rows(who, site: Site, args: dict):
    start, end = period_bounds(args)
    columns = months(args)
    index = {m: i for i, m in enumerate(columns)}
    first, last = date.fromisoformat(args["from"]), date.fromisoformat(args["to"])
    stations = db.session.execute(
        select(Site.id).where(Site.path.startswith(site.path, autoescape=True))
    ).scalars()
    zones = {site_id: ZoneInfo(tz) for site_id, tz in sites.zones_of(set(stations)).items()}
    db.session.rollback()  # end the settings read: the rows stream on a connection of their own
    served = _served(start, end)
    stmt = (
        select(
            VolunteerProfile.user_id,
            VolunteerProfile.volunteer_no,
            User.name,
            Site.name,
            served.c.site_id,
            served.c.at,
            served.c.minutes,
        )
        .select_from(VolunteerProfile)
        .join(User, User.id == VolunteerProfile.user_id)
        .join(Site, Site.id == VolunteerProfile.site_id)
        .outerjoin(served, served.c.volunteer_id == VolunteerProfile.user_id)
        .where(in_subtree(VolunteerProfile.site_id, site))
        .order_by(VolunteerProfile.site_id, VolunteerProfile.user_id)
    )
    default_zone = tables.zone(args)
    current, head, per_month = None, None, None
    for r in stream(stmt):
        if r[0] != current:
            if current is not None:
                yield (*head, *(_hours(m) for m in per_month), _hours(sum(per_month)))
            current, head, per_month = r[0], (r[1], mask_name(r[2]), r[3]), [0] * len(columns)
        if r[5] is None or not r[6]:
            continue
        at = r[5] if r[5].tzinfo else r[5].replace(tzinfo=UTC)
        day = at.astimezone(zones.get(r[4], default_zone)).date()
        if first <= day <= last:
            per_month[index[f"{day.year:04d}-{day.month:02d}"]] += r[6]
    if current is not None:
        yield (*head, *(_hours(m) for m in per_month), _hours(sum(per_month)))


def hours_count(who, site: Site, args: dict) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(VolunteerProfile)
            .where(in_subtree(VolunteerProfile.site_id, site))
        )
        or 0
    )


# ---- a time book's statement -----------------------------------------------------------------------------


STATEMENT_HEADERS = {
    "zh": ["流水号", "记账时间", "类型", "变动（分钟）", "余额（分钟）", "摘要", "服务日期"],
    "en": ["Transfer", "Posted at", "Kind", "Minutes", "Balance after (minutes)", "Memo", "Service date"],
}


def book_of(user_id: int, site: Site | None) -> TimeAccount | None:
    """The user's book, if it has one (within `site`'s subtree when a site is given)."""
    stmt = select(TimeAccount).where(TimeAccount.key == f"book:{user_id}")
    if site is not None:
        stmt = stmt.where(in_subtree(TimeAccount.site_id, site))
    return db.session.scalars(stmt).first()


def check_statement(who, site: Site | None, args: dict) -> None:
    """A manager names a volunteer (`volunteer_id`) whose book, or whose station when the book has no
    movement yet, lies in the site's subtree; 404 `timebook.not_volunteer` otherwise."""
    if site is None or args.get("scope") == "me":
        return
    user_id = args.get("volunteer_id")
    if user_id is None:
        raise invalid("volunteer_id", "required for a statement")
    if book_of(user_id, site) is not None:
        return
    profile = db.session.scalars(
        select(VolunteerProfile.user_id).where(
            VolunteerProfile.user_id == user_id, in_subtree(VolunteerProfile.site_id, site)
        )
    ).first()
    if profile is None:
        raise NotFound("timebook.not_volunteer")


def statement_rows(who, site: Site | None, args: dict):
    lang = args.get("lang", "zh")
    user_id = who.user_id if args.get("scope") == "me" else args["volunteer_id"]
    book = book_of(user_id, None if args.get("scope") == "me" else site)
    book_id = book.id if book is not None else None
    db.session.rollback()
    if book_id is None:
        return
    stmt = (
        select(
            Transfer.id,
            local_column(Entry.created_at, args),
            Transfer.kind,
            Entry.amount,
            Entry.balance_after,
            Transfer.memo,
            Transfer.service_date,
        )
        .select_from(Entry)
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .where(Entry.account_id == book_id, _within(Entry.created_at, args))
        .order_by(Entry.id)
    )
    for r in stream(stmt):
        yield (r[0], local(r[1], args), word(TRANSFER_KIND, r[2], lang), r[3], r[4], r[5], r[6])


def statement_count(who, site: Site | None, args: dict) -> int:
    user_id = who.user_id if args.get("scope") == "me" else args["volunteer_id"]
    book = book_of(user_id, None if args.get("scope") == "me" else site)
    if book is None:
        return 0
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Entry)
            .where(Entry.account_id == book.id, _within(Entry.created_at, args))
        )
        or 0
    )


def register_builtins() -> None:
    tables.register(
        "orders",
        title={"zh": "订单", "en": "Orders"},
        headers=ORDER_HEADERS,
        rows=order_rows,
        count=order_count,
    )
    tables.register(
        "activities",
        title={"zh": "活动报名", "en": "Activities"},
        headers=ACTIVITY_HEADERS,
        rows=activity_rows,
        count=activity_count,
    )
    tables.register(
        "hours",
        title={"zh": "工时汇总", "en": "Hours"},
        headers=hours_headers,
        rows=hours_rows,
        count=hours_count,
    )
    tables.register(
        "statement",
        title={"zh": "时间存折", "en": "Statement"},
        headers=STATEMENT_HEADERS,
        rows=statement_rows,
        check=check_statement,
        count=statement_count,
        period="optional",
        max_days=None,
        scopes=("site", "me"),
    )


register_builtins()
