"""督办与服务质量 in the console: one area with a tab per list (items the site must act on, items it
raised, complaints, appeals, follow-up calls), each filterable as its API list is, and one page per
record with its facts, its timeline and a form for each move its state allows.

Reads call supervision's own list functions as the caller; a record's page loads it through the one
reach helper (out of reach: the console's 404) and reads its timeline from supervision.states. Every
form is sent by console.js to the JSON API, so each rule (who may close, the windows, the ledger credit
of an upheld appeal) stays in its service: the page offers the moves the state table has from the
record's state, and the API still decides who may make them.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import request

from volunteer_app.accounts import service as accounts
from volunteer_app.auth.tokens import current_principal
from volunteer_app.console import blp
from volunteer_app.console.i18n import register
from volunteer_app.console.pages import current_site, page, render, site_names, site_zone
from volunteer_app.errors import DomainError, NotFound
from volunteer_app.sites import service as sites
from volunteer_app.sites.reach import get_in_reach
from volunteer_app.supervision import appeals, complaints, follow_ups, items, states
from volunteer_app.supervision.common import is_overdue, reaches
from volunteer_app.supervision.models import COMPLAINT_CATEGORIES, Level

PAGE_SIZE = 20


@dataclass(frozen=True)
class Form:
    action: str  # the table's action this form makes
    path: str  # the API path after /api/v1/<records>/<id>/
    label: str
    fields: tuple[
        tuple[str, str, str], ...
    ]  # (name, label, kind: text | textarea | level | int | moment | reached | stars)
    danger: bool = False


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    machine: states.Machine
    api: str  # the API collection of one record: /api/v1/<api>/<id>
    statuses: tuple[str, ...]
    forms: tuple[Form, ...]


TABS = {
    "acting": Tab(
        "acting",
        "Items to act on",
        states.ITEMS,
        "supervision-items",
        ("open", "reported", "closed", "withdrawn"),
        (
            Form("note", "notes", "Add a progress note", (("note", "Note", "textarea"),)),
            Form("report", "report", "Report it done", (("result", "What was done", "textarea"),)),
            Form("close", "close", "Confirm and close (销号)", (("note", "Note", "textarea"),)),
            Form(
                "send_back",
                "send-back",
                "Send it back",
                (("reason", "Reason", "textarea"), ("due_at", "New deadline", "moment")),
                danger=True,
            ),
            Form(
                "withdraw", "withdraw", "Withdraw the item", (("reason", "Reason", "textarea"),), danger=True
            ),
        ),
    ),
    "complaints": Tab(
        "complaints",
        "Complaints",
        states.COMPLAINTS,
        "complaints",
        ("open", "answered", "closed", "withdrawn"),
        (
            Form("note", "notes", "Add a note", (("note", "Note", "textarea"),)),
            Form("answer", "answer", "Answer the resident", (("resolution", "Resolution", "textarea"),)),
            Form(
                "supervise",
                "supervise",
                "Raise a supervision item about it",
                (
                    ("level", "Level", "level"),
                    ("subject", "Subject", "text"),
                    ("description", "Description", "textarea"),
                ),
            ),
        ),
    ),
    "appeals": Tab(
        "appeals",
        "Appeals",
        states.APPEALS,
        "appeals",
        ("pending", "upheld", "rejected", "withdrawn"),
        (
            Form(
                "uphold",
                "uphold",
                "Uphold: credit the difference",
                (("minutes_granted", "Minutes in all", "int"), ("note", "Note", "textarea")),
            ),
            Form("reject", "reject", "Reject the appeal", (("note", "Reason", "textarea"),), danger=True),
        ),
    ),
    "follow_ups": Tab(
        "follow_ups",
        "Follow-up calls",
        states.FOLLOW_UPS,
        "follow-ups",
        ("pending", "done", "unreachable"),
        (
            Form(
                "reached",
                "calls",
                "Record a call",
                (
                    ("reached", "Reached the resident", "reached"),
                    ("satisfaction", "Satisfaction", "stars"),
                    ("notes", "Notes", "textarea"),
                ),
            ),
            Form("give_up", "give-up", "Give up: unreachable", (("note", "Note", "textarea"),), danger=True),
        ),
    ),
}
# The items a site raised are the same records as "acting", listed from the other side.
RAISED = "raised"

STATUS_LABEL = {
    "open": "Open",
    "reported": "Reported done",
    "closed": "Closed off",
    "withdrawn": "Taken back",
    "answered": "Answered",
    "pending": "Awaiting",
    "upheld": "Upheld",
    "rejected": "Rejected",
    "done": "Done",
    "unreachable": "Unreachable",
}
STATUS_COLOUR = {
    "open": "amber",
    "reported": "amber",
    "pending": "amber",
    "answered": "green",
    "done": "green",
}
LEVEL_LABEL = {"red": "Red", "yellow": "Yellow", "green": "Green"}
ACTION_LABEL = {
    "raise": "Raised",
    "note": "Note",
    "report": "Reported done",
    "close": "Closed (销号)",
    "send_back": "Sent back",
    "withdraw": "Withdrawn",
    "escalate": "Overdue: escalated",
    "submit": "Submitted",
    "answer": "Answered",
    "supervise": "Supervision item raised",
    "accept": "Accepted by the resident",
    "reopen": "Reopened by the resident",
    "uphold": "Upheld",
    "reject": "Rejected",
    "create": "Created",
    "reached": "Call: reached",
    "missed": "Call: not reached",
    "give_up": "Given up",
}
REASON_LABEL = {"low_rating": "Rated 1–2 stars", "unrated": "Not rated", "sample": "Sample"}
APPEAL_KIND_LABEL = {"cut": "Minutes cut", "no_show": "No-show mark"}

register(
    {
        "Supervision": "督办",
        "Items to act on": "待办督办",
        "Items raised": "发起的督办",
        "Complaints": "群众诉求",
        "Appeals": "志愿者申诉",
        "Follow-up calls": "回访",
        "Open": "办理中",
        "Reported done": "已报结",
        "Closed off": "已销号",
        "Taken back": "已撤回",
        "Answered": "已答复",
        "Awaiting": "待处理",
        "Upheld": "已支持",
        "Rejected": "已驳回",
        "Done": "已完成",
        "Unreachable": "联系不上",
        "Red": "红色",
        "Yellow": "黄色",
        "Green": "绿色",
        "Level": "等级",
        "Subject": "事项",
        "Due": "期限",
        "Overdue": "已逾期",
        "overdue": "逾期",
        "Overdue only": "仅逾期",
        "Not overdue": "未逾期",
        "Acting site": "承办站点",
        "Raised by": "发起站点",
        "About": "关于",
        "What was done": "办理情况",
        "Times sent back": "退回次数",
        "Add a progress note": "添加进展",
        "Add a note": "添加备注",
        "Report it done": "报结",
        "Confirm and close (销号)": "确认销号",
        "Send it back": "退回重办",
        "New deadline": "新期限",
        "Withdraw the item": "撤回督办",
        "Answer the resident": "答复群众",
        "Resolution": "处理结果",
        "Raise a supervision item about it": "就此发起督办",
        "Uphold: credit the difference": "支持申诉：补记差额",
        "Minutes in all": "认定总时长（分钟）",
        "Reject the appeal": "驳回申诉",
        "Record a call": "登记回访",
        "Reached the resident": "是否联系上",
        "Yes": "是",
        "No": "否",
        "Satisfaction": "满意度",
        "Notes": "备注",
        "Give up: unreachable": "放弃：联系不上",
        "Raise a supervision item against {name}": "对{name}发起督办",
        "Raise it": "发起",
        "Description": "说明",
        "Kind": "类型",
        "Claimed": "申诉时长",
        "Before": "原认定",
        "Granted": "认定",
        "Calls": "回访次数",
        "Reason": "原因",
        "Rated 1–2 stars": "差评（1–2 星）",
        "Not rated": "未评价",
        "Sample": "抽样",
        "Minutes cut": "时长核减",
        "No-show mark": "缺席登记",
        "Raised": "发起",
        "Note": "备注",
        "Closed (销号)": "已销号",
        "Overdue: escalated": "逾期上报",
        "Submitted": "已提交",
        "Supervision item raised": "已发起督办",
        "Accepted by the resident": "群众认可",
        "Reopened by the resident": "群众不满意重开",
        "Created": "生成",
        "Call: reached": "回访：已联系上",
        "Call: not reached": "回访：未联系上",
        "Given up": "已放弃",
        "Timeline": "时间线",
        "by the system": "系统",
        "Actions": "操作",
        "Nothing to do in this state.": "当前状态无可执行的操作。",
        "Back to the list": "返回列表",
        "Next page": "下一页",
        "State": "状态",
        "All states": "全部状态",
        "Any": "不限",
        "Filter": "筛选",
        "Order": "订单",
        "Resident": "居民",
        "Volunteer": "志愿者",
        "Station": "站点",
        "Deciding site": "裁定站点",
    }
)


def _lists() -> dict:
    """Each tab's list function, called as the caller on the site's subtree."""
    return {
        "acting": lambda **kw: items.list_items(side="acting", **kw),
        RAISED: lambda **kw: items.list_items(side="raised", **kw),
        "complaints": complaints.list_for_site,
        "appeals": lambda **kw: appeals.list_for_site(side="deciding", **kw),
        "follow_ups": follow_ups.list_for_site,
    }


SITE_FIELDS = ("site_id", "raised_site_id", "deciding_site_id")


def _field(row, name: str):
    """A field of a list's row (a service's dict, or a record) or None."""
    return row.get(name) if isinstance(row, dict) else getattr(row, name, None)


def _flag(value: str) -> bool | None:
    return {"true": True, "false": False}.get(value)


@blp.get("/supervision")
@page
def supervision():
    site = current_site()
    tab_key = request.args.get("tab", "acting")
    if tab_key not in (*TABS, RAISED):
        raise NotFound()
    tab = TABS["acting" if tab_key == RAISED else tab_key]
    status = request.args.get("status", "")
    status = status if status in tab.statuses else None
    level = request.args.get("level", "")
    level = level if level in LEVEL_LABEL and tab.key == "acting" else None
    overdue = _flag(request.args.get("overdue", ""))
    filters = {"status": status, "overdue": overdue}
    if level:
        filters["level"] = level
    try:
        found = _lists()[tab_key](
            who=current_principal(),
            site_id=site.id,
            limit=PAGE_SIZE,
            cursor=request.args.get("cursor") or None,
            **filters,
        )
    except DomainError as error:  # a cursor that is not ours: the first page, said once
        if error.status != 400:
            raise
        found = {"items": [], "next_cursor": None}
    rows = found["items"]
    # The lists' rows say whether they are overdue (a follow-up's row is the record: asked of the rule).
    late = {
        _field(r, "id") for r in rows if (r["overdue"] if isinstance(r, dict) else is_overdue(tab.machine, r))
    }
    names = site_names({_field(r, c) for r in rows for c in SITE_FIELDS} - {None})
    return render(
        "console/supervision.html",
        site=site,
        tab=tab_key,
        tabs=(
            ("acting", "Items to act on"),
            (RAISED, "Items raised"),
            ("complaints", "Complaints"),
            ("appeals", "Appeals"),
            ("follow_ups", "Follow-up calls"),
        ),
        statuses=tab.statuses,
        chosen={"status": status or "", "level": level or "", "overdue": request.args.get("overdue", "")},
        rows=rows,
        late=late,
        next_cursor=found["next_cursor"],
        names=names,
        zone=site_zone(site),
        labels=_labels(),
        levels=tuple(level.value for level in Level),
        below=_below(site),
        can_raise=tab_key == "acting" and _can_raise(site),
    )


def _can_raise(site) -> bool:
    """Whether the caller manages a site above this one (raise_item's own rule, asked without raising)."""
    try:
        items.raising_site_id(site, current_principal())
    except DomainError:
        return False
    return True


def _below(site) -> list:
    """The sites an item may be raised against from this page: the sites one and two levels below."""
    children = sites.list_sites(parent_id=site.id, limit=100, cursor=None)["items"]
    found = []
    for child in children:
        found.append(child)
        if len(children) <= 20:
            found += sites.list_sites(parent_id=child.id, limit=100, cursor=None)["items"]
    return found


@blp.get("/supervision/<tab_key>/<int:record_id>")
@page
def supervision_record(tab_key: str, record_id: int):
    site = current_site()
    tab = TABS.get(tab_key)
    if tab is None:
        raise NotFound()
    model = tab.machine.model
    record = get_in_reach(model, record_id, model.site_id, current_principal())
    events = states.timeline(tab.machine, record.id)
    people = accounts.users_by_id(
        {e.actor_id for e in events if e.actor_id}
        | {
            getattr(record, c)
            for c in (
                "raised_by_id",
                "resident_id",
                "volunteer_id",
                "done_by_id",
                "decided_by_id",
                "answered_by_id",
            )
            if getattr(record, c, None)
        }
    )
    forms = [f for f in tab.forms if (record.status, f.action) in tab.machine.table and _may(tab, f, record)]
    names = site_names({_field(record, c) for c in SITE_FIELDS} - {None})
    return render(
        "console/supervision_record.html",
        site=site,
        tab=tab,
        record=record,
        events=events,
        people=people,
        forms=forms,
        names=names,
        overdue=is_overdue(tab.machine, record),
        zone=site_zone(site),
        labels=_labels(),
        levels=tuple(level.value for level in Level),
    )


# The moves that need a side of the record: the raising site's (an item's 销号, sending back,
# withdrawing), the acting site's (reporting it done), the deciding site's (an appeal's decision), a site
# above (a complaint's 督办). The page offers a form to whoever may make the move; the API decides anyway.
RAISER_MOVES = {"close", "send_back", "withdraw"}


def _may(tab: Tab, form: Form, record) -> bool:
    who = current_principal()
    if who.is_admin:
        return True
    if tab.key == "acting" and form.action in RAISER_MOVES | {"report"}:
        raiser = reaches(who, record.raised_site_id)
        return raiser if form.action in RAISER_MOVES else not raiser
    if tab.key == "appeals":
        return reaches(who, record.deciding_site_id)
    if tab.key == "complaints" and form.action == "supervise":
        return _can_raise(sites.get_site(record.site_id))
    return True


def _labels() -> dict:
    return {
        "status": STATUS_LABEL,
        "colour": STATUS_COLOUR,
        "level": LEVEL_LABEL,
        "action": ACTION_LABEL,
        "reason": REASON_LABEL,
        "appeal_kind": APPEAL_KIND_LABEL,
        "category": COMPLAINT_CATEGORIES,
    }
