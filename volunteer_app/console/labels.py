"""Words and colours the console's pages share for stored values, each decided once here: an
assignment's (or sign-up's) state on the order, activity and volunteer pages; what waits on a manager
(an order queue's `need`), worded as Today words it; a redemption's state's colour.

Templates use the globals `assignment_word(status)` (in the page's language),
`assignment_badge(status)` (the badge's colour class), `need_word(need)` and
`redemption_badge(status)` (the fulfil page also hands these colours to timebank.js).
"""

from __future__ import annotations

from volunteer_app.attendance.models import AssignmentStatus as S
from volunteer_app.console import blp
from volunteer_app.console.i18n import gettext, lang, register
from volunteer_app.timebank.models import RedemptionStatus
from volunteer_app.workbench.today import LABELS as TODAY_LABELS
from volunteer_app.workbench.today import ORDER_NEEDS

# One English word per state (so one Chinese across the console).
ASSIGNMENT_STATUS = {
    S.OFFERED: "Offered",
    S.WAITLISTED: "Waitlisted",
    S.HELD: "Holds a place",
    S.CHECKED_IN: "Checked in",
    S.CHECKED_OUT: "Checked out",
    S.AUDITED: "Audited",
    S.DECLINED: "Declined",
    S.WITHDRAWN: "Withdrawn",
    S.NO_SHOW: "No-show",
    S.CANCELLED: "Cancelled",
}
# The badge's colour: green while the volunteer is coming or there, amber while the hours wait for the
# audit, red for a no-show; the rest plain.
ASSIGNMENT_BADGE = {S.HELD: "green", S.CHECKED_IN: "green", S.CHECKED_OUT: "amber", S.NO_SHOW: "red"}
# A redemption code: amber while it waits to be fulfilled, green once fulfilled, red when it lapsed.
REDEMPTION_BADGE = {
    RedemptionStatus.ISSUED: "amber",
    RedemptionStatus.FULFILLED: "green",
    RedemptionStatus.EXPIRED: "red",
}

register(
    {
        "Offered": "已邀请",
        "Waitlisted": "候补中",
        "Holds a place": "已占名额",
        "Checked in": "已签到",
        "Checked out": "已签退",
        "Audited": "已审核",
        "Declined": "已拒绝",
        "Withdrawn": "已退出",
        "No-show": "缺席",
        "Cancelled": "已取消",
    }
)


@blp.app_template_global("assignment_word")
def assignment_word(status: str) -> str:
    """An assignment's state in the page's language (an unknown value as it is)."""
    label = ASSIGNMENT_STATUS.get(status)
    return gettext(label) if label else status


@blp.app_template_global("assignment_badge")
def assignment_badge(status: str) -> str:
    return ASSIGNMENT_BADGE.get(status, "")


@blp.app_template_global("redemption_badge")
def redemption_badge(status: str) -> str:
    return REDEMPTION_BADGE.get(status, "")


# A queue's `need` (GET /orders?need=…) → the key of Today's count that links to it.
NEED_KEYS = {need: key for key, need in ORDER_NEEDS.items()}


@blp.app_template_global("need_word")
def need_word(need: str) -> str:
    """What an order queue filtered by `need` shows, in Today's words (workbench/today.py LABELS)."""
    key = NEED_KEYS.get(need)
    return TODAY_LABELS[key][1 if lang() == "en" else 0] if key else need
