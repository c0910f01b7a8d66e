"""The order state machine: the one table, and the one place that writes `Order.status`.

`TABLE[(from, action)]` gives the state an action leads to and who may take it. A pair of targets
`(a, b)` means the result depends on the order's slots: `a` while slots are open (or someone is still
on site), `b` when the action fills the last slot (or the last one on site leaves). Actions that keep
the state (a grab that leaves slots open, a rating) still pass through here: every change of an order
writes exactly one timeline event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from blinker import Namespace
from sqlalchemy import BigInteger, String, bindparam, insert, null, select, true

from volunteer_app import changes, readplan
from volunteer_app.db import UTCDateTime, update_batch, utcnow
from volunteer_app.errors import Conflict, register_messages
from volunteer_app.extensions import alone_connection, db
from volunteer_app.orders.models import Order, OrderEvent, OrderStatus, RatingState

register_messages(
    {
        "order.bad_state": (
            "订单当前状态（{status}）不允许该操作（{action}）",
            "This order is {status}: {action} is not possible now",
        ),
    }
)

S = OrderStatus  # short, for the table
END_STATES = frozenset({S.REJECTED, S.CLOSED, S.CANCELLED, S.EXPIRED})
WAITING = (S.SUBMITTED, S.DISPATCHED, S.STAFFED)  # the states the deadline job may expire

RESIDENT, MANAGER, VOLUNTEER, SCHEDULER = "resident", "manager", "volunteer", "scheduler"


@dataclass(frozen=True)
class Rule:
    to: OrderStatus | tuple[OrderStatus, OrderStatus]
    by: frozenset[str]


def _rule(to, *by: str) -> Rule:
    return Rule(to, frozenset(by))


TABLE: dict[tuple[OrderStatus | None, str], Rule] = {
    (None, "submit"): _rule(S.SUBMITTED, RESIDENT, MANAGER),
    (S.SUBMITTED, "reject"): _rule(S.REJECTED, MANAGER),
    (S.SUBMITTED, "dispatch"): _rule(S.DISPATCHED, MANAGER),
    # Reassign: more offers after a decline or withdrawal.
    (S.DISPATCHED, "offer"): _rule(S.DISPATCHED, MANAGER),
    (S.DISPATCHED, "accept"): _rule((S.DISPATCHED, S.STAFFED), VOLUNTEER),
    (S.DISPATCHED, "grab"): _rule((S.DISPATCHED, S.STAFFED), VOLUNTEER),
    # Declining an offer frees nothing (an offer holds no slot); withdrawing frees the held slot.
    (S.DISPATCHED, "decline"): _rule(S.DISPATCHED, VOLUNTEER),
    (S.STAFFED, "decline"): _rule(S.STAFFED, VOLUNTEER),
    (S.DISPATCHED, "withdraw"): _rule(S.DISPATCHED, VOLUNTEER),
    (S.STAFFED, "withdraw"): _rule(S.DISPATCHED, VOLUNTEER),
    (S.DISPATCHED, "check_in"): _rule(S.IN_SERVICE, VOLUNTEER),
    (S.STAFFED, "check_in"): _rule(S.IN_SERVICE, VOLUNTEER),
    (S.IN_SERVICE, "check_in"): _rule(S.IN_SERVICE, VOLUNTEER),
    (S.IN_SERVICE, "check_out"): _rule((S.IN_SERVICE, S.COMPLETED), VOLUNTEER),
    # A manager closes a missed check-out, or records a no-show.
    (S.IN_SERVICE, "close_attendance"): _rule((S.IN_SERVICE, S.COMPLETED), MANAGER),
    (S.DISPATCHED, "no_show"): _rule(S.DISPATCHED, MANAGER),
    (S.STAFFED, "no_show"): _rule(S.STAFFED, MANAGER),
    (S.IN_SERVICE, "no_show"): _rule((S.IN_SERVICE, S.COMPLETED), MANAGER),
    (S.COMPLETED, "audit"): _rule(S.CLOSED, MANAGER),
    (S.COMPLETED, "rate"): _rule(S.COMPLETED, RESIDENT),
    (S.CLOSED, "rate"): _rule(S.CLOSED, RESIDENT),
    (S.COMPLETED, "rating_lapsed"): _rule(S.COMPLETED, SCHEDULER),
    (S.CLOSED, "rating_lapsed"): _rule(S.CLOSED, SCHEDULER),
    # Passing the order on (转派 to a sibling station, 上报 to the parent site: orders/handover.py): the
    # dispatch site changes and the order waits on its new holder to dispatch. A dispatched order only
    # while no one holds a place (a pool nobody grabbed, offers all declined: the service checks
    # `taken == 0`); its open offers end and it is submitted again, to be dispatched afresh.
    (S.SUBMITTED, "hand_over"): _rule(S.SUBMITTED, MANAGER),
    (S.DISPATCHED, "hand_over"): _rule(S.SUBMITTED, MANAGER),
    (S.SUBMITTED, "cancel"): _rule(S.CANCELLED, RESIDENT, MANAGER),
    (S.DISPATCHED, "cancel"): _rule(S.CANCELLED, RESIDENT, MANAGER),
    (S.STAFFED, "cancel"): _rule(S.CANCELLED, RESIDENT, MANAGER),
    # Deadlines: first escalate to the parent site's managers, then expire (waiting states only:
    # work already done is never expired, its lateness only escalated).
    (S.SUBMITTED, "escalate"): _rule(S.SUBMITTED, SCHEDULER),
    (S.DISPATCHED, "escalate"): _rule(S.DISPATCHED, SCHEDULER),
    (S.STAFFED, "escalate"): _rule(S.STAFFED, SCHEDULER),
    (S.IN_SERVICE, "escalate"): _rule(S.IN_SERVICE, SCHEDULER),
    (S.COMPLETED, "escalate"): _rule(S.COMPLETED, SCHEDULER),
    (S.SUBMITTED, "expire"): _rule(S.EXPIRED, SCHEDULER),
    (S.DISPATCHED, "expire"): _rule(S.EXPIRED, SCHEDULER),
    (S.STAFFED, "expire"): _rule(S.EXPIRED, SCHEDULER),
    # The grab deadline passed with some slots held: those volunteers go, the pool closes.
    (S.DISPATCHED, "close_pool"): _rule(S.STAFFED, SCHEDULER),
}

ACTIONS = tuple(sorted({action for _, action in TABLE}))

# An order is settled when it is closed (audited) and its rating is too (rated, or the window lapsed
# unrated). The three moves into CLOSED (the table above) can each be the last of the two: the audit of
# a rated or lapsed order, the rating of a closed one, the lapse of a closed one's window. `settled` is
# sent, inside the transaction, with the ids of the orders such a move just settled (`order_ids`,
# `action`, `now`): a higher domain (supervision's follow-ups) connects to it, so orders need not know
# who listens.
signals = Namespace()
settled = signals.signal("order-settled")
SETTLED_RATINGS = frozenset({RatingState.RATED, RatingState.UNRATED})


def _announce(action: str, after: str, rating_state, order_ids: list[int], now: datetime) -> None:
    if after == S.CLOSED and rating_state in SETTLED_RATINGS:
        settled.send(None, order_ids=order_ids, action=action, now=now)


def target(status: str | None, action: str, *, by: str, last: bool = False) -> OrderStatus:
    """The state `action` leads to from `status`, or 409 `order.bad_state` if the table has no such move."""
    rule = TABLE.get((status, action))
    if rule is None:
        raise Conflict("order.bad_state", params={"status": status or "-", "action": action})
    if by not in rule.by:
        raise RuntimeError(f"{by} may not {action}")  # a programming error, not a user's
    if isinstance(rule.to, tuple):
        return rule.to[1] if last else rule.to[0]
    return rule.to


def transition(
    order: Order,
    action: str,
    *,
    by: str,
    actor_id: int | None,
    last: bool = False,
    proxy_id: int | None = None,
    assignment_id: int | None = None,
    note: str | None = None,
    at: datetime | None = None,
    **changes,
):
    """Apply `action` to a locked order: check the table (409 `order.bad_state` if it has no such move,
    so a command needs no check of its own before), set the new status and `changes` (deadlines, mode,
    …), and write the timeline event. Flushes only; the calling service commits."""
    before = order.status if order.id is not None else None
    after = target(before, action, by=by, last=last)
    order.status = after
    if after != before:
        order.escalated_at = None
    for key, value in changes.items():
        setattr(order, key, value)
    if order.id is None:
        db.session.add(order)
    db.session.flush()  # the order's id (a new one) and its change, then its event past the ORM
    at = at or utcnow()
    _event(order.id, action, before, after, actor_id, proxy_id, assignment_id, note, at)
    _announce(action, after, order.rating_state, [order.id], at)


def create(
    values: dict,
    action: str,
    *,
    by: str,
    actor_id: int | None,
    at: datetime,
    follow=None,
    gate=None,
    gate_params: dict | None = None,
    **changes_,
):
    """`transition` of an order that does not exist yet, past the ORM's unit of work (a resident's new
    order is the hottest write): the table's move from nothing (409 `order.bad_state` if it has none)
    sets the status, one INSERT writes `values` and `changes_` and reads the whole row back (RETURNING:
    each column as a SELECT gives it, defaults included), the change is logged for the statistics as a
    flush would (volunteer_app/changes.py) and the timeline event is written; on PostgreSQL the three
    in one statement (`_insert_order_logged`). Returns the row; the session's unit of work gets
    nothing to flush from it. The calling service commits; under `extensions.writes_alone`, while
    nothing else has been written, the one statement runs in autocommit and has committed by itself
    (`alone_connection`).

    `follow` (PostgreSQL; a function kept, as the statement is built once per process with it) gives
    one more INSERT for the same statement from the new row's columns (`new_order`'s, a CTE): the
    row then carries the id it returned as `followed_id`. Elsewhere it is not run and the row has no
    `followed_id`: the caller writes its row itself.

    `gate` (PostgreSQL; kept likewise) gives a select of the caller's, with parameters of its own
    (`gate_params`), of one row or none: the order is written only when it gives its row, whose columns are
    read back with the order's; when it gives none, nothing is written and create returns None."""
    after = target(None, action, by=by)
    connection, alone = alone_connection()
    columns = {**values, **changes_, "status": after}
    if connection.dialect.name == "postgresql":  # the order, its log line and its event: one statement
        for key, default in _DEFAULTS:  # (SQLAlchemy fills them for an INSERT run as one, not in a CTE)
            if key not in columns:
                columns[key] = default.arg if default.is_scalar else default.arg(None)
        logged_at = utcnow()
        params = {
            **columns,
            **(gate_params or {}),
            "logged_at": logged_at,
            "event_action": action,
            "event_actor": actor_id,
            "event_at": at,
        }
        if follow is not None:
            params["work_at"] = logged_at
        statement = _insert_order_logged(tuple(sorted(columns)), follow, gate)
        # (a SELECT over data-modifying CTEs, built once: sent past SQLAlchemy's execution path, as
        # the hot reads are; readplan checks it sends what SQLAlchemy would)
        rows = readplan.read(connection, statement, params)
        if not rows:
            return None  # (the gate gave no row: nothing written)
        row = rows[0]
        if not alone:  # (alone, it has committed: no later write of this request's can repeat it)
            changes.logged("order", [row.id])
    else:
        if gate is not None:
            raise ValueError("a gate is PostgreSQL's")
        row = connection.execute(_INSERT_ORDER, columns).one()
        changes.record("order", [row.id])
        _event(row.id, action, None, after, actor_id, values.get("proxy_id"), None, None, at)
    _announce(action, after, row.rating_state, [row.id], at)
    return row


_INSERT_ORDER = insert(Order.__table__).returning(*Order.__table__.c)
# The columns' Python-side defaults (created_at, …), scalars and functions, as an INSERT applies them.
_DEFAULTS = [(column.key, column.default) for column in Order.__table__.c if column.default is not None]
assert all(default.is_scalar or default.is_callable for _key, default in _DEFAULTS)


@cache
def _insert_order_logged(keys: tuple[str, ...], follow=None, gate=None):
    """PostgreSQL: `_INSERT_ORDER` of the columns `keys` (bound by their names), with the new order's
    line in the statistics' change log (changes.logging_insert, at the bound `logged_at`) and its
    first timeline event (the bound `event_action`, `event_actor`, `event_at`; from no state to its
    status, its proxy's) written by data-modifying CTEs of the same statement: one round trip for
    three INSERTs (a resident's new order is the hottest write), and `follow`'s (`create`). Reads the
    row back as `_INSERT_ORDER` does. Built once per process, set of columns, `follow` and `gate`
    (create: the INSERT's row selected from the gate's, and the gate's columns read back)."""
    table = Order.__table__
    params = {key: bindparam(key, type_=table.c[key].type) for key in keys}
    if gate is None:
        new = insert(table).values(params)
    else:
        gated = gate().cte("gate")
        new = insert(table).from_select(list(keys), select(*params.values()).select_from(gated))
    new = new.returning(*table.c).cte("new_order")
    logged = changes.logging_insert("order", new.c.id, bindparam("logged_at", type_=UTCDateTime))
    event = insert(OrderEvent.__table__).from_select(
        ["order_id", "action", "from_status", "to_status", "actor_id", "proxy_id", "at"],
        select(
            new.c.id,
            bindparam("event_action", type_=String),
            null(),
            new.c.status,
            bindparam("event_actor", type_=BigInteger),
            new.c.proxy_id,
            bindparam("event_at", type_=UTCDateTime),
        ),
    )
    stmt = select(*new.c).add_cte(logged.cte("logged")).add_cte(event.cte("evented"))
    if gate is not None:  # (one row each, or none)
        stmt = stmt.add_columns(*gated.c).select_from(new.join(gated, true()))
    if follow is not None:  # read, so its RETURNING (a wake-up) runs and its id comes back
        followed = follow(new).cte("followed")
        stmt = stmt.add_columns(select(followed.c.id).scalar_subquery().label("followed_id"))
    return stmt


_INSERT_EVENT = insert(OrderEvent.__table__)


def _event(order_id, action, before, after, actor_id, proxy_id, assignment_id, note, at) -> None:
    """An order's timeline event, one INSERT on the session's connection."""
    db.session.connection().execute(
        _INSERT_EVENT,
        {
            "order_id": order_id,
            "action": action,
            "from_status": before,
            "to_status": after,
            "actor_id": actor_id,
            "proxy_id": proxy_id,
            "assignment_id": assignment_id,
            "note": note,
            "at": at,
        },
    )


def transition_many(
    action: str,
    status: str,
    *,
    where: list,
    order_by: tuple,
    values: dict,
    now: datetime,
    limit: int,
    returning=(),
):
    """Apply a scheduler `action` to up to `limit` orders in `status` matching `where`, in one UPDATE
    (db.update_batch: the status and `where` repeated in it, so two sweepers never move one order twice;
    `order_by` the column order of the partial index that serves `where` — ordered by id, PostgreSQL
    would choose the primary key and filter, each batch reading past every row earlier batches had
    moved: bench/README.md). One event per moved order. Flushes only. Returns the moved rows."""
    after = target(status, action, by=SCHEDULER)
    if after != status:
        # As in transition(): an escalation belongs to the state it was raised in.
        values = {"escalated_at": None, **values}
    rows = update_batch(
        db.session,
        Order,
        where=[Order.status == status, *where],
        order_by=order_by,
        values={"status": after, "updated_at": now, **values},
        limit=limit,
        returning=returning,
    )
    if rows:
        ids = [row.id for row in rows]
        changes.record("order", ids)  # the ORM does not see this UPDATE
        db.session.execute(
            insert(OrderEvent),
            [
                {"order_id": order_id, "action": action, "from_status": status, "to_status": after, "at": now}
                for order_id in ids
            ],
        )
        # A set-based move settles its orders only by settling their rating (rating_lapsed).
        _announce(action, after, values.get("rating_state"), ids, now)
    return rows
