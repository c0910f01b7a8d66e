"""Liveness and readiness probes for the operator's load balancer."""

from __future__ import annotations

import functools
import logging
import threading

import marshmallow as ma
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app
from flask.views import MethodView
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from volunteer_app.errors import ServiceUnavailable, register_messages
from volunteer_app.extensions import Blueprint, db

register_messages(
    {
        "ready.database": ("数据库不可用", "The database is unreachable"),
        "ready.migrations": ("数据库结构不是最新版本，请运行 flask db upgrade", "Migrations are not current"),
    }
)

blp = Blueprint("health", __name__, description="Operations")


class HealthOut(ma.Schema):
    status = ma.fields.String(required=True)


class ReadyOut(HealthOut):
    revision = ma.fields.String(allow_none=True)


@functools.cache
def code_head(directory: str) -> str | None:
    """The newest migration in the code (read once per process: the code does not change under us)."""
    return ScriptDirectory(directory).get_current_head()


# MigrationContext announces its dialect at INFO each time one is made; a probe asking every few seconds
# would fill the log with it, so the readiness check makes its context with that logger at WARNING.
_alembic_log = logging.getLogger("alembic.runtime.migration")
_alembic_log_lock = threading.Lock()


def database_revision(conn) -> str | None:
    """The migration the database is at (None: never migrated), read without alembic's INFO lines."""
    with _alembic_log_lock:
        level = _alembic_log.level
        _alembic_log.setLevel(logging.WARNING)
        try:
            context = MigrationContext.configure(conn)
        finally:
            _alembic_log.setLevel(level)
    return context.get_current_revision()


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, HealthOut)
    def get(self):
        """Liveness: the process answers."""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, ReadyOut)
    def get(self):
        """Readiness: the database answers and its schema is at the newest migration."""
        try:
            with db.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
                current = database_revision(conn)
        except SQLAlchemyError as exc:
            raise ServiceUnavailable("ready.database") from exc
        head = code_head(current_app.extensions["migrate"].directory)
        if current != head:
            raise ServiceUnavailable(
                "ready.migrations", errors={"revision": {"database": current, "code": head}}
            )
        return {"status": "ok", "revision": current}
