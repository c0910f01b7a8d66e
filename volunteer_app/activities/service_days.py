"""Service-day rules (志愿服务日) and the activities they generate.

A rule is a site's recurrence (`rules.py` interprets it in the site's time zone) plus a theme and an
activity template. Saving a rule generates its activities for the rest of this month and next month
at once, so a manager sees them in the feed the same day; the scheduler's monthly job
(`activities.generate`) generates the month after for every active rule. Generation inserts with
ON CONFLICT DO NOTHING on UNIQUE(rule_id, local_date): running it twice, or from two processes,
creates nothing new.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from volunteer_app.activities import rules
from volunteer_app.activities.models import Activity, ServiceDayRule
from volunteer_app.activities.service import managed_site
from volunteer_app.activities.states import ActivityStatus
from volunteer_app.db import dialect_insert, utcnow
from volunteer_app.errors import Unprocessable
from volunteer_app.extensions import db
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import get_in_reach

TEMPLATE = ("title", "category_id", "description", "address", "lat", "lng", "slots", "waitlist_max")
PREVIEW_COUNT = 5


def _spec_errors(spec: dict) -> None:
    errors = rules.check(spec)
    if errors:
        raise Unprocessable("validation.failed", errors={"json": {"spec": errors}})


def _zone(site: Site) -> str:
    return sites.effective_settings(site)["timezone"]


def next_months(moment: datetime, zone: str, count: int) -> list[tuple[int, int]]:
    """(year, month) of the month containing `moment` in `zone`, and the `count - 1` after it."""
    local = local_time(moment, zone)
    year, month = local.year, local.month
    months = []
    for _ in range(count):
        months.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def local_time(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def preview(*, who, site_id: int, spec: dict, count: int = PREVIEW_COUNT) -> dict:
    """What a rule would give, before saving it: its text and next occurrences in the site's zone."""
    site = managed_site(who, site_id)
    _spec_errors(spec)
    spec = rules.normalize(spec)
    return _readback(spec, _zone(site), count)


def _readback(spec: dict, zone: str, count: int) -> dict:
    upcoming = rules.next_occurrences(spec, zone, utcnow(), count)
    return {
        "description": rules.describe(spec),
        "description_en": rules.describe(spec, "en"),
        "timezone": zone,
        "next_occurrences": [{"date": o.local_date, "start_at": o.start, "end_at": o.end} for o in upcoming],
    }


def rule_out(rule: ServiceDayRule, count: int = 3) -> dict:
    site = db.session.get(Site, rule.site_id)
    return {
        **{c.key: getattr(rule, c.key) for c in ServiceDayRule.__table__.columns},
        **_readback(rule.spec, _zone(site), count if rule.active else 0),
    }


def create_rule(*, who, site_id: int, data: dict) -> ServiceDayRule:
    """Save a rule and generate its activities for the rest of this month and next month. Commits."""
    site = managed_site(who, site_id)
    _spec_errors(data["spec"])
    sites.active_category(data["category_id"])
    rule = ServiceDayRule(
        site_id=site.id,
        created_by_id=who.user_id,
        active=True,
        **{**data, "spec": rules.normalize(data["spec"])},
    )
    db.session.add(rule)
    db.session.flush()
    now = utcnow()
    generate([rule], {site.id: sites.effective_settings(site)}, lambda zone: next_months(now, zone, 2), now)
    db.session.commit()
    return rule


def list_rules(*, who, site_id: int, limit: int, cursor: str | None) -> dict:
    site = managed_site(who, site_id)
    stmt = select(ServiceDayRule).where(ServiceDayRule.site_id == site.id)
    page = paginate(stmt, [ServiceDayRule.id], limit=limit, cursor=cursor)
    return {"items": [rule_out(r) for r in page["items"]], "next_cursor": page["next_cursor"]}


def get_rule(*, who, rule_id: int) -> ServiceDayRule:
    return get_in_reach(ServiceDayRule, rule_id, ServiceDayRule.site_id, who)


def set_active(*, who, rule_id: int, active: bool) -> ServiceDayRule:
    """Pause or resume a rule. Pausing generates nothing more; activities already generated stay
    (a manager cancels one with its sign-ups told). Resuming generates this month and next. Commits."""
    rule = get_in_reach(ServiceDayRule, rule_id, ServiceDayRule.site_id, who, for_update=True)
    if active and not rule.active:
        site = db.session.get(Site, rule.site_id)
        now = utcnow()
        rule.active = True
        db.session.flush()
        generate(
            [rule], {site.id: sites.effective_settings(site)}, lambda zone: next_months(now, zone, 2), now
        )
    rule.active = active
    db.session.commit()
    return rule


# ---- generation -------------------------------------------------------------------------------------


def _insert(rows: list[dict]) -> int:
    if not rows:
        return 0
    dialect = db.session.get_bind().dialect.name
    insert = dialect_insert(dialect)
    stmt = insert(Activity).on_conflict_do_nothing(index_elements=["rule_id", "local_date"])
    result = db.session.execute(stmt.returning(Activity.id), rows)
    return len(result.all())


def generate(rule_list, settings: dict[int, dict], months_for, now: datetime) -> int:
    """Insert the activities these rules give in the months `months_for(zone)` names, from `now` on
    (never in the past), each site's time zone and audit window from `settings` (site id → effective
    settings). Flushes only; returns how many were new."""
    rows = []
    for rule in rule_list:
        zone = settings[rule.site_id]["timezone"]
        audit_window = timedelta(hours=settings[rule.site_id]["audit_window_hours"])
        for year, month in months_for(zone):
            for occurrence in rules.occurrences_in_month(rule.spec, zone, year, month):
                if occurrence.start <= now:
                    continue
                rows.append(
                    {
                        **{key: getattr(rule, key) for key in TEMPLATE},
                        "site_id": rule.site_id,
                        "theme": rule.theme,
                        "rule_id": rule.id,
                        "local_date": occurrence.local_date,
                        "start_at": occurrence.start,
                        "end_at": occurrence.end,
                        "audit_due_at": occurrence.end + audit_window,
                        "status": ActivityStatus.OPEN,
                        "taken": 0,
                        "waiting": 0,
                        "created_by_id": rule.created_by_id,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
    return _insert(rows)
