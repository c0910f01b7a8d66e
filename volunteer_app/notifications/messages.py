"""What notifications say: their kinds with the text in both languages, what each kind may be about
(its subject types), and rendering a notification's text for a reader."""

from __future__ import annotations

from typing import Any

# kind -> (zh-CN, en), filled with str.format from the notification's params when shown or sent.
KINDS: dict[str, tuple[str, str]] = {
    "order.submitted": ("新订单「{title}」待派单", 'New order "{title}" is waiting to be dispatched'),
    "order.offered": (
        "您收到服务邀请「{title}」，请接单或婉拒",
        'You are invited to serve "{title}": please accept or decline',
    ),
    "order.filled": ("「{title}」已满员", '"{title}" is fully staffed'),
    "order.declined": (
        "志愿者{name}退出「{title}」，请重新派单",
        'Volunteer {name} withdrew from "{title}": please dispatch it again',
    ),
    "order.reminder": (
        "「{title}」将于{start}开始，请按时签到",
        '"{title}" starts at {start}: please check in on time',
    ),
    "activity.reminder": (
        "您报名的活动「{title}」将于{start}开始，请按时签到",
        'The activity "{title}" you signed up for starts at {start}: please check in on time',
    ),
    "activity.unaudited": (
        "活动「{title}」已过审核期限仍未审核，请尽快审核以便志愿者时长入账",
        'The activity "{title}" is past its audit deadline: audit it so the volunteers\' hours are credited',
    ),
    "activity.promoted": (
        "候补成功：您已获得活动「{title}」的名额",
        'A place on "{title}" came free: you have moved up from the waitlist',
    ),
    "activity.cancelled": (
        "活动「{title}」已取消：{reason}",
        'The activity "{title}" was cancelled: {reason}',
    ),
    "order.rate_request": ("「{title}」服务已完成，请评价", '"{title}" is done: please rate the service'),
    "order.escalated": (
        "「{title}」逾期未处理（{state}），已上报",
        '"{title}" is overdue ({state}) and was escalated',
    ),
    "order.rejected": ("订单「{title}」未被受理", 'The order "{title}" was not accepted'),
    "order.cancelled": ("「{title}」已取消", '"{title}" was cancelled'),
    "order.expired": ("「{title}」已过期关闭", '"{title}" expired and was closed'),
    "order.handover_requested": (
        "{site}请求将订单「{title}」转派给本站：{reason}",
        '{site} asks you to take over the order "{title}": {reason}',
    ),
    "order.referred_up": (
        "{site}将订单「{title}」上报至本级处理：{reason}",
        '{site} referred the order "{title}" up to you: {reason}',
    ),
    "order.handed_over": (
        "订单「{title}」已转由{site}处理",
        'The order "{title}" is now handled by {site}',
    ),
    "order.handover_declined": (
        "{site}未接收订单「{title}」的转派：{reason}",
        '{site} declined to take over the order "{title}": {reason}',
    ),
    "hours.credited": (
        "「{title}」审核通过，{duration}已存入时间存折",
        '"{title}" was approved: {duration} added to your time book',
    ),
    "ledger.mismatch": ("时间存折校验发现异常：{detail}", "The time book check found a problem: {detail}"),
    "timebank.statement": (
        "您 {month} 的时间存折月结单已生成，请查看",
        "Your time book statement for {month} is ready",
    ),
    "star.up": (
        "恭喜！您的志愿星级升至 {level} 星",
        "Congratulations: your volunteer star level rose to {level}",
    ),
    "order.pool_nearby": (
        "附近有新的抢单「{title}」，距您约 {distance_m} 米，快去看看",
        'A new order to grab near you: "{title}", about {distance_m} m away',
    ),
    "supervision.raised": (
        "上级发来督办事项「{title}」，请按期办理并报告",
        'A supervision item "{title}" was raised for your site: act on it and report by its deadline',
    ),
    "supervision.reported": (
        "督办事项「{title}」已报告办结，请确认销号或退回",
        'The supervision item "{title}" was reported done: close it or send it back',
    ),
    "supervision.sent_back": (
        "督办事项「{title}」被退回，请继续办理：{reason}",
        'The supervision item "{title}" was sent back: {reason}',
    ),
    "supervision.closed": ("督办事项「{title}」已销号", 'The supervision item "{title}" was closed'),
    "supervision.overdue": (
        "督办事项「{title}」逾期未办结，已升级为红色并上报",
        'The supervision item "{title}" is overdue: it is now red and was escalated',
    ),
    "complaint.submitted": (
        "新的群众诉求（{category}）「{title}」待办理",
        'A new complaint ({category}) "{title}" is waiting for an answer',
    ),
    "complaint.answered": (
        "您的诉求「{title}」已答复：{resolution}",
        'Your complaint "{title}" was answered: {resolution}',
    ),
    "complaint.reopened": (
        "群众对诉求「{title}」的答复不满意，已重新提出",
        'The resident was not satisfied with the answer to "{title}" and reopened it',
    ),
    "complaint.overdue": (
        "群众诉求「{title}」逾期未办理，已上报",
        'The complaint "{title}" is overdue and was escalated',
    ),
    "appeal.overdue": (
        "志愿者申诉「{title}」逾期未裁定，已上报",
        'The appeal "{title}" is overdue and was escalated',
    ),
    "appeal.submitted": (
        "志愿者{name}对「{title}」的审核提出申诉，请裁定",
        'Volunteer {name} appealed the audit of "{title}": please decide',
    ),
    "appeal.decided": (
        "您对「{title}」的申诉已有裁定结果，请查看",
        'Your appeal about "{title}" has been decided: please see the result',
    ),
}
# Security kinds: an alert about the integrity of the books (sent to admins and root managers). No one
# can opt out of them, and neither quiet hours nor the daily cap hold them back: a tampered ledger must
# be seen at once, by every channel the route names.
SECURITY_KINDS = frozenset({"ledger.mismatch"})
# Urgent kinds go out at once even in quiet hours: an offer waits on an answer, a reminder is about a
# start within the hour; deferring them to the morning would make them useless.
URGENT_KINDS = frozenset({"order.offered", "order.reminder", "activity.reminder"}) | SECURITY_KINDS
# What a notification is about, for the app to open it: subject type -> what its id is (always a string).
SUBJECT_TYPES: dict[str, str] = {
    "order": "the order's id: GET /orders/{id}",
    "activity": "the activity's id: GET /activities/{id}",
    "statement": "the month YYYY-MM of the reader's statement: GET /me/timebook/transfers?month={id}",
    "timebook": "the reader's book number: GET /me/timebook",
    "ledger": "the ledger as a whole, no id (run `flask timebank verify`)",
    "supervision_item": "the 督办 item's id: GET /supervision-items/{id}",
    "complaint": "the complaint's id: GET /complaints/{id}",
    "appeal": "the appeal's id: GET /appeals/{id}",
    "follow_up": "the follow-up's id: GET /follow-ups/{id}",
}
# kind -> the subject types it may carry (notify refuses any other, and a missing one).
KIND_SUBJECTS: dict[str, tuple[str, ...]] = {
    **{kind: ("order",) for kind in KINDS if kind.startswith("order.")},
    **{kind: ("activity",) for kind in KINDS if kind.startswith("activity.")},
    "hours.credited": ("order", "activity"),
    "ledger.mismatch": ("ledger",),
    "timebank.statement": ("statement",),
    "star.up": ("timebook",),
    **{kind: ("supervision_item",) for kind in KINDS if kind.startswith("supervision.")},
    **{kind: ("complaint",) for kind in KINDS if kind.startswith("complaint.")},
    "appeal.overdue": ("appeal",),
    "appeal.submitted": ("appeal",),
    "appeal.decided": ("appeal",),
}
# Appended when the params carry a reason the template does not already show.
REASON = ("（原因：{reason}）", " (reason: {reason})")
PARAM_TYPES = (str, int, float)


class _KeepUnknown(dict):
    """format_map values: a placeholder without a param stays as written instead of raising."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def duration_text(minutes: int, lang: str = "zh-CN") -> str:
    """Minutes as people read them: "45 分钟", "1 小时 30 分钟", "2 小时" (en: "45 minutes", "1 hour 30
    minutes"). Minutes are exact, so nothing is rounded away (a minute is never "0.0 hours")."""
    sign = "-" if minutes < 0 else ""
    whole, rest = divmod(abs(int(minutes)), 60)
    if lang == "en":
        parts = [f"{whole} hour{'s' if whole != 1 else ''}"] if whole else []
        if rest or not whole:
            parts.append(f"{rest} minute{'s' if rest != 1 else ''}")
    else:
        parts = [f"{whole} 小时"] if whole else []
        if rest or not whole:
            parts.append(f"{rest} 分钟")
    return sign + " ".join(parts)


def _minutes_of(params: dict) -> int | None:
    """The `minutes` param (older rows carried only `hours`, rounded to a tenth)."""
    minutes, old_hours = params.get("minutes"), params.get("hours")
    if isinstance(minutes, int | float) and not isinstance(minutes, bool):
        return int(minutes)
    if isinstance(old_hours, int | float) and not isinstance(old_hours, bool):
        return round(old_hours * 60)
    return None


def render(kind: str, params: dict[str, Any] | None, lang: str = "zh-CN") -> str:
    """A notification's text in one language; missing params are left as their {placeholders}. A
    `minutes` param is shown as {duration} in the reader's language."""
    zh, en = KINDS.get(kind, (kind, kind))
    english = lang == "en"
    text = en if english else zh
    values = _KeepUnknown(params or {})
    minutes = _minutes_of(values)
    if minutes is not None and "duration" not in values:
        values["duration"] = duration_text(minutes, lang)
    if values.get("reason") not in (None, "") and "{reason}" not in text:
        text += REASON[1 if english else 0]
    try:
        return text.format_map(values)
    except (AttributeError, IndexError, KeyError, ValueError):
        return text
