"""The load bench's baselines (bench/load.py): a bare Flask app doing one primary-key select on the
users table (the reads' baseline) or one single-row insert and its commit (the writes'), on the same
database, with the same SQLAlchemy engine settings as the real app (volunteer_app.settings.build_config)
and its idle-connection ping (volunteer_app.db), served by the same gunicorn settings:

    DATABASE_URL=… gunicorn -c python:volunteer_app.config.gunicorn bench.baseline_app:app

Its engine is made lazily in each worker, so no connection crosses gunicorn's fork (the config's
post_fork hook leaves an app without Flask-SQLAlchemy alone).
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, abort, jsonify, request

from volunteer_app.db import ping_when_idle
from volunteer_app.settings import build_config

app = Flask(__name__)
_engine: dict[int, sa.Engine] = {}
_QUERY = sa.text("SELECT id, name FROM users WHERE id = :id")
# The write baseline's table: the bench's own, made once by whichever worker comes first.
_TABLE = sa.text(
    "CREATE TABLE IF NOT EXISTS bench_baseline_writes "
    "(id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
)
_INSERT = sa.text("INSERT INTO bench_baseline_writes (body) VALUES (:body) RETURNING id")


def engine() -> sa.Engine:
    pid = os.getpid()
    if pid not in _engine:
        config = build_config()
        _engine[pid] = sa.create_engine(
            config["SQLALCHEMY_DATABASE_URI"], **config["SQLALCHEMY_ENGINE_OPTIONS"]
        )
        ping_when_idle(_engine[pid])  # as create_app does
        with _engine[pid].begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(4242)"))  # one worker creates it
            conn.execute(_TABLE)
    return _engine[pid]


@app.get("/baseline/users/<int:user_id>")
def user(user_id: int):
    with engine().connect() as conn:
        row = conn.execute(_QUERY, {"id": user_id}).first()
    if row is None:
        abort(404)
    return jsonify(id=row.id, name=row.name)


@app.post("/baseline/writes")
def write():
    """The write baseline: one single-row insert of the request's body, and its commit."""
    with engine().begin() as conn:
        row_id = conn.execute(_INSERT, {"body": request.get_data(as_text=True)}).scalar_one()
    return jsonify(id=row_id), 201


@app.get("/baseline/healthz")
def healthz():
    return jsonify(status="ok")
