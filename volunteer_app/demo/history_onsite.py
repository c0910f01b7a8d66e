"""Past orders on site and after, for the demo history: check-ins before the start, now and then a
no-show or a forgotten check-out (closed by the station hours later), the last one leaving completes
the order; then the rating or its lapse and the audit, in the order their moments fall, as
orders/onsite.py and orders/review.py do them (see history_orders.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING

from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import AssignmentStatus
from volunteer_app.orders.common import place
from volunteer_app.orders.models import Order, RatingState
from volunteer_app.orders.states import MANAGER, RESIDENT, SCHEDULER, VOLUNTEER, transition

if TYPE_CHECKING:
    from random import Random

    from volunteer_app.demo.history import Context, Station

M = timedelta(minutes=1)
COMMENTS = (
    "约好的时间迟到很久",
    "服务有点敷衍",
    "还可以",
    "很耐心，谢谢",
    "志愿者非常热心，服务周到，点赞！",
)


def daytime(at: datetime, st: Station) -> datetime:
    """`at`, or when people are up after it: a moment at night moves to the next morning (8:00–9:59)."""
    local = at.astimezone(st.tz)
    if 8 <= local.hour < 22:
        return at
    day = local.date() + timedelta(days=1 if local.hour >= 22 else 0)
    return datetime.combine(day, time(8 + local.minute % 2, local.minute), st.tz).astimezone(UTC)


def step(order: Order, action: str, at: datetime, *, by: str, actor_id: int | None, **changes) -> None:
    """One move of the order at a past moment (the table checks it; the timeline gets its event)."""
    transition(order, action, by=by, actor_id=actor_id, at=at, updated_at=at, **changes)


def serve(ctx: Context, st: Station, rng: Random, order: Order) -> datetime:
    """Check-ins before the start, maybe a no-show, check-outs around the end (now and then one
    forgotten, closed by the station hours later); the last one leaving completes the order."""
    holders = ctx.holders(order)
    spot = place(order, st.settings)
    absent = holders.pop() if len(holders) > 1 and rng.random() < 0.12 else None
    arrivals = sorted(((order.window_start - rng.randint(0, 25) * M, a) for a in holders), key=lambda x: x[0])
    for at, a in arrivals:
        attendance.check_in(a, **_near(order, rng), place=spot, now=at)
        a.updated_at = at
        step(order, "check_in", at, by=VOLUNTEER, actor_id=a.volunteer_id, assignment_id=a.id)
    if absent is not None:
        at, reason = order.window_start + rng.randint(15, 30) * M, "未到岗，电话联系不上"
        attendance.no_show(absent, actor_id=st.manager_id, reason=reason)
        absent.updated_at = at
        step(order, "no_show", at, by=MANAGER, actor_id=st.manager_id, assignment_id=absent.id, note=reason)
    leaving = []
    for a in holders:
        forgot = rng.random() < 0.06
        if forgot:  # the station closes it when someone is at the desk
            at = daytime(order.window_end + rng.randint(2, 20) * 60 * M, st)
        else:
            at = order.window_end + rng.randint(-10, 20) * M
        leaving.append((at, forgot, a))
    on_site = len(leaving)
    for at, forgot, a in sorted(leaving, key=lambda item: item[0]):
        on_site -= 1
        changes = {
            "last": on_site == 0,
            "assignment_id": a.id,
            **(_completion(st, at) if on_site == 0 else {}),
        }
        if forgot:
            reason = "志愿者忘记签退，按服务结束时间补签"
            attendance.close(
                a, place=spot, checkout_at=order.window_end, actor_id=st.manager_id, reason=reason
            )
            a.updated_at = at
            step(order, "close_attendance", at, by=MANAGER, actor_id=st.manager_id, note=reason, **changes)
        else:
            attendance.check_out(a, **_near(order, rng), place=spot, now=at)
            a.updated_at = at
            step(order, "check_out", at, by=VOLUNTEER, actor_id=a.volunteer_id, **changes)
    attendance.settle_absent([order.id], order.completed_at)
    return order.completed_at


def _near(order: Order, rng: Random) -> dict:
    """A phone's position on site: within some 50 m of the service address."""
    return {"lat": order.lat + rng.uniform(-5e-4, 5e-4), "lng": order.lng + rng.uniform(-5e-4, 5e-4)}


def _completion(st: Station, at: datetime) -> dict:
    """What completing an order sets (as orders/onsite.py): the rating window opens, the audit is due."""
    return {
        "completed_at": at,
        "rating_state": RatingState.PENDING,
        "rating_due_at": at + timedelta(hours=st.settings["rating_window_hours"]),
        "audit_due_at": at + timedelta(hours=st.settings["audit_window_hours"]),
    }


def after(ctx: Context, st: Station, rng: Random, order: Order, done: datetime) -> None:
    """评单 (or its lapse) and 审核, in the order their moments fall; a moment still to come is skipped."""
    steps = []
    if rng.random() < st.plan.rated:
        steps.append((daytime(done + rng.randint(20, 50 * 60) * M, st), "rate"))
    else:
        steps.append((order.rating_due_at + rng.randint(1, 59) * M / 60, "rating_lapsed"))
    steps.append((daytime(done + rng.randint(*st.plan.audit) * M, st), "audit"))
    for at, action in sorted(steps):
        if at > ctx.now:
            continue
        if action == "rate":
            stars = rng.choices((1, 2, 3, 4, 5), weights=st.plan.stars)[0]
            comment = COMMENTS[stars - 1] if rng.random() < 0.7 else None
            rated = {"rating_state": RatingState.RATED, "rating_stars": stars, "rating_comment": comment}
            step(
                order,
                "rate",
                at,
                by=RESIDENT,
                actor_id=order.resident_id,
                note=f"{stars}★",
                rated_at=at,
                **rated,
            )
        elif action == "rating_lapsed":
            step(order, "rating_lapsed", at, by=SCHEDULER, actor_id=None, rating_state=RatingState.UNRATED)
        else:
            _audit(ctx, st, rng, order, at)


def _audit(ctx: Context, st: Station, rng: Random, order: Order, at: datetime) -> None:
    """审核: the order closes and each checked-out volunteer's minutes are credited (once, by the
    assignment's record key); now and then the station trims a late arrival's minutes, with a reason."""
    step(order, "audit", at, by=MANAGER, actor_id=st.manager_id, audited_by_id=st.manager_id, closed_at=at)
    spot, day = place(order, st.settings), ctx.local_date(st, order.window_start)
    for a in ctx.holders(order, AssignmentStatus.CHECKED_OUT):
        minutes, reason = None, None
        if (a.minutes_computed or 0) > 30 and rng.random() < 0.1:
            minutes, reason = a.minutes_computed - 15, "中途离开约15分钟，按实际服务时长核定"
        a.updated_at = at
        record = {"record_key": f"assignment:{a.id}", "memo": order.title, "service_date": day}
        attendance.audit(
            a,
            minutes=minutes,
            reason=reason,
            place=spot,
            actor_id=st.manager_id,
            field=("assignments",),
            **record,
        )
        a.updated_at = at
