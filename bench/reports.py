"""Issue 14's speed checks of the statistics at city scale.

    .venv/bin/python -m bench.reports --database-url postgresql://postgres@127.0.0.1:5432/city

On a citygen database (bench/citygen.py) it brings the schema to the newest migration (the rollups and
their indexes), times `rollups.rebuild()` (counting every site from the raw rows) unless --no-rebuild,
times `rollups.verify()` unless --no-verify, then sends the statistics requests a manager makes through
Flask's test client with a minted admin token (the app's own time: no server, no network), --runs times
each, and reports the median and the slowest:

- the center's figures for a whole year (group none, child, category and month);
- one station's month (group none and day), for --stations different stations.

Results: bench/results/reports_<label>.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench import harness, load

RESULTS = harness.ROOT / "bench" / "results"


def _time(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--label", default="city")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--stations", type=int, default=7)
    parser.add_argument("--no-rebuild", action="store_true")
    parser.add_argument("--no-verify", action="store_true")
    args = parser.parse_args(argv)

    overlay = Path(tempfile.mkdtemp()) / "overlay.toml"
    overlay.write_text(load.OVERLAY)
    os.environ["VOLUNTEER_CONFIG"] = str(overlay)
    os.environ["DATABASE_URL"] = args.database_url
    app = harness.make_app(args.database_url)
    from flask_migrate import upgrade

    from volunteer_app.accounts.models import RoleGrant
    from volunteer_app.extensions import db
    from volunteer_app.reports import rollups
    from volunteer_app.sites.models import Site

    lines: list[str] = []
    with app.app_context():
        started = time.perf_counter()
        upgrade()
        lines.append(f"- migrate to the newest revision: {time.perf_counter() - started:.1f} s")
        if not args.no_rebuild:
            seconds = _time(rollups.rebuild)
            lines.append(f"- `rollups.rebuild()` (every site from the raw rows): {seconds:.1f} s")
            print(lines[-1], flush=True)
        if not args.no_verify:
            found = {}
            seconds = _time(lambda: found.setdefault("v", rollups.verify()))
            lines.append(f"- `rollups.verify()`: {seconds:.1f} s, {len(found['v'].differences)} differences")
            print(lines[-1], flush=True)
        sizes = {
            t: db.session.scalar(sa.text(f"SELECT count(*) FROM {t}"))
            for t in ("report_days", "report_months", "report_people")
        }
        lines.append("- rollup rows: " + ", ".join(f"{t} {n:,}" for t, n in sizes.items()))
        center = db.session.scalar(sa.select(Site.id).where(Site.kind == "center").order_by(Site.id))
        every = list(db.session.scalars(sa.select(Site.id).where(Site.kind == "station").order_by(Site.id)))
        stations = every[:: max(1, len(every) // args.stations)][: args.stations]
        # A manager of the center (reach: the whole city), or an admin.
        admin = db.session.scalar(
            sa.select(RoleGrant.user_id)
            .where(
                sa.or_(
                    RoleGrant.role == "admin",
                    sa.and_(RoleGrant.role == "manager", RoleGrant.scope == f"site:{center}"),
                )
            )
            .order_by(RoleGrant.role)
        )
        db.session.commit()
    if admin is None:
        raise SystemExit("no admin or manager in that database")
    token = next(iter(load.mint(app, [admin]).values()))
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    today = date.today()
    # The last twelve whole months, and the last whole month.
    month_to = today.replace(day=1) - timedelta(days=1)
    month_from = month_to.replace(day=1)
    year_to, year_from = month_to, month_to.replace(year=month_to.year - 1) + timedelta(days=1)

    def run(path: str) -> list[float]:
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            reply = client.get(path, headers=headers)
            times.append(time.perf_counter() - started)
            assert reply.status_code == 200, (path, reply.status_code, reply.get_data(as_text=True)[:300])
        return times

    rows = []
    for group in ("none", "child", "category", "month"):
        path = f"/api/v1/sites/{center}/stats?from={year_from}&to={year_to}&group={group}"
        times = run(path)
        rows.append([f"center, {year_from} … {year_to}, group={group}", *_summary(times)])
    for label, path in (
        (
            "center, rankings of its institutes, last month",
            f"/api/v1/sites/{center}/rankings?period={month_from:%Y-%m}",
        ),
        (
            "center, volunteer leaderboard, last month",
            f"/api/v1/sites/{center}/leaderboard?period={month_from:%Y-%m}",
        ),
        (
            f"center, volunteer leaderboard, {today:%Y}",
            f"/api/v1/sites/{center}/leaderboard?period={today:%Y}",
        ),
        (f"center, rankings, {today:%Y}", f"/api/v1/sites/{center}/rankings?period={today:%Y}"),
    ):
        rows.append([label, *_summary(run(path))])
    for group in ("none", "day"):
        times = []
        for station in stations:
            times += run(f"/api/v1/sites/{station}/stats?from={month_from}&to={month_to}&group={group}")
        rows.append([f"{len(stations)} stations, {month_from:%Y-%m}, group={group}", *_summary(times)])

    with app.app_context():
        info = harness.machine(db.session.connection())
    text = "\n".join(
        [
            f"# Statistics at scale: {args.label}",
            "",
            f"Database: `{harness.render(harness.psycopg_url(args.database_url))}`. "
            f"Requests through Flask's test client, {args.runs} runs each (the first included).",
            "",
            *lines,
            "",
            harness.markdown_table(["request", "runs", "median ms", "slowest ms"], rows),
            "",
            "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
            "",
        ]
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"reports_{args.label}.md").write_text(text)
    print(text)


def _summary(times: list[float]) -> list:
    return [len(times), f"{1000 * statistics.median(times):.0f}", f"{1000 * max(times):.0f}"]


if __name__ == "__main__":
    main()
