"""Load scenarios against gunicorn, with a same-run baseline (issue 6).

    python -m bench.load                                  # throwaway PostgreSQL DB: demo data + extras
    python -m bench.load --database-url postgresql://…/city --ids bench/results/citygen_city.json

Scenarios (wrk with a generated Lua script; tokens rotate over many users): the volunteers' task feed
(`GET /tasks/available`), order detail, `GET /me/timebook`, the statement (`GET /me/timebook/transfers`),
order submission (`POST /orders`), and a grab storm (a Python driver: `--storm` concurrent grabs on one
order with 5 places, counting winners, 409s and 5xx exactly, then the order's assignments in the DB).
The baseline is bench/baseline_app.py (one primary-key select on users) on the same database with the
same gunicorn settings and WEB_CONCURRENCY, measured in the same run with the same wrk settings.

The per-user rate limits (grab_limit, login_limit_per_phone and _per_ip) would throttle a load test:
the bench raises them through a VOLUNTEER_CONFIG overlay (and makes access tokens last 10 hours), and
says so in the results.
The storm still goes through the real grab path (limiter, idempotency, service).

Tokens are minted once in a setup step with the app's own code (auth service sessions), not by logging
in. `--ids` names a JSON file (citygen's) with any of: `volunteer_ids`, `resident_ids`, `manager_id`
(a manager who sees `order_id`), `order_id`, `feed_lat`, `feed_lng`, `storm_site_id` (a station; the
storm order is submitted there by a resident of it and dispatched by `manager_id`), `storm_volunteer_ids`.
Missing ones are picked from the database.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.harness import DEFAULT_SERVER, ROOT, machine, markdown_table, postgres_database, unique_name

RESULTS = ROOT / "bench" / "results"
OVERLAY = """\
# bench/load.py: per-user limits raised so a load test is not throttled (said so in the results).
[app]
grab_limit = "1000000/minute"
login_limit_per_phone = "1000000/minute"
login_limit_per_ip = "1000000/minute"
access_token_minutes = 600

# The request lines as a deployment writes them (VOLUNTEER_ENV=production picks JSON; the bench's
# server is not production, and its "auto" would pick the text renderer, which costs more per line).
[logging]
format = "json"
"""
API = "/api/v1"
REDIS_URL = "redis://127.0.0.1:6379/14"  # a database of its own: the bench's counters expire by themselves


# ---- setup: data and tokens --------------------------------------------------------------------------


def load_demo(app, extra_volunteers: int, extra_orders: int) -> None:
    """`flask deploy` + `flask demo load`, then extra approved volunteers at station DEMO-ST-1 (the
    storm's) and extra open orders, through the services (one password hash shared, for speed)."""
    from volunteer_app import demo, phones
    from volunteer_app.accounts import service as accounts
    from volunteer_app.auth import passwords
    from volunteer_app.demo import world
    from volunteer_app.extensions import db
    from volunteer_app.sites import service as sites
    from volunteer_app.sites.models import Site

    with app.app_context():
        demo.load()
        station = db.session.scalar(sa.select(Site).where(Site.code == "DEMO-ST-1"))
        admin = world.by_phone(world.ADMIN_PHONE)
        categories = [c.id for c in sites.list_categories()]
        shared_hash = passwords.hash_password(world.PASSWORD)
        for n in range(world.VOLUNTEERS, world.VOLUNTEERS + extra_volunteers):
            user = accounts.create_user(
                phone=phones.normalize_phone(f"1350{n:07d}"),
                name=f"压测志愿者{n}",
                home_site_id=station.id,
                password_hash=shared_hash,
            )
            db.session.commit()
            application = accounts.apply_as_volunteer(
                who=world.principal(user),
                real_name=f"压测{n}",
                id_number=world.demo_id_number(n),
                site_id=station.id,
                skills=["陪伴聊天"],
                category_ids=categories[:2],
            )
            accounts.approve_application(
                who=world.admin_view(), reviewer_id=admin.id, application_id=application.id
            )
        manager = world.by_phone("13900000001")
        residents = [world.by_phone(world.resident_phone(n)) for n in range(world.RESIDENTS)]
        for n in range(extra_orders):
            order = submit_order(app, residents[n % len(residents)], title=f"压测订单{n}")
            dispatch_grab(manager, order.id, capacity=2)


def order_body(lat: float, lng: float, title: str) -> dict:
    from volunteer_app.db import utcnow

    start = (utcnow() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    return {
        "category_id": None,
        "title": title,
        "description": "bench/load.py",
        "address": "压测地址",
        "lat": lat,
        "lng": lng,
        "start_at": start,
        "end_at": start + timedelta(hours=2),
        "volunteers_needed": 5,
        "target_groups": [],
    }


def submit_order(app, resident, title: str, volunteers_needed: int = 2):
    from volunteer_app.demo import world
    from volunteer_app.extensions import db
    from volunteer_app.orders import intake
    from volunteer_app.sites import service as sites
    from volunteer_app.sites.models import Site

    home = db.session.get(Site, resident.home_site_id)
    data = order_body(home.lat + 0.001, home.lng + 0.001, title)
    data["window_start"], data["window_end"] = data.pop("start_at"), data.pop("end_at")  # as the schema loads
    data["category_id"] = sites.list_categories()[0].id
    data["volunteers_needed"] = volunteers_needed
    return intake.submit(who=world.principal(resident), data=data)


def dispatch_grab(manager, order_id: int, capacity: int) -> None:
    from volunteer_app.demo import world
    from volunteer_app.orders import dispatch

    dispatch.dispatch(
        who=world.principal(manager), order_id=order_id, data={"mode": "grab", "capacity": capacity}
    )


def mint(app, user_ids: list[int]) -> dict[int, str]:
    """Access tokens for these users, each in its own device session (the auth service's own code)."""
    from volunteer_app.accounts.models import User
    from volunteer_app.auth import service as auth
    from volunteer_app.extensions import db

    tokens = {}
    with app.test_request_context(headers={"User-Agent": "bench/load.py"}):
        for user in db.session.scalars(sa.select(User).where(User.id.in_(user_ids))):
            tokens[user.id] = auth.start_session(user)["access_token"]
        db.session.commit()
    return tokens


def read_ids(path: Path) -> dict:
    """The ids a run should use: a `"load"` section, the whole file, or from a citygen result file its
    station with open pools (the feed's point and the storm's station), that pool (order detail) and
    the center's manager. Volunteers and residents are then spread over the whole table (below), not
    citygen's handful at one station, so the reads touch rows all over a city-sized table."""
    ids = json.loads(path.read_text())
    if "first_ids" not in ids:  # not citygen's
        return ids.get("load", ids)
    return {
        "feed_lat": ids["station_lat"],
        "feed_lng": ids["station_lng"],
        "storm_site_id": ids["station_id"],
        "order_id": ids["open_pool_order_id"],
        "manager_id": ids["center_manager_id"],
    }


def spread(column, count: int, want: int):
    """A condition keeping about `want` of `count` rows spread evenly over `column`'s integer ids."""
    return column % max(1, count // max(want, 1)) == 0


def prepare(app, ids: dict, *, tokens_per_scenario: int, storm: int) -> dict:
    """Pick ids (from `ids` where given), create the storm order (5 places) and mint every token."""
    from volunteer_app.accounts.models import RoleGrant, User, VolunteerProfile
    from volunteer_app.extensions import db
    from volunteer_app.orders.models import Order
    from volunteer_app.sites.models import Site

    with app.app_context():
        people = db.session.scalar(sa.select(sa.func.count()).select_from(User))
        volunteers = ids.get("volunteer_ids") or list(
            db.session.scalars(
                sa.select(VolunteerProfile.user_id)
                .where(spread(VolunteerProfile.user_id, people, tokens_per_scenario))
                .order_by(VolunteerProfile.user_id)
                .limit(tokens_per_scenario)
            )
        )
        manager_id = ids.get("manager_id") or db.session.scalar(
            sa.select(RoleGrant.user_id)
            .join(Site, Site.id == RoleGrant.site_id)
            .where(RoleGrant.role == "manager", Site.parent_id.is_(None))
            .order_by(RoleGrant.user_id)
            .limit(1)
        )
        manager = db.session.get(User, manager_id)
        storm_site = db.session.get(
            Site,
            ids.get("storm_site_id")
            or db.session.scalar(
                sa.select(VolunteerProfile.site_id)
                .group_by(VolunteerProfile.site_id)
                .order_by(sa.func.count().desc())
                .limit(1)
            ),
        )
        residents = ids.get("resident_ids") or list(
            db.session.scalars(
                sa.select(User.id)
                .where(User.home_site_id.is_not(None), ~User.id.in_(sa.select(VolunteerProfile.user_id)))
                .where(
                    ~User.id.in_(sa.select(RoleGrant.user_id).where(RoleGrant.role.in_(["manager", "admin"])))
                )
                .where(spread(User.id, people, 20 * tokens_per_scenario))
                .order_by(User.id)
                .limit(tokens_per_scenario)
            )
        )
        storm_resident = db.session.scalar(
            sa.select(User).where(User.id.in_(residents), User.home_site_id == storm_site.id).limit(1)
        ) or db.session.get(User, residents[0])
        order_id = ids.get("order_id") or db.session.scalar(sa.select(sa.func.max(Order.id)))
        storm_order = submit_order(app, storm_resident, "抢单风暴", volunteers_needed=5)
        storm_order_id = storm_order.id
        dispatch_grab(manager, storm_order_id, capacity=5)
        storm_volunteers = ids.get("storm_volunteer_ids") or list(
            db.session.scalars(
                sa.select(VolunteerProfile.user_id)
                .where(VolunteerProfile.site_id == storm_site.id)
                .order_by(VolunteerProfile.user_id)
                .limit(storm)
            )
        )
        feed = (ids.get("feed_lat") or storm_site.lat, ids.get("feed_lng") or storm_site.lng)
        resident_home = db.session.get(Site, storm_resident.home_site_id)
        submit_body = order_body(resident_home.lat + 0.001, resident_home.lng + 0.001, "压测点单")
        from volunteer_app.sites import service as sites

        submit_body["category_id"] = sites.list_categories()[0].id
        submit_body["volunteers_needed"] = 2
    tokens = mint(app, sorted({*volunteers, *residents, *storm_volunteers, manager_id}))
    return {
        "volunteer_tokens": [tokens[i] for i in volunteers if i in tokens],
        "resident_tokens": [tokens[i] for i in residents if i in tokens],
        "manager_token": tokens[manager_id],
        "storm_tokens": [tokens[i] for i in storm_volunteers if i in tokens],
        "order_id": order_id,
        "storm_order_id": storm_order_id,
        "feed": feed,
        "baseline_user_id": volunteers[0],
        "submit_body": json.loads(json.dumps(submit_body, default=lambda v: v.isoformat())),
    }


def database_size(engine) -> dict[str, str]:
    counts = {}
    with engine.connect() as conn:
        for table in ("users", "volunteer_profiles", "sites", "orders", "assignments", "time_transfers"):
            try:
                counts[table] = f"{conn.execute(sa.text(f'SELECT COUNT(*) FROM {table}')).scalar():,}"
            except sa.exc.DBAPIError:
                conn.rollback()
        if conn.dialect.name == "postgresql":
            size = conn.execute(
                sa.text("SELECT pg_size_pretty(pg_database_size(current_database()))")
            ).scalar()
            counts["database size"] = size
    return counts


# ---- servers -----------------------------------------------------------------------------------------


def use_redis(url: str | None) -> None:
    """Rate-limit counters in Redis, as a deployment keeps them (deploy/.env.example): in-memory
    counters start a timer thread every few requests, a cost no deployment pays. "" keeps memory."""
    if url:
        os.environ["REDIS_URL"] = url
    else:
        os.environ.pop("REDIS_URL", None)


class Server:
    """gunicorn with volunteer_app/config/gunicorn.py on 127.0.0.1:port, output to a log file."""

    def __init__(self, target: str, port: int, env: dict, log: Path, ready_path: str, root: Path = ROOT):
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [str(gunicorn), "-c", "python:volunteer_app.config.gunicorn", target],
            cwd=root,
            env={**env, "BIND": f"127.0.0.1:{port}", "PYTHONPATH": str(root)},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn {target} exited; see {log}")
            try:
                with urllib.request.urlopen(self.base + ready_path, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"gunicorn {target} not ready on port {port}; see {log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


# ---- wrk ---------------------------------------------------------------------------------------------


def lua_script(path: Path, *, method: str, tokens: list[str], body: dict | None) -> Path:
    """A wrk script rotating over `tokens` (one Authorization header per request)."""
    quoted = ",\n".join(json.dumps(t) for t in tokens)
    body_line = (
        f"local body = {lua_string(json.dumps(body, ensure_ascii=False))}" if body else "local body = nil"
    )
    path.write_text(
        f"""local tokens = {{
{quoted}
}}
{body_line}
local i = 0
wrk.method = "{method}"
request = function()
  i = i + 1
  local headers = {{["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]}}
  if body then headers["Content-Type"] = "application/json" end
  return wrk.format(nil, nil, headers, body)
end
"""
    )
    return path


def lua_string(text: str) -> str:
    return "[==[" + text + "]==]"


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip()).groups()
    return float(number) * UNITS[unit]


def parse_wrk(output: str) -> dict:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    total = int(re.search(r"(\d+) requests in", output).group(1))
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:(.*)", output)
    return {
        "rps": rps,
        "requests": total,
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1).strip() if errors else "",
    }


def run_wrk(
    url: str, script: Path, *, seconds: int, warmup: int, connections: int, threads: int, server_pgid: int = 0
) -> dict:
    """wrk's result for `url`; with `server_pgid` (the serving gunicorn's process group), also the CPU
    each request cost during the measured run (`cpu_ms`, see `cpu_seconds`)."""
    common = ["wrk", f"-t{threads}", f"-c{connections}", "-s", str(script), "--latency", "--timeout", "30s"]
    if warmup:
        subprocess.run([*common, f"-d{warmup}s", url], check=True, capture_output=True)
    before = cpu_seconds(server_pgid) if server_pgid else None
    done = subprocess.run([*common, f"-d{seconds}s", url], check=True, capture_output=True, text=True)
    result = parse_wrk(done.stdout)
    if before is not None:
        after = cpu_seconds(server_pgid)
        result["cpu_ms"] = {
            part: round((after[part] - before[part]) * 1000 / max(result["requests"], 1), 3) for part in after
        }
    return result


def processes() -> Iterator[tuple[int, str, int, str, float]]:
    """Each process on the machine: pid, name, process group, state and CPU seconds so far (user +
    system), from /proc. Linux only."""
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            text = Path(entry.path, "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        used = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        yield int(entry.name), name, int(fields[2]), fields[0], used / tick


def cpu_seconds(pgid: int) -> dict[str, float]:
    """CPU seconds (user + system) used so far by the processes of the group `pgid` (a gunicorn's
    master and workers: "app"), by every PostgreSQL process on the machine ("postgres"), and by the
    whole machine ("machine", all cores, idle excluded), from /proc. Linux only."""
    app = postgres = 0.0
    for _pid, name, group, _state, used in processes():
        if group == pgid:
            app += used
        elif name == "postgres":
            postgres += used
    tick = os.sysconf("SC_CLK_TCK")
    total = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(v) for v in total) - int(total[3]) - int(total[4])  # less idle and iowait
    return {"app": app, "postgres": postgres, "machine": busy / tick}


# ---- the grab storm ----------------------------------------------------------------------------------


def storm(requests: list[urllib.request.Request], *, timeout: float = 120) -> dict:
    """Fire every request at once (one thread each, released by a barrier); count statuses exactly."""
    n = len(requests)
    barrier = threading.Barrier(n)
    statuses: list[int] = [0] * n
    latencies: list[float] = [0.0] * n

    def one(k: int) -> None:
        barrier.wait()
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(requests[k], timeout=timeout) as response:
                response.read()
                statuses[k] = response.status
        except urllib.error.HTTPError as error:
            statuses[k] = error.code
        except OSError:
            statuses[k] = -1  # connection error
        latencies[k] = (time.perf_counter() - started) * 1000

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    latencies.sort()
    by_status: dict[int, int] = {}
    for status in statuses:
        by_status[status] = by_status.get(status, 0) + 1
    return {
        "requests": n,
        "winners": by_status.get(201, 0),
        "5xx": sum(count for s, count in by_status.items() if s >= 500),
        "connection_errors": by_status.get(-1, 0),
        "statuses": dict(sorted(by_status.items())),
        "seconds": wall,
        "rps": n / wall,
        "p50_ms": latencies[n // 2],
        "p99_ms": latencies[min(n - 1, int(n * 0.99))],
    }


def grab_storm(base: str, order_id: int, tokens: list[str], grabs: int) -> dict:
    """`grabs` concurrent POST …/grab (threads released together; tokens reused round-robin when there
    are fewer volunteers than grabs). Counts every status exactly."""
    requests = [
        urllib.request.Request(
            f"{base}{API}/orders/{order_id}/grab",
            method="POST",
            headers={"Authorization": f"Bearer {tokens[k % len(tokens)]}"},
        )
        for k in range(grabs)
    ]
    result = storm(requests, timeout=60)
    return {"grabs": grabs, "volunteers": min(grabs, len(tokens)), **result}


# ---- main --------------------------------------------------------------------------------------------


def bench_app(args, database_url: str, work: Path, overlay_text: str, volunteers: int, orders: int):
    """The app the bench sets up its data with: the overlay's limits, the database, Redis counters;
    on a throwaway database (`args.fresh`) migrated, with the demo data plus extra volunteers and
    open pools."""
    overlay = work / "bench_overlay.toml"
    overlay.write_text(overlay_text)
    os.environ["VOLUNTEER_CONFIG"] = str(overlay)
    os.environ["DATABASE_URL"] = database_url
    use_redis(args.redis_url)
    from bench.harness import make_app, migrate

    app = make_app(database_url)
    if args.fresh:
        print("migrating and loading demo data …", file=sys.stderr)
        migrate(app)
        load_demo(app, volunteers, orders)
    return app


def scenarios_of(plan: dict) -> list[tuple[str, str, str, str]]:
    """(name, method, path under the API, whose tokens) of what a phone does most."""
    lat, lng = plan["feed"]
    return [
        (
            "task feed GET /tasks/available",
            "GET",
            f"/tasks/available?lat={lat}&lng={lng}",
            "volunteer_tokens",
        ),
        ("order detail GET /orders/{id}", "GET", f"/orders/{plan['order_id']}", "manager_token"),
        ("me GET /me", "GET", "/me", "volunteer_tokens"),
        ("time book GET /me/timebook", "GET", "/me/timebook", "volunteer_tokens"),
        ("statement GET /me/timebook/transfers", "GET", "/me/timebook/transfers", "volunteer_tokens"),
        ("submit POST /orders", "POST", "/orders", "resident_tokens"),
    ]


def run(args, database_url: str, work: Path) -> None:
    app = bench_app(args, database_url, work, OVERLAY, args.extra_volunteers, args.extra_orders)
    ids = read_ids(Path(args.ids)) if args.ids else {}
    plan = prepare(app, ids, tokens_per_scenario=args.tokens, storm=args.storm)
    with app.app_context():
        from volunteer_app.extensions import db

        size = database_size(db.engine)
        info = machine(db.session.connection())
        db.session.remove()
        db.engine.dispose()

    env = {**os.environ, "WEB_CONCURRENCY": str(args.workers), "PYTHONPATH": str(ROOT)}
    log = work / "gunicorn.log"
    scenarios = scenarios_of(plan)
    wrk = {"seconds": args.duration, "warmup": args.warmup, "connections": args.connections, "threads": 2}
    results: list[tuple[str, dict]] = []

    print("baselines …", file=sys.stderr)
    server = Server("bench.baseline_app:app", args.port, env, log, "/baseline/healthz")
    try:
        script = lua_script(work / "baseline.lua", method="GET", tokens=["-"], body=None)
        baseline = run_wrk(f"{server.base}/baseline/users/{plan['baseline_user_id']}", script, **wrk)
        # The writes' baseline: the same body as POST /orders, inserted as one row and committed.
        script = lua_script(
            work / "baseline_write.lua", method="POST", tokens=["-"], body=plan["submit_body"]
        )
        write_baseline = run_wrk(f"{server.base}/baseline/writes", script, **wrk)
    finally:
        server.stop()
    results.append((READ_BASELINE, baseline))
    results.append((WRITE_BASELINE, write_baseline))

    app_root = Path(args.app_root).resolve() if args.app_root else ROOT
    server = Server("wsgi:app", args.port, env, log, "/healthz", root=app_root)
    try:
        for name, method, path, who in scenarios:
            if args.only and not any(word in name for word in args.only):
                continue
            print(f"{name} …", file=sys.stderr)
            tokens = plan[who] if isinstance(plan[who], list) else [plan[who]]
            body = plan["submit_body"] if method == "POST" else None
            script = lua_script(work / "scenario.lua", method=method, tokens=tokens, body=body)
            results.append((name, run_wrk(f"{server.base}{API}{path}", script, **wrk)))
        print("grab storm …", file=sys.stderr)
        storm = grab_storm(server.base, plan["storm_order_id"], plan["storm_tokens"], args.storm)
    finally:
        server.stop()
    with app.app_context():
        from volunteer_app.attendance.models import Assignment
        from volunteer_app.extensions import db

        storm["assignments_in_db"] = db.session.scalar(
            sa.select(sa.func.count()).where(Assignment.order_id == plan["storm_order_id"])
        )
        db.session.remove()
        db.engine.dispose()

    report = render(args, info, size, results, storm, database_url)
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"load_{args.label}.md"
    out.write_text(report)
    # The same figures for bench/growth.py (one database size against another).
    (RESULTS / f"load_{args.label}.json").write_text(
        json.dumps({"machine": info, "database": size, "results": dict(results), "storm": storm}, indent=1)
    )
    print(f"written {out.relative_to(ROOT)}", file=sys.stderr)
    if storm["winners"] != 5 or storm["5xx"] or storm["assignments_in_db"] != 5:
        sys.exit(f"grab storm FAILED: {storm}")


HEADERS = ["scenario", "req/s", "p50 ms", "p99 ms", "non-2xx", "baseline", "rps / baseline", "p99 / baseline"]
READ_BASELINE = "BASELINE bare Flask, one PK select"
WRITE_BASELINE = "BASELINE bare Flask, one single-row insert + commit"


def baseline_of(name: str) -> str:
    """The baseline a scenario is measured against: writes against the write, everything else the read."""
    return WRITE_BASELINE if "POST" in name or name == WRITE_BASELINE else READ_BASELINE


def render(args, info, size, results, storm, database_url) -> str:
    by_name = dict(results)
    base = by_name[READ_BASELINE]
    rows = []
    for name, r in results:
        own = by_name[baseline_of(name)]
        rows.append(
            [
                name,
                r["rps"],
                r["p50_ms"],
                r["p99_ms"],
                r["non_2xx"],
                "read" if baseline_of(name) == READ_BASELINE else "write",
                r["rps"] / own["rps"],
                r["p99_ms"] / own["p99_ms"],
            ]
        )
    backend = sa.make_url(database_url).get_backend_name()
    lines = [
        f"# Load: {args.label}",
        "",
        "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
        "",
        f"Database ({backend}{', throwaway: demo data + extras' if args.fresh else ''}): "
        + ", ".join(f"{k} {v}" for k, v in size.items()),
        "",
        "Server: gunicorn -c python:volunteer_app.config.gunicorn (sync workers), "
        f"WEB_CONCURRENCY={args.workers}, "
        f"app and baseline alike, on the same machine as wrk and the database. "
        f"wrk: {args.connections} connections, 2 threads, {args.warmup} s warm-up then {args.duration} s, "
        f"tokens rotating over up to {args.tokens} users per scenario, no If-None-Match (full 200s).",
        "",
        "**Rate limits raised for the bench** (VOLUNTEER_CONFIG overlay): grab_limit, login_limit_per_phone "
        "and login_limit_per_ip 1000000/minute, access tokens 600 minutes. Everything else is the default "
        "configuration.",
        "",
        markdown_table(
            [
                "scenario",
                "req/s",
                "p50 ms",
                "p99 ms",
                "non-2xx",
                "baseline",
                "rps / baseline",
                "p99 / baseline",
            ],
            rows,
        ),
        "",
        f"Grab storm: {storm['grabs']} concurrent POST /orders/{{id}}/grab by {storm['volunteers']} "
        f"volunteers on one order with 5 places: **winners {storm['winners']}** (must be 5), "
        f"**5xx {storm['5xx']}** (must be 0), connection errors {storm['connection_errors']}, "
        f"assignments in the DB {storm['assignments_in_db']}, statuses {storm['statuses']}; "
        f"{storm['seconds']:.2f} s wall, {storm['rps']:.0f} grabs/s "
        f"({storm['rps'] / base['rps']:.2f}× baseline rps), p50 {storm['p50_ms']:.0f} ms, "
        f"p99 {storm['p99_ms']:.0f} ms ({storm['p99_ms'] / base['p99_ms']:.1f}× baseline p99).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="an already filled database (default: a throwaway one)")
    parser.add_argument("--server", default=DEFAULT_SERVER, help="PostgreSQL server for the throwaway DB")
    parser.add_argument("--ids", help="JSON file naming ids to use (citygen's; see the module docstring)")
    parser.add_argument("--label", default="demo")
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1, help="WEB_CONCURRENCY")
    parser.add_argument("--port", type=int, default=5201)
    parser.add_argument("--storm", type=int, default=300, help="concurrent grabs in the storm")
    parser.add_argument("--tokens", type=int, default=200, help="users per scenario (tokens rotate)")
    parser.add_argument("--extra-volunteers", type=int, default=300)
    parser.add_argument("--extra-orders", type=int, default=200)
    parser.add_argument("--only", nargs="*", help="run only scenarios whose name contains one of these")
    parser.add_argument("--keep", action="store_true", help="keep the throwaway database")
    parser.add_argument(
        "--redis-url",
        default=REDIS_URL,
        help=f"the rate limits' counters, as in a deployment (default {REDIS_URL}; '' for in-memory)",
    )
    parser.add_argument(
        "--app-root",
        help="serve the app from this checkout (e.g. a worktree of an older commit, for a before/after "
        "in one run); the bench, its data set-up and the baselines stay this checkout's",
    )
    args = parser.parse_args(argv)
    if args.port < 5200:
        parser.error("use a port >= 5200")
    if shutil.which("wrk") is None:
        sys.exit("wrk not found: apt-get install -y wrk")
    work = Path(tempfile.mkdtemp(prefix="bench_load_"))
    args.fresh = args.database_url is None
    try:
        if args.database_url:
            run(args, args.database_url, work)
        else:
            with postgres_database(args.server, unique_name("bench_load"), keep=args.keep) as url:
                run(args, url, work)
    finally:
        log = work / "gunicorn.log"
        if log.exists():
            RESULTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, RESULTS / f"load_{args.label}.raw")
            print(f"gunicorn log in bench/results/load_{args.label}.raw", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
