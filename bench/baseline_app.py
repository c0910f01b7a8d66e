"""The load bench's baseline (bench/load.py): a bare Flask app doing one primary-key select on the
users table, on the same database, with the same SQLAlchemy engine settings as the real app
(volunteer_app.settings.build_config) and its idle-connection ping (volunteer_app.db), served by the
same gunicorn settings:

    DATABASE_URL=… gunicorn -c python:volunteer_app.config.gunicorn bench.baseline_app:app

Its engine is made lazily in each worker, so no connection crosses gunicorn's fork (the config's
post_fork hook leaves an app without Flask-SQLAlchemy alone).
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from flask import Flask, abort, jsonify

from volunteer_app.db import ping_when_idle
from volunteer_app.settings import build_config

app = Flask(__name__)
_engine: dict[int, sa.Engine] = {}
_QUERY = sa.text("SELECT id, name FROM users WHERE id = :id")


def engine() -> sa.Engine:
    pid = os.getpid()
    if pid not in _engine:
        config = build_config()
        _engine[pid] = sa.create_engine(
            config["SQLALCHEMY_DATABASE_URI"], **config["SQLALCHEMY_ENGINE_OPTIONS"]
        )
        ping_when_idle(_engine[pid])  # as create_app does
    return _engine[pid]


@app.get("/baseline/users/<int:user_id>")
def user(user_id: int):
    with engine().connect() as conn:
        row = conn.execute(_QUERY, {"id": user_id}).first()
    if row is None:
        abort(404)
    return jsonify(id=row.id, name=row.name)


@app.get("/baseline/healthz")
def healthz():
    return jsonify(status="ok")
