"""volunteer_app: the application factory."""

from __future__ import annotations

from flask import Flask, send_from_directory
from flask.sessions import SessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from volunteer_app import logs
from volunteer_app.db import ping_when_idle
from volunteer_app.extensions import api, db, jwt, limiter, migrate
from volunteer_app.jsonprovider import OrjsonProvider
from volunteer_app.schemas import MAX_ID
from volunteer_app.settings import build_config


def create_app(config: dict | None = None) -> Flask:
    """Build an app: settings from config/ and the environment, overridden by `config` (tests)."""
    app = App(__name__, instance_relative_config=False)
    app.config.update(build_config(config))
    # Every logger through one handler (JSON in production), each request with its id and its line.
    logs.init_app(app)

    # Path ids beyond 64 bits can name nothing: they 404 at routing instead of overflowing BIGINT.
    app.url_map.converters["int"] = IdConverter
    hops = int(app.config["APP"].get("proxy_hops", 0))
    if hops:
        # Behind a load balancer the client address (used by rate limits) is in X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    # The rest of the app is imported here, not at the top: importing one module of the package (the
    # settings, the db types in a migration) must not import every domain.
    from volunteer_app import apidoc, bodies, ops
    from volunteer_app.accounts.principal import load_principal
    from volunteer_app.auth.tokens import init_csrf, init_jwt
    from volunteer_app.commands import register_commands
    from volunteer_app.jobs import DRAINS, JOBS, WORK
    from volunteer_app.scheduler import registry as scheduler
    from volunteer_app.scheduler.process import start_embedded
    from volunteer_app.worker import process as worker
    from volunteer_app.worker import registry as work

    _import_models()
    _connect_receivers()
    db.init_app(app)
    with app.app_context():
        ping_when_idle(db.engine)  # a ping before a request gets a connection that sat idle, not on every one
    migrate.init_app(app, db, directory=_migrations_dir(), render_as_batch=True, compare_type=True)
    jwt.init_app(app)
    limiter.init_app(app)
    api.init_app(app)
    _register_blueprints(app)
    _serve_swagger_assets(app)
    register_commands(app)
    ops.init_app(app)  # /metrics (requests timed from the first hook on), optional Sentry reports

    # The request lifecycle around every view, in one place. Before it, after the rate-limit check that
    # limiter.init_app registered: the body check. Nothing is sent after it: what a request notifies
    # goes to the outbox, which the worker sends once the request has committed.
    bodies.init_app(app)  # before a write's view: its body is JSON (415), well-formed and shallow (400)
    # a token's user and live session in one query (accounts' loader: auth knows no accounts); token
    # errors in the one error format
    init_jwt(app, load_principal)
    init_csrf(app)  # the console cookie's CSRF check, in the one format (403 auth.csrf)

    apidoc.complete(app, api.spec)  # error responses (the hooks' too), operation ids, examples and links

    # The periodic jobs: each domain declares its own (its jobs.py), volunteer_app/jobs.py lists them.
    scheduler.init_app(app, JOBS)
    start_embedded(app)  # a thread running them, only with [scheduler] mode = "embedded" under `flask run`
    # Background work: the kinds of queued work and the domain queues (the outbox) the worker drains.
    work.init_app(app, WORK, DRAINS)
    worker.start_embedded(app)  # a worker thread, only with [worker] mode = "embedded" under `flask run`
    return app


class NoSessions(SessionInterface):
    """No Flask session: nothing of the app keeps one (phones send a bearer token, the console an
    HttpOnly JWT cookie with a CSRF header). Flask's signed-cookie sessions built a signing serializer
    (itsdangerous, a key derivation) on every request only to find no cookie, a few per cent of a hot
    read's Python. `flask.session` is Flask's read-only null session: writing to it raises."""

    def open_session(self, app, request):
        return self.make_null_session(app)

    def save_session(self, app, session, response) -> None:
        return None


class App(Flask):
    """Flask, remembering which of its hooks and views are plain functions.

    Flask asks of every hook and view it calls whether it is a coroutine function (`ensure_sync`,
    `inspect.iscoroutinefunction`): about fourteen times a request, a few per cent of a hot read's
    Python time, for an answer that never changes. The answer is kept per function (up to SYNC_KNOWN,
    then forgotten all at once, should something pass a new function every time)."""

    SYNC_KNOWN = 4096
    session_interface = NoSessions()
    json_provider_class = OrjsonProvider  # unsorted keys, UTF-8: volunteer_app/jsonprovider.py

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._ensured: dict = {}

    def ensure_sync(self, func):
        try:
            return self._ensured[func]
        except KeyError:
            pass
        except TypeError:  # an unhashable callable
            return super().ensure_sync(func)
        if len(self._ensured) >= self.SYNC_KNOWN:
            self._ensured.clear()
        ensured = self._ensured[func] = super().ensure_sync(func)
        return ensured


class IdConverter(IntegerConverter):
    """`<int:…>` path ids from 1 to 2**63 - 1: any other is an unknown URL (404), not a database error."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def _import_models() -> None:
    """Import every domain's models so MetaData (and Alembic) sees all tables."""
    from volunteer_app import changes, idempotency  # noqa: F401
    from volunteer_app import heartbeats as _heartbeats  # noqa: F401  (heartbeats)
    from volunteer_app.accounts import models as _accounts  # noqa: F401
    from volunteer_app.activities import models as _activities  # noqa: F401
    from volunteer_app.attendance import models as _attendance  # noqa: F401
    from volunteer_app.auth import models as _auth  # noqa: F401
    from volunteer_app.exports import models as _exports  # noqa: F401  (export_records)
    from volunteer_app.notifications import models as _notifications  # noqa: F401
    from volunteer_app.notifications import wechat as _wechat  # noqa: F401  (consents; the "wechat" reacher)
    from volunteer_app.orders import models as _orders  # noqa: F401
    from volunteer_app.reports import models as _reports  # noqa: F401  (rollups)
    from volunteer_app.scheduler import models as _scheduler  # noqa: F401  (job_runs)
    from volunteer_app.sites import cache as _site_cache  # noqa: F401  (cache_generations)
    from volunteer_app.sites import models as _sites  # noqa: F401
    from volunteer_app.supervision import models as _supervision  # noqa: F401
    from volunteer_app.timebank import models as _timebank  # noqa: F401
    from volunteer_app.worker import models as _worker  # noqa: F401  (work_items)


def _connect_receivers() -> None:
    """Connect the higher domains' receivers to the lower ones' signals: at import, so once per process
    however many apps are made (each receiver works in the app context it is called in)."""
    from volunteer_app.supervision import follow_ups  # noqa: F401  (orders' `settled` → the follow-ups)


def _migrations_dir() -> str:
    """The Alembic scripts, shipped inside the package (so an installed wheel can migrate)."""
    from pathlib import Path

    return str(Path(__file__).resolve().parent / "migrations")


def _register_blueprints(app: Flask) -> None:
    from volunteer_app import console
    from volunteer_app.accounts.views import blp as accounts_blp
    from volunteer_app.activities.views import blp as activities_blp
    from volunteer_app.attendance.views import blp as assignments_blp
    from volunteer_app.auth.views import blp as auth_blp
    from volunteer_app.exports.views import blp as exports_blp
    from volunteer_app.feed.views import blp as feed_blp
    from volunteer_app.health import blp as health_blp
    from volunteer_app.notifications.views import blp as notifications_blp
    from volunteer_app.notifications.wechat_views import blp as wechat_blp
    from volunteer_app.orders.views import blp as orders_blp
    from volunteer_app.personal.views import blp as personal_blp
    from volunteer_app.reports.views import blp as reports_blp
    from volunteer_app.sites.views import blp as sites_blp
    from volunteer_app.supervision.appeal_views import blp as appeals_blp
    from volunteer_app.supervision.complaint_views import blp as complaints_blp
    from volunteer_app.supervision.follow_up_views import blp as follow_ups_blp
    from volunteer_app.supervision.item_views import blp as supervision_items_blp
    from volunteer_app.timebank.certificate_pages import bp as certificate_pages_bp
    from volunteer_app.timebank.certificate_views import blp as certificates_blp
    from volunteer_app.timebank.views import blp as timebank_blp
    from volunteer_app.workbench.views import blp as workbench_blp
    from volunteer_app.worker.views import blp as jobs_blp

    for blp in (
        health_blp,
        auth_blp,
        accounts_blp,
        sites_blp,
        timebank_blp,
        certificates_blp,
        notifications_blp,
        wechat_blp,
        orders_blp,
        activities_blp,
        feed_blp,
        assignments_blp,
        reports_blp,
        jobs_blp,
        exports_blp,
        workbench_blp,
        supervision_items_blp,
        follow_ups_blp,
        complaints_blp,
        appeals_blp,
        personal_blp,
    ):
        api.register_blueprint(blp)
    console.init_app(app)  # the managers' console: pages, not in the OpenAPI document
    # 志愿服务证明's pages for people (share link, signed print link): HTML, not in the OpenAPI document
    app.register_blueprint(certificate_pages_bp)


def _serve_swagger_assets(app: Flask) -> None:
    """Swagger UI's JS and CSS from the swagger-ui-bundle package: phones and intranets need no CDN."""
    import swagger_ui_bundle

    @app.get("/api/docs/assets/<path:filename>")
    def swagger_assets(filename):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename, max_age=86400)
