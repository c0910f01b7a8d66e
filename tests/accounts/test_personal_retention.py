"""The daily privacy.retention job: with the clock travelled, rows older than their `[retention]`
setting go, recent ones stay, live sessions are never touched; the settings are checked at start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from tests.support import fresh_session
from volunteer_app.accounts.models import IdNumberAccess
from volunteer_app.auth import service as auth_service
from volunteer_app.auth.models import AuthSession, RefreshToken, SmsCode
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.notifications.models import Notification, OutboxMessage
from volunteer_app.scheduler.registry import registered
from volunteer_app.scheduler.runner import run_due
from volunteer_app.settings import ConfigError, build_config

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)
RUN = datetime(2027, 1, 10, 20, 20, 5, tzinfo=UTC)  # 04:20 in Shanghai, the job's time


def write_at(app, when: datetime, world, tag: str) -> None:
    """At `when`: an inbox row (with its delivery row) for the resident, a look at vol_s1's ID number,
    an SMS code, and a sign-in of the resident that ends at once."""
    with time_machine.travel(when, tick=False):
        with app.app_context():
            notifications.notify(
                [world.resident.id], "order.filled", params={"title": tag}, subject=("order", 1)
            )
            db.session.add(IdNumberAccess(viewer_id=world.admin.id, subject_id=world.vol_s1.id, reason=tag))
            db.session.commit()
        with app.test_request_context():
            auth_service.request_sms_code(
                phone=world.applicant.phone if tag == "old" else world.applicant_s4.phone
            )
        person = fresh_session(app, world.resident.id)
        with app.test_request_context():
            db.session.execute(
                AuthSession.__table__.update()
                .where(AuthSession.user_id == world.resident.id, AuthSession.revoked_at.is_(None))
                .where(AuthSession.created_at == when)
                .values(revoked_at=when, revoked_reason="logout")
            )
            db.session.commit()
        assert person


def counts(app) -> dict:
    with app.app_context():
        return {
            "inbox": sorted(db.session.scalars(select(Notification.params["title"].as_string()))),
            "outbox": db.session.scalar(select(func.count()).select_from(OutboxMessage)),
            "log": sorted(db.session.scalars(select(IdNumberAccess.reason))),
            "sms": db.session.scalar(select(func.count()).select_from(SmsCode)),
            "ended": db.session.scalar(select(func.count()).where(AuthSession.revoked_at.is_not(None))),
            "live": db.session.scalar(select(func.count()).where(AuthSession.revoked_at.is_(None))),
            "tokens": db.session.scalar(select(func.count()).select_from(RefreshToken)),
        }


def test_old_rows_go_and_recent_ones_stay(app, world, monkeypatch):
    monkeypatch.setitem(
        app.config,
        "RETENTION",
        {
            "notifications_days": 365,
            "id_number_access_log_days": 366,
            "sign_ins_days": 90,
        },
    )
    write_at(app, START, world, "old")  # a year and five days before the run
    write_at(app, RUN - timedelta(days=30), world, "recent")
    before = counts(app)
    assert before["inbox"] == ["old", "recent"] and before["log"] == ["old", "recent"]
    with app.app_context():
        outcome = run_due(RUN, jobs=[registered()["privacy.retention"]])
    assert [(job, state) for job, _at, state in outcome] == [("privacy.retention", "ran")]
    after = counts(app)
    assert after["inbox"] == ["recent"]
    assert after["outbox"] < before["outbox"] or before["outbox"] == 0
    # 366 days: the look of 2026-01-05 is 370 days old at the run.
    assert after["log"] == ["recent"]
    assert after["sms"] == before["sms"] - 1
    assert after["ended"] == before["ended"] - 1
    assert after["live"] == before["live"]  # the world's own live sessions are never purged
    assert after["tokens"] < before["tokens"]
    # A second run finds nothing more.
    with app.app_context():
        from volunteer_app.personal.jobs import apply_retention

        assert apply_retention(RUN) == {
            "notifications": 0,
            "id_number_access_log": 0,
            "sms_codes": 0,
            "refresh_tokens": 0,
            "sessions": 0,
        }


def test_the_access_log_outlives_the_inbox_by_default(app, world, monkeypatch):
    """Defaults: the inbox a year, the access log three years (PIPL art. 56), sign-ins 90 days."""
    assert build_config(environ={})["RETENTION"] == {
        "notifications_days": 365,
        "id_number_access_log_days": 1095,
        "sign_ins_days": 90,
    }
    monkeypatch.setitem(app.config, "RETENTION", build_config(environ={})["RETENTION"])
    write_at(app, START, world, "old")
    with app.app_context():
        run_due(RUN, jobs=[registered()["privacy.retention"]])
    assert counts(app)["inbox"] == [] and counts(app)["log"] == ["old"]


@pytest.mark.parametrize("value", [0, -1, "30", 1.5, True])
def test_a_bad_setting_stops_the_start(tmp_path, value):
    overlay = tmp_path / "v.toml"
    overlay.write_text(
        f"[retention]\nnotifications_days = {value!r}\n".replace("'", '"').replace("True", "true")
    )
    with pytest.raises(ConfigError, match="notifications_days"):
        build_config(environ={"VOLUNTEER_CONFIG": str(overlay)})
