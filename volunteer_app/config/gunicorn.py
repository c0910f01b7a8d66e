"""gunicorn settings, shipped with the package:

    gunicorn -c python:volunteer_app.config.gunicorn 'volunteer_app:create_app()'

Environment overrides in CAPS."""

import gc
import multiprocessing
import os
import tempfile

from gunicorn.glogging import Logger

from volunteer_app import logs

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "sync"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
# Load the app once in the master (less memory, faster restarts); each worker then gets fresh
# database connections in post_fork, because a connection must never cross a fork.
preload_app = True
# Logs (volunteer_app/logs.py): gunicorn's own lines go through the app's handler and format (JSON in
# production); no access log: the app writes one line per request itself, with its request id, route
# template, status, duration and user, never the query string.
logconfig_dict = logs.gunicorn_logconfig()


class NoAccessLogger(Logger):
    """gunicorn's logger with no access log at all. Given a logconfig_dict, gunicorn counts its access
    log as on and builds every request's access-log fields (the atoms: a formatted date, the headers
    read again) to hand them to "gunicorn.access", which ours drops (CRITICAL, no handler): about 3 %
    of a hot read's Python in the workers (py-spy, bench/README.md "Hot paths, eleventh pass")."""

    access_log_enabled = False  # (gunicorn ≥ 25 asks it before building a request's log data)

    def access(self, resp, req, environ, request_time):
        return None


logger_class = NoAccessLogger


def _prepare_metrics_dir() -> None:
    """prometheus_client's multiprocess mode: every worker keeps its counts in files in one directory and
    a scrape of /metrics sums them (docs/ops/metrics.md). PROMETHEUS_MULTIPROC_DIR names it (default: a
    fresh temporary directory); it must be set before the app (and prometheus_client) is loaded, so here,
    as the master reads this file, and emptied of a previous run's files. A configuration reload (HUP)
    reads this file again in the same master: the directory is then left alone (live workers use it)."""
    if os.environ.get("VOLUNTEER_METRICS_DIR_OWNER") == str(os.getpid()):
        return
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(prefix="volunteer-metrics-")
    os.makedirs(path, exist_ok=True)
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    os.environ["VOLUNTEER_METRICS_DIR_OWNER"] = str(os.getpid())


_prepare_metrics_dir()


def pre_fork(server, worker):
    """What the preloaded app made is frozen (gc.freeze) before each fork: a worker's garbage collections
    never scan those objects again, so their pages stay shared with the master, and the full
    collections a big response's garbage sets off in a worker cost a sixth as much (the feed: 0.30 →
    0.05 ms a request, bench/profile_endpoint.py --gc-freeze)."""
    gc.freeze()


def post_fork(server, worker):
    """A worker's database connections are its own: the master's are forgotten here. A sync worker
    (one request at a time, on one thread, for its whole life) keeps its views' autocommit connection
    from one request to the next (extensions.keep_read_connection)."""
    app = server.app.wsgi()  # the application the master preloaded (whatever the command line named)
    if "sqlalchemy" not in getattr(app, "extensions", {}):
        return  # not a Flask-SQLAlchemy app (the load bench's baseline makes its engine per worker)
    from gunicorn.workers.sync import SyncWorker

    from volunteer_app.extensions import db, keep_read_connection

    with app.app_context():
        for engine in db.engines.values():
            # close=False: leave the parent's connections alone, just forget them in this child.
            engine.dispose(close=False)
    if isinstance(worker, SyncWorker):
        keep_read_connection(app)


def child_exit(server, worker):
    """A worker is gone: its live gauges (the pool in use) stop counting; its counters stay summed."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
