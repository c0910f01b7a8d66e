"""The time book's scheduled jobs, each declared after its function: monthly statements, stored star
levels, the nightly ledger check and its published checkpoint; and the expiry of redemption codes
(timebank/rewards.py), which commits per batch itself.

The others each run inside the scheduler's transaction and do not commit: the claim of an occurrence
in `job_runs` commits with its effects, which is the only thing keeping a second notice from going out.
All are set-based or chunked, so their memory stays bounded at a million books.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import case, exists, func, literal, or_, select, true, update

from volunteer_app.accounts.models import RoleGrant, User
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.notifications.service import Message
from volunteer_app.scheduler.registry import Job, scheduler_timezone
from volunteer_app.sites.models import Site
from volunteer_app.timebank import checkpoints
from volunteer_app.timebank.models import Entry, TimeAccount
from volunteer_app.timebank.rewards import expire_redemptions
from volunteer_app.timebank.verify import verify

log = logging.getLogger(__name__)

# User ids per notify() call (each call is three statements whatever its size).
NOTIFY_CHUNK = 5000
# Book accounts per star-level UPDATE (an id range, so each statement touches a bounded slice).
ACCOUNT_WINDOW = 10_000

EXPIRE_REDEMPTIONS = Job(
    id="timebank.expire_redemptions",
    run=expire_redemptions,
    cron={"minute": "*/5"},
    catch_up=timedelta(minutes=30),
    coalesce=True,
    commits=True,
    description="expire redemption codes past their time and refund them",
)


def _zone() -> ZoneInfo:
    return ZoneInfo(scheduler_timezone())


def previous_month(now: datetime) -> tuple[str, datetime, datetime]:
    """("YYYY-MM", start, end) of the calendar month before `now`'s, in the scheduler time zone."""
    local = now.astimezone(_zone())
    end = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end - timedelta(days=1)).replace(day=1)
    return f"{start:%Y-%m}", start, end


def monthly_statements(now: datetime) -> dict:
    """Notify every active book holder whose book moved in the month before `now`: kind
    "timebank.statement", params {"month": "YYYY-MM"}. Ids are streamed by keyset, NOTIFY_CHUNK at a time."""
    month, start, end = previous_month(now)
    moved = exists().where(
        Entry.account_id == TimeAccount.id, Entry.created_at >= start, Entry.created_at < end
    )
    notified, after = 0, 0
    while True:
        ids = list(
            db.session.scalars(
                select(TimeAccount.user_id)
                .join(User, User.id == TimeAccount.user_id)
                .where(
                    TimeAccount.kind == "book", TimeAccount.user_id > after, User.is_active.is_(True), moved
                )
                .order_by(TimeAccount.user_id)
                .limit(NOTIFY_CHUNK)
            )
        )
        if ids:
            notified += notifications.notify(
                ids, "timebank.statement", params={"month": month}, subject=("statement", month)
            )
            after = ids[-1]
        if len(ids) < NOTIFY_CHUNK:
            return {"month": month, "notified": notified}


STATEMENTS = Job(
    id="timebank.statements",
    run=monthly_statements,
    cron={"day": 1, "hour": 8, "minute": 0},
    catch_up=timedelta(days=7),
    coalesce=False,
    description="tell every book holder whose book moved last month that the statement is ready",
)


def _threshold_groups(defaults: list) -> dict[tuple, list[int]]:
    """Sites whose effective star thresholds differ from the deployment default, grouped by their
    thresholds (a site inherits the nearest override on its path, as sites.effective_settings does)."""
    rows = db.session.execute(select(Site.id, Site.path, Site.settings)).all()
    overrides = {
        site_id: tuple(settings["star_thresholds_hours"])
        for site_id, _path, settings in rows
        if settings and "star_thresholds_hours" in settings
    }
    groups: dict[tuple, list[int]] = defaultdict(list)
    if not overrides:
        return groups
    for site_id, path, _settings in rows:
        thresholds = tuple(defaults)
        for ancestor in (int(part) for part in path.strip("/").split("/") if part):
            thresholds = overrides.get(ancestor, thresholds)
        if thresholds != tuple(defaults):
            groups[thresholds].append(site_id)
    return groups


def _level(thresholds: tuple):
    """SQL for the star level of lifetime_minutes (timebank.service.star_level, in the database)."""
    level = literal(0)
    for hours in thresholds:
        level = level + case((TimeAccount.lifetime_minutes >= hours * 60, 1), else_=0)
    return level


def update_star_levels(now: datetime) -> dict:
    """Store each book's star level from its lifetime minutes and its issuing site's thresholds,
    updating only changed rows, and notify the volunteers whose level rose ("star.up", {"level": n})."""
    defaults = list(current_app.config["SITE_DEFAULTS"]["star_thresholds_hours"])
    groups = _threshold_groups(defaults)
    special = sorted(site_id for ids in groups.values() for site_id in ids)
    plans = [(tuple(defaults), or_(TimeAccount.site_id.is_(None), TimeAccount.site_id.not_in(special)))]
    if not special:
        plans = [(tuple(defaults), true())]
    plans += [(thresholds, TimeAccount.site_id.in_(ids)) for thresholds, ids in groups.items()]
    top = db.session.scalar(select(func.max(TimeAccount.id)).where(TimeAccount.kind == "book")) or 0
    rose = fell = 0
    for low in range(0, top, ACCOUNT_WINDOW):
        for thresholds, sites_cond in plans:
            level = _level(thresholds)
            books = (
                TimeAccount.kind == "book",
                TimeAccount.id > low,
                TimeAccount.id <= low + ACCOUNT_WINDOW,
                sites_cond,
            )
            risen = db.session.execute(
                update(TimeAccount)
                .where(*books, TimeAccount.star_level < level)
                .values(star_level=level)
                .returning(TimeAccount.user_id, TimeAccount.star_level, TimeAccount.book_no),
                execution_options={"synchronize_session": False},
            ).all()
            # One message per book (its subject is the book), all written in the same few statements.
            notifications.notify_many(
                Message([user_id], "star.up", {"level": new_level}, ("timebook", book_no))
                for user_id, new_level, book_no in sorted(risen, key=lambda row: (row[1], row[0]))
            )
            rose += len(risen)
            # Levels can fall too (a reversal, raised thresholds): stored quietly.
            fell += db.session.execute(
                update(TimeAccount).where(*books, TimeAccount.star_level > level).values(star_level=level),
                execution_options={"synchronize_session": False},
            ).rowcount
    return {"rose": rose, "fell": fell}


STAR_LEVELS = Job(
    id="timebank.star_levels",
    run=update_star_levels,
    cron={"hour": 1, "minute": 0},
    catch_up=timedelta(days=1),
    coalesce=True,
    description="store each book's star level; notify the volunteers whose level rose",
)


def verify_and_alert(now: datetime) -> dict:
    """Verify the ledger against the published checkpoints (the configured file, if it exists); if it
    is sound, publish its head as a new checkpoint (the daily anchor: appended to the file and logged).
    On a problem publish nothing, tell every admin and every manager of a root site (a center with no
    parent) with "ledger.mismatch", and log an error."""
    report = verify(checkpoint_file=checkpoints.published_file())
    if report.ok:
        published = None
        if report.last_transfer_id is not None:
            checkpoint = checkpoints.Checkpoint(report.last_transfer_id, report.last_hash, utcnow())
            published = checkpoints.publish(checkpoint).transfer_id
        return {
            "ok": True,
            "transfers": report.transfers,
            "accounts": report.accounts,
            "checkpoints": report.checkpoints,
            "published": published,
        }
    problems = report.problems
    detail = problems[0] if len(problems) == 1 else f"{problems[0]} (+{len(problems) - 1} more)"
    root_site = select(Site.id).where(Site.parent_id.is_(None))
    recipients = db.session.scalars(
        select(RoleGrant.user_id)
        .join(User, User.id == RoleGrant.user_id)
        .where(
            User.is_active.is_(True),
            or_(
                RoleGrant.role == "admin",
                (RoleGrant.role == "manager") & RoleGrant.site_id.in_(root_site),
            ),
        )
        .distinct()
    ).all()
    notified = notifications.notify(
        recipients, "ledger.mismatch", params={"detail": detail[:300]}, subject=("ledger", None)
    )
    log.error("ledger check found %d problem(s), %d people alerted: %s", len(problems), notified, detail)
    return {"ok": False, "problems": len(problems), "first": problems[0], "notified": notified}


VERIFY = Job(
    id="timebank.verify",
    run=verify_and_alert,
    cron={"hour": 3, "minute": 0},
    catch_up=timedelta(days=1),
    coalesce=True,
    description=(
        "verify the ledger against its checkpoints; publish the head as a checkpoint, or alert on a mismatch"
    ),
)
