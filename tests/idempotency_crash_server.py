"""A test-only web process for tests/test_idempotency_crash.py: the app from its environment, served by
werkzeug on the port given (`python -m tests.idempotency_crash_server PORT`).

With CRASH_BEFORE_COMMIT_INSERTING=<table> it SIGKILLs itself at the COMMIT of the first transaction
that inserted into that table: after the idempotency claim, before the command's commit. Nothing of
the app runs after that point, as in a kill -9 or a power cut.
"""

from __future__ import annotations

import os
import signal
import sys

from sqlalchemy import event
from werkzeug.serving import run_simple

from volunteer_app import create_app
from volunteer_app.extensions import db


def crash_before_commit_inserting(engine, table: str) -> None:
    marker = f"insert into {table.lower()} "

    @event.listens_for(engine, "before_cursor_execute")
    def _note(conn, _cursor, statement, _parameters, _context, _executemany):
        if statement.lstrip().lower().startswith(marker):
            conn.info["crash_at_commit"] = True

    @event.listens_for(engine, "commit")
    def _crash(conn):
        if conn.info.pop("crash_at_commit", False):
            print(f"crash: SIGKILL before committing an insert into {table}", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    @event.listens_for(engine, "rollback")
    def _forget(conn):
        conn.info.pop("crash_at_commit", None)


def main(port: int) -> None:
    app = create_app()
    table = os.environ.get("CRASH_BEFORE_COMMIT_INSERTING")
    if table:
        with app.app_context():
            crash_before_commit_inserting(db.engine, table)
    run_simple("127.0.0.1", port, app, threaded=True)


if __name__ == "__main__":
    main(int(sys.argv[1]))
