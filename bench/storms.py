"""Storms against gunicorn (issue 19): N simultaneous requests released together, drained and counted.

    python -m bench.storms                                   # throwaway PostgreSQL DB with the demo data
    python -m bench.storms --database-url postgresql://…/city_small --storm 500 --workers 5

Four storms in a round, each of `--storm` requests released by one barrier:
- bare: GET /baseline/users/<id> on bench/baseline_app.py (one primary-key select), the yardstick;
- grab: POST /orders/{id}/grab on an open pool with 5 places (bench.load's `grab_storm`);
- reward: POST /redemptions of one reward with stock 5, by N volunteers each with enough minutes, each
  request with its own Idempotency-Key; then again on a second such reward without keys.

`--before PATH` serves a second checkout (a git worktree of the before) beside the app, and each round
runs the three app storms on both, in turns (the app first in odd rounds, the before first in even
ones), each on a pool or reward of its own: a before and after in the same rounds, each against the
same bare storm (`before_grab`, `before_reward`, `before_reward_nokey` in the results).

`--repeat` rounds (3), the servers up all along, each app storm on a fresh pool or reward: one storm
is a few seconds of a 2-core machine whose speed drifts by tens of per cent between runs (a bare storm
read 0.64 to 1.68 s within minutes), so each app storm is compared with its own round's bare storm
and the median round is reported. Each storm's CPU is measured too (its server's processes and
PostgreSQL's, from /proc: `cpu_s`, and `cpu_ratio_to_bare` against the round's bare storm), which
says what a storm costs apart from how the machine's speed moved while it drained.

The issue's bar: each app storm drains in at most twice the bare storm's wall time, with exactly 5
winners and no 5xx. The reward storms are then checked in the database: 5 redemptions, stock 0, and
the ledger verifies. bench/load.py calls the functions here (`bare_storm`, `prepare_reward_storm`,
`reward_storm`, `check_reward_storm`); `__main__` runs the rounds on its own.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from bench.harness import ROOT
from bench.load import (
    API,
    OVERLAY,
    REDIS_URL,
    Server,
    bench_app,
    grab_storm,
    mint,
    prepare,
    processes,
    spread,
    storm,
)

# The storm redeems N times in a few seconds: the per-person redeem limit is raised like the others.
STORM_OVERLAY = OVERLAY + 'redeem_limit = "1000000/minute"\n'
REWARD_STOCK = 5
REWARD_PRICE = 10  # minutes


# ---- (a) the bare storm -------------------------------------------------------------------------------


def bare_storm(base: str, user_id: int, n: int) -> dict:
    """N concurrent GET /baseline/users/<id> on bench/baseline_app.py (served at `base`)."""
    return storm([urllib.request.Request(f"{base}/baseline/users/{user_id}") for _ in range(n)])


# ---- (c) the last units of a reward -------------------------------------------------------------------


def prepare_reward_storm(
    app,
    *,
    volunteers: int,
    site_id: int | None = None,
    volunteer_ids: list[int] | None = None,
    stock: int = REWARD_STOCK,
    price_minutes: int = REWARD_PRICE,
) -> dict:
    """A reward with `stock` units at `site_id` (default: the site with most volunteers), and
    `volunteers` volunteers each with at least `price_minutes` in their book (credited through the time
    bank's service as an audit would, only those short of it), each with a minted token."""
    from volunteer_app.accounts.models import VolunteerProfile
    from volunteer_app.demo import world
    from volunteer_app.extensions import db
    from volunteer_app.timebank import ledger, rewards
    from volunteer_app.timebank import service as timebank

    with app.app_context():
        site_id = site_id or db.session.scalar(
            sa.select(VolunteerProfile.site_id)
            .group_by(VolunteerProfile.site_id)
            .order_by(sa.func.count().desc())
            .limit(1)
        )
        if not volunteer_ids:
            people = db.session.scalar(sa.select(sa.func.count()).select_from(VolunteerProfile))
            volunteer_ids = list(
                db.session.scalars(
                    sa.select(VolunteerProfile.user_id)
                    .where(spread(VolunteerProfile.user_id, people, volunteers))
                    .order_by(VolunteerProfile.user_id)
                    .limit(volunteers)
                )
            )
        run = uuid.uuid4().hex[:8]
        credited = 0
        for user_id in volunteer_ids:
            book = ledger.existing_book(user_id)
            if book is not None and book.balance >= price_minutes:
                continue
            profile_site = db.session.get(VolunteerProfile, user_id).site_id
            timebank.credit_service(
                record_key=f"bench-storm:{run}:{user_id}",
                user_id=user_id,
                site_id=profile_site,
                minutes=2 * price_minutes,
                memo="bench/storms.py",
                service_date=date.today(),
                actor_id=None,
            )
            db.session.commit()
            credited += 1
        reward = rewards.create_reward(
            who=world.admin_view(),
            actor_id=None,
            site_id=site_id,
            kind="goods",
            title=f"压测回报 {run}",
            description="bench/storms.py",
            price_minutes=price_minutes,
            stock=stock,
        )
        reward_id = reward.id
    tokens = mint(app, volunteer_ids)
    return {
        "reward_id": reward_id,
        "site_id": site_id,
        "stock": stock,
        "tokens": [tokens[i] for i in volunteer_ids if i in tokens],
        "credited": credited,
    }


def reward_storm(base: str, reward_id: int, tokens: list[str], n: int, *, keys: bool = True) -> dict:
    """N concurrent POST /redemptions of one reward (tokens round-robin), each with its own
    Idempotency-Key (as a phone sends one) unless `keys` is false (the idempotency layer then stays out:
    its claim and release are two commits of their own per request)."""
    body = json.dumps({"reward_id": reward_id}).encode()

    def headers(k: int) -> dict:
        sent = {"Authorization": f"Bearer {tokens[k % len(tokens)]}", "Content-Type": "application/json"}
        return {**sent, "Idempotency-Key": uuid.uuid4().hex} if keys else sent

    requests = [
        urllib.request.Request(f"{base}{API}/redemptions", data=body, method="POST", headers=headers(k))
        for k in range(n)
    ]
    result = storm(requests)
    result["volunteers"] = min(n, len(tokens))
    return result


def check_reward_storm(app, reward_id: int, *, verify_ledger: bool = True) -> dict:
    """The reward storm in the database: its redemptions, the stock left, and whether the ledger verifies."""
    from volunteer_app.extensions import db
    from volunteer_app.timebank import verify
    from volunteer_app.timebank.models import Redemption, Reward

    with app.app_context():
        found = {
            "redemptions_in_db": db.session.scalar(
                sa.select(sa.func.count()).where(Redemption.reward_id == reward_id)
            ),
            "stock_left": db.session.scalar(sa.select(Reward.stock).where(Reward.id == reward_id)),
        }
        if verify_ledger:
            report = verify.verify()
            found["ledger_ok"] = not report.problems
            found["ledger_problems"] = report.problems[:3]
        db.session.remove()
    return found


# ---- main ---------------------------------------------------------------------------------------------


STORMS = ("grab", "reward", "reward_nokey")


def storms_of(results: dict) -> tuple[str, ...]:
    """The app storms a round ran: the three, and the before's three with `--before`."""
    return tuple(name for name in (*STORMS, *(f"before_{n}" for n in STORMS)) if name in results)


def run(args, database_url: str, work: Path) -> dict:
    """`--repeat` rounds, each the bare storm and then the three app storms (each on a fresh pool or
    reward), with both servers up all along (an idle worker costs nothing): the results of every
    round, and for each storm the round with the median ratio to its round's bare storm."""
    app = bench_app(args, database_url, work, STORM_OVERLAY, args.storm, 0)
    env = {**os.environ, "WEB_CONCURRENCY": str(args.workers), "PYTHONPATH": str(ROOT)}
    app_root = Path(args.app_root).resolve() if args.app_root else ROOT
    rounds: list[dict] = []
    bare_server = Server("bench.baseline_app:app", args.port, env, work / "baseline.log", "/baseline/healthz")
    servers: list[Server] = []
    try:
        servers.append(
            Server("wsgi:app", args.port + 1, env, work / "gunicorn.log", "/healthz", root=app_root)
        )
        if args.before:
            before_root = Path(args.before).resolve()
            servers.append(
                Server("wsgi:app", args.port + 2, env, work / "before.log", "/healthz", root=before_root)
            )
        for number in range(args.repeat):
            print(f"round {number + 1}: preparing …", file=sys.stderr)
            apps = {"": (servers[0].base, servers[0].proc.pid)}  # (start_new_session: its group's id)
            if args.before:
                apps["before_"] = (servers[1].base, servers[1].proc.pid)
            order = list(apps.items()) if number % 2 == 0 else list(reversed(apps.items()))
            rounds.append(one_round(args, app, (bare_server.base, bare_server.proc.pid), dict(order)))
    finally:
        for server in servers:
            server.stop()
        bare_server.stop()
    results: dict = {"rounds": rounds}
    for name in ("bare", *storms_of(rounds[0])):
        ranked = sorted(rounds, key=lambda r: r[name].get("ratio_to_bare", r[name]["seconds"]))
        results[name] = ranked[len(ranked) // 2][name]  # the median round (the upper one of two)
    return results


def _cpu_by_process(pgid: int) -> dict[int, tuple[str, float]]:
    """Each live process of the group `pgid` ("app": a gunicorn's master and workers) and each
    PostgreSQL process ("postgres"): its part and CPU seconds so far (user + system), from /proc."""
    seen = {}
    for pid, name, group, state, used in processes():
        part = "app" if group == pgid else "postgres" if name == "postgres" else None
        if part is not None and state != "Z":  # (a zombie's times are its parent's to collect)
            seen[pid] = (part, used)
    return seen


def _with_cpu(pgid: int, fire, *args, **kwargs) -> dict:
    """`fire(*args, **kwargs)`, a storm: its results, with the CPU seconds its server's processes (the
    gunicorn of process group `pgid`) and the PostgreSQL processes used while it drained (`cpu_s`: app,
    postgres). Counted process by process: one alive before and after by its difference, one started
    meanwhile in full; one that ended meanwhile (a connection of the set-up's closing) is left out, as
    its time was not the storm's."""
    before = _cpu_by_process(pgid)
    result = fire(*args, **kwargs)
    used = {"app": 0.0, "postgres": 0.0}
    for pid, (part, seconds) in _cpu_by_process(pgid).items():
        used[part] += seconds - before.get(pid, (part, 0.0))[1]
    result["cpu_s"] = {part: round(value, 3) for part, value in used.items()}
    return result


def one_round(args, app, bare: tuple[str, int], apps: dict[str, tuple[str, int]]) -> dict:
    """The bare storm and the three app storms on each app (`apps`: a prefix of the results' names to
    its base URL and process group, in the order they storm), each app storm on a pool or a reward of
    its own; the database checked after (5 assignments, 5 redemptions, stock 0, the ledger verified).
    Each storm's CPU (its server's and PostgreSQL's) is measured too: steadier than its wall time."""
    prepared = {}
    for prefix in apps:
        plan = prepare(app, {}, tokens_per_scenario=20, storm=args.storm)
        rewards = prepare_reward_storm(app, volunteers=args.storm)
        bare_rewards = prepare_reward_storm(app, volunteers=args.storm)  # the same volunteers, no keys sent
        prepared[prefix] = (plan, rewards, bare_rewards)
    with app.app_context():
        from volunteer_app.extensions import db

        db.session.remove()
        db.engine.dispose()
    first_plan = next(iter(prepared.values()))[0]
    user_id = first_plan["baseline_user_id"]
    results = {"bare": _with_cpu(bare[1], bare_storm, bare[0], user_id, args.storm)}
    for prefix, (base, pgid) in apps.items():
        plan, rewards, bare_rewards = prepared[prefix]
        results[f"{prefix}grab"] = _with_cpu(
            pgid, grab_storm, base, plan["storm_order_id"], plan["storm_tokens"], args.storm
        )
        results[f"{prefix}reward"] = _with_cpu(
            pgid, reward_storm, base, rewards["reward_id"], rewards["tokens"], args.storm
        )
        results[f"{prefix}reward_nokey"] = _with_cpu(
            pgid,
            reward_storm,
            base,
            bare_rewards["reward_id"],
            bare_rewards["tokens"],
            args.storm,
            keys=False,
        )
    for prefix, (plan, rewards, bare_rewards) in prepared.items():
        with app.app_context():
            from volunteer_app.attendance.models import Assignment
            from volunteer_app.extensions import db

            results[f"{prefix}grab"]["assignments_in_db"] = db.session.scalar(
                sa.select(sa.func.count()).where(Assignment.order_id == plan["storm_order_id"])
            )
            db.session.remove()
        results[f"{prefix}reward_nokey"].update(
            check_reward_storm(app, bare_rewards["reward_id"], verify_ledger=False)
        )
        results[f"{prefix}reward"].update(
            check_reward_storm(app, rewards["reward_id"], verify_ledger=not args.no_verify)
        )
    bare_cpu = sum(results["bare"]["cpu_s"].values())
    for name in storms_of(results):
        results[name]["ratio_to_bare"] = results[name]["seconds"] / results["bare"]["seconds"]
        results[name]["cpu_ratio_to_bare"] = sum(results[name]["cpu_s"].values()) / max(bare_cpu, 1e-9)
    print(summary(results), file=sys.stderr)
    return results


def summary(results: dict) -> str:
    lines = []
    names = storms_of(results["rounds"][0] if results.get("rounds") else results)
    if len(results.get("rounds", ())) > 1:
        for name in names:
            each = " ".join(f"{r[name]['ratio_to_bare']:.2f}" for r in results["rounds"])
            lines.append(
                f"{name:19} × bare in each round: {each}; median {results[name]['ratio_to_bare']:.2f}"
            )
        for name in names:  # (CPU: the server's and PostgreSQL's, against the bare storm's)
            cpu = sorted(r[name]["cpu_ratio_to_bare"] for r in results["rounds"])
            each = " ".join(f"{r[name]['cpu_ratio_to_bare']:.2f}" for r in results["rounds"])
            lines.append(f"{name:19} CPU × bare in each round: {each}; median {cpu[len(cpu) // 2]:.2f}")
        lines.append("the median rounds:")
    for name in ("bare", *names):
        r = results[name]
        ratio = f", {r['ratio_to_bare']:.2f}× bare" if "ratio_to_bare" in r else ""
        checked = ("assignments_in_db", "redemptions_in_db", "stock_left", "ledger_ok")
        extra = {k: r[k] for k in checked if k in r}
        cpu = r.get("cpu_s")
        cpu = f", CPU {cpu['app']:.2f} s app + {cpu['postgres']:.2f} s PostgreSQL" if cpu else ""
        lines.append(
            f"{name:6} {r.get('requests', r.get('grabs'))} requests: {r['seconds']:.2f} s wall{ratio}{cpu}, "
            f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, statuses {r['statuses']} {extra or ''}"
        )
    return "\n".join(lines)


def failures(results: dict) -> list[str]:
    """What went wrong in any round: not exactly 5 winners, a 5xx, a connection error, the database."""
    problems = []
    for number, rnd in enumerate(results.get("rounds") or [results], 1):
        for name in storms_of(rnd):
            r = rnd[name]
            if r["winners"] != 5 or r["5xx"] or r["connection_errors"]:
                problems.append(
                    f"round {number}, {name}: {r['winners']} winners, {r['5xx']} 5xx, "
                    f"{r['connection_errors']} connection errors"
                )
        for name in (n for n in storms_of(rnd) if n.endswith("grab")):
            if rnd[name].get("assignments_in_db") != 5:
                problems.append(
                    f"round {number}, {name}: {rnd[name].get('assignments_in_db')} assignments in the DB"
                )
        for name in (n for n in storms_of(rnd) if "reward" in n):
            reward = rnd[name]
            if (
                reward["redemptions_in_db"] != 5
                or reward["stock_left"] != 0
                or reward.get("ledger_ok") is False
            ):
                problems.append(f"round {number}, {name}: {reward}")
    return problems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="an existing database (default: a throwaway PostgreSQL one)")
    parser.add_argument("--server", default=None, help="PostgreSQL server for the throwaway database")
    parser.add_argument("--storm", type=int, default=500, help="requests in each storm")
    parser.add_argument("--workers", type=int, default=5, help="WEB_CONCURRENCY")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds of the four storms (the median round is reported)"
    )
    parser.add_argument("--port", type=int, default=8791, help="the bare app's; the app's is the next")
    parser.add_argument("--no-verify", action="store_true", help="skip verifying the whole ledger after")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--redis-url", default=REDIS_URL, help="rate-limit counters (as bench.load's)")
    parser.add_argument("--app-root", help="serve the app from this checkout (as bench.load's --app-root)")
    parser.add_argument("--before", help="also storm this checkout (a before), in turns with the app")
    args = parser.parse_args(argv)
    from bench.harness import DEFAULT_SERVER, postgres_database, unique_name

    with tempfile.TemporaryDirectory(prefix="storms-") as tmp:
        work = Path(tmp)
        if args.database_url:
            args.fresh = False
            results = run(args, args.database_url, work)
        else:
            args.fresh = True
            with postgres_database(args.server or DEFAULT_SERVER, unique_name("storms")) as url:
                results = run(args, url, work)
    print(summary(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    problems = failures(results)
    if problems:
        sys.exit("storm FAILED: " + "; ".join(problems))


if __name__ == "__main__":
    main()
