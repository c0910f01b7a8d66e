"""Debian's PostgreSQL defaults against the tuned profile (deploy/postgresql/volunteer.conf), same data,
same load bench, interleaved (issue 18).

    python -m bench.pg_settings [--scale small] [--rounds 2] [--duration 10]

A private cluster of its own (tests/pg_cluster.py: initdb in a temporary directory, a free port, fsync
left ON, unlike the tests' clusters) is filled once with `bench.citygen --scale small` (1/10 of the
city: 100,000 volunteers, 100,000 orders, 1,000,000 transfers, ~1 GB). Then, `--rounds` times: restart
with the defaults (initdb's postgresql.conf, which is Debian's but for paths), run `bench.load`;
restart with the profile included, run `bench.load`. Each restart empties shared buffers (the OS page
cache stays warm for both). The load bench writes (orders, grabs), so later runs see slightly more rows:
the interleaving spreads that over both sides. Results: bench/results/pg_settings.md (+ .json); the
load runs' own result files are read and removed, citygen's committed results are put back.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import subprocess
import sys
import time

import sqlalchemy as sa

from bench.harness import ROOT, machine, markdown_table
from tests.pg_cluster import Cluster

RESULTS = ROOT / "bench" / "results"
PROFILE = ROOT / "deploy" / "postgresql" / "volunteer.conf"


class BenchCluster(Cluster):
    """A private cluster with fsync on (durability as in production) and a switchable profile."""

    options = ""  # fsync on
    wait_seconds = 300  # a city-sized database takes a while to start and to stop cleanly

    def stop_clean(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", str(self.wait_seconds), "stop")

    def use(self, profile: str) -> None:
        """Include the profile (tuned) or nothing (defaults) at the next start."""
        target = self.data / "volunteer.conf"
        if profile == "tuned":
            shutil.copy(PROFILE, target)
            if self.user:
                entry = pwd.getpwnam(self.user)
                os.chown(target, entry.pw_uid, entry.pw_gid)
        else:
            target.unlink(missing_ok=True)

    def prepare(self) -> None:
        conf = self.data / "postgresql.conf"
        conf.write_text(conf.read_text() + "\ninclude_if_exists = 'volunteer.conf'\n")


def settings(url: str) -> dict[str, str]:
    names = [
        "shared_buffers",
        "work_mem",
        "random_page_cost",
        "effective_cache_size",
        "jit",
        "wal_compression",
    ]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(:n)"),
                {"n": names},
            ).all()
        return dict(rows)
    finally:
        engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="small", choices=["tiny", "small", "city"])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)

    cluster = BenchCluster()
    py = sys.executable
    keep = {p: p.read_bytes() for p in RESULTS.glob(f"citygen_{args.scale}.*")}  # citygen writes there
    runs: list[dict] = []
    try:
        cluster.init()
        cluster.prepare()
        cluster.use("defaults")
        cluster.start()
        cluster.create_database()
        url = f"postgresql+psycopg://postgres@127.0.0.1:{cluster.port}/volunteer"
        started = time.monotonic()
        subprocess.run(
            [py, "-m", "bench.citygen", "--database-url", url, "--scale", args.scale], cwd=ROOT, check=True
        )
        fill_seconds = time.monotonic() - started
        ids = cluster.root / "ids.json"
        shutil.copy(RESULTS / f"citygen_{args.scale}.json", ids)
        for path, data in keep.items():
            path.write_bytes(data)
        for n in range(1, args.rounds + 1):
            for profile in ("defaults", "tuned"):
                cluster.stop_clean()
                cluster.use(profile)
                cluster.start()
                label = f"pg-{profile}-{n}"
                subprocess.run(
                    [
                        py,
                        "-m",
                        "bench.load",
                        "--database-url",
                        url,
                        "--ids",
                        str(ids),
                        "--label",
                        label,
                        "--duration",
                        str(args.duration),
                        "--warmup",
                        str(args.warmup),
                    ],
                    cwd=ROOT,
                    check=True,
                )
                out = RESULTS / f"load_{label}.json"
                result = json.loads(out.read_text())
                runs.append({"profile": profile, "round": n, "settings": settings(url), **result})
                out.unlink()
                (RESULTS / f"load_{label}.md").unlink(missing_ok=True)
    finally:
        for path, data in keep.items():
            path.write_bytes(data)
        cluster.remove()

    (RESULTS / "pg_settings.json").write_text(json.dumps(runs, indent=1, ensure_ascii=False))
    scenarios = list(runs[0]["results"])
    rows = []
    for scenario in scenarios:
        by = {p: [r["results"][scenario] for r in runs if r["profile"] == p] for p in ("defaults", "tuned")}
        d_rps = [x["rps"] for x in by["defaults"]]
        t_rps = [x["rps"] for x in by["tuned"]]
        d_p99 = [x["p99_ms"] for x in by["defaults"]]
        t_p99 = [x["p99_ms"] for x in by["tuned"]]
        mean = lambda xs: sum(xs) / len(xs)  # noqa: E731
        # Each run's req/s over its own bare-Flask baseline's: the machine's load at that moment cancels.
        base = "BASELINE bare Flask, one PK select"
        d_rel = [
            r["results"][scenario]["rps"] / r["results"][base]["rps"]
            for r in runs
            if r["profile"] == "defaults"
        ]
        t_rel = [
            r["results"][scenario]["rps"] / r["results"][base]["rps"] for r in runs if r["profile"] == "tuned"
        ]
        rows.append(
            [
                scenario,
                " / ".join(f"{x:.0f}" for x in d_rps),
                " / ".join(f"{x:.0f}" for x in t_rps),
                f"{mean(t_rps) / mean(d_rps):.2f}",
                f"{mean(t_rel) / mean(d_rel):.2f}",
                " / ".join(f"{x:.0f}" for x in d_p99),
                " / ".join(f"{x:.0f}" for x in t_p99),
                f"{mean(t_p99) / mean(d_p99):.2f}",
            ]
        )
    order = ", ".join(f"{r['profile']} {r['round']}" for r in runs)
    storms = [
        f"{r['profile']} {r['round']}: winners {r['storm'].get('winners')}, 5xx {r['storm'].get('5xx')}"
        for r in runs
        if isinstance(r.get("storm"), dict)
    ]
    text = "\n".join(
        [
            "# PostgreSQL settings: Debian's defaults against deploy/postgresql/volunteer.conf",
            "",
            f"Machine: {', '.join(f'{k} {v}' for k, v in machine().items())}",
            "",
            f"Database: citygen {args.scale} ({fill_seconds:.0f} s to fill), "
            + ", ".join(f"{k} {v}" for k, v in runs[-1]["database"].items()),
            "",
            f"Order of runs: {order}; each after a restart;"
            f" bench.load with {args.warmup} s warm-up, {args.duration} s per scenario.",
            "",
            "Settings seen: "
            + "; ".join(
                f"{p}: {next(r['settings'] for r in runs if r['profile'] == p)}"
                for p in ("defaults", "tuned")
            ),
            "",
            markdown_table(
                [
                    "scenario",
                    "defaults req/s (rounds)",
                    "tuned req/s",
                    "req/s tuned/defaults",
                    "same, each run over its baseline",
                    "defaults p99 ms",
                    "tuned p99 ms",
                    "p99 tuned/defaults",
                ],
                rows,
            ),
            "",
            "Grab storms: " + "; ".join(storms),
            "",
        ]
    )
    (RESULTS / "pg_settings.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
