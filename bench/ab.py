"""Interleaved A/B of the load scenarios: two checkouts and the baseline, measured side by side in time.

    .venv/bin/python -m bench.ab --database-url postgresql://postgres@127.0.0.1:5432/city_small \
        --ids bench/results/citygen_small.json --before /work/wt/head --rounds 4 --label issue19-s2

`bench.load` measures the baselines once, then each scenario for 15 s: on this shared 2-core machine
the same code then gives ratios 30 % apart from one run to the next, because the machine's own speed
drifts within minutes. Here the baseline app, the "before" checkout (`--before`, e.g. a worktree of an
older commit) and this checkout's app are served at once (each its own gunicorn, WEB_CONCURRENCY
workers; idle workers cost nothing), and for every round and scenario wrk runs the baseline, before
and after back to back, in an order that rotates with the round, `--duration` seconds each after
`--warmup`; before the first round every side serves each scenario `--first-warmup` seconds
unmeasured, so per-process caches (the site cache: 200 callers' stations in each of 5 workers) are
warm in every measured round. Each ratio is taken against the baseline measured seconds before or
after it; the table gives the median of the rounds and every round's value. Data set-up, tokens and
rate limits are bench.load's (`prepare`, its VOLUNTEER_CONFIG overlay); the write scenario is
measured against the write baseline. Results: bench/results/ab_<label>.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from bench import load
from bench.harness import ROOT

RESULTS = ROOT / "bench" / "results"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True, help="an already filled database (citygen's)")
    parser.add_argument("--ids", help="citygen's JSON of ids")
    parser.add_argument("--before", required=True, help="the other checkout to serve (a worktree)")
    parser.add_argument("--label", default="ab")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--first-warmup",
        type=int,
        default=8,
        help="seconds of load for each scenario and side once before the first round (the workers' "
        "caches: each of them meets every caller's station once)",
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1, help="WEB_CONCURRENCY")
    parser.add_argument("--port", type=int, default=5301)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--only", nargs="*", help="only scenarios whose name contains one of these")
    parser.add_argument("--redis-url", default=load.REDIS_URL)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    args.fresh = False
    work = Path(tempfile.mkdtemp(prefix="bench_ab_"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, work: Path) -> None:
    app = load.bench_app(args, args.database_url, work, load.OVERLAY, 0, 0)
    ids = load.read_ids(Path(args.ids)) if args.ids else {}
    plan = load.prepare(app, ids, tokens_per_scenario=args.tokens, storm=5)
    with app.app_context():
        from volunteer_app.extensions import db

        info = load.machine(db.session.connection())
        db.session.remove()
        db.engine.dispose()
    env = {**os.environ, "WEB_CONCURRENCY": str(args.workers), "PYTHONPATH": str(ROOT)}
    wrk = {"seconds": args.duration, "warmup": args.warmup, "connections": args.connections, "threads": 2}
    scenarios = [
        s for s in load.scenarios_of(plan) if not args.only or any(word in s[0] for word in args.only)
    ]
    servers = {}
    try:
        servers["baseline"] = load.Server(
            "bench.baseline_app:app", args.port, env, work / "baseline.log", "/baseline/healthz"
        )
        servers["before"] = load.Server(
            "wsgi:app", args.port + 1, env, work / "before.log", "/healthz", root=Path(args.before).resolve()
        )
        servers["after"] = load.Server("wsgi:app", args.port + 2, env, work / "after.log", "/healthz")
        if args.first_warmup:
            print("warming every side …", file=sys.stderr)
            one_round(0, scenarios, plan, servers, work, {**wrk, "seconds": args.first_warmup, "warmup": 0})
        rounds = []
        for number in range(args.rounds):
            print(f"round {number + 1} …", file=sys.stderr)
            rounds.append(one_round(number, scenarios, plan, servers, work, wrk))
    finally:
        for server in servers.values():
            server.stop()
    write(args, info, scenarios, rounds)


def one_round(number: int, scenarios, plan: dict, servers: dict, work: Path, wrk: dict) -> dict:
    """{scenario: {"baseline"|"before"|"after": wrk's result}} of one round, in rotating order."""
    order = ["baseline", "before", "after"]
    order = order[number % 3 :] + order[: number % 3]
    results = {}
    for name, method, path, who in scenarios:
        tokens = plan[who] if isinstance(plan[who], list) else [plan[who]]
        body = plan["submit_body"] if method == "POST" else None
        results[name] = {}
        for side in order:
            if side == "baseline":
                url = servers[side].base + (
                    "/baseline/writes" if method == "POST" else f"/baseline/users/{plan['baseline_user_id']}"
                )
                script = load.lua_script(work / "baseline.lua", method=method, tokens=["-"], body=body)
            else:
                url = servers[side].base + load.API + path
                script = load.lua_script(work / "scenario.lua", method=method, tokens=tokens, body=body)
            results[name][side] = load.run_wrk(url, script, **wrk, server_pgid=servers[side].proc.pid)
    return results


def write(args, info, scenarios, rounds) -> None:
    lines = [
        f"# A/B: {args.label}",
        "",
        "Machine: " + ", ".join(f"{key} {value}" for key, value in info.items()),
        "",
        f"Served at once: the baseline (bench/baseline_app.py), before = `{args.before}`, after = this "
        f"checkout; gunicorn, WEB_CONCURRENCY={args.workers} each. wrk: {args.connections} connections, "
        f"{args.warmup} s warm-up then {args.duration} s (and once before the first round, "
        f"{args.first_warmup} s of each unmeasured), for each scenario the three back to back in an "
        f"order rotating with the round; {args.rounds} rounds. Ratio = req/s ÷ the baseline's req/s of "
        "the same round and scenario (the write scenario against one single-row insert + commit).",
        "",
        "| scenario | before (median) | after (median) | after ÷ before | before, each round | "
        "after, each round | non-2xx |",
        "|---|---|---|---|---|---|---|",
    ]
    data = []
    for name, *_rest in scenarios:
        ratios = {
            side: [r[name][side]["rps"] / r[name]["baseline"]["rps"] for r in rounds]
            for side in ("before", "after")
        }
        errors = sum(r[name][side]["non_2xx"] for r in rounds for side in ("before", "after"))
        before, after = statistics.median(ratios["before"]), statistics.median(ratios["after"])
        lines.append(
            f"| {name} | {before:.2f} | {after:.2f} | {after / before:.2f} | "
            f"{' '.join(f'{v:.2f}' for v in ratios['before'])} | "
            f"{' '.join(f'{v:.2f}' for v in ratios['after'])} | {errors} |"
        )
        data.append({"scenario": name, "ratios": ratios, "non_2xx": errors})
    lines += [
        "",
        "CPU per request during the measured runs (ms, medians of the rounds; from /proc): the serving "
        "gunicorn's workers, every PostgreSQL process, and the whole machine (wrk included). On 2 "
        "cores a request's machine CPU bounds its rate.",
        "",
        "| scenario | baseline: app + PostgreSQL (machine) | before | after |",
        "|---|---|---|---|",
    ]
    for name, *_rest in scenarios:
        cells = []
        for side in ("baseline", "before", "after"):
            cpu = [r[name][side]["cpu_ms"] for r in rounds]
            parts = ("app", "postgres", "machine")
            app, pg, machine = (statistics.median(c[key] for c in cpu) for key in parts)
            cells.append(f"{app:.2f} + {pg:.2f} ({machine:.2f})")
        lines.append(f"| {name} | {' | '.join(cells)} |")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"ab_{args.label}.md").write_text("\n".join(lines) + "\n")
    (RESULTS / f"ab_{args.label}.json").write_text(json.dumps({"rounds": rounds, "summary": data}, indent=1))
    print("\n".join(lines))
    print(f"written bench/results/ab_{args.label}.md", file=sys.stderr)


if __name__ == "__main__":
    main()
