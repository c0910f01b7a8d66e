"""A complaint not answered in time is escalated once by the deadline sweep (supervision/deadlines.py):
the managers of the dispatch site's parent are told (complaint.overdue), even when sweeps run side by
side; an answered one is not; a reopened one late again is escalated again."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.orders.conftest import Loop
from tests.supervision.complaint_support import complaint_in
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Notification
from volunteer_app.supervision.deadlines import apply_deadlines
from volunteer_app.supervision.models import Complaint, SupervisionEvent


def _sweep_together(app, now: datetime, sweepers: int = 4) -> list[dict]:
    barrier = threading.Barrier(sweepers)

    def run(_):
        with app.app_context():
            barrier.wait(timeout=30)
            return apply_deadlines(now=now, batch=1)  # one complaint per batch: the sweepers interleave

    with ThreadPoolExecutor(max_workers=sweepers) as pool:
        return list(pool.map(run, range(sweepers)))


def _escalations(app, complaint_ids: list[int]) -> Counter:
    with app.app_context():
        return Counter(
            db.session.scalars(
                select(SupervisionEvent.subject_id).where(
                    SupervisionEvent.subject == "complaint",
                    SupervisionEvent.action == "escalate",
                    SupervisionEvent.subject_id.in_(complaint_ids),
                )
            )
        )


def _overdue_notices(app) -> Counter:
    with app.app_context():
        return Counter(
            db.session.execute(
                select(Notification.user_id, Notification.subject_id).where(
                    Notification.kind == "complaint.overdue"
                )
            ).all()
        )


def test_concurrent_sweeps_escalate_an_overdue_open_complaint_once_to_the_parent_site(app, client, world):
    loop = Loop(app, client)
    late = [complaint_in(loop, world, "open") for _ in range(3)]
    answered = complaint_in(loop, world, "answered")
    hours = app.config["SITE_DEFAULTS"]["complaint_answer_hours"]
    now = datetime.now(UTC) + timedelta(hours=hours, minutes=1)

    results = _sweep_together(app, now)
    assert sum(r.get("escalate:complaint", 0) for r in results) == 3
    assert _escalations(app, [*late, answered]) == Counter(late)
    # The dispatch station S1's parent is I1: its manager is told, once per complaint; S1's is not.
    assert _overdue_notices(app) == Counter({(world.mgr_i1.id, str(c)): 1 for c in late})
    with app.app_context():
        for complaint_id in late:
            complaint = db.session.get(Complaint, complaint_id)
            assert (complaint.status, complaint.escalated_at is not None) == ("open", True)
        assert db.session.get(Complaint, answered).escalated_at is None

    # Sweeping again changes nothing.
    assert _sweep_together(app, now + timedelta(hours=1)) == [{}] * 4
    assert _escalations(app, late) == Counter(late)

    # The manager opens the notice's subject.
    with loop.at(now):
        listed = loop.call("GET", f"/complaints/{late[0]}", world.mgr_i1)
    assert (listed["id"], listed["overdue"]) == (late[0], True)


def test_a_complaint_reopened_and_late_again_is_escalated_again(app, client, world):
    loop = Loop(app, client)
    complaint_id = complaint_in(loop, world, "open")
    hours = app.config["SITE_DEFAULTS"]["complaint_answer_hours"]
    first = datetime.now(UTC) + timedelta(hours=hours, minutes=1)
    with app.app_context():
        assert apply_deadlines(now=first) == {"escalate:complaint": 1}
    with loop.at(first + timedelta(minutes=5)):
        loop.call("POST", f"/complaints/{complaint_id}/answer", world.mgr_s1, {"resolution": "已处理"})
        reopened = loop.call(
            "POST", f"/complaints/{complaint_id}/reopen", world.resident, {"text": "没有处理好"}
        )
    assert reopened["escalated_at"] is None
    with app.app_context():
        assert apply_deadlines(now=first + timedelta(minutes=10)) == {}  # due afresh
        assert apply_deadlines(now=first + timedelta(hours=hours, minutes=10)) == {"escalate:complaint": 1}
    assert _escalations(app, [complaint_id]) == Counter({complaint_id: 2})
