"""The order state machine: the one table, and the one place that writes `Order.status`.

`TABLE[(from, action)]` gives the state an action leads to and who may take it. A pair of targets
`(a, b)` means the result depends on the order's slots: `a` while slots are open (or someone is still
on site), `b` when the action fills the last slot (or the last one on site leaves). Actions that keep
the state (a grab that leaves slots open, a rating) still pass through here: every change of an order
writes exactly one timeline event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update

from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, register_messages
from volunteer_app.extensions import db

register_messages(
    {
        "order.bad_state": (
            "订单当前状态（{status}）不允许该操作（{action}）",
            "This order is {status}: {action} is not possible now",
        ),
    }
)

STATES = (
    "submitted",
    "rejected",
    "dispatched",
    "staffed",
    "in_service",
    "completed",
    "closed",
    "cancelled",
    "expired",
)
END_STATES = frozenset({"rejected", "closed", "cancelled", "expired"})
WAITING = ("submitted", "dispatched", "staffed")
MODES = ("assign", "grab")
RATING_STATES = ("pending", "rated", "unrated")

RESIDENT, MANAGER, VOLUNTEER, SCHEDULER = "resident", "manager", "volunteer", "scheduler"


@dataclass(frozen=True)
class Rule:
    to: str | tuple[str, str]
    by: frozenset[str]


def _rule(to, *by: str) -> Rule:
    return Rule(to, frozenset(by))


TABLE: dict[tuple[str | None, str], Rule] = {
    (None, "submit"): _rule("submitted", RESIDENT, MANAGER),
    ("submitted", "reject"): _rule("rejected", MANAGER),
    ("submitted", "dispatch"): _rule("dispatched", MANAGER),
    # Reassign: more offers after a decline or withdrawal.
    ("dispatched", "offer"): _rule("dispatched", MANAGER),
    ("dispatched", "accept"): _rule(("dispatched", "staffed"), VOLUNTEER),
    ("dispatched", "grab"): _rule(("dispatched", "staffed"), VOLUNTEER),
    # Declining an offer frees nothing (an offer holds no slot); withdrawing frees the held slot.
    ("dispatched", "decline"): _rule("dispatched", VOLUNTEER),
    ("staffed", "decline"): _rule("staffed", VOLUNTEER),
    ("dispatched", "withdraw"): _rule("dispatched", VOLUNTEER),
    ("staffed", "withdraw"): _rule("dispatched", VOLUNTEER),
    ("dispatched", "check_in"): _rule("in_service", VOLUNTEER),
    ("staffed", "check_in"): _rule("in_service", VOLUNTEER),
    ("in_service", "check_in"): _rule("in_service", VOLUNTEER),
    ("in_service", "check_out"): _rule(("in_service", "completed"), VOLUNTEER),
    # A manager closes a missed check-out, or records a no-show.
    ("in_service", "close_attendance"): _rule(("in_service", "completed"), MANAGER),
    ("dispatched", "no_show"): _rule("dispatched", MANAGER),
    ("staffed", "no_show"): _rule("staffed", MANAGER),
    ("in_service", "no_show"): _rule(("in_service", "completed"), MANAGER),
    ("completed", "audit"): _rule("closed", MANAGER),
    ("completed", "rate"): _rule("completed", RESIDENT),
    ("closed", "rate"): _rule("closed", RESIDENT),
    ("completed", "rating_lapsed"): _rule("completed", SCHEDULER),
    ("closed", "rating_lapsed"): _rule("closed", SCHEDULER),
    ("submitted", "cancel"): _rule("cancelled", RESIDENT, MANAGER),
    ("dispatched", "cancel"): _rule("cancelled", RESIDENT, MANAGER),
    ("staffed", "cancel"): _rule("cancelled", RESIDENT, MANAGER),
    # Deadlines: first escalate to the parent site's managers, then expire (waiting states only:
    # work already done is never expired, its lateness only escalated).
    ("submitted", "escalate"): _rule("submitted", SCHEDULER),
    ("dispatched", "escalate"): _rule("dispatched", SCHEDULER),
    ("staffed", "escalate"): _rule("staffed", SCHEDULER),
    ("in_service", "escalate"): _rule("in_service", SCHEDULER),
    ("completed", "escalate"): _rule("completed", SCHEDULER),
    ("submitted", "expire"): _rule("expired", SCHEDULER),
    ("dispatched", "expire"): _rule("expired", SCHEDULER),
    ("staffed", "expire"): _rule("expired", SCHEDULER),
    # The grab deadline passed with some slots held: those volunteers go, the pool closes.
    ("dispatched", "close_pool"): _rule("staffed", SCHEDULER),
}

ACTIONS = tuple(sorted({action for _, action in TABLE}))


def target(status: str | None, action: str, *, by: str, last: bool = False) -> str:
    """The state `action` leads to from `status`, or 409 `order.bad_state` if the table has no such move."""
    rule = TABLE.get((status, action))
    if rule is None:
        raise Conflict("order.bad_state", params={"status": status or "-", "action": action})
    if by not in rule.by:
        raise RuntimeError(f"{by} may not {action}")  # a programming error, not a user's
    if isinstance(rule.to, tuple):
        return rule.to[1] if last else rule.to[0]
    return rule.to


def transition(
    order,
    action: str,
    *,
    by: str,
    actor_id: int | None,
    last: bool = False,
    proxy_id: int | None = None,
    assignment_id: int | None = None,
    note: str | None = None,
    at: datetime | None = None,
    **changes,
):
    """Apply `action` to a locked order: check the table, set the new status and `changes` (deadlines,
    mode, …), and write the timeline event. Flushes only; the calling service commits."""
    from volunteer_app.orders.models import OrderEvent

    before = order.status if order.id is not None else None
    after = target(before, action, by=by, last=last)
    order.status = after
    if after != before:
        order.escalated_at = None
    for key, value in changes.items():
        setattr(order, key, value)
    if order.id is None:
        db.session.add(order)
        db.session.flush()
    event = OrderEvent(
        order_id=order.id,
        action=action,
        from_status=before,
        to_status=after,
        actor_id=actor_id,
        proxy_id=proxy_id,
        assignment_id=assignment_id,
        note=note,
        at=at or utcnow(),
    )
    db.session.add(event)
    db.session.flush()
    return event


def transition_many(
    action: str,
    status: str,
    *,
    where: list,
    order_by: tuple,
    values: dict,
    now: datetime,
    limit: int,
    returning=(),
):
    """Apply a scheduler `action` to up to `limit` orders in `status` matching `where`, in one UPDATE.

    `order_by` is the column order of the partial index that serves `where`: it picks the batch in
    index order, so PostgreSQL reads only matching entries. (Ordered by id, it chose the primary key
    and filtered: each batch read past every row earlier batches had moved, and a sweep of 1,000,000
    late orders read the table over and over.)

    The status condition is in the UPDATE itself, so two sweepers never move one order twice: the
    second finds the row changed and skips it (PostgreSQL re-checks the condition after the lock; on
    SQLite writers are serialised). One event per moved order. Flushes only. Returns the moved rows.
    """
    from volunteer_app.orders.models import Order, OrderEvent

    after = target(status, action, by=SCHEDULER)
    if after != status:
        # As in transition(): an escalation belongs to the state it was raised in.
        values = {"escalated_at": None, **values}
    due = select(Order.id).where(Order.status == status, *where).order_by(*order_by).limit(limit)
    rows = db.session.execute(
        update(Order)
        .where(Order.id.in_(due.scalar_subquery()), Order.status == status, *where)
        .values(status=after, updated_at=now, **values)
        .returning(Order.id, *returning)
        .execution_options(synchronize_session=False)
    ).all()
    if rows:
        db.session.execute(
            insert(OrderEvent),
            [
                {"order_id": row.id, "action": action, "from_status": status, "to_status": after, "at": now}
                for row in rows
            ],
        )
    return rows
