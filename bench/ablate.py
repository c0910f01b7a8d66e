"""What one layer of a request costs, by taking it away: one endpoint in-process, switches flipped
between small batches.

    .venv/bin/python -m bench.ablate --database-url postgresql://postgres@127.0.0.1:5432/city_small \
        --as volunteer GET /me/timebook/transfers --modes none,log,metrics,etag

Like `profile_endpoint` (minted tokens, Flask's test client, no server), without a profiler: each round
sends `--batch` requests in every mode, the modes' order reversed every other round, and prints each
mode's median CPU per request over `--rounds` rounds. The machine's speed drifts by tens of per cent
between runs a minute apart; flipped every batch in one process, the drift is shared by every mode and
a difference of a few hundredths of a millisecond shows. Modes (`none` is the app as it is):

- `log`: the request's log line not written (its logger disabled);
- `metrics`: the request metrics' hooks (`metrics._start`, `metrics._count`) not run;
- `poolgauge`: the pool gauges not set on checkout and checkin;
- `etag`: no ETag computed (flask-smorest's ETAG_DISABLED);
- `readback`: the rate limit's window read back from its store for the response's headers (limits'
  own fixed window: GET and TTL after the hit), as before volunteer_app.ratewindow (a limited view:
  the grab, a redemption);
- `firstlook`: the feed reads its whole circle at once (feed.service.FIRST_LOOK = None), not a
  smaller circle first;
- `alone`: a new order in the session's transaction (BEGIN, caller, INSERT, COMMIT), as before
  `extensions.writes_alone` (extensions.WRITES_ALONE = False);
- `quiet`: planned reads through SQLAlchemy's `_cursor_execute` with an execution context even with no
  listener, as before readplan's quiet path (readplan.QUIET_PATH = False).

Each mode's median wall time a request is printed too: what it waits on the database (the wall less
the CPU) is not this process's CPU, and a mode that changes the SQL shows there.

`--redis-url` keeps the rate-limit counters in Redis, as a deployment and bench.storms do ("" keeps
them in memory). POST sends no body (a grab); `--status` is the status every answer must have (a
storm's loser: 409); `--body submit` posts a valid new order (POST /orders, as bench.profile_endpoint).

PROMETHEUS_MULTIPROC_DIR is set (to a temporary directory) as under gunicorn, so the metrics are
written as the served app writes them.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import sys
import tempfile
import time

MODES = ("none", "log", "metrics", "poolgauge", "etag", "readback", "firstlook", "alone", "quiet")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True)
    parser.add_argument(
        "--as", dest="role", default="volunteer", choices=["volunteer", "resident", "manager"]
    )
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--modes", default="none,log,metrics,etag", help=f"comma-separated, of {MODES}")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--redis-url", default=None, help="rate-limit counters (default: bench.load's)")
    parser.add_argument("--status", type=int, default=None, help="the status every answer must have")
    parser.add_argument("--body", choices=["submit"], default=None)
    parser.add_argument("method", choices=["GET", "POST"])
    parser.add_argument("path", help="under /api/v1, e.g. /me/timebook")
    args = parser.parse_args(argv)
    modes = args.modes.split(",")
    if unknown := set(modes) - set(MODES):
        sys.exit(f"unknown modes: {sorted(unknown)}")

    # Before the app's modules are imported: prometheus_client picks its mode then.
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="ablate-metrics-"))
    from bench import load
    from bench.profile_endpoint import app_with_tokens, submit_body

    load.use_redis(load.REDIS_URL if args.redis_url is None else args.redis_url)
    from limits.strategies import FixedWindowRateLimiter

    from volunteer_app import extensions, metrics, readplan
    from volunteer_app.extensions import limiter
    from volunteer_app.feed import service as feed

    app, ids, tokens = app_with_tokens(args.database_url, args.role, args.users)
    body = submit_body(app, ids[0]) if args.body == "submit" else None
    counting = limiter._limiter
    readback = FixedWindowRateLimiter(limiter._storage)
    client = app.test_client()
    before, after = list(app.before_request_funcs[None]), list(app.after_request_funcs[None])
    gauges = {gauge: gauge.set for gauge in (metrics.POOL_CHECKED_OUT, metrics.POOL_SIZE)}
    first_look = feed.FIRST_LOOK

    def switch(mode: str) -> None:
        logging.getLogger("volunteer_app.request").disabled = mode == "log"
        hooks = (metrics._start, metrics._count) if mode == "metrics" else ()
        app.before_request_funcs[None] = [f for f in before if f not in hooks]
        app.after_request_funcs[None] = [f for f in after if f not in hooks]
        for gauge, set_ in gauges.items():
            gauge.set = (lambda _value: None) if mode == "poolgauge" else set_
        app.config["ETAG_DISABLED"] = mode == "etag"
        limiter._limiter = readback if mode == "readback" else counting
        feed.FIRST_LOOK = None if mode == "firstlook" else first_look
        extensions.WRITES_ALONE = mode != "alone"
        readplan.QUIET_PATH = mode != "quiet"

    def send(n: int) -> None:
        for i in range(n):
            reply = client.open(
                f"{load.API}{args.path}",
                method=args.method,
                headers={"Authorization": f"Bearer {tokens[i % len(tokens)]}"},
                json=body,
            )
            if reply.status_code != args.status if args.status else reply.status_code >= 300:
                sys.exit(f"{args.path}: {reply.status_code} {reply.get_data(as_text=True)[:200]}")

    switch("none")
    send(3 * args.batch)  # warm: statement caches, the site cache, imports
    gc.freeze()
    cpu: dict[str, list[float]] = {mode: [] for mode in modes}
    wall: dict[str, list[float]] = {mode: [] for mode in modes}
    for n in range(args.rounds):
        for mode in modes if n % 2 == 0 else modes[::-1]:
            switch(mode)
            started, cpu_started = time.perf_counter(), time.process_time()
            send(args.batch)
            cpu[mode].append((time.process_time() - cpu_started) / args.batch * 1000)
            wall[mode].append((time.perf_counter() - started) / args.batch * 1000)
    switch("none")
    base, base_wall = statistics.median(cpu[modes[0]]), statistics.median(wall[modes[0]])
    print(f"{args.method} {args.path} as {args.role}, {args.rounds} rounds of {args.batch} requests a mode:")
    for mode in modes:
        median, median_wall = statistics.median(cpu[mode]), statistics.median(wall[mode])
        print(
            f"  {mode:>10}: {median:.3f} ms of CPU a request (median), {median - base:+.3f} to {modes[0]}; "
            f"wall {median_wall:.3f} ms, {median_wall - base_wall:+.3f}"
        )


if __name__ == "__main__":
    main()
