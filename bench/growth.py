"""Growth: do the API's figures change with the size of the database?

    .venv/bin/python -m bench.growth small city     # reads bench/results/load_small.json, load_city.json

For each scenario that both load runs have (bench/load.py), it divides the large run's figure by the
small run's, each taken relative to its own run's baseline (rps ÷ baseline rps, p99 ÷ baseline p99),
so the machine's mood between the two runs cancels out: about 1.00 means the endpoint does not slow
down with the tables; a falling rps ratio (or a rising p99 ratio) means it grows with them. Prints a
Markdown table and writes it to bench/results/growth_<small>_<large>.md.
"""

from __future__ import annotations

import json
import sys

from bench.harness import ROOT, markdown_table
from bench.load import READ_BASELINE, baseline_of

RESULTS = ROOT / "bench" / "results"


def relative(run: dict) -> dict[str, tuple[float, float, float]]:
    """Each scenario's req/s, and its req/s and p99 against its own baseline of the same run (a write
    against the write baseline where the run has one: bench/load.py's baseline_of)."""
    results = run["results"]

    def base(name: str) -> dict:
        return results.get(baseline_of(name)) or results[READ_BASELINE]

    return {
        name: (r["rps"], r["rps"] / base(name)["rps"], r["p99_ms"] / base(name)["p99_ms"])
        for name, r in results.items()
        if not name.startswith("BASELINE") and r["requests"]
    }


def main(argv: list[str] | None = None) -> None:
    small_label, large_label = (argv or sys.argv[1:]) or ("small", "city")
    small, large = (json.loads((RESULTS / f"load_{x}.json").read_text()) for x in (small_label, large_label))
    a, b = relative(small), relative(large)
    rows = [
        [
            name,
            a[name][0],
            b[name][0],
            a[name][1],
            b[name][1],
            b[name][1] / a[name][1],
            b[name][2] / a[name][2],
        ]
        for name in a
        if name in b
    ]
    sizes = (
        f"{small_label}: {small['database'].get('database size', '?')}, "
        f"{large_label}: {large['database'].get('database size', '?')}"
    )
    table = markdown_table(
        [
            "scenario",
            f"req/s {small_label}",
            f"req/s {large_label}",
            f"rps/base {small_label}",
            f"rps/base {large_label}",
            f"growth rps/base {large_label} ÷ {small_label}",
            f"growth p99/base {large_label} ÷ {small_label}",
        ],
        rows,
    )
    report = f"# Growth {small_label} → {large_label}\n\nDatabases: {sizes}.\n\n{table}\n"
    print(report)
    (RESULTS / f"growth_{small_label}_{large_label}.md").write_text(report)


if __name__ == "__main__":
    main()
