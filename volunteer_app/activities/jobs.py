"""The activities' scheduled jobs, each declared after its function: generate next month's service-day
activities, remind volunteers the day before, and escalate activities left unaudited. All run inside
the scheduler's claim transaction and only flush: the claim and the effects commit together."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update

from volunteer_app.activities import service_days
from volunteer_app.activities.models import Activity, ServiceDayRule
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.notifications.service import Message
from volunteer_app.scheduler.registry import Job
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site

RULE_BATCH = 500


def generate_next_month(now: datetime) -> dict:
    """The scheduler's monthly job: for every active rule, the month after the one `now` falls in (in
    its site's zone). Rules are read in batches by id, so memory holds one batch; everything happens in
    the caller's transaction (the job's claim commits with it). Returns counts."""
    created = seen = 0
    after = 0
    while True:
        batch = db.session.scalars(
            select(ServiceDayRule)
            .where(ServiceDayRule.active.is_(True), ServiceDayRule.id > after)
            .order_by(ServiceDayRule.id)
            .limit(RULE_BATCH)
        ).all()
        if not batch:
            break
        settings = sites.settings_of({rule.site_id for rule in batch})
        created += service_days.generate(
            batch, settings, lambda zone: service_days.next_months(now, zone, 2)[1:], now
        )
        seen += len(batch)
        after = batch[-1].id
    return {"rules": seen, "activities": created}


GENERATE = Job(
    id="activities.generate",
    run=generate_next_month,
    cron={"day": 20, "hour": 2, "minute": 0},
    catch_up=timedelta(days=10),
    coalesce=False,
    description="generate next month's activities from their recurrence rules",
)


REMIND_AHEAD = timedelta(hours=24)


def remind_upcoming(now: datetime) -> dict:
    """The scheduler's hourly job: tell everyone holding a place on an activity starting within the
    next day (once per activity: a conditional UPDATE of `reminded_at` claims it). Flushes only."""
    claimed = db.session.execute(
        update(Activity)
        .where(
            Activity.status == "open",
            Activity.reminded_at.is_(None),
            Activity.start_at > now,
            Activity.start_at <= now + REMIND_AHEAD,
        )
        .values(reminded_at=now)
        .returning(Activity.id, Activity.title, Activity.start_at, Activity.site_id)
        .execution_options(synchronize_session=False)
    ).all()
    if not claimed:
        return {"activities": 0, "volunteers": 0}
    holders: dict[int, list[int]] = {}
    for activity_id, volunteer_id in db.session.execute(
        select(Assignment.activity_id, Assignment.volunteer_id).where(
            Assignment.activity_id.in_([row.id for row in claimed]), Assignment.status == "held"
        )
    ):
        holders.setdefault(activity_id, []).append(volunteer_id)
    zones = sites.zones_of({row.site_id for row in claimed})
    told = notifications.notify_many(
        Message(
            holders[row.id],
            "activity.reminder",
            {
                "title": row.title,
                "start": service_days.local_time(row.start_at, zones[row.site_id]).strftime("%m-%d %H:%M"),
            },
            ("activity", row.id),
        )
        for row in claimed
        if row.id in holders
    )
    return {"activities": len(claimed), "volunteers": told}


REMIND = Job(
    id="activities.remind",
    run=remind_upcoming,
    cron={"minute": 0},
    catch_up=timedelta(hours=1),
    coalesce=True,
    description="remind signed-up volunteers of upcoming activities",
)


ESCALATE_BATCH = 1000


def escalate_unaudited(now: datetime) -> dict:
    """The scheduler's hourly job: an activity still open (not audited) past its audit deadline is
    escalated once: its site's managers and those of the site above are told, so no volunteer's hours
    wait unseen. A conditional UPDATE of `escalated_at` claims each; batches of 1,000. Flushes only."""
    escalated = 0
    while True:
        due = (
            select(Activity.id)
            .where(Activity.status == "open", Activity.escalated_at.is_(None), Activity.audit_due_at <= now)
            .limit(ESCALATE_BATCH)
        )
        rows = db.session.execute(
            update(Activity)
            .where(Activity.id.in_(due.scalar_subquery()), Activity.escalated_at.is_(None))
            .values(escalated_at=now)
            .returning(Activity.id, Activity.title, Activity.site_id)
            .execution_options(synchronize_session=False)
        ).all()
        if not rows:
            return {"escalated": escalated}
        parents = dict(
            db.session.execute(
                select(Site.id, Site.parent_id).where(Site.id.in_({row.site_id for row in rows}))
            ).all()
        )
        managers = notifications.managers_of_sites(
            {row.site_id for row in rows} | {p for p in parents.values() if p is not None}
        )
        notifications.notify_many(
            Message(
                managers.get(row.site_id, []) + managers.get(parents.get(row.site_id), []),
                "activity.unaudited",
                {"title": row.title},
                ("activity", row.id),
            )
            for row in rows
        )
        escalated += len(rows)


ESCALATE_UNAUDITED = Job(
    id="activities.escalate_unaudited",
    run=escalate_unaudited,
    cron={"minute": 30},
    catch_up=timedelta(hours=1),
    coalesce=True,
    description="tell the managers of activities still unaudited past their audit deadline (once each)",
)
