"""Where a served request's time goes: one scenario of the load bench under wrk, against gunicorn as
bench.load serves it, with py-spy sampling the workers.

    .venv/bin/python -m pip install -e '.[bench]'      # py-spy
    .venv/bin/python -m bench.spy --database-url postgresql://postgres@127.0.0.1:5432/city_small \
        --ids bench/results/citygen_small.json detail --seconds 12

`bench.profile_endpoint` profiles the app in-process (Flask's test client, cProfile); this one samples
the workers of a real server under load: gunicorn's own work (parsing, writing, its logger), the
sockets and what 5 workers sharing 2 cores with PostgreSQL and wrk cost each other are in it.
`--gil` (the default) keeps only the samples of a thread holding the GIL: the workers' Python CPU, not
their waits on the database. It prints the share of the samples each function is on the stack of
(inclusive), each function's own share, and the own shares summed by package; `--raw` keeps py-spy's
collapsed stacks (`--format raw`) for a flame graph. The scenario is the first of bench.load's whose
name contains the word given (feed, detail, me, time, statement, submit). `--app-root` serves another
checkout (a before). Linux, root or ptrace rights (py-spy reads the workers' memory).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import load


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", required=True, help="an already filled database (citygen's)")
    parser.add_argument("--ids", help="citygen's JSON of ids")
    parser.add_argument(
        "scenario", help="a word of the scenario's name: feed, detail, me, time, statement, submit"
    )
    parser.add_argument(
        "--seconds", type=int, default=12, help="wrk's measured run; py-spy samples all but 2 s"
    )
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1, help="WEB_CONCURRENCY")
    parser.add_argument("--port", type=int, default=5299)
    parser.add_argument("--rate", type=int, default=200, help="py-spy's samples a second")
    parser.add_argument("--all-samples", action="store_true", help="waits too (no --gil)")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--raw", help="keep py-spy's collapsed stacks here")
    parser.add_argument("--app-root", help="serve this checkout (a git worktree) instead")
    parser.add_argument("--redis-url", default=load.REDIS_URL)
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists() or shutil.which("wrk") is None:
        sys.exit("needs py-spy (pip install -e '.[bench]') and wrk (apt-get install -y wrk)")
    work = Path(tempfile.mkdtemp(prefix="bench_spy_"))
    try:
        raw = Path(args.raw) if args.raw else work / "stacks.raw"
        result = record(args, work, spy, raw)
        print(json.dumps(result))
        print(report(raw, args.top))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def record(args, work: Path, spy: str, raw: Path) -> dict:
    """Serve the app, load the scenario with wrk, and sample the workers meanwhile; wrk's result."""
    args.fresh = False
    app = load.bench_app(args, args.database_url, work, load.OVERLAY, 0, 0)
    ids = load.read_ids(Path(args.ids)) if args.ids else {}
    plan = load.prepare(app, ids, tokens_per_scenario=200, storm=0)
    with app.app_context():
        from volunteer_app.extensions import db

        db.session.remove()
        db.engine.dispose()
    chosen = [s for s in load.scenarios_of(plan) if args.scenario in s[0]]
    if not chosen:
        sys.exit(f"no scenario of bench.load is named with {args.scenario!r}")
    name, method, path, who = chosen[0]
    root = Path(args.app_root).resolve() if args.app_root else load.ROOT
    env = {**os.environ, "WEB_CONCURRENCY": str(args.workers), "PYTHONPATH": str(root)}
    server = load.Server("wsgi:app", args.port, env, work / "gunicorn.log", "/healthz", root=root)
    try:
        tokens = plan[who] if isinstance(plan[who], list) else [plan[who]]
        body = plan["submit_body"] if method == "POST" else None
        script = load.lua_script(work / "scenario.lua", method=method, tokens=tokens, body=body)
        target = f"{server.base}{load.API}{path}"
        wrk = {"warmup": 0, "connections": args.connections, "threads": 2}
        load.run_wrk(target, script, seconds=args.warmup, **wrk)
        command = [spy, "record", "--pid", str(server.proc.pid), "--subprocesses", "--format", "raw"]
        command += ["-o", str(raw), "--duration", str(max(args.seconds - 2, 1)), "--rate", str(args.rate)]
        command += ["--nonblocking"] + ([] if args.all_samples else ["--gil"])
        sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result = load.run_wrk(target, script, seconds=args.seconds, server_pgid=server.proc.pid, **wrk)
        sampler.wait(timeout=60)
    finally:
        server.stop()
    return {"scenario": name, **result}


_LINE = re.compile(r":\d+\)")
_PACKAGE = re.compile(r"site-packages/([^/]+)")


def report(raw: Path, top: int) -> str:
    """py-spy's collapsed stacks ("frame;frame;… count" a line) as three tables of shares."""
    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    packages: collections.Counter = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n, frames = int(count), stack.split(";")
        total += n
        own[frames[-1]] += n
        for frame in {_LINE.sub(")", f) for f in frames if not f.startswith("process ")}:
            inclusive[frame] += n
        where = re.search(r"\((.*?)\)", frames[-1])
        path = where.group(1) if where else frames[-1]
        package = _PACKAGE.search(path)
        packages[
            package.group(1) if package else ("volunteer_app" if "volunteer_app" in path else "other")
        ] += n
    if not total:
        return "no samples (py-spy needs ptrace rights: root, or kernel.yama.ptrace_scope 0)"
    lines = [f"{total} samples"]
    for title, counts in (
        ("on the stack (inclusive)", inclusive),
        ("own", own),
        ("own, by package", packages),
    ):
        lines.append(f"\n{title}:")
        lines += [f"  {100 * n / total:5.1f} %  {what[:150]}" for what, n in counts.most_common(top)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
