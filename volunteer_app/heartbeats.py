"""Heartbeats: the worker and the scheduler each write a row (kind, host:pid, started_at, beat_at) every
`[ops] heartbeat_seconds` while they run, busy or idle, so `flask doctor` and /metrics can tell from the
database alone (they may run on other machines) whether each is alive."""

from __future__ import annotations

import logging
import os
import socket
import time
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import UTCDateTime, dialect_insert, utcnow
from volunteer_app.extensions import db
from volunteer_app.logs import first_line

log = logging.getLogger(__name__)

KINDS = ("worker", "scheduler")
# Rows of processes gone this long are deleted (by the next process of the kind that starts).
FORGET_AFTER = timedelta(days=7)


class Heartbeat(db.Model):
    """A running process's last sign of life; one row per process (kind, host:pid), upserted."""

    __tablename__ = "heartbeats"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    instance: Mapped[str] = mapped_column(String(120), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def heartbeat_seconds(app=None) -> int:
    return int(((app or current_app).config.get("OPS") or {}).get("heartbeat_seconds", 30))


def stale_after(app=None) -> timedelta:
    """How long a process may go without a beat and still count as running ([ops] heartbeat_stale_seconds)."""
    return timedelta(
        seconds=int(((app or current_app).config.get("OPS") or {}).get("heartbeat_stale_seconds", 180))
    )


def beat(
    kind: str, *, started_at: datetime, instance: str | None = None, now: datetime | None = None
) -> None:
    """Write this process's heartbeat (on a connection of its own: the caller's session is left alone).
    Needs the app's context; raises what the database raises."""
    now = now or utcnow()
    insert = dialect_insert(db.engine.dialect.name)
    values = {"kind": kind, "instance": instance or instance_name(), "started_at": started_at, "beat_at": now}
    statement = insert(Heartbeat).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["kind", "instance"], set_={"beat_at": now, "started_at": started_at}
    )
    with db.engine.begin() as conn:
        conn.execute(statement)


def forget_gone(now: datetime | None = None) -> int:
    """Delete the rows of processes silent for FORGET_AFTER (each restart leaves one)."""
    with db.engine.begin() as conn:
        return conn.execute(
            delete(Heartbeat).where(Heartbeat.beat_at < (now or utcnow()) - FORGET_AFTER)
        ).rowcount


def forget(kind: str, instance: str | None = None) -> None:
    """Delete this process's row as it stops cleanly: a restart must not leave it counted as running for
    the stale limit. Never raises (the database may be away as the process stops)."""
    try:
        with db.engine.begin() as conn:
            conn.execute(
                delete(Heartbeat).where(
                    Heartbeat.kind == kind, Heartbeat.instance == (instance or instance_name())
                )
            )
    except Exception as exc:
        log.warning("%s heartbeat not removed: %s", kind, first_line(exc))


class Beater:
    """A loop's heartbeat: `tick()` at every turn writes one when `every` seconds have passed since the
    last (the first at once). A failed write is logged and tried at the next turn; never raises."""

    def __init__(self, kind: str, every: float, instance: str | None = None):
        self.kind, self.every = kind, every
        self.instance = instance or instance_name()
        self.started_at = utcnow()
        self.last: float | None = None

    def tick(self) -> bool:
        now = time.monotonic()
        if self.last is not None and now - self.last < self.every:
            return False
        try:
            if self.last is None:
                forget_gone()
            beat(self.kind, started_at=self.started_at, instance=self.instance)
        except Exception as exc:  # the database is away: the loop goes on; the next turn tries again
            log.warning("%s heartbeat not written: %s", self.kind, first_line(exc))
            return False
        self.last = now
        return True

    def stop(self) -> None:
        """The loop ends cleanly: remove its row (heartbeats.forget)."""
        forget(self.kind, self.instance)


def latest(conn) -> dict[str, tuple[datetime, int]]:
    """Per kind: the newest beat and how many processes beat within the stale limit."""
    stale = stale_after()
    rows = conn.execute(
        select(
            Heartbeat.kind,
            func.max(Heartbeat.beat_at),
            func.count().filter(Heartbeat.beat_at >= utcnow() - stale),
        ).group_by(Heartbeat.kind)
    ).all()
    return {kind: (newest, int(fresh)) for kind, newest, fresh in rows}
