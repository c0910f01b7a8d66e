"""The activity's states and its one transition table: the one place that writes `Activity.status`
(besides generation, which inserts open activities).

`TABLE[(from, action)]` is the state an action leads to; an action keeping the state (attending: a
check-in, check-out, close or no-show on a sign-up) only checks that the activity allows it. A move
the table lacks is 409 `activity.bad_state`.
"""

from __future__ import annotations

import enum

from volunteer_app.errors import Conflict, register_messages

register_messages(
    {"activity.bad_state": ("活动当前状态不允许该操作", "The activity's state does not allow this")}
)


class ActivityStatus(enum.StrEnum):
    """open: sign-ups until the start, attendance during it. closed: audited (hours credited).
    cancelled: by a manager before the start. The values are stored and are the API's strings."""

    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"


TABLE: dict[tuple[ActivityStatus, str], ActivityStatus] = {
    (ActivityStatus.OPEN, "attend"): ActivityStatus.OPEN,
    (ActivityStatus.OPEN, "cancel"): ActivityStatus.CANCELLED,
    (ActivityStatus.OPEN, "audit"): ActivityStatus.CLOSED,
}


def target(status: str, action: str) -> ActivityStatus:
    """The state `action` leads to from `status`, or 409 `activity.bad_state`."""
    to = TABLE.get((status, action))
    if to is None:
        raise Conflict("activity.bad_state")
    return to


def transition(activity, action: str) -> None:
    """Check `action` against the table and move the (locked) activity. Flushes nothing; a later
    refusal in the same command raises, and nothing is committed."""
    activity.status = target(activity.status, action)
