"""Every notification says what it is about (subject_type, subject_id) so the app can open it.

One walk makes the code emit every kind in `messages.KINDS` through the real services and jobs (orders,
activities, the time book's jobs); then each notification's subject is opened by its reader through the
API, the way the app would: an order or activity must be readable by them, a statement month must list,
a book number must be theirs.
"""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import volunteer_app
from tests.orders.conftest import NEAR, PLACE, Loop, category_id, iso, run_worker
from tests.support import credit, headers_now, make_volunteer
from volunteer_app.activities import jobs as activity_jobs
from volunteer_app.activities.models import Activity
from volunteer_app.extensions import db
from volunteer_app.notifications import delivery, messages, service
from volunteer_app.notifications.models import Notification, OutboxMessage
from volunteer_app.orders.deadlines import apply_deadlines
from volunteer_app.supervision import deadlines as supervision_deadlines
from volunteer_app.timebank import jobs as timebank_jobs

API = "/api/v1"


def test_every_kind_declares_the_subject_types_it_carries():
    assert set(messages.KIND_SUBJECTS) == set(messages.KINDS)
    for kind, types in messages.KIND_SUBJECTS.items():
        assert types and set(types) <= set(messages.SUBJECT_TYPES), kind


def test_a_notice_without_its_subject_is_refused(app, world):
    people = [world.vol_s1.id]
    with app.app_context():
        for kind, subject in (
            ("activity.promoted", None),  # the defect: it had no activity id
            ("activity.promoted", ("order", 3)),  # the wrong kind of subject
            ("activity.promoted", ("activity", None)),  # no id
            ("timebank.statement", ("order", 3)),
            ("ledger.mismatch", ("ledger", 5)),  # the ledger has no id
        ):
            with pytest.raises(ValueError, match=r"about one of|needs an id"):
                service.notify(people, kind, params={"title": "x"}, subject=subject)
        with pytest.raises(TypeError):
            service.notify(people, "order.filled", params={"title": "x"})  # subject is required
        db.session.rollback()


def _emitted_kinds() -> set[str]:
    """Every kind string literal the application code hands to notify (or a helper that does)."""
    root = Path(volunteer_app.__file__).parent
    found: set[str] = set()
    for path in root.rglob("*.py"):
        if path.parts[-2:] == ("notifications", "messages.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in messages.KINDS:
                found.add(node.value)
    return found


def test_the_code_emits_every_kind_and_no_other():
    assert _emitted_kinds() == set(messages.KINDS)


# ---- the walk ------------------------------------------------------------------------------------


def _activity(loop: Loop, world, start: datetime, **over) -> int:
    body = {
        "category_id": category_id(loop.app),
        "title": "社区清洁日",
        "address": "文晖街道文化广场",
        **PLACE,
        "start_at": iso(start),
        "end_at": iso(start + timedelta(minutes=60)),
        "slots": 1,
        "waitlist_max": 1,
        **over,
    }
    return loop.call("POST", f"/sites/{world.sites['S1']}/activities", world.mgr_s1, body, 201)["id"]


def _job(app, fn, now: datetime):
    with app.app_context():
        result = fn(now)
        db.session.commit()
        return result


def _walk(app, client, world) -> None:
    """Make the code emit every kind of notification."""
    loop = Loop(app, client)
    other = make_volunteer(app, world.sites["S1"], 31, "志愿者二")
    # Orders: submitted, rejected, cancelled, offered and declined.
    loop.submit(world.resident)
    rejected = loop.submit(world.resident)["id"]
    loop.call("POST", f"/orders/{rejected}/reject", world.mgr_s1, {"reason": "超出服务范围"})
    cancelled = loop.submit(world.resident)["id"]
    loop.call("POST", f"/orders/{cancelled}/cancel", world.resident, {"reason": "不需要了"})
    # A complaint about it: submitted (S1's managers), answered (the resident), reopened, then overdue
    # (escalated by the supervision sweep to I1's managers).
    complaint = loop.call(
        "POST",
        f"/orders/{cancelled}/complaints",
        world.resident,
        {"category": "other", "text": "取消后无人回电"},
        201,
    )["id"]
    loop.call("POST", f"/complaints/{complaint}/answer", world.mgr_s1, {"resolution": "已回电说明"})
    reopened = loop.call("POST", f"/complaints/{complaint}/reopen", world.resident, {"text": "仍未解决"})
    with app.app_context():
        supervision_deadlines.apply_deadlines(now=datetime.fromisoformat(reopened["due_at"]))
    offered = loop.submit(world.resident)["id"]
    offer = loop.dispatch_assign(world.mgr_s1, offered, [world.vol_s1.id])["assignments"][0]["assignment"]
    loop.act(world.vol_s1, offer["id"], "decline", {"reason": "临时有事"})
    # Passed on: 转派 to S2 declined, asked again and accepted; 上报 to I1 (orders/handover.py). The
    # receiving station opens the request, the requesting one the answer, the resident the hop.
    moved = loop.submit(world.resident)["id"]
    transfer = {"to_site_id": world.sites["S2"], "reason": "本站人手不足"}
    asked = loop.call("POST", f"/orders/{moved}/handovers", world.mgr_s1, transfer, 201)
    loop.call("POST", f"/handovers/{asked['id']}/decline", world.mgr_s2, {"reason": "本站也无人"})
    asked = loop.call("POST", f"/orders/{moved}/handovers", world.mgr_s1, transfer, 201)
    loop.call("POST", f"/handovers/{asked['id']}/accept", world.mgr_s2)
    referred = loop.submit(world.resident)["id"]
    refer = {"to_site_id": world.sites["I1"], "reason": "需要协调"}
    loop.call("POST", f"/orders/{referred}/handovers", world.mgr_s1, refer, 201)
    # A pool filled, reminded, served, rated and audited (hours credited).
    served = loop.submit(world.resident)
    start = datetime.fromisoformat(served["start_at"])
    loop.dispatch_grab(world.mgr_s1, served["id"], capacity=1)
    # The volunteers near the new pool heard of it; they open it while it is open (as the feed shows
    # it): once it fills it is no longer theirs to see.
    with app.app_context():
        nearby = db.session.scalars(
            sa.select(Notification).where(Notification.kind == "order.pool_nearby")
        ).all()
        db.session.expunge_all()
    assert nearby and {n.order_id for n in nearby} == {served["id"]}
    for notice in nearby:
        _opens(client, app, notice)
    held = loop.grab(world.vol_s1, served["id"])["id"]
    with app.app_context():
        apply_deadlines(now=start - timedelta(minutes=30))
    with loop.at(start):
        loop.act(world.vol_s1, held, "check-in", NEAR)
    with loop.at(start + timedelta(minutes=45)):
        loop.act(world.vol_s1, held, "check-out", NEAR)
        loop.call("POST", f"/orders/{served['id']}/audit", world.mgr_s1, {"confirm_computed": True})
    # Left undispatched: escalated, then expired.
    late = loop.submit(world.resident)
    due = datetime.fromisoformat(late["dispatch_due_at"])
    escalation = timedelta(minutes=app.config["APP"]["order_escalation_minutes"])
    with app.app_context():
        apply_deadlines(now=due)
        apply_deadlines(now=due + escalation)
    # Activities: a freed place promotes the waitlist; a reminder; a cancellation; left unaudited.
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=30)
    waited = _activity(loop, world, soon)
    loop.call("POST", f"/activities/{waited}/signup", world.vol_s1, None, 201)
    loop.call("POST", f"/activities/{waited}/signup", other, None, 201)
    loop.call("DELETE", f"/activities/{waited}/signup", world.vol_s1, status=204)
    _job(app, activity_jobs.remind_upcoming, soon - timedelta(hours=23))
    dropped = _activity(loop, world, soon + timedelta(days=1))
    loop.call("POST", f"/activities/{dropped}/signup", world.vol_s1, None, 201)
    loop.call("POST", f"/activities/{dropped}/cancel", world.mgr_s1, {"reason": "暴雨"})
    with app.app_context():
        audit_due = db.session.get(Activity, waited).audit_due_at
    _job(app, activity_jobs.escalate_unaudited, audit_due)
    # An appeal of a no-show mark: submitted (the institute's managers), overdue (the center's), upheld.
    absent = loop.submit(world.resident)["id"]
    loop.dispatch_grab(world.mgr_s1, absent, capacity=1)
    place = loop.grab(other, absent)["id"]
    loop.act(world.mgr_s1, place, "no-show", {"reason": "未到场"})
    body = {"minutes_claimed": 60, "reason": "我到了，签到时手机没电"}
    appealed = loop.call("POST", f"/assignments/{place}/appeal", other, body, 201)
    with app.app_context():
        supervision_deadlines.apply_deadlines(now=datetime.fromisoformat(appealed["due_at"]))
    loop.call("POST", f"/appeals/{appealed['id']}/uphold", world.mgr_i1, {"minutes_granted": 60})
    # The time book's jobs: a statement for last month, a star level, a ledger alert.
    credit(app, other, world.sites["S1"], 100 * 60, day=date.today())
    _job(app, timebank_jobs.update_star_levels, datetime.now(UTC))
    _job(app, timebank_jobs.monthly_statements, datetime.now(UTC) + timedelta(days=32))
    with app.app_context():
        db.session.execute(sa.text("UPDATE time_accounts SET balance = balance + 5 WHERE kind = 'book'"))
        db.session.commit()
    _job(app, timebank_jobs.verify_and_alert, datetime.now(UTC))
    # 督办: raised by the institute (the station is told), reported (the institute), sent back and
    # closed (the station); another left open past its deadline (the station's parent is told).
    body = {"subject": "订单审核不及时", "description": "请核查整改", "level": "yellow"}
    item = loop.call("POST", f"/sites/{world.sites['S1']}/supervision-items", world.mgr_i1, body, 201)["id"]
    loop.call("POST", f"/supervision-items/{item}/report", world.mgr_s1, {"result": "已整改"})
    loop.call("POST", f"/supervision-items/{item}/send-back", world.mgr_i1, {"reason": "未落实"})
    loop.call("POST", f"/supervision-items/{item}/report", world.mgr_s1, {"result": "已落实"})
    loop.call("POST", f"/supervision-items/{item}/close", world.mgr_i1, {})
    loop.call("POST", f"/sites/{world.sites['S1']}/supervision-items", world.mgr_i1, body, 201)
    with app.app_context():
        supervision_deadlines.apply_deadlines(now=datetime.now(UTC) + timedelta(days=30))


def _opens(client, app, notice: Notification) -> None:
    """Open a notice's subject as its reader would; fail with what could not be opened."""
    headers = headers_now(app, notice.user_id)
    subject_type, subject_id = notice.subject_type, notice.subject_id
    what = (notice.kind, subject_type, subject_id)
    assert subject_type in messages.KIND_SUBJECTS[notice.kind], what
    if subject_type == "ledger":
        assert subject_id is None, what
        return
    assert isinstance(subject_id, str) and subject_id, what
    if subject_type in ("order", "activity"):
        collection = {"order": "orders", "activity": "activities"}[subject_type]
        r = client.get(f"{API}/{collection}/{subject_id}", headers=headers)
        assert r.status_code == 200, (*what, r.status_code, r.get_json())
        body = r.get_json()
        assert (body.get("order") or body)["id"] == int(subject_id), what
        if subject_type == "order":
            assert notice.order_id == int(subject_id), what
    elif subject_type == "complaint":
        r = client.get(f"{API}/complaints/{subject_id}", headers=headers)
        assert (r.status_code, (r.get_json() or {}).get("id")) == (200, int(subject_id)), (
            *what,
            r.get_json(),
        )
    elif subject_type == "statement":
        assert re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", subject_id), what
        assert subject_id == notice.params["month"], what
        r = client.get(f"{API}/me/timebook/transfers?month={subject_id}", headers=headers)
        assert r.status_code == 200, (*what, r.get_json())
    elif subject_type == "supervision_item":
        r = client.get(f"{API}/supervision-items/{subject_id}", headers=headers)
        assert r.status_code == 200, (*what, r.status_code, r.get_json())
        assert r.get_json()["id"] == int(subject_id), what
    elif subject_type == "timebook":
        r = client.get(f"{API}/me/timebook", headers=headers)
        assert (r.status_code, r.get_json()["book_no"]) == (200, subject_id), what
    elif subject_type == "appeal":
        r = client.get(f"{API}/appeals/{subject_id}", headers=headers)
        assert r.status_code == 200, (*what, r.status_code, r.get_json())
        assert r.get_json()["id"] == int(subject_id), what
    else:
        raise AssertionError(f"no way to open {what}")


def test_every_kind_the_code_emits_carries_a_subject_its_reader_can_open(app, client, world):
    _walk(app, client, world)
    run_worker(app)  # the new orders' notices to their managers (queued work)
    with app.app_context():
        notices = db.session.scalars(sa.select(Notification).order_by(Notification.id)).all()
        db.session.expunge_all()
    assert {n.kind for n in notices} == set(messages.KINDS)
    for notice in notices:
        if notice.kind != "order.pool_nearby":  # opened while the pool was open (_walk)
            _opens(client, app, notice)
    # The inbox shows it, and so does what the push sender gets.
    promoted = next(n for n in notices if n.kind == "activity.promoted")
    headers = headers_now(app, promoted.user_id)
    items = client.get(f"{API}/me/notifications?limit=100", headers=headers).get_json()["items"]
    shown = next(i for i in items if i["kind"] == "activity.promoted")
    assert (shown["subject_type"], shown["subject_id"]) == ("activity", promoted.subject_id)
    with app.app_context():
        message = delivery._message(
            db.session.scalars(sa.select(OutboxMessage).limit(1)).one(),
            db.session.get(Notification, promoted.id),
            None,
        )
    assert (message["subject_type"], message["subject_id"]) == ("activity", promoted.subject_id)
