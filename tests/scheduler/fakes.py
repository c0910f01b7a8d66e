"""Job functions for scheduler tests (the `run` of their test Job entries)."""

from __future__ import annotations

import time
from datetime import datetime

from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications

calls: list[datetime] = []
state: dict = {"fail": 0, "user_id": None, "sleep": 0.0}


def reset() -> None:
    calls.clear()
    state.update(fail=0, user_id=None, sleep=0.0)


def _notify(now: datetime) -> bool:
    """Notify the user of `state` (an effect in the runner's transaction), if any; says whether it did."""
    if state["user_id"] is None:
        return False
    notifications.notify(
        [state["user_id"]],
        "timebank.statement",
        params={"month": f"{now:%Y-%m}"},
        subject=("statement", f"{now:%Y-%m}"),
    )
    return True


def record(now: datetime) -> dict:
    """Write a notification (an effect in the runner's transaction), then maybe fail or dawdle."""
    _notify(now)
    if state["sleep"]:
        time.sleep(state["sleep"])
    if state["fail"] > 0:
        state["fail"] -= 1
        raise RuntimeError("job exploded")
    calls.append(now)
    return {"at": now.isoformat()}


def record_committing(now: datetime) -> int:
    """A job that commits its own batches (like the order deadlines)."""
    if _notify(now):
        db.session.commit()
    if state["fail"] > 0:
        state["fail"] -= 1
        raise RuntimeError("job exploded mid-way")
    db.session.rollback()  # as deliver_pending and expire_redemptions do when nothing is left
    calls.append(now)
    return len(calls)


def takes_no_time() -> None:
    """A job function with the wrong signature: the runner calls it as run(now=…)."""
    calls.append(None)
