"""Prometheus metrics of the web processes (docs/ops/metrics.md) and the operator-only `GET /metrics`.

What a web process counts itself lives here: requests by route template and status with their latency,
grabs by outcome, the database pool in use. Under gunicorn the workers count apart; with
PROMETHEUS_MULTIPROC_DIR set (config/gunicorn.py sets it) prometheus_client keeps every worker's values
in files there and a scrape, answered by any one worker, sums them. What lives in the database (the
queues, the job runs, the last ledger verification, the heartbeats) is read at scrape time by collectors
a higher layer hands to `init_app` (volunteer_app/ops/collector.py): this module imports no domain.

`/metrics` is not public: it answers only a bearer token equal to VOLUNTEER_METRICS_TOKEN (compared in
constant time), and without one configured it does not exist (404)."""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterable

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import event

from volunteer_app.errors import Forbidden, NotFound, Unauthorized, register_messages

register_messages(
    {
        "metrics.token_missing": (
            "需要 Authorization: Bearer <监控令牌>",
            "Send Authorization: Bearer <the metrics token>",
        ),
        "metrics.token_invalid": ("监控令牌不正确", "The metrics token is wrong"),
    }
)

disable_created_metrics()  # no *_created series: one more line per label set, of no use to alerts

# Seconds: from a cached read to a slow export request.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"  # the route of a request no rule matched (a 404): never the raw path

REQUESTS = Counter(
    "volunteer_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "volunteer_http_request_duration_seconds",
    "Time from the first request hook to the response, by method and route template",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
GRABS = Counter(
    "volunteer_order_grabs",
    "Grabs (抢单) by outcome: won (a slot taken), full (409 order.full), refused (any other 4xx)",
    ["outcome"],
)
POOL_CHECKED_OUT = Gauge(
    "volunteer_db_pool_checked_out",
    "Database connections checked out of the web processes' pools (summed over live workers)",
    multiprocess_mode="livesum",
)
POOL_SIZE = Gauge(
    "volunteer_db_pool_size",
    "Connections the web processes' pools keep (pool_size, summed over live workers)",
    multiprocess_mode="livesum",
)

Collector = Callable[[], Iterable]  # a factory of objects with collect(), called per scrape


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def grab_outcome(outcome: str) -> None:
    """Count one grab: "won", "full" or "refused"."""
    GRABS.labels(outcome=outcome).inc()


def init_app(app: Flask, collectors: Iterable[Collector] = ()) -> None:
    """Time and count every request, watch the pool, serve /metrics with `collectors` added per scrape."""
    app.extensions["metrics"] = {"collectors": tuple(collectors)}
    # First of the before-request hooks (the rate limit's and the body check's may answer at once:
    # their answers are timed too).
    app.before_request_funcs.setdefault(None, []).insert(0, _start)
    app.after_request(_count)
    app.add_url_rule("/metrics", "metrics", _metrics_view, methods=["GET"])
    from volunteer_app.extensions import db

    with app.app_context():
        for engine in db.engines.values():
            _watch_pool(engine)


def _start() -> None:
    g._metrics_started = time.perf_counter()


def _route() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def _count(response):
    method = request.method if request.method in METHODS else "other"
    route = _route()
    REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
    started = g.get("_metrics_started")
    if started is not None:
        LATENCY.labels(method=method, route=route).observe(time.perf_counter() - started)
    return response


def _watch_pool(engine) -> None:
    """Keep the pool gauges of this process current (the listeners survive engine.dispose: the new pool
    takes the old one's events)."""

    def moved(*_args) -> None:
        # Set here, not at start: under gunicorn the app is made in the master, which serves nothing.
        pool = engine.pool
        if callable(getattr(pool, "checkedout", None)):
            POOL_CHECKED_OUT.set(pool.checkedout())
        if callable(getattr(pool, "size", None)):
            POOL_SIZE.set(pool.size())

    event.listen(engine, "checkout", moved)
    event.listen(engine, "checkin", moved)


class _Scrape:
    """What one scrape reports: this process's (or, in multiprocess mode, every worker's) metrics and
    the collectors' figures, read now."""

    def __init__(self, sources: Iterable):
        self.sources = list(sources)

    def collect(self):
        for source in self.sources:
            yield from source.collect()


def scrape() -> bytes:
    """The Prometheus text exposition of everything /metrics serves (needs the app's context)."""
    path = multiprocess_dir()
    # Multiprocess: the files of every worker (this process's own included), not the in-memory registry.
    own = MultiProcessCollector(None, path=path) if path else REGISTRY
    extra = [factory() for factory in current_app.extensions["metrics"]["collectors"]]
    return generate_latest(_Scrape([own, *extra]))


def _metrics_view():
    token = (current_app.config.get("OPS") or {}).get("metrics_token") or ""
    if not token:
        raise NotFound("not_found")  # not configured: /metrics does not exist
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    given = given.strip()
    if scheme.lower() != "bearer" or not given:
        raise Unauthorized("metrics.token_missing")  # (with the app's bearer challenge)
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Forbidden("metrics.token_invalid")
    return Response(scrape(), content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
