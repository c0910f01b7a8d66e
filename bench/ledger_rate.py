"""How many time-book credits a second the ledger takes, with 1, 2, 4, … concurrent writers.

    .venv/bin/python -m bench.ledger_rate --database-url postgresql://postgres@127.0.0.1:5432/city \
        --writers 1,2,4,8 --seconds 10 --label city

Every posting holds the chain head's row lock (`timebank.ledger.lock_head`) from its first statement
to its commit, so ledger writes are serialised whatever the number of workers. This measures what that
costs: W writer processes (each its own app and connection) call `timebank.service.credit_service` as
an audit does (lock the head, check the record is new, find the book, post: two balance updates, a
transfer, two entries, the head; commit), each with a fresh record key, for `--seconds`.

The baseline in the same run: W processes each committing a one-row INSERT into a table of its own
(`bench_rate_baseline`, made and dropped here), i.e. the database's commit rate on this machine with
no shared lock. Each row gives transfers (or commits) per second, p50 and p99 of one transaction, and
the ratio to the baseline with the same W. Results: bench/results/ledger_rate_<label>.md.

It writes real transfers (references `service:bench-rate:<run>:…`, 60 minutes each, from the
volunteers' home stations' issuance accounts) into the database it is given: run it on a bench
database (citygen), not on one you care about. `flask timebank verify` still passes afterwards.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from datetime import UTC, datetime

import sqlalchemy as sa

from bench import harness

RESULTS = harness.ROOT / "bench" / "results"


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _child(kind: str, url: str, run: str, writer: int, volunteers, seconds: float, barrier, out) -> None:
    """One writer: `kind` is "ledger" (credit_service) or "baseline" (one-row INSERT + COMMIT)."""
    os.environ["DATABASE_URL"] = url
    app = harness.make_app(url)
    with app.app_context():
        from volunteer_app.extensions import db
        from volunteer_app.timebank import service as timebank

        db.session.execute(sa.text("SELECT 1"))  # connect before the start line
        db.session.commit()
        latencies: list[float] = []
        barrier.wait()
        end = time.perf_counter() + seconds
        i = 0
        while time.perf_counter() < end:
            started = time.perf_counter()
            if kind == "ledger":
                user_id, site_id = volunteers[(writer * 7919 + i) % len(volunteers)]
                timebank.credit_service(
                    record_key=f"bench-rate:{run}:{writer}:{i}",
                    user_id=user_id,
                    site_id=site_id,
                    minutes=60,
                    memo="bench/ledger_rate.py",
                    service_date=datetime.now(UTC).date(),
                    actor_id=None,
                )
            else:
                db.session.execute(
                    sa.text("INSERT INTO bench_rate_baseline (writer, n) VALUES (:w, :n)"),
                    {"w": writer, "n": i},
                )
            db.session.commit()
            latencies.append(time.perf_counter() - started)
            i += 1
    out.put(latencies)


def measure(kind: str, url: str, run: str, writers: int, volunteers, seconds: float) -> dict:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(writers), ctx.Queue()
    children = [
        ctx.Process(target=_child, args=(kind, url, run, w, volunteers, seconds, barrier, out))
        for w in range(writers)
    ]
    for child in children:
        child.start()
    latencies: list[float] = []
    for _ in children:
        latencies += out.get()
    for child in children:
        child.join()
        if child.exitcode:
            sys.exit(f"a {kind} writer failed (exit {child.exitcode})")
    return {
        "count": len(latencies),
        "rate": len(latencies) / seconds,
        "p50": 1000 * _percentile(latencies, 0.50),
        "p99": 1000 * _percentile(latencies, 0.99),
        "mean": 1000 * statistics.fmean(latencies) if latencies else float("nan"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--database-url", required=True, help="a filled PostgreSQL bench database")
    parser.add_argument("--writers", default="1,2,4,8")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--label", default="bench")
    args = parser.parse_args(argv)
    writer_counts = [int(w) for w in args.writers.split(",")]
    run = datetime.now(UTC).strftime("%Y%m%d%H%M%S")

    os.environ["DATABASE_URL"] = args.database_url
    app = harness.make_app(args.database_url)
    with app.app_context():
        from volunteer_app.accounts.models import VolunteerProfile
        from volunteer_app.extensions import db

        volunteers = [
            tuple(r)
            for r in db.session.execute(
                sa.select(VolunteerProfile.user_id, VolunteerProfile.site_id)
                .order_by(VolunteerProfile.user_id)
                .limit(5000)
            )
        ]
        if not volunteers:
            sys.exit("no volunteers in that database: fill it with bench/citygen.py first")
        transfers_before = db.session.scalar(sa.text("SELECT count(*) FROM time_transfers"))
        db.session.execute(sa.text("DROP TABLE IF EXISTS bench_rate_baseline"))
        db.session.execute(sa.text("CREATE TABLE bench_rate_baseline (writer INTEGER, n INTEGER)"))
        db.session.commit()
        info = harness.machine(db.session.connection())
        db.session.remove()
        db.engine.dispose()

    rows = []
    try:
        for writers in writer_counts:
            for kind in ("baseline", "ledger"):
                print(f"{kind} × {writers} …", file=sys.stderr)
                result = measure(kind, args.database_url, run, writers, volunteers, args.seconds)
                rows.append((kind, writers, result))
    finally:
        with app.app_context():
            from volunteer_app.extensions import db

            db.session.execute(sa.text("DROP TABLE IF EXISTS bench_rate_baseline"))
            db.session.commit()

    base = {w: r for kind, w, r in rows if kind == "baseline"}
    lines = [
        f"# ledger_rate {args.label}",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC with `python -m bench.ledger_rate --writers "
        f"{args.writers} --seconds {args.seconds:g}` on a database holding {transfers_before:,} transfers "
        "before the run.",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items() if k != "date"),
        "",
        "| writers | what | per second | p50 ms | p99 ms | × baseline rate |",
        "|---|---|---|---|---|---|",
    ]
    for kind, writers, r in rows:
        what = "BASELINE one-row INSERT + COMMIT" if kind == "baseline" else "credit_service + COMMIT"
        ratio = r["rate"] / base[writers]["rate"] if base[writers]["rate"] else float("nan")
        lines.append(
            f"| {writers} | {what} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {ratio:.2f} |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"ledger_rate_{args.label}.md").write_text(report)


if __name__ == "__main__":
    main()
