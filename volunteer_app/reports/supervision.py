"""Supervision figures (督办, 诉求, appeals, 回访) of a site's whole subtree over a period.

Counted live from the supervision tables, not from the rollups: they hold a few records per site and
month (orders hold thousands), so each block is one or two indexed statements. A record belongs to the
subtree by its site (an item: the acting site; a complaint: the dispatch site; an appeal: the audited
site; a follow-up: the serving station), picked with the site paths (Site.path prefix). The period is
the local days [start, end] on the asked site's clock, as instants [start 00:00, end + 1 00:00).

- "raised / received / filed / created" count records created in the period (ix_*_site_created_at);
- what happened in the period (closed, sent back, answered, reopened, decided, called) counts the
  timeline's events in the period (supervision_events, ix_supervision_events_action_at), one per move;
- "now" figures (open, overdue) are the state at the time of asking, whatever the period.

An item is closed on time when its last report came by its deadline (reported_at ≤ due_at: the acting
site's deed, not the raising site's delay in confirming); a complaint is answered on time when the
answer's event is by its due_at. Overdue now: open items, open complaints, pending appeals and pending
follow-ups past their due_at (what the deadline sweep escalates). The follow-up rate is a cohort's: of
the follow-ups created in the period, the share now done; the reached share is done ÷ (done +
unreachable) among the calls that ended in the period; the mean satisfaction is over those done in it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, select

from volunteer_app.extensions import db
from volunteer_app.supervision import states
from volunteer_app.supervision.common import overdue_condition
from volunteer_app.supervision.models import (
    FOLLOW_UP_REASONS,
    Appeal,
    AppealStatus,
    Complaint,
    ComplaintStatus,
    FollowUp,
    FollowUpStatus,
    ItemStatus,
    Level,
    SupervisionEvent,
    SupervisionItem,
)


def instants(start, end, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The local days [start, end] as UTC instants [first, after)."""
    first = datetime.combine(start, time(), zone)
    after = datetime.combine(end + timedelta(days=1), time(), zone)
    return first.astimezone(ZoneInfo("UTC")), after.astimezone(ZoneInfo("UTC"))


def _n(condition):
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def figures(in_tree, first: datetime, after: datetime, now: datetime) -> dict:
    """The supervision block of the statistics; `in_tree(site_column)` picks the subtree's sites."""
    e, i, c, a, f = SupervisionEvent, SupervisionItem, Complaint, Appeal, FollowUp
    period = lambda column: and_(column >= first, column < after)  # noqa: E731

    def counted(machine: states.Machine, records: tuple, events: tuple):
        """One row of `records` over the machine's records in the subtree, and one of `events` over
        their timeline's events in the period."""
        model = machine.model
        now_row = db.session.execute(select(*records).where(in_tree(model.site_id))).one()
        moves = db.session.execute(
            select(*events)
            .select_from(e)
            .join(model, model.id == e.subject_id)
            .where(e.subject == machine.subject, e.at >= first, e.at < after, in_tree(model.site_id))
        ).one()
        return now_row, moves

    items, item_moves = counted(
        states.ITEMS,
        (
            _n(period(i.created_at)).label("raised"),
            _n(overdue_condition(states.ITEMS, now)).label("overdue"),
            _n(i.status == ItemStatus.REPORTED).label("reported"),
            *[_n(and_(i.status == ItemStatus.OPEN, i.level == lv)).label(str(lv)) for lv in Level],
        ),
        (
            _n(e.action == "close").label("closed"),
            _n(and_(e.action == "close", i.reported_at <= i.due_at)).label("on_time"),
            _n(e.action == "send_back").label("sent_back"),
        ),
    )
    complaints, complaint_moves = counted(
        states.COMPLAINTS,
        (
            _n(period(c.created_at)).label("received"),
            _n(c.status == ComplaintStatus.OPEN).label("open"),
            _n(overdue_condition(states.COMPLAINTS, now)).label("overdue"),
        ),
        (
            _n(e.action == "answer").label("answered"),
            _n(and_(e.action == "answer", e.at <= c.due_at)).label("on_time"),
            _n(e.action == "reopen").label("reopened"),
        ),
    )
    granted = func.coalesce(a.minutes_granted, a.minutes_before) - a.minutes_before
    appeals, appeal_moves = counted(
        states.APPEALS,
        (
            _n(period(a.created_at)).label("filed"),
            _n(a.status == AppealStatus.PENDING).label("pending"),
            _n(overdue_condition(states.APPEALS, now)).label("overdue"),
        ),
        (
            _n(e.action == "uphold").label("upheld"),
            _n(e.action == "reject").label("rejected"),
            func.coalesce(func.sum(case((e.action == "uphold", granted), else_=0)), 0).label("minutes"),
        ),
    )
    follow_ups, follow_up_moves = counted(
        states.FOLLOW_UPS,
        (
            _n(period(f.created_at)).label("created"),
            _n(and_(period(f.created_at), f.status == FollowUpStatus.DONE)).label("cohort_done"),
            *[_n(and_(period(f.created_at), f.reason == r)).label(r) for r in FOLLOW_UP_REASONS],
            _n(f.status == FollowUpStatus.PENDING).label("pending"),
            _n(overdue_condition(states.FOLLOW_UPS, now)).label("overdue"),
        ),
        (
            _n(e.action == "reached").label("done"),
            _n(e.action == "give_up").label("unreachable"),
            func.avg(case((e.action == "reached", f.satisfaction), else_=None)).label("mean"),
        ),
    )
    ended = follow_up_moves.done + follow_up_moves.unreachable
    return {
        "items": {
            "raised": items.raised,
            "closed": item_moves.closed,
            "closed_on_time": item_moves.on_time,
            "reopened": item_moves.sent_back,
            "overdue_now": items.overdue,
            "reported_now": items.reported,
            "open_now": {
                "total": sum(getattr(items, str(lv)) for lv in Level),
                **{str(lv): getattr(items, str(lv)) for lv in Level},
            },
        },
        "complaints": {
            "received": complaints.received,
            "answered": complaint_moves.answered,
            "answered_on_time": complaint_moves.on_time,
            "reopened": complaint_moves.reopened,
            "open_now": complaints.open,
            "overdue_now": complaints.overdue,
        },
        "appeals": {
            "filed": appeals.filed,
            "upheld": appeal_moves.upheld,
            "rejected": appeal_moves.rejected,
            "minutes_credited": int(appeal_moves.minutes),
            "pending_now": appeals.pending,
            "overdue_now": appeals.overdue,
        },
        "follow_ups": {
            "created": follow_ups.created,
            "by_reason": {r: getattr(follow_ups, r) for r in FOLLOW_UP_REASONS},
            "done": follow_up_moves.done,
            "unreachable": follow_up_moves.unreachable,
            "rate": _share(follow_ups.cohort_done, follow_ups.created),
            "reached_share": _share(follow_up_moves.done, ended),
            "mean_satisfaction": None
            if follow_up_moves.mean is None
            else round(float(follow_up_moves.mean), 2),
            "pending_now": follow_ups.pending,
            "overdue_now": follow_ups.overdue,
        },
    }


def ranking_values(tree, first: datetime, after: datetime, now: datetime) -> dict:
    """Per child of `tree` (a figures.Subtree) by id: [items raised against its subtree in the period
    and not withdrawn, those that went overdue or were sent back, follow-ups created in the period,
    those now done]. An item went overdue when its last report came after its deadline, or it is
    still unreported past it."""
    i, f = SupervisionItem, FollowUp
    late = func.coalesce(i.reported_at, now) > i.due_at
    bad = _n((i.reopened > 0) | late)
    out = {r.id: [0, 0, 0, 0] for r in tree.rows if r.id != tree.site.id and tree.child_of[r.id] == r.id}
    for offset, model, columns, where in (
        (0, i, (func.count(), bad), (i.status != ItemStatus.WITHDRAWN,)),
        (2, f, (func.count(), _n(f.status == FollowUpStatus.DONE)), ()),
    ):
        rows = db.session.execute(
            select(model.site_id, *columns)
            .where(model.created_at >= first, model.created_at < after, tree.condition(model.site_id), *where)
            .group_by(model.site_id)
        )
        for site_id, total, part in rows:
            child = tree.child_of.get(site_id)
            if child in out:
                out[child][offset] += total
                out[child][offset + 1] += int(part)
    return out
