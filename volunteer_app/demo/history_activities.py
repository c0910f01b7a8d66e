"""Past service days for the demo history: activities published a week or two ahead, sign-ups (now and
then one cancelled), check-in and check-out through `attendance.service` at the past moments, and the
audit, which credits each volunteer's minutes with `timebank.credit_service` as `POST
/activities/{id}/audit` does and turns holders who never came into no-shows. An activity whose audit
moment is still to come stays open, its sign-ups checked out and waiting for it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from volunteer_app.activities import rules
from volunteer_app.activities import states as activity_states
from volunteer_app.activities.attendance import place
from volunteer_app.activities.models import Activity
from volunteer_app.activities.states import ActivityStatus
from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.extensions import db

if TYPE_CHECKING:
    from random import Random

    from volunteer_app.demo.history import Context, Station

M = timedelta(minutes=1)


def load(ctx: Context, st: Station, rng: Random, service_days: list[tuple]) -> int:
    """The station's service days of the history's months (each a rule-like spec), up to two days
    ago. Returns how many activities were written."""
    first = ctx.now - timedelta(days=max(st.plan.days[1], 1))
    last = ctx.now - timedelta(days=2)
    months = sorted(
        {(d.year, d.month) for d in (first + timedelta(days=k) for k in range((last - first).days + 1))}
    )
    count = 0
    for spec, theme, title, category, slots, rule_id in service_days:
        for year, month in months:
            for occurrence in rules.occurrences_in_month(spec, st.settings["timezone"], year, month):
                if first <= occurrence.start <= last:
                    category_id = category if isinstance(category, int) else ctx.category(category)
                    _activity(ctx, st, rng, occurrence, (theme, title, category_id, slots), rule_id)
                    count += 1
    return count


def _activity(ctx: Context, st: Station, rng: Random, occurrence, what: tuple, rule_id: int | None) -> None:
    theme, title, category_id, slots = what
    start, end = occurrence.start, occurrence.end
    published = start - timedelta(days=rng.randint(5, 12), hours=rng.randint(0, 6))
    crew = ctx.pick(st, start, end, rng.randint(max(2, slots // 3), min(slots, 9)), published, rng)
    if not crew:
        return
    activity = Activity(
        site_id=st.id,
        category_id=category_id,
        title=title,
        theme=theme,
        description=ctx.note,
        address=f"{st.name}文明实践广场",
        lat=st.lat,
        lng=st.lng,
        start_at=start,
        end_at=end,
        slots=slots,
        taken=len(crew),
        waitlist_max=0,
        waiting=0,
        status=ActivityStatus.OPEN,
        rule_id=rule_id,
        local_date=occurrence.local_date if rule_id else None,
        created_by_id=st.manager_id,
        audit_due_at=end + timedelta(hours=st.settings["audit_window_hours"]),
        created_at=published,
        updated_at=published,
    )
    db.session.add(activity)
    db.session.flush()
    signups = [(published + (start - published) * rng.uniform(0.05, 0.95), v, True) for v in crew]
    if rng.random() < 0.3:  # one more signs up, then cancels
        for volunteer in ctx.pick(st, start, end, 1, published, rng, exclude=crew, reserve=False):
            signups.append((published + (start - published) * rng.uniform(0.05, 0.6), volunteer, False))
    held = []
    for at, volunteer, stays in sorted(signups):
        signup = Assignment(
            activity_id=activity.id,
            site_id=st.id,
            volunteer_id=volunteer,
            kind="signup",
            status=AssignmentStatus.HELD,
            held_at=at,
            created_at=at,
            updated_at=at,
        )
        db.session.add(signup)
        if stays:
            held.append(signup)
        else:
            cancelled = at + (start - at) * rng.uniform(0.1, 0.9)
            attendance.move(signup, "cancel", now=cancelled)
            signup.updated_at = cancelled
    db.session.flush()
    _attend(st, rng, activity, held)
    audited = end + rng.randint(120, 72 * 60) * M
    if audited <= ctx.now:
        _audit(ctx, st, rng, activity, audited)


def _attend(st: Station, rng: Random, activity: Activity, held: list[Assignment]) -> None:
    """Check-ins from a little before the start, check-outs around the end; now and then one never comes."""
    spot = place(activity)
    for signup in held:
        if len(held) > 2 and rng.random() < 0.08:
            continue  # a no-show: the audit settles it
        arrived = activity.start_at - rng.randint(0, 20) * M
        left = activity.end_at + rng.randint(-15, 20) * M
        for moment, check in ((arrived, attendance.check_in), (left, attendance.check_out)):
            lat, lng = activity.lat + rng.uniform(-5e-4, 5e-4), activity.lng + rng.uniform(-5e-4, 5e-4)
            check(signup, lat=lat, lng=lng, place=spot, now=moment)
        signup.updated_at = left


def _audit(ctx: Context, st: Station, rng: Random, activity: Activity, at: datetime) -> None:
    """审核 (as activities/attendance.py audit): every checked-out sign-up confirmed and credited once,
    holders who never came become no-shows, the activity closes."""
    activity_states.transition(activity, "audit")
    spot = place(activity)
    for signup in ctx.holders(activity, AssignmentStatus.CHECKED_OUT):
        attendance.audit(
            signup,
            minutes=None,
            reason=None,
            place=spot,
            record_key=f"assignment:{signup.id}",
            memo=activity.title,
            service_date=ctx.local_date(st, activity.start_at),
            actor_id=st.manager_id,
            field=("assignments",),
        )
        signup.updated_at = at
    attendance.settle_absent([activity.id], at, owner=Assignment.activity_id)
    activity.closed_at = activity.updated_at = at
    activity.audited_by_id = st.manager_id
    db.session.flush()
