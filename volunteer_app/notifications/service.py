"""Writing notifications with the change they report: one inbox row per user and the outbox rows its
route gives (routing.py: channels, opt-outs, the daily cap, quiet hours) in the caller's transaction
(waking the workers, who send them, when it commits), and who to tell (a site's managers)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func, insert, literal, literal_column, select
from sqlalchemy.sql.dml import Insert

from volunteer_app.accounts.models import RoleGrant, User
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.notifications import routing
from volunteer_app.notifications.delivery import CHUNK
from volunteer_app.notifications.messages import KIND_SUBJECTS, KINDS, PARAM_TYPES
from volunteer_app.notifications.models import Notification, OutboxMessage
from volunteer_app.worker import queue
from volunteer_app.worker.queue import wake

Subject = tuple[str, int | str | None]  # (subject type, id): ("order", 42), ("statement", "2026-05")


class Message(NamedTuple):
    """One notification to write: the same kind, params and subject to each of `user_ids`."""

    user_ids: Iterable[int]
    kind: str
    params: dict | None
    subject: Subject


def notify(user_ids: Iterable[int], kind: str, *, subject: Subject, params: dict | None = None) -> int:
    """Put one inbox row per distinct user and the outbox rows the kind's route gives each (routing.py)
    in the current transaction. `subject` is what it is about (a type of
    SUBJECT_TYPES that KIND_SUBJECTS allows for the kind, and its id). Flushes only: the caller commits.
    Returns the number of inbox rows."""
    return notify_many([Message(user_ids, kind, params, subject)])


def _checked(message: Message) -> tuple[list[int], dict, str, str | None]:
    if message.kind not in KINDS:
        raise ValueError(f"unknown notification kind: {message.kind!r}")
    params = dict(message.params or {})
    for key, value in params.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, PARAM_TYPES)):
            raise ValueError(f"notification param {key!r} must be a string or a number")
    subject_type, subject_id = message.subject or (None, None)
    if subject_type not in KIND_SUBJECTS[message.kind]:
        raise ValueError(f"a {message.kind!r} notification is about one of {KIND_SUBJECTS[message.kind]}")
    if (subject_id is None) != (subject_type == "ledger"):
        raise ValueError(f"a {subject_type!r} subject needs an id (only the ledger has none)")
    return (
        sorted(set(message.user_ids)),
        params,
        subject_type,
        None if subject_id is None else str(subject_id),
    )


def notify_many(messages: Iterable[Message]) -> int:
    """`notify` for many messages at once (a scheduler sweep: one per moved order) in a few statements
    per CHUNK inbox rows, however many messages and users: the inbox rows, the routing's reads (each
    route channel's reacher per kind, the users' settings, their time zones and today's counts), the
    outbox rows. Flushes only. Returns the number of inbox rows."""
    now = utcnow()
    rows = [
        {
            "user_id": user_id,
            "kind": message.kind,
            "params": params,
            "order_id": int(subject_id) if subject_type == "order" else None,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "created_at": now,
        }
        for message in messages
        for users, params, subject_type, subject_id in [_checked(message)]
        for user_id in users
    ]
    for start in range(0, len(rows), CHUNK):
        _write(rows[start : start + CHUNK], now)
    return len(rows)


def _write(rows: list[dict], now: datetime) -> None:
    # Each returned row says whose it is and its kind, so no RETURNING in input order is needed (which
    # SQLite can only give one row at a time).
    written = db.session.execute(
        insert(Notification).returning(Notification.id, Notification.user_id, Notification.kind), rows
    ).all()
    outbox = routing.outbox_rows([tuple(row) for row in written], now)
    if outbox:
        # render_nulls: one INSERT for rows with and without a target alike.
        db.session.execute(insert(OutboxMessage), outbox, execution_options={"render_nulls": True})
        wake()  # the workers send them once this transaction commits


MANAGERS_KIND = "notifications.managers"


def notify_managers_later(site_id: int, kind: str, *, subject: Subject, params: dict | None = None) -> None:
    """`notify` a site's managers (`managers_of`) from the worker, shortly after the commit: one queued
    item in the current transaction instead of the managers' lookup, the inbox and outbox rows and the
    routing's reads (for a hot request: a resident's new order). The message is checked now; the
    managers are the site's when the worker writes it (exactly once: the worker's writes commit with
    the item's completion). Flushes only: the caller commits."""
    _checked(Message((), kind, params, subject))
    args = {"site_id": site_id, "kind": kind, "params": params, "subject": list(subject)}
    queue.enqueue(MANAGERS_KIND, args)


def notify_managers_from(site_id, kind: str, *, subject: tuple, params: dict) -> Insert:
    """PostgreSQL: `notify_managers_later`'s queued item as an INSERT for a statement of the caller's
    own, which writes it with the change it is about (a new order: orders.states.create): `site_id`,
    the subject's id and the params' values are SQL expressions over that statement's rows, the
    arguments the same JSON the worker reads from `notify_managers_later`'s item. Build it once; the
    caller tells `managers_queued` the id the statement returns."""
    subject_type, subject_id = subject
    _checked(Message((), kind, dict.fromkeys(params, ""), (subject_type, 0)))  # the kind, its subject

    def pairs(values: dict) -> list:  # (the keys are the code's names: written into the SQL)
        assert all(key.isidentifier() for key in values)
        return [part for key, value in values.items() for part in (literal_column(f"'{key}'"), value)]

    args = func.json_build_object(
        *pairs(
            {
                "site_id": site_id,
                "kind": literal(kind),
                "params": func.json_build_object(*pairs(params)),
                "subject": func.json_build_array(literal(subject_type), subject_id),
            }
        )
    )
    return queue.enqueue_from(MANAGERS_KIND, args)


def managers_queued(work_id: int) -> None:
    """A `notify_managers_from` item was queued (its line in the log, as `notify_managers_later`'s)."""
    queue.queued(work_id, MANAGERS_KIND)


def notify_managers_now(_ctx, *, site_id: int, kind: str, params: dict | None, subject: list) -> dict:
    """The worker's half of `notify_managers_later` (MANAGERS_WORK in notifications/jobs.py)."""
    subject_type, subject_id = subject
    return {"notified": notify(managers_of(site_id), kind, params=params, subject=(subject_type, subject_id))}


def managers_of(site_id: int) -> list[int]:
    """The active users holding the manager role granted directly on this site (not above it)."""
    return managers_of_sites({site_id}).get(site_id, [])


def managers_of_sites(site_ids: set[int]) -> dict[int, list[int]]:
    """`managers_of` for many sites in one query: site id → its direct active managers, by user id."""
    found: dict[int, list[int]] = {}
    if not site_ids:
        return found
    for site_id, user_id in db.session.execute(
        select(RoleGrant.site_id, RoleGrant.user_id)
        .join(User, User.id == RoleGrant.user_id)
        .where(RoleGrant.role == "manager", RoleGrant.site_id.in_(site_ids), User.is_active.is_(True))
        .order_by(RoleGrant.site_id, RoleGrant.user_id)
    ):
        found.setdefault(site_id, []).append(user_id)
    return found
