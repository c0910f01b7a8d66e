"""The time book's jobs run through the scheduler: monthly statements, star levels, the ledger check
and its published checkpoint."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tests.support import credit, make_user
from tests.timebank.conftest import rewind, tamper
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Notification
from volunteer_app.scheduler.registry import registered
from volunteer_app.scheduler.runner import run_due
from volunteer_app.sites.models import Site
from volunteer_app.timebank.models import TimeAccount, Transfer


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def run(app, job_id: str, now: datetime) -> list:
    with app.app_context():
        return run_due(now, jobs=[registered()[job_id]])


def notices(app, kind: str) -> list[tuple[int, dict]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Notification.user_id, Notification.params)
            .where(Notification.kind == kind)
            .order_by(Notification.user_id, Notification.id)
        ).all()
        return [(user_id, dict(params)) for user_id, params in rows]


# ---- monthly statements ------------------------------------------------------------------------------------


def test_statements_go_once_to_each_book_that_moved_last_month_in_shanghai(app, world):
    s1 = world.sites["S1"]
    late_october = make_user(app, name="十月末")  # 23:00 on 31 Oct in Shanghai
    early_october = make_user(app, name="十月初")  # 00:30 on 1 Oct in Shanghai (still 30 Sep in UTC)
    november = make_user(app, name="十一月")  # 01:30 on 1 Nov in Shanghai (still 31 Oct in UTC)
    september = make_user(app, name="九月")
    credit(app, late_october, s1, 30, at=utc(2026, 10, 31, 15, 0))
    credit(app, early_october, s1, 30, at=utc(2026, 9, 30, 16, 30))
    credit(app, november, s1, 30, at=utc(2026, 10, 31, 17, 30))
    credit(app, september, s1, 30, at=utc(2026, 9, 15, 4, 0))

    fire = utc(2026, 11, 1)  # 1 November 08:00 in Shanghai
    assert run(app, "timebank.statements", fire + timedelta(minutes=1)) == [
        ("timebank.statements", "2026-11-01T00:00:00Z", "ran")
    ]
    assert run(app, "timebank.statements", fire + timedelta(hours=5)) == []  # a restart: nothing again
    october = {"month": "2026-10"}
    assert notices(app, "timebank.statement") == sorted(
        [(late_october.id, october), (early_october.id, october)]
    )

    # A month later the next occurrence tells November's book (and nobody else).
    run(app, "timebank.statements", utc(2026, 12, 1, 0, 0, 30))
    assert (november.id, {"month": "2026-11"}) in notices(app, "timebank.statement")
    assert len(notices(app, "timebank.statement")) == 3


def test_statements_are_chunked(app, world, monkeypatch):
    from volunteer_app.timebank import jobs

    monkeypatch.setattr(jobs, "NOTIFY_CHUNK", 2)
    people = [make_user(app) for _ in range(5)]
    for person in people:
        credit(app, person, world.sites["S1"], 10, at=utc(2026, 10, 10))
    run(app, "timebank.statements", utc(2026, 11, 1, 0, 1))
    assert [user_id for user_id, _ in notices(app, "timebank.statement")] == sorted(p.id for p in people)


# ---- star levels -------------------------------------------------------------------------------------------


def star_levels(app) -> dict[int, int]:
    with app.app_context():
        return dict(
            db.session.execute(
                sa.select(TimeAccount.user_id, TimeAccount.star_level).where(TimeAccount.kind == "book")
            ).all()
        )


def test_a_rising_star_level_is_stored_and_announced_once(app, world):
    credit(app, world.vol_s1, world.sites["S1"], 100 * 60)  # 100 h: level 1 of [100, 300, …]
    credit(app, world.vol_s4, world.sites["S4"], 99 * 60)  # not yet
    day = utc(2026, 11, 4, 17, 0, 30)  # 01:00 in Shanghai
    assert run(app, "timebank.star_levels", day)[0][2] == "ran"
    assert run(app, "timebank.star_levels", day) == []
    assert star_levels(app) == {world.vol_s1.id: 1, world.vol_s4.id: 0}
    assert notices(app, "star.up") == [(world.vol_s1.id, {"level": 1})]

    # The next day nothing changed: no new notice. Then 200 h more: level 2, one more notice.
    run(app, "timebank.star_levels", day + timedelta(days=1))
    assert len(notices(app, "star.up")) == 1
    credit(app, world.vol_s1, world.sites["S1"], 200 * 60)
    run(app, "timebank.star_levels", day + timedelta(days=2))
    assert notices(app, "star.up") == [(world.vol_s1.id, {"level": 1}), (world.vol_s1.id, {"level": 2})]


def test_star_levels_follow_each_sites_thresholds(app, world, monkeypatch):
    from volunteer_app.timebank import jobs

    monkeypatch.setattr(jobs, "ACCOUNT_WINDOW", 1)  # every book in its own slice
    with app.app_context():
        db.session.get(Site, world.sites["C2"]).settings = {"star_thresholds_hours": [1, 2]}
        db.session.commit()
    credit(app, world.vol_s1, world.sites["S1"], 90)  # default thresholds: level 0
    credit(app, world.vol_s4, world.sites["S4"], 90)  # under C2: 1.5 h is level 1
    run(app, "timebank.star_levels", utc(2026, 11, 4, 17, 0))
    assert star_levels(app) == {world.vol_s1.id: 0, world.vol_s4.id: 1}
    assert notices(app, "star.up") == [(world.vol_s4.id, {"level": 1})]

    # Raised thresholds lower the stored level quietly.
    with app.app_context():
        db.session.get(Site, world.sites["C2"]).settings = {"star_thresholds_hours": [5]}
        db.session.commit()
    run(app, "timebank.star_levels", utc(2026, 11, 5, 17, 0))
    assert star_levels(app)[world.vol_s4.id] == 0
    assert len(notices(app, "star.up")) == 1


# ---- the ledger check --------------------------------------------------------------------------------------


def test_a_clean_ledger_alerts_nobody(app, world):
    credit(app, world.vol_s1, world.sites["S1"], 30)
    run(app, "timebank.verify", utc(2026, 11, 4, 19, 0, 5))
    assert notices(app, "ledger.mismatch") == []


def test_a_tampered_ledger_alerts_admins_and_root_managers(app, world, caplog):
    first = credit(app, world.vol_s1, world.sites["S1"], 30)
    credit(app, world.vol_s4, world.sites["S4"], 40)
    tamper(app, f"UPDATE time_transfers SET memo = 'edited' WHERE id = {first}")
    assert run(app, "timebank.verify", utc(2026, 11, 4, 19, 0, 5))[0][2] == "ran"
    alerted = notices(app, "ledger.mismatch")
    # Admin and the manager of center C1; not the institute or station managers (C2 has none).
    assert sorted(user_id for user_id, _ in alerted) == sorted([world.admin.id, world.mgr_c1.id])
    assert f"transfer {first}" in alerted[0][1]["detail"]
    assert "ledger check found" in caplog.text


def checkpoint_lines(app) -> list[dict]:
    path = Path(app.config["APP"]["ledger_checkpoint_file"])
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_daily_check_publishes_the_verified_head(app, world):
    credit(app, world.vol_s1, world.sites["S1"], 30)
    last = credit(app, world.vol_s4, world.sites["S4"], 40)
    assert run(app, "timebank.verify", utc(2026, 11, 4, 19, 0, 5))[0][2] == "ran"
    with app.app_context():
        digest = db.session.scalar(sa.select(Transfer.hash).where(Transfer.id == last))
    assert [(c["transfer_id"], c["hash"]) for c in checkpoint_lines(app)] == [(last, digest)]
    assert notices(app, "ledger.mismatch") == []


def test_the_daily_check_catches_a_rewind_past_its_checkpoint(app, world):
    credit(app, world.vol_s1, world.sites["S1"], 30)
    last = credit(app, world.vol_s1, world.sites["S1"], 40)
    run(app, "timebank.verify", utc(2026, 11, 4, 19, 0, 5))
    rewind(app, last)
    assert run(app, "timebank.verify", utc(2026, 11, 5, 19, 0, 5))[0][2] == "ran"
    alerted = notices(app, "ledger.mismatch")
    assert sorted(user_id for user_id, _ in alerted) == sorted([world.admin.id, world.mgr_c1.id])
    assert f"transfer {last}: missing" in alerted[0][1]["detail"]
    assert len(checkpoint_lines(app)) == 1  # a failed check publishes nothing
