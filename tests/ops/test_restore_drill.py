"""Backups that restore: a database with every kind of record (the demo load, plus through the API what
it leaves out: redemptions, certificates, gifts, exports with their job and file, devices, settings,
teams, handovers, idempotency keys, sessions, SMS codes, scheduler runs, WeChat bindings) is dumped by
deploy/backup.sh and restored into a new database by deploy/restore-drill.sh, which runs
`flask timebank verify` (against the published checkpoints) and `flask reports verify` there. Then every
table of the restored database holds the same rows as the original's, and an app on it serves the
demo people the same time book, orders and redemptions as the original does. PostgreSQL only."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from tests.conftest import _postgres_database, make_app
from volunteer_app import demo, heartbeats
from volunteer_app.accounts.models import RoleGrant, User
from volunteer_app.auth.models import WechatBinding
from volunteer_app.db import utcnow
from volunteer_app.demo import world
from volunteer_app.extensions import db
from volunteer_app.phones import normalize_phone
from volunteer_app.reports import rollups
from volunteer_app.scheduler.models import JobFailure
from volunteer_app.scheduler.runner import run_due
from volunteer_app.sites.models import Site
from volunteer_app.timebank import checkpoints
from volunteer_app.worker.runner import Worker

ROOT = Path(__file__).resolve().parents[2]
API = "/api/v1"

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL", "").startswith("postgres"),
    reason="the drill is pg_dump and pg_restore: PostgreSQL's tools (SQLite backs up by copying a file)",
)


def _login(client, phone: str) -> dict:
    answer = client.post(f"{API}/auth/login", json={"phone": phone, "password": world.PASSWORD})
    assert answer.status_code == 200, answer.get_json()
    return {"Authorization": f"Bearer {answer.get_json()['access_token']}"}


def _ok(answer, *codes: int):
    assert answer.status_code in (codes or (200, 201, 202)), f"{answer.status_code} {answer.get_json()}"
    return answer.get_json()


def _add_what_the_demo_leaves_out(app) -> None:
    """The kinds of records `flask demo load` does not write, made as people and jobs would."""

    client = app.test_client()
    volunteer = _login(client, world.volunteer_phone(0))  # at the first station, with credited hours
    me = _ok(client.get(f"{API}/me/timebook", headers=volunteer))
    reward = next(r for r in _ok(client.get(f"{API}/rewards", headers=volunteer))["items"] if r["stock"])
    # A redemption, sent with an idempotency key (kept), a certificate, a gift to the station's pool.
    _ok(
        client.post(
            f"{API}/redemptions",
            json={"reward_id": reward["id"]},
            headers={**volunteer, "Idempotency-Key": "drill-redemption-1"},
        )
    )
    today = date.today()
    period = {"date_from": (today - timedelta(days=365)).isoformat(), "date_to": today.isoformat()}
    _ok(client.post(f"{API}/me/certificates", json=period, headers=volunteer))
    _ok(client.post(f"{API}/me/timebook/gifts", json={"minutes": 30, "to_pool": True}, headers=volunteer))
    _ok(
        client.post(
            f"{API}/me/devices", json={"platform": "android", "token": "drill-device-1"}, headers=volunteer
        )
    )
    _ok(
        client.put(
            f"{API}/me/notification-settings",
            json={"opt_out": {"order.filled": ["push"]}, "quiet_hours": {"enabled": False}},
            headers=volunteer,
        )
    )
    _ok(client.post(f"{API}/me/timebook/exports", json={"format": "csv"}, headers=volunteer))
    assert me["balance_minutes"] > 0

    admin = _login(client, world.ADMIN_PHONE)
    with app.app_context():
        volunteer_id = db.session.scalar(
            sa.select(User.id).where(User.phone == normalize_phone(world.volunteer_phone(0)))
        )
        station = db.session.scalar(
            sa.select(Site.id).where(Site.kind == "station").order_by(Site.id).limit(1)
        )
    _ok(
        client.post(
            f"{API}/sites/{station}/exports",
            json={
                "kind": "orders",
                "format": "xlsx",
                **{"from": period["date_from"], "to": period["date_to"]},
            },
            headers=admin,
        )
    )
    team = _ok(client.post(f"{API}/sites/{station}/teams", json={"name": "演练小队"}, headers=admin))
    _ok(
        client.post(f"{API}/teams/{team['id']}/members", json={"user_id": volunteer_id}, headers=admin),
        200,
        201,
    )
    with app.app_context():  # an order waiting at a station, passed up to the station's parent (上报)
        order_id, parent_id = db.session.execute(
            sa.text(
                "SELECT o.id, s.parent_id FROM orders o JOIN sites s ON s.id = o.dispatch_site_id"
                " WHERE o.status IN ('submitted', 'dispatched') AND s.kind = 'station' ORDER BY o.id LIMIT 1"
            )
        ).one()
    _ok(
        client.post(
            f"{API}/orders/{order_id}/handovers",
            json={"to_site_id": parent_id, "reason": "演练"},
            headers=admin,
        )
    )
    _ok(client.post(f"{API}/auth/sms-code", json={"phone": world.resident_phone(0)}), 200, 202, 204)
    # A manager allowed to see full ID numbers, and a look at one (the access log).
    with app.app_context():
        manager_id = db.session.scalar(
            sa.select(RoleGrant.user_id).where(RoleGrant.role == "manager").order_by(RoleGrant.id).limit(1)
        )
    _ok(client.post(f"{API}/id-number-viewers", json={"user_id": manager_id}, headers=admin), 200, 201)
    _ok(client.post(f"{API}/volunteers/{volunteer_id}/id-number", json={"reason": "演练核对"}, headers=admin))
    with app.app_context():
        db.session.add(WechatBinding(user_id=volunteer_id, appid="wx0123456789abcdef", openid="o-drill-1"))
        # What the scheduler and the worker leave: a failed occurrence, and their heartbeats.
        db.session.add(
            JobFailure(job="reports.refresh", occurrence_key="drill", started_at=utcnow(), error="Drill")
        )
        db.session.commit()
        heartbeats.beat("worker", started_at=utcnow())
        heartbeats.beat("scheduler", started_at=utcnow())
        run_due()  # the scheduler's catch-up: job_runs, checkpoints, statements...
        Worker(app).run_once()  # the exports made, the outbox sent


# `flask reports verify` counts pending changes first (refresh_all), which stamps the state row.
WRITTEN_BY_THE_DRILL = {"report_state": "refreshed_at"}


def _tables(url: str) -> dict[str, tuple[int, str]]:
    """Every table: its row count and a digest of all its rows (in a stable order), leaving out the
    one column the drill's verify writes."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            names = conn.execute(
                sa.text(
                    "SELECT table_name FROM information_schema.tables"
                    " WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1"
                )
            ).scalars()
            return {
                name: tuple(
                    conn.execute(
                        sa.text(
                            "SELECT count(*), md5(coalesce(string_agg(r, '|' ORDER BY r), ''))"
                            f' FROM (SELECT (to_jsonb(t) - :skip)::text AS r FROM "{name}" t) rows'
                        ),
                        {"skip": WRITTEN_BY_THE_DRILL.get(name, "")},
                    ).one()
                )
                for name in list(names)
            }
    finally:
        engine.dispose()


def _views(app) -> dict:
    """What demo people see through the API: a volunteer's book, its lines and redemptions; the
    admin's orders."""
    client = app.test_client()
    volunteer = _login(client, world.volunteer_phone(0))
    admin = _login(client, world.ADMIN_PHONE)
    seen = {
        "timebook": _ok(client.get(f"{API}/me/timebook", headers=volunteer)),
        "transfers": _ok(client.get(f"{API}/me/timebook/transfers", headers=volunteer)),
        "redemptions": _ok(client.get(f"{API}/me/redemptions", headers=volunteer)),
        "orders": _ok(client.get(f"{API}/orders?limit=100", headers=admin)),
    }
    return seen


def _run(command: list[str], env: dict) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{command[0]} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def test_a_backup_restores_into_a_new_database_that_verifies_and_serves_the_same_data(tmp_path):

    server = os.environ["TEST_DATABASE_URL"]
    with contextlib.contextmanager(_postgres_database)(server) as original:
        app = make_app(original)
        with app.app_context():
            upgrade()
            demo.load()
        _add_what_the_demo_leaves_out(app)
        with app.app_context():
            rollups.refresh_all()  # as the scheduler does every minute
            checkpoints.publish(checkpoints.current_head())  # a head the restored ledger must reach
            checkpoint_file = checkpoints.configured_file()
            db.engine.dispose()
        before = _tables(original)
        empty = sorted(name for name, (count, _) in before.items() if count == 0)
        # Every kind of record is there (report_changes is the rollups' inbox, emptied by refresh).
        assert empty == ["checkin_code_uses", "report_changes", "wechat_consents"], empty

        backups = tmp_path / "backups"
        backups.mkdir()
        stale = backups / "volunteer-20200101T000000Z.dump"
        stale.write_bytes(b"old")
        os.utime(stale, (time.time() - 40 * 86400,) * 2)
        env = {
            **os.environ,
            "DATABASE_URL": original,
            "BACKUP_DIR": str(backups),
            "BACKUP_KEEP_DAYS": "14",
            "PYTHONPATH": str(ROOT),
        }
        _run([str(ROOT / "deploy" / "backup.sh")], env)
        (dump,) = backups.glob("volunteer-2*.dump")
        assert not stale.exists() and dump.with_name(dump.name + ".sha256").exists()

        drill = f"volunteer_drill_{os.getpid()}"
        env |= {
            "DRILL_DB": drill,
            "KEEP_DRILL_DB": "1",
            "FLASK": str(Path(sys.executable).parent / "flask"),
            "CHECKPOINTS": str(checkpoint_file),
            "VOLUNTEER_INSTANCE_DIR": str(tmp_path / "instance"),
        }
        env.pop("VOLUNTEER_CONFIG", None)
        restored = sa.make_url(original).set(database=drill).render_as_string(hide_password=False)
        try:
            out = _run([str(ROOT / "deploy" / "restore-drill.sh")], env).stdout
            assert "ledger ok" in out and re.search(r"against [1-9][0-9]* checkpoints", out), out
            assert "rollups verified" in out and "drill passed" in out, out

            assert _tables(restored) == before
            restored_app = make_app(restored)
            # The published checkpoints live beside the database, not in it: the same file, as after a
            # restore on the same host (or one restored with the instance directory).
            restored_app.config["APP"] = {
                **restored_app.config["APP"],
                "ledger_checkpoint_file": str(checkpoint_file),
            }
            try:
                assert _views(restored_app) == _views(app)
            finally:
                with restored_app.app_context():
                    db.engine.dispose()
                with app.app_context():
                    db.engine.dispose()
        finally:
            admin = sa.create_engine(
                sa.make_url(original).set(database="postgres"), isolation_level="AUTOCOMMIT"
            )
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{drill}" WITH (FORCE)')
            admin.dispose()
