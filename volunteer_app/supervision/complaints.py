"""诉求: a resident's complaint about their own order, answered by the managers of its dispatch site.

- Raised by the order's resident once the order is over (completed, closed, expired, cancelled or
  rejected) and within the dispatch site's `complaint_window_days` of its end (ENDED_AT). An order
  still moving is not complained about: its own deadlines already escalate it (order.escalated).
- At most one complaint per order is live (open or answered) at a time; after it is closed or
  withdrawn another may be raised while the window lasts.
- Due `complaint_answer_hours` (of the dispatch site) after it was raised or reopened; the deadline
  sweep (supervision/deadlines.py) escalates a late open one once, to the parent site's managers.
- The resident accepts an answer (closed), reopens it (open again, due afresh) or withdraws an open
  one; managers in reach of the site add notes, answer, and a manager above the site raises a 督办
  item about it (supervision.items.raise_item).

Each command locks the complaint row (the order's, when raising) and moves it only through
states.transition; it commits once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select

from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, register_messages
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.orders.models import Order, OrderStatus
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, reach_condition
from volunteer_app.supervision import states
from volunteer_app.supervision.common import clip, filtered, found, in_subtree, is_overdue, locked, reaches
from volunteer_app.supervision.items import raise_item, require_future
from volunteer_app.supervision.models import COMPLAINT_CATEGORIES, Complaint, ComplaintStatus

register_messages(
    {
        "complaint.not_ended": (
            "订单尚未结束，暂不能提出诉求",
            "This order is not over yet: a complaint can be raised once it has ended",
        ),
        "complaint.window_closed": (
            "已超过诉求期限（订单结束后 {days} 天内）",
            "The time to complain about this order has passed ({days} days after it ended)",
        ),
        "complaint.already_open": (
            "该订单已有待处理的诉求",
            "This order already has a complaint that is open or awaiting your reply",
        ),
        "complaint.already_supervised": (
            "该诉求已督办",
            "A supervision item was already raised about this complaint",
        ),
    }
)

# The order's states in which its service is over, and the moment each ended (the window counts from
# it): completed when the volunteers checked out, closed when audited; expired, cancelled and rejected
# when the order last changed (the change into that state: nothing changes such an order afterwards).
ENDED_AT = {
    OrderStatus.COMPLETED: "completed_at",
    OrderStatus.CLOSED: "closed_at",
    OrderStatus.EXPIRED: "updated_at",
    OrderStatus.CANCELLED: "updated_at",
    OrderStatus.REJECTED: "updated_at",
}
LIVE = (ComplaintStatus.OPEN, ComplaintStatus.ANSWERED)
# Events whose note a resident sees: their own words and the answer. Staff notes stay with the staff.
RESIDENT_NOTES = frozenset({"submit", "reopen", "accept", "withdraw", "answer"})


def _title(complaint: Complaint) -> str:
    """What notifications call a complaint (as the deadline sweep does): its text's first 30 characters."""
    return complaint.text[:30]


def _settings(site_id: int) -> dict:
    return sites.effective_settings(db.session.get(Site, site_id))


def _due(site_id: int, now: datetime) -> datetime:
    return now + timedelta(hours=int(_settings(site_id)["complaint_answer_hours"]))


# ---- finding one ----------------------------------------------------------------------------------------


def _mine(who, complaint_id: int) -> Complaint:
    """The caller's own complaint, locked (anyone else's is 404)."""
    return locked(Complaint, complaint_id, Complaint.resident_id == who.user_id)


def _managed(who: Reacher, complaint_id: int) -> Complaint:
    """A complaint of a site in the manager's reach, locked (404 otherwise)."""
    return locked(Complaint, complaint_id, reach_condition(Complaint.site_id, who))


def get(*, who, complaint_id: int) -> dict:
    """One complaint with its timeline, for its resident or a manager reaching its site (404 otherwise)."""
    complaint = found(
        Complaint,
        complaint_id,
        or_(Complaint.resident_id == who.user_id, reach_condition(Complaint.site_id, who)),
    )
    return detail(complaint, who)


def _staff_view(complaint: Complaint, who) -> bool:
    """Whether the caller sees the complaint as staff (names, ids, internal notes) rather than as its
    resident. A manager who complains about their own order outside their reach sees a resident's view."""
    return reaches(who, complaint.site_id)


def _out(complaint: Complaint, staff: bool) -> dict:
    return {
        "id": complaint.id,
        "order_id": complaint.order_id,
        "site_id": complaint.site_id,
        "resident_id": complaint.resident_id,
        "category": complaint.category,
        "text": complaint.text,
        "status": complaint.status,
        "due_at": complaint.due_at,
        "overdue": is_overdue(states.COMPLAINTS, complaint),
        "escalated_at": complaint.escalated_at,
        "resolution": complaint.resolution,
        "answered_at": complaint.answered_at,
        "answered_by_id": complaint.answered_by_id if staff else None,
        "reopened": complaint.reopened,
        "item_id": complaint.item_id if staff else None,
        "created_at": complaint.created_at,
        "updated_at": complaint.updated_at,
    }


def detail(complaint: Complaint, who) -> dict:
    """The complaint and its timeline as the caller may see it: staff see everything; its resident sees
    every action and its time, their own words and the answers, but not who on the staff acted nor
    their internal notes."""
    staff = _staff_view(complaint, who)
    events = []
    for event in states.timeline(states.COMPLAINTS, complaint.id):
        own = event.actor_id is not None and event.actor_id == complaint.resident_id
        events.append(
            {
                "id": event.id,
                "action": event.action,
                "from_status": event.from_status,
                "to_status": event.to_status,
                "actor_id": event.actor_id if staff or own else None,
                "note": event.note if staff or event.action in RESIDENT_NOTES else None,
                "at": event.at,
            }
        )
    return {**_out(complaint, staff), "timeline": events}


# ---- lists ----------------------------------------------------------------------------------------------


def _page(stmt, *, limit: int, cursor: str | None, staff: bool) -> dict:
    page = paginate(stmt, [Complaint.id], limit=limit, cursor=cursor, descending=True)
    return {**page, "items": [_out(c, staff) for c in page["items"]]}


def list_mine(*, who, status: str | None = None, limit: int, cursor: str | None) -> dict:
    """The caller's own complaints, newest first."""
    stmt = filtered(
        select(Complaint).where(Complaint.resident_id == who.user_id), states.COMPLAINTS, status=status
    )
    return _page(stmt, limit=limit, cursor=cursor, staff=False)


def list_for_site(
    *,
    who,
    site_id: int,
    status: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
    limit: int,
    cursor: str | None,
) -> dict:
    """The complaints of `site_id` and the sites below it (the site in the caller's reach, else 404),
    newest first; filtered by state, category, and overdue (open and past due) or not."""
    stmt = select(Complaint).where(in_subtree(Complaint.site_id, who, site_id))
    stmt = filtered(stmt, states.COMPLAINTS, status=status, category=category, overdue=overdue)
    return _page(stmt, limit=limit, cursor=cursor, staff=True)


# ---- the resident ---------------------------------------------------------------------------------------


def _ended_at(order: Order) -> datetime:
    field = ENDED_AT.get(OrderStatus(order.status))
    if field is None:
        raise Conflict("complaint.not_ended")
    return getattr(order, field) or order.updated_at


def submit(*, who, order_id: int, category: str, text: str) -> Complaint:
    """Raise a complaint about the caller's own order (someone else's is 404): once the order is over,
    within the dispatch site's window, while no other complaint of the order is live. Notifies the
    dispatch site's managers. Commits."""
    order = locked(Order, order_id, Order.resident_id == who.user_id)  # serialises raising on this order
    ended = _ended_at(order)
    now = utcnow()
    days = int(_settings(order.dispatch_site_id)["complaint_window_days"])
    if now > ended + timedelta(days=days):
        raise Conflict("complaint.window_closed", params={"days": days})
    live = db.session.scalar(
        select(Complaint.id).where(Complaint.order_id == order.id, Complaint.status.in_(LIVE)).limit(1)
    )
    if live is not None:
        raise Conflict("complaint.already_open")
    complaint = Complaint(
        order_id=order.id,
        resident_id=who.user_id,
        site_id=order.dispatch_site_id,
        category=category,
        text=text,
        due_at=_due(order.dispatch_site_id, now),
        reopened=0,
        created_at=now,
        updated_at=now,
    )
    states.transition(
        states.COMPLAINTS, complaint, "submit", by=states.RESIDENT, actor_id=who.user_id, at=now
    )
    notifications.notify(
        notifications.managers_of(complaint.site_id),
        "complaint.submitted",
        subject=("complaint", complaint.id),
        params={"title": _title(complaint), "category": COMPLAINT_CATEGORIES[category][0]},
    )
    db.session.commit()
    return complaint


def accept(*, who, complaint_id: int) -> Complaint:
    """The resident accepts the answer: closed. Commits."""
    complaint = _mine(who, complaint_id)
    states.transition(states.COMPLAINTS, complaint, "accept", by=states.RESIDENT, actor_id=who.user_id)
    db.session.commit()
    return complaint


def reopen(*, who, complaint_id: int, text: str) -> Complaint:
    """The resident is not satisfied with the answer: open again, due afresh, the site's managers told.
    Commits."""
    complaint = _mine(who, complaint_id)
    now = utcnow()
    states.transition(
        states.COMPLAINTS,
        complaint,
        "reopen",
        by=states.RESIDENT,
        actor_id=who.user_id,
        note=clip(text),
        at=now,
        reopened=complaint.reopened + 1,
        due_at=_due(complaint.site_id, now),
    )
    notifications.notify(
        notifications.managers_of(complaint.site_id),
        "complaint.reopened",
        subject=("complaint", complaint.id),
        params={"title": _title(complaint), "reason": text[:200]},
    )
    db.session.commit()
    return complaint


def withdraw(*, who, complaint_id: int) -> Complaint:
    """The resident takes back an open complaint. Commits."""
    complaint = _mine(who, complaint_id)
    states.transition(states.COMPLAINTS, complaint, "withdraw", by=states.RESIDENT, actor_id=who.user_id)
    db.session.commit()
    return complaint


# ---- the managers ---------------------------------------------------------------------------------------


def note(*, who, complaint_id: int, note: str) -> Complaint:
    """A manager's progress note on an open complaint (staff only: the resident sees that one was
    written, not what). Commits."""
    complaint = _managed(who, complaint_id)
    states.transition(states.COMPLAINTS, complaint, "note", by=states.ACTOR, actor_id=who.user_id, note=note)
    db.session.commit()
    return complaint


def answer(*, who, complaint_id: int, resolution: str) -> Complaint:
    """Answer an open complaint with a resolution the resident sees; they are told. Commits."""
    complaint = _managed(who, complaint_id)
    now = utcnow()
    states.transition(
        states.COMPLAINTS,
        complaint,
        "answer",
        by=states.ACTOR,
        actor_id=who.user_id,
        note=clip(resolution),
        at=now,
        resolution=resolution,
        answered_by_id=who.user_id,
        answered_at=now,
    )
    notifications.notify(
        [complaint.resident_id],
        "complaint.answered",
        subject=("complaint", complaint.id),
        params={"title": _title(complaint), "resolution": resolution},
    )
    db.session.commit()
    return complaint


def supervise(
    *,
    who,
    complaint_id: int,
    level: str,
    subject: str | None = None,
    description: str | None = None,
    due_at: datetime | None = None,
) -> Complaint:
    """A manager above the complaint's site raises a 督办 item about it against that site (403
    `supervision.not_above` from raise_item for the site's own managers); once per complaint. Commits."""
    complaint = _managed(who, complaint_id)
    if complaint.item_id is not None:
        raise Conflict("complaint.already_supervised")
    states.target(states.COMPLAINTS, complaint.status, "supervise", by=states.ACTOR)  # 409 before raising
    now = utcnow()
    require_future(due_at, now, "due_at")  # supervision.due_past, as raising an item says it
    item = raise_item(
        who=who,
        actor_id=who.user_id,
        site_id=complaint.site_id,
        subject=subject or f"群众诉求 #{complaint.id}：{COMPLAINT_CATEGORIES[complaint.category][0]}",
        description=description or complaint.text,
        level=level,
        due_at=due_at,
        about_kind="complaint",
        about_id=complaint.id,
        now=now,
    )
    states.transition(
        states.COMPLAINTS,
        complaint,
        "supervise",
        by=states.ACTOR,
        actor_id=who.user_id,
        note=f"item {item.id}",
        at=now,
        item_id=item.id,
    )
    db.session.commit()
    return complaint
