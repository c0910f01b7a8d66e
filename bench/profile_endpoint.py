"""Profile one endpoint in-process: where does a request's time go?

    .venv/bin/python -m bench.profile_endpoint --database-url sqlite:////tmp/city_tiny.db \
        --as volunteer GET '/tasks/available?lat=30.0&lng=120.0'
    .venv/bin/python -m bench.profile_endpoint --database-url postgresql://postgres@127.0.0.1:5432/city \
        --as resident POST /orders --body submit --top 40

It mints access tokens for `--users` users of the role (`--as`: volunteer, resident, manager) with the
auth service's own code, sends `--requests` requests through Flask's test client (no server, no
network: the app's own time only), rotating the tokens, and prints the mean milliseconds per request
and cProfile's top functions by cumulative and by own time; the statements one request sends are
counted (`--statements` prints them), and the process's CPU per request is the Python side's cost
alone (the database's is not in it), steadier than wall time on a busy machine. `--by-package` sums
the profile's own time by package; `--plans` shows how PostgreSQL planned each prepared statement.
To profile another checkout's app with this script (a before and after):
`PYTHONPATH=/path/to/checkout .venv/bin/python bench/profile_endpoint.py …`. `--body submit` posts a
valid order near the first resident's home; `--json` posts a body as given, and `--idempotency-keys`
sends a fresh key with each request. A first `--warmup` batch is not profiled (statement caches,
imports). The per-user rate limits are raised as in bench/load.py. Nothing is
written but the rows the requests themselves make (and the device sessions of the tokens).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import sys
import tempfile
import time
import types
import uuid
from pathlib import Path

import sqlalchemy as sa

from bench import load


def users_of(app, role: str, count: int) -> list[int]:
    from volunteer_app.accounts.models import RoleGrant, User
    from volunteer_app.extensions import db

    with app.app_context():
        if role == "resident":  # residents who are nothing else
            others = sa.select(RoleGrant.user_id).where(RoleGrant.role != "resident")
            query = sa.select(User.id).where(User.home_site_id.is_not(None), ~User.id.in_(others))
        else:
            query = sa.select(RoleGrant.user_id.label("id")).where(RoleGrant.role == role)
        return list(db.session.scalars(query.order_by("id").limit(count)))


def app_with_tokens(database_url: str, role: str, users: int):
    """The app on `database_url` with the load bench's limits (its VOLUNTEER_CONFIG overlay), and
    access tokens minted for the first `users` users of `role`. Exits if there are none."""
    overlay = Path(tempfile.mkdtemp()) / "overlay.toml"
    overlay.write_text(load.OVERLAY)
    os.environ["VOLUNTEER_CONFIG"] = str(overlay)
    os.environ["DATABASE_URL"] = database_url
    from bench.harness import make_app

    app = make_app(database_url)
    ids = users_of(app, role, users)
    if not ids:
        sys.exit(f"no {role} in that database")
    return app, ids, list(load.mint(app, ids).values())


def submit_body(app, resident_id: int) -> dict:
    """A valid POST /orders body (JSON-ready) near the resident's home station."""
    from volunteer_app.accounts.models import User
    from volunteer_app.extensions import db
    from volunteer_app.sites import service as sites
    from volunteer_app.sites.models import Site

    with app.app_context():
        home = db.session.get(Site, db.session.get(User, resident_id).home_site_id)
        body = load.order_body(home.lat + 0.001, home.lng + 0.001, "剖析点单")
        body["category_id"] = sites.list_categories()[0].id
        return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in body.items()}


def count_statements(app, fn) -> list[str]:
    """The statements (and transaction ends) `fn` sends on the app's engine: what a request costs in
    round trips. BEGIN is implicit in the driver and counted on the first statement of a transaction."""
    from sqlalchemy import event

    from volunteer_app.extensions import db

    seen: list[str] = []
    with app.app_context():
        engine = db.engine

    def on_execute(_conn, _cursor, statement, *_args):
        seen.append(statement)

    def sent(conn, what: str) -> str:  # in autocommit the driver sends no BEGIN, COMMIT or ROLLBACK
        return (
            f"({what}: not sent, autocommit)"
            if getattr(conn.connection.dbapi_connection, "autocommit", False)
            else what
        )

    def on_begin(conn):
        seen.append(sent(conn, "BEGIN"))

    def on_rollback(conn):
        seen.append(sent(conn, "ROLLBACK"))

    def on_commit(conn):
        seen.append(sent(conn, "COMMIT"))

    ping = engine.dialect.do_ping

    def counted_ping(dbapi_connection):
        seen.append("PING (an idle connection's check, db.ping_when_idle)")
        return ping(dbapi_connection)

    def on_reset(dbapi_connection, *_args):
        info = getattr(dbapi_connection, "info", None)  # psycopg: a rollback only inside a transaction
        idle = info is not None and getattr(info, "transaction_status", None) == 0
        seen.append("(the pool's reset: nothing to roll back)" if idle else "RESET (the pool's rollback)")

    hooks = [
        ("before_cursor_execute", on_execute),
        ("begin", on_begin),
        ("rollback", on_rollback),
        ("commit", on_commit),
    ]
    pool_hooks = [("reset", on_reset)]
    engine.dialect.do_ping = counted_ping
    for name, hook in hooks:
        event.listen(engine, name, hook)
    for name, hook in pool_hooks:
        event.listen(engine.pool, name, hook)
    try:
        fn()
    finally:
        for name, hook in hooks:
            event.remove(engine, name, hook)
        for name, hook in pool_hooks:
            event.remove(engine.pool, name, hook)
        del engine.dialect.do_ping  # back to the class's
    return seen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--database-url", required=True)
    roles = ["volunteer", "resident", "manager"]
    parser.add_argument("--as", dest="role", default="volunteer", choices=roles)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--body", choices=["submit"], default=None)
    parser.add_argument("--json", metavar="BODY", help="post this JSON body as it is")
    parser.add_argument(
        "--idempotency-keys", action="store_true", help="send a fresh Idempotency-Key with each request"
    )
    parser.add_argument("--no-profile", action="store_true", help="time only (cProfile costs ~×2)")
    parser.add_argument("--save", metavar="PATH", help="also write the profile to PATH (pstats' format)")
    parser.add_argument(
        "--statements", action="store_true", help="print the SQL statements of one request (after warm-up)"
    )
    parser.add_argument(
        "--gc-freeze", action="store_true", help="gc.freeze() before measuring, as gunicorn's pre_fork does"
    )
    parser.add_argument("--width", type=int, default=200, help="characters of each statement printed")
    parser.add_argument("--by-package", action="store_true", help="the profile's own time by package")
    parser.add_argument(
        "--plans",
        action="store_true",
        help="PostgreSQL: how often each prepared statement was planned afresh (custom) or reused (generic)",
    )
    parser.add_argument("method", choices=["GET", "POST"])
    parser.add_argument("path", help="under /api/v1, e.g. /me/timebook")
    args = parser.parse_args(argv)

    app, ids, tokens = app_with_tokens(args.database_url, args.role, args.users)
    body = json.loads(args.json) if args.json else None
    if args.body == "submit":
        body = submit_body(app, ids[0])

    client = app.test_client()
    statuses: dict[int, int] = {}

    def send(n: int) -> None:
        for i in range(n):
            headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
            if args.idempotency_keys:
                headers["Idempotency-Key"] = uuid.uuid4().hex
            reply = client.open(f"{load.API}{args.path}", method=args.method, headers=headers, json=body)
            statuses[reply.status_code] = statuses.get(reply.status_code, 0) + 1

    send(args.warmup)
    statuses.clear()
    counted = count_statements(app, lambda: send(1))
    sent = [c for c in counted if not c.startswith("(")]
    print(f"SQL statements per request (BEGIN and the end of the transaction included): {len(sent)}")
    if args.statements:
        # Bytes: psycopg caches its parsing of a query up to 4,096 (psycopg._queries), longer ones are
        # parsed again on every execution.
        for statement in counted:
            print(f"    {len(statement.encode()):6,} B ", " ".join(statement.split())[: args.width])
    statuses.clear()
    profile = None if args.no_profile else cProfile.Profile()
    if args.gc_freeze:
        gc.freeze()
    collected = _time_collections()
    started, cpu_started = time.perf_counter(), time.process_time()
    if profile:
        profile.enable()
    send(args.requests)
    if profile:
        profile.disable()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    gc.callbacks.remove(collected.callback)
    print(
        f"garbage collections: {collected.runs} ({collected.by_generation}), "
        f"{1000 * collected.seconds / args.requests:.3f} ms per request"
    )
    print(
        f"{args.method} {args.path} as {args.role}: {args.requests} requests, "
        f"{1000 * seconds / args.requests:.2f} ms each, {1000 * cpu / args.requests:.2f} ms of this "
        f"process's CPU{' under cProfile' if profile else ''}; statuses {statuses}"
    )
    if profile:  # deterministic where time is not: a proxy for the Python work of a request
        print(f"Python function calls per request: {pstats.Stats(profile).total_calls / args.requests:,.0f}")
    if args.plans:
        print_plans(app, args.width)
    if profile and args.save:
        profile.dump_stats(args.save)
    if profile and args.by_package:
        print(by_package(pstats.Stats(profile), args.requests))
    elif profile:
        for order in ("cumulative", "tottime"):
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats(order).print_stats(args.top)
            print(out.getvalue())


def print_plans(app, width: int) -> None:
    """The server-side prepared statements of the pool's connections (psycopg prepares a statement
    from its fifth execution) with how many times PostgreSQL planned each afresh for its values (a
    custom plan: the planner's whole cost every time) or reused one generic plan. A statement that
    stays on custom plans pays its planning on every request."""
    from volunteer_app.extensions import db

    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            print("plans: PostgreSQL only")
            return
        pool = db.engine.pool
        held = [db.engine.raw_connection() for _ in range(pool.checkedin())]
        try:
            for n, raw in enumerate(held):
                cursor = raw.cursor()
                cursor.execute(
                    "SELECT generic_plans, custom_plans, statement FROM pg_prepared_statements "
                    "ORDER BY generic_plans + custom_plans DESC"
                )
                for generic, custom, statement in cursor.fetchall():
                    text = " ".join(statement.split())[:width]
                    print(f"plans (connection {n}): generic {generic:>5}, custom {custom:>5}: {text}")
                cursor.close()
        finally:
            for raw in held:
                raw.close()


def _time_collections():
    """Count the garbage collector's runs (by generation) and their time until the callback is removed."""
    state = types.SimpleNamespace(runs=0, seconds=0.0, by_generation=[0, 0, 0], started=0.0)

    def callback(phase, info):
        if phase == "start":
            state.started = time.perf_counter()
        else:
            state.runs += 1
            state.by_generation[info["generation"]] += 1
            state.seconds += time.perf_counter() - state.started

    state.callback = callback
    gc.callbacks.append(callback)
    return state


def by_package(stats: pstats.Stats, requests: int) -> str:
    """Own time per request grouped by where the code lives: each installed package, the app, the
    standard library, and C built-ins (psycopg's waits for the database are psycopg's)."""
    totals: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, own, _cum, _callers) in stats.stats.items():
        if "site-packages/" in filename:
            where = filename.split("site-packages/", 1)[1].split("/", 1)[0]
        elif "volunteer_app" in filename:
            where = "volunteer_app"
        elif filename == "~":
            where = "built-ins"
        else:
            where = "standard library"
        totals[where] = totals.get(where, 0.0) + own
    whole = sum(totals.values())
    lines = [f"own time per request under cProfile, {1000 * whole / requests:.2f} ms in all:"]
    for where, own in sorted(totals.items(), key=lambda item: -item[1])[:14]:
        lines.append(f"  {where:24s} {1000 * own / requests:6.3f} ms  {100 * own / whole:4.1f} %")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
