"""The state tables of supervision, and the one place that writes their `status`.

One table per record, in the style of orders/states.py: `TABLE[(from, action)]` gives the state the
action leads to and who may take it. Every move, including those that keep the state (a progress
note, an escalation, a call that did not reach), writes exactly one SupervisionEvent. A move the table
does not have is 409 `<subject>.bad_state` and changes nothing.

Who may act:
- RAISER: a manager of the site that raised an item (or above it);
- ACTOR: a manager of the site that must act on an item, answer a complaint, call a resident;
- DECIDER: a manager one level above the appealed audit's site;
- RESIDENT, VOLUNTEER: the complaint's resident, the appeal's volunteer;
- SCHEDULER: the deadline job; SYSTEM: a record created as a consequence of another change (a
  follow-up when an order closes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select

from volunteer_app.db import dialect_insert, update_batch, utcnow
from volunteer_app.errors import Conflict, register_messages
from volunteer_app.extensions import db
from volunteer_app.supervision.models import (
    Appeal,
    AppealStatus,
    Complaint,
    ComplaintStatus,
    FollowUp,
    FollowUpStatus,
    ItemStatus,
    SupervisionEvent,
    SupervisionItem,
)

RAISER, ACTOR, DECIDER = "raiser", "actor", "decider"
RESIDENT, VOLUNTEER, SCHEDULER, SYSTEM = "resident", "volunteer", "scheduler", "system"


@dataclass(frozen=True)
class Rule:
    to: str
    by: frozenset[str]


def _rule(to, *by: str) -> Rule:
    return Rule(str(to), frozenset(by))


IS, C, A, F = ItemStatus, ComplaintStatus, AppealStatus, FollowUpStatus

ITEM_TABLE: dict[tuple[str | None, str], Rule] = {
    (None, "raise"): _rule(IS.OPEN, RAISER),
    (IS.OPEN, "note"): _rule(IS.OPEN, ACTOR, RAISER),  # progress, or a word from the raiser
    (IS.REPORTED, "note"): _rule(IS.REPORTED, ACTOR, RAISER),
    (IS.OPEN, "report"): _rule(IS.REPORTED, ACTOR),  # done: what was done
    (IS.REPORTED, "close"): _rule(IS.CLOSED, RAISER),  # 销号
    (IS.REPORTED, "send_back"): _rule(IS.OPEN, RAISER),  # not done: with a reason
    (IS.OPEN, "withdraw"): _rule(IS.WITHDRAWN, RAISER),
    (IS.REPORTED, "withdraw"): _rule(IS.WITHDRAWN, RAISER),
    (IS.OPEN, "escalate"): _rule(IS.OPEN, SCHEDULER),  # overdue: one level up told, the level turns red
}

COMPLAINT_TABLE: dict[tuple[str | None, str], Rule] = {
    (None, "submit"): _rule(C.OPEN, RESIDENT),
    (C.OPEN, "answer"): _rule(C.ANSWERED, ACTOR),
    (C.OPEN, "note"): _rule(C.OPEN, ACTOR),
    (C.OPEN, "supervise"): _rule(C.OPEN, ACTOR),  # a 督办 item raised about it
    (C.ANSWERED, "supervise"): _rule(C.ANSWERED, ACTOR),
    (C.ANSWERED, "accept"): _rule(C.CLOSED, RESIDENT),
    (C.ANSWERED, "reopen"): _rule(C.OPEN, RESIDENT),  # not satisfied: answered again
    (C.OPEN, "withdraw"): _rule(C.WITHDRAWN, RESIDENT),
    (C.OPEN, "escalate"): _rule(C.OPEN, SCHEDULER),
}

APPEAL_TABLE: dict[tuple[str | None, str], Rule] = {
    (None, "submit"): _rule(A.PENDING, VOLUNTEER),
    (A.PENDING, "uphold"): _rule(A.UPHELD, DECIDER),  # in whole or in part: the difference credited
    (A.PENDING, "reject"): _rule(A.REJECTED, DECIDER),
    (A.PENDING, "withdraw"): _rule(A.WITHDRAWN, VOLUNTEER),
    (A.PENDING, "escalate"): _rule(A.PENDING, SCHEDULER),
}

FOLLOW_UP_TABLE: dict[tuple[str | None, str], Rule] = {
    (None, "create"): _rule(F.PENDING, SYSTEM),
    (F.PENDING, "reached"): _rule(F.DONE, ACTOR),  # the call reached the resident: outcome recorded
    (F.PENDING, "missed"): _rule(F.PENDING, ACTOR),  # no answer: call again
    (F.PENDING, "give_up"): _rule(F.UNREACHABLE, ACTOR),
}


@dataclass(frozen=True)
class Machine:
    subject: str  # SupervisionEvent.subject
    model: type
    table: dict[tuple[str | None, str], Rule]
    error: str  # 409 code of a move the table does not have
    waiting: str  # the state in which `due_at` runs: past it, the record is overdue (supervision.common)

    @property
    def actions(self) -> tuple[str, ...]:
        return tuple(sorted({action for _, action in self.table}))

    @property
    def states(self) -> tuple[str | None, ...]:
        return (None, *sorted({rule.to for rule in self.table.values()}))


# An item waits on the acting site while open (reported, it waits on the raising site: no deadline).
ITEMS = Machine("item", SupervisionItem, ITEM_TABLE, "supervision.bad_state", IS.OPEN)
COMPLAINTS = Machine("complaint", Complaint, COMPLAINT_TABLE, "complaint.bad_state", C.OPEN)
APPEALS = Machine("appeal", Appeal, APPEAL_TABLE, "appeal.bad_state", A.PENDING)
FOLLOW_UPS = Machine("follow_up", FollowUp, FOLLOW_UP_TABLE, "follow_up.bad_state", F.PENDING)
MACHINES = (ITEMS, COMPLAINTS, APPEALS, FOLLOW_UPS)

register_messages(
    {
        machine.error: (
            "当前状态（{status}）不允许该操作（{action}）",
            "This is {status}: {action} is not possible now",
        )
        for machine in MACHINES
    }
)


def _bad_state(machine: Machine, params: dict) -> Conflict:
    """The 409 of a move the table lacks, one literal code per machine: the API document reads the codes
    an operation can answer from the code (apidoc/codes.py), and cannot read `machine.error`."""
    if machine is ITEMS:
        return Conflict("supervision.bad_state", params=params)
    if machine is COMPLAINTS:
        return Conflict("complaint.bad_state", params=params)
    if machine is APPEALS:
        return Conflict("appeal.bad_state", params=params)
    return Conflict("follow_up.bad_state", params=params)


def target(machine: Machine, status: str | None, action: str, *, by: str) -> str:
    """The state `action` leads to from `status`, or 409 `<machine.error>` if the table has no such move."""
    rule = machine.table.get((status, action))
    if rule is None:
        raise _bad_state(machine, params={"status": status or "-", "action": action})
    if by not in rule.by:
        raise RuntimeError(f"{by} may not {action} a {machine.subject}")  # a programming error
    return rule.to


def transition(
    machine: Machine,
    record,
    action: str,
    *,
    by: str,
    actor_id: int | None,
    note: str | None = None,
    at: datetime | None = None,
    **values,
) -> SupervisionEvent:
    """Apply `action` to a locked record (or a new one, status None): check the table, set the new
    status and `values`, write the timeline event. A change of state clears `escalated_at` (an
    escalation belongs to the state it was raised in). Flushes only; the calling service commits."""
    before = record.status if record.id is not None else None
    after = target(machine, before, action, by=by)
    record.status = after
    if after != before and hasattr(record, "escalated_at"):
        record.escalated_at = None
    for key, value in values.items():
        setattr(record, key, value)
    if record.id is None:
        db.session.add(record)
        db.session.flush()
    event = SupervisionEvent(
        subject=machine.subject,
        subject_id=record.id,
        action=action,
        from_status=before,
        to_status=after,
        actor_id=actor_id,
        note=note,
        at=at or utcnow(),
    )
    db.session.add(event)
    db.session.flush()
    return event


def transition_many(
    machine: Machine,
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
    """Apply a scheduler `action` to up to `limit` records in `status` matching `where`, in one UPDATE
    (db.update_batch, as orders.states.transition_many: two concurrent sweepers never move one record
    twice). One event per moved record. Flushes only. Returns the moved rows (id and `returning`)."""
    model = machine.model
    after = target(machine, status, action, by=SCHEDULER)
    if after != status:
        values = {"escalated_at": None, **values}
    rows = update_batch(
        db.session,
        model,
        where=[model.status == status, *where],
        order_by=order_by,
        values={"status": after, "updated_at": now, **values},
        limit=limit,
        returning=returning,
    )
    if rows:
        db.session.execute(
            insert(SupervisionEvent),
            [
                {
                    "subject": machine.subject,
                    "subject_id": row.id,
                    "action": action,
                    "from_status": status,
                    "to_status": after,
                    "at": now,
                }
                for row in rows
            ],
        )
    return rows


def create_many(machine: Machine, action: str, rows: list[dict], *, by: str, now: datetime) -> list[int]:
    """Create records (status None → `action`'s target) as a consequence of another change, each unless
    one already conflicts with it (a unique key: INSERT … ON CONFLICT DO NOTHING on either database, as
    timebank.ledger does), with one event per record actually created. Flushes only. Returns the new
    ids."""
    if not rows:
        return []
    after = target(machine, None, action, by=by)
    table = machine.model.__table__
    dialect = db.session.get_bind().dialect.name
    insert_ = dialect_insert(dialect)
    ids = list(
        db.session.scalars(
            insert_(table)
            .values([{**row, "status": after, "created_at": now, "updated_at": now} for row in rows])
            .on_conflict_do_nothing()
            .returning(table.c.id)
        )
    )
    if ids:
        db.session.execute(
            insert(SupervisionEvent),
            [
                {"subject": machine.subject, "subject_id": i, "action": action, "to_status": after, "at": now}
                for i in ids
            ],
        )
    return ids


def timeline(machine: Machine, record_id: int) -> list[SupervisionEvent]:
    """A record's events, oldest first."""
    return list(
        db.session.scalars(
            select(SupervisionEvent)
            .where(SupervisionEvent.subject == machine.subject, SupervisionEvent.subject_id == record_id)
            .order_by(SupervisionEvent.id)
        )
    )
