"""What the worker runs, declared as data by each domain and assembled by the app (volunteer_app/jobs.py):
`Work` is a kind of queued item with its handler; `Drain` is a queue a domain keeps in its own table
(the notification outbox) that the worker empties whenever it wakes. Also the worker's settings."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any

from flask import Flask, current_app

EXTENSION = "worker"
CHANNEL = "volunteer_work"  # the LISTEN/NOTIFY channel on PostgreSQL


@dataclass(frozen=True, kw_only=True)
class Work:
    """A kind of background work: `run(ctx, **args)` is called with a `queue.Context` (progress,
    the item's id and owner) and the item's JSON arguments; it returns None, a JSON-able dict (the
    result) or a `queue.ResultFile` (a download). Changes it leaves uncommitted are committed with
    the item's completion, atomically; a handler that runs long commits per step and reports progress."""

    kind: str
    run: Callable[..., Any]
    description: str
    max_attempts: int = 5


@dataclass(frozen=True, kw_only=True)
class Drain:
    """A queue kept in a domain's own table: `run(limit=…)` claims and processes up to `limit` due rows
    safely against concurrent drainers (commits) and returns how many it processed."""

    id: str
    run: Callable[..., int]
    description: str
    batch: int = 50


@dataclass(frozen=True)
class Registry:
    kinds: Mapping[str, Work]
    drains: tuple[Drain, ...]


def init_app(app: Flask, kinds: Iterable[Work], drains: Iterable[Drain] = ()) -> None:
    """Keep the app's kinds of work and drains; a kind declared twice is a programming error."""
    registry: dict[str, Work] = {}
    for work in kinds:
        if work.kind in registry:
            raise ValueError(f"work kind {work.kind!r} is declared twice")
        registry[work.kind] = work
    app.extensions[EXTENSION] = Registry(MappingProxyType(registry), tuple(drains))


def registered(app: Flask | None = None) -> Registry:
    return (app or current_app).extensions[EXTENSION]


def add(app: Flask, *kinds: Work) -> None:
    """Register more kinds on a built app (tests and a test worker's app declare their own)."""
    current = registered(app)
    init_app(app, [*current.kinds.values(), *kinds], current.drains)


def settings(app: Flask | None = None) -> dict[str, Any]:
    """`[worker]`: mode (off | embedded), lease_seconds, poll_seconds (PostgreSQL's safety net while
    listening), sqlite_poll_seconds, result_keep_days."""
    return (app or current_app).config.get("WORKER") or {}


def result_keep(app: Flask | None = None) -> timedelta:
    """How long a job's result file stays downloadable (`result_keep_days`, 7 by default)."""
    return timedelta(days=float(settings(app).get("result_keep_days", 7)))


def lease(app: Flask | None = None) -> timedelta:
    return timedelta(seconds=float(settings(app).get("lease_seconds", 60)))


def poll_interval(app: Flask, listening: bool) -> float:
    cfg = settings(app)
    return float(cfg.get("poll_seconds", 5) if listening else cfg.get("sqlite_poll_seconds", 1))
