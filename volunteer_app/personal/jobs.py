"""The daily retention job: each owner deletes its personal records older than the `[retention]`
settings (default.toml; README "Personal data" says what is kept and why)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app

from volunteer_app.accounts import privacy
from volunteer_app.auth import service as auth
from volunteer_app.notifications.inbox import purge_inbox
from volunteer_app.scheduler.registry import Job


def apply_retention(now: datetime) -> dict:
    """Inbox rows older than notifications_days; ID-number access log rows older than
    id_number_access_log_days; SMS codes, expired refresh tokens and ended sessions older than
    sign_ins_days. Each owner's purge commits."""
    keep = current_app.config["RETENTION"]
    return {
        "notifications": purge_inbox(now - timedelta(days=keep["notifications_days"])),
        "id_number_access_log": privacy.purge_access_log(
            now - timedelta(days=keep["id_number_access_log_days"])
        ),
        **auth.purge_sign_in_records(now - timedelta(days=keep["sign_ins_days"])),
    }


RETENTION = Job(
    id="privacy.retention",
    run=apply_retention,
    cron={"hour": 4, "minute": 20},
    catch_up=timedelta(hours=20),
    coalesce=True,
    commits=True,
    description="delete inbox rows, ID-number access log rows and sign-in records older than their "
    "[retention] settings",
)
