"""The supervision deadlines, applied by the deadline job next to the orders' (volunteer_app/jobs.py):
an open 督办 item, an open complaint or a pending appeal past its `due_at` is escalated once: the
managers one level above the site that should have acted are told, and an item's level turns red.

Each step is transition_many: one UPDATE per batch whose WHERE repeats the state, the deadline and
`escalated_at IS NULL`, so concurrent and repeated sweeps escalate each record exactly once (until its
state changes: a record sent back or reopened is escalated again if it is late again).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func

from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.notifications.service import Message
from volunteer_app.orders.deadlines import escalation_managers
from volunteer_app.supervision import states
from volunteer_app.supervision.models import (
    Appeal,
    Complaint,
    Level,
    SupervisionItem,
)


@dataclass(frozen=True)
class Overdue:
    machine: states.Machine  # its `waiting` state is the one whose deadline is watched
    site: object  # the column of the site that should have acted: its parent's managers are told
    kind: str  # the notification kind (notifications/messages.py)
    subject_type: str  # the notification's subject type
    title: object  # the column shown as {title}
    values: dict = field(default_factory=dict)  # also set when escalated


SWEEPS = (
    Overdue(
        states.ITEMS,
        SupervisionItem.site_id,
        "supervision.overdue",
        "supervision_item",
        SupervisionItem.subject,
        {"level": Level.RED.value},
    ),
    Overdue(
        states.COMPLAINTS,
        Complaint.site_id,
        "complaint.overdue",
        "complaint",
        func.substr(Complaint.text, 1, 30),
    ),
    Overdue(
        states.APPEALS,
        Appeal.deciding_site_id,
        "appeal.overdue",
        "appeal",
        func.substr(Appeal.reason, 1, 30),
    ),
)


def apply_deadlines(*, now: datetime | None = None, batch: int = 1000) -> dict[str, int]:
    """Escalate every record late at `now`; returns how many each step moved. Commits per batch."""
    now = now or utcnow()
    counts: dict[str, int] = defaultdict(int)
    for sweep in SWEEPS:
        while True:
            moved = _escalate(sweep, now, batch)
            db.session.commit()
            counts[f"escalate:{sweep.machine.subject}"] += moved
            if moved < batch:
                break
    return {k: v for k, v in counts.items() if v}


def _escalate(sweep: Overdue, now: datetime, batch: int) -> int:
    model = sweep.machine.model
    rows = states.transition_many(
        sweep.machine,
        "escalate",
        sweep.machine.waiting,
        where=[model.escalated_at.is_(None), model.due_at <= now],
        order_by=(model.escalated_at, model.due_at),
        values={"escalated_at": now, **sweep.values},
        now=now,
        limit=batch,
        returning=(sweep.site.label("site_id"), sweep.title.label("title")),
    )
    upper = escalation_managers({row.site_id for row in rows})
    notifications.notify_many(
        Message(upper.get(row.site_id, []), sweep.kind, {"title": row.title}, (sweep.subject_type, row.id))
        for row in rows
    )
    return len(rows)
