"""The operator's probes: /healthz answers while the process lives; /readyz only when the database
answers and its schema is at the newest migration, otherwise 503 in the one error format."""

from __future__ import annotations

import logging

import pytest
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import text

from tests.api.helpers import assert_error
from tests.conftest import make_app
from volunteer_app.extensions import db


def _head(app) -> str:
    return ScriptDirectory(app.extensions["migrate"].directory).get_current_head()


@pytest.fixture
def throwaway_app(tmp_path):
    """An app on its own SQLite file that was never migrated (a deploy that forgot `flask db upgrade`)."""
    app = make_app(f"sqlite:///{tmp_path / 'behind.db'}")
    yield app
    with app.app_context():
        db.engine.dispose()


def test_healthz_answers(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json == {"status": "ok"}


def test_readyz_reports_the_current_revision(app, client):
    r = client.get("/readyz")
    assert r.status_code == 200
    assert r.json == {"status": "ok", "revision": _head(app)}


def test_readyz_logs_nothing_from_alembic(client, caplog):
    """A probe every few seconds must not write alembic's "Context impl …" lines each time."""
    level = logging.getLogger("alembic.runtime.migration").level
    with caplog.at_level(logging.INFO):
        assert client.get("/readyz").status_code == 200
    assert [r.getMessage() for r in caplog.records if r.name.startswith("alembic")] == []
    assert logging.getLogger("alembic.runtime.migration").level == level  # (restored)


def test_readyz_is_503_when_migrations_are_missing(throwaway_app):
    r = throwaway_app.test_client().get("/readyz", headers={"Accept-Language": "en"})
    body = assert_error(r, 503, "ready.migrations")
    assert body["errors"] == {"revision": {"database": None, "code": _head(throwaway_app)}}
    assert body["message"] == "Migrations are not current"


def test_readyz_is_503_when_the_database_is_at_an_older_revision(throwaway_app):
    """A new release deployed before its migration ran: not ready, and both revisions are named."""
    with throwaway_app.app_context():
        upgrade()
        db.session.execute(text("UPDATE alembic_version SET version_num = '0000_older_release'"))
        db.session.commit()
    r = throwaway_app.test_client().get("/readyz")
    body = assert_error(r, 503, "ready.migrations")
    assert body["errors"]["revision"] == {"database": "0000_older_release", "code": _head(throwaway_app)}
    assert body["message"] == "数据库结构不是最新版本，请运行 flask db upgrade"


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    app = make_app(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    r = app.test_client().get("/readyz")
    body = assert_error(r, 503, "ready.database")
    assert "errors" not in body  # nothing about the connection (paths, hosts) is shown


def test_healthz_does_not_touch_the_database(tmp_path):
    """Liveness must not fail with the database: a restart would not fix an outage there."""
    app = make_app(f"sqlite:///{tmp_path / 'no-such-dir' / 'x.db'}")
    r = app.test_client().get("/healthz")
    assert r.status_code == 200
    assert r.json == {"status": "ok"}
