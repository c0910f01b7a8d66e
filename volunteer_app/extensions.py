"""Unbound extension objects; create_app binds them to an app."""

import hashlib
import inspect
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, wraps

from flask import current_app, g, request
from flask_jwt_extended import JWTManager as _JWTManager
from flask_jwt_extended import view_decorators as _jwt_views
from flask_jwt_extended.config import config as jwt_config
from flask_jwt_extended.default_callbacks import default_decode_key_callback
from flask_jwt_extended.tokens import _decode_jwt
from flask_jwt_extended.utils import get_unverified_jwt_headers
from flask_limiter import Limiter as _Limiter
from flask_limiter import RateLimitExceeded, RequestLimit
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Blueprint as _Blueprint
from flask_smorest.etag import _get_etag_ctx as _etag_ctx
from flask_sqlalchemy import SQLAlchemy as _SQLAlchemy
from jwt import ExpiredSignatureError
from limits.strategies import FixedWindowRateLimiter
from marshmallow import Schema
from sqlalchemy.exc import DBAPIError
from webargs.flaskparser import FlaskParser

from volunteer_app import b64url, readplan
from volunteer_app.bodies import checked_json
from volunteer_app.db import IDLE_PING_SECONDS, Base, is_outage
from volunteer_app.errors import Api
from volunteer_app.ratewindow import CountingFixedWindow

log = logging.getLogger(__name__)
_IDLE = 0  # libpq's PQTRANS_IDLE (psycopg.pq.TransactionStatus.IDLE): a connection in no transaction


class SQLAlchemy(_SQLAlchemy):
    """Flask-SQLAlchemy whose session cleanup at the end of a request survives a dead connection.

    The cleanup (teardown_appcontext) runs after the response is made and outside Flask's error
    handling: an exception there reaches the WSGI server, which answers its own plain-text 500 instead
    of the response the view made. The session's rollback on a connection that died meets exactly that."""

    def _teardown_session(self, exc: BaseException | None) -> None:
        # What close() does, in two steps: detach the objects (loaded, not expired, as close leaves
        # them), then the rollback on its own, which gives the connections back to the pool even when
        # it fails (the pool replaces a dead one); a close that fails mid-way keeps its connection.
        if self.session.registry.has():
            try:
                self.session.expunge_all()
                self.session.rollback()
            except DBAPIError as error:
                what = "the session's rollback at the end of a request"
                _cleanup_failed(error, "the end of a request", what)
        self.session.remove()


# What Flask-JWT-Extended's own verification takes (tokens._decode_jwt), all of which JWTManager._verify
# passes, as the library's _decode_jwt_from_config does: checked at init_app.
_DECODE_JWT_ARGUMENTS = frozenset(
    [
        "algorithms",
        "allow_expired",
        "audience",
        "csrf_value",
        "encoded_token",
        "identity_claim_key",
        "issuer",
        "leeway",
        "secret",
        "verify_aud",
        "verify_sub",
    ]
)


class JWTManager(_JWTManager):
    """Flask-JWT-Extended's manager, remembering the tokens it has verified.

    Verifying a token (PyJWT: the claims read, the header read, then the signature checked, each
    decoding and validating the base64 segments character by character) was a tenth of a hot read's
    Python time, and a phone sends the same access token for its whole life. The same bytes verify the
    same way under the same key, so a token once verified is kept with its claims and its header (per
    secret, up to VERIFIED_TOKENS, then forgotten all at once); what can change with time is checked
    again on every use: expiry and not-before, with the configured leeway. Anything else (an expired
    token, a CSRF value, allow_expired) takes the library's own path, which raises its own errors.
    Revocation is not a token's property: the principal's query checks the session on every request.
    A token met for the first time (every request of a storm: each caller's first) is decoded twice,
    not four times (`_verify`), its segments checked in C (volunteer_app.b64url).

    After verifying, the library reads the token's header once more (`get_unverified_jwt_headers`,
    another full decode); init_app points that name at the remembered header. The header is of the
    same bytes that were just verified, so it is the one PyJWT would return."""

    VERIFIED_TOKENS = 4096

    def __init__(self, app=None, add_context_processor: bool = False) -> None:
        self._verified: dict[tuple, tuple[dict, dict]] = {}
        super().__init__(app, add_context_processor)

    def init_app(self, app, add_context_processor: bool = False) -> None:
        super().init_app(app, add_context_processor)
        b64url.install()  # (a token met for the first time: its segments checked in C, not per character)
        if frozenset(inspect.signature(_decode_jwt).parameters) != _DECODE_JWT_ARGUMENTS:
            raise RuntimeError(  # a new release verifies with other arguments: _verify needs a look
                "flask_jwt_extended.tokens._decode_jwt takes other arguments than JWTManager._verify passes"
            )
        reader = getattr(_jwt_views, "get_unverified_jwt_headers", None)
        if reader is not get_unverified_jwt_headers and reader != self.unverified_headers:
            raise RuntimeError(  # a new release reads headers another way: this class needs a look
                "flask_jwt_extended.view_decorators does not read headers with get_unverified_jwt_headers"
            )
        _jwt_views.get_unverified_jwt_headers = self.unverified_headers

    def unverified_headers(self, encoded_token: str) -> dict:
        """A token's header: the remembered one of a verified token, else PyJWT's reading."""
        kept = self._verified.get((jwt_config.decode_key, encoded_token))
        return dict(kept[1]) if kept is not None else get_unverified_jwt_headers(encoded_token)

    def _decode_jwt_from_config(
        self, encoded_token: str, csrf_value=None, allow_expired: bool = False
    ) -> dict:
        if csrf_value or allow_expired:
            return super()._decode_jwt_from_config(encoded_token, csrf_value, allow_expired)
        key = (jwt_config.decode_key, encoded_token)
        kept = self._verified.get(key)
        if kept is not None:
            claims = kept[0]
            now, leeway = time.time(), jwt_config.leeway
            if ("exp" not in claims or now - leeway < claims["exp"]) and claims.get("nbf", 0) <= now + leeway:
                return dict(claims)
        claims = self._verify(encoded_token)
        if len(self._verified) >= self.VERIFIED_TOKENS:
            self._verified.clear()
        self._verified[key] = (dict(claims), get_unverified_jwt_headers(encoded_token))
        return claims

    def _verify(self, encoded_token: str) -> dict:
        """A token met for the first time, verified as the library verifies it, without the two reads
        the library makes first (its claims and its header, unverified: two more full decodes) for a
        decode-key callback of the app's, when the app has none (the default one looks at neither).
        An expired token, or an app with a callback, takes the library's own path (which attaches
        the header and claims to the expiry error)."""
        if self._decode_key_callback is not default_decode_key_callback:
            return super()._decode_jwt_from_config(encoded_token)
        try:
            return _decode_jwt(
                algorithms=jwt_config.decode_algorithms,
                allow_expired=False,
                audience=jwt_config.decode_audience,
                csrf_value=None,
                encoded_token=encoded_token,
                identity_claim_key=jwt_config.identity_claim_key,
                issuer=jwt_config.decode_issuer,
                leeway=jwt_config.leeway,
                secret=jwt_config.decode_key,
                verify_aud=jwt_config.decode_audience is not None,
                verify_sub=jwt_config.verify_sub,
            )
        except ExpiredSignatureError:
            return super()._decode_jwt_from_config(encoded_token)


class _Parser(FlaskParser):
    """webargs' Flask parser, keeping one instance of each schema class a view's arguments name: webargs
    made one per request (a new order's: ~0.3 ms of CPU to build the schema's fields again). Sharing is
    safe: a marshmallow 4 schema keeps no state between loads (no context), and `unknown` is passed to
    each load, not set on the instance."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._instances: dict[type[Schema], Schema] = {}

    def _raw_load_json(self, req):
        """The body bodies.check_body has parsed already (it parses every API write's, to refuse a bad
        one before any view): not parsed twice. Else webargs' own (missing, or the parse)."""
        body = checked_json()
        return super()._raw_load_json(req) if body is None else body

    def _get_schema(self, argmap, req) -> Schema:
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            schema = self._instances.get(argmap)
            if schema is None:
                schema = self._instances[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)


class Blueprint(_Blueprint):
    """flask-smorest's Blueprint with `_Parser`, and an ETag hashed from the body as written: every
    view module's blueprint."""

    ARGUMENTS_PARSER = _Parser()

    def _set_etag_in_response(self, response):
        """As flask-smorest's, but with no ETag the view set itself, the hash of the response's body
        (and of the headers flask-smorest includes) rather than of its data dumped to JSON once more,
        keys sorted: the same answer gives the same ETag, a changed one another, and the answer is
        encoded once. A streamed body is flask-smorest's to hash."""
        if (
            response.is_streamed
            or request.method not in self.METHODS_ALLOWING_SET_ETAG
            or _etag_ctx().get("etag") is not None
        ):
            return super()._set_etag_in_response(response)
        digest = hashlib.sha1(response.get_data(), usedforsecurity=False)
        for key, value in response.headers:
            if key in self.ETAG_INCLUDE_HEADERS:
                digest.update(f"\n{key}: {value}".encode())
        etag = digest.hexdigest()
        if "HTTP_IF_NONE_MATCH" in request.environ:  # (else nothing to match: no header parsed)
            self._check_not_modified(etag)
        response.set_etag(etag)


class Limiter(_Limiter):
    """Flask-Limiter without its before-request pass over every request.

    Every limit of this app is a view's own (`limiter.limit` and `limiter.shared_limit` as decorators),
    and a decorated view checks its limits itself when it is called. The before-request pass is for the
    limits that are not a view's: default, application, meta and blueprint limits, and the in-memory
    fallback. The app sets none of them, so the pass found nothing to check, at about a twelfth of a
    hot read's Python time (resolving the endpoint's limits, exemptions and blueprint scopes). init_app
    refuses settings that give any of them; limits given to the constructor or to a blueprint would be
    skipped silently, and tests/auth/test_rate_limits.py checks that there are none.

    Its fixed window is volunteer_app.ratewindow's, which keeps the window it hit for the response's
    headers instead of reading it back from the store."""

    MIDDLEWARE_SETTINGS = (
        "RATELIMIT_DEFAULT",
        "RATELIMIT_APPLICATION",
        "RATELIMIT_META",
        "RATELIMIT_IN_MEMORY_FALLBACK",
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED",
    )

    def init_app(self, app) -> None:
        set_here = [name for name in self.MIDDLEWARE_SETTINGS if app.config.get(name)]
        if set_here:
            raise RuntimeError(
                f"rate limits outside views ({', '.join(set_here)}) need "
                "Flask-Limiter's before-request pass, which extensions.Limiter skips"
            )
        super().init_app(app)
        if type(self._limiter) is not FixedWindowRateLimiter:
            raise RuntimeError(f"rate limits expect the fixed window, not {type(self._limiter).__name__}")
        # the same fixed window, telling its count and reset as it is hit (one Redis round trip, not 3)
        self._limiter = CountingFixedWindow(self._storage)

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if in_middleware:
            return  # the before-request pass: nothing but views' limits exist, and views check their own
        limits = self._plain_limits(callable_name)
        if limits is None:
            super()._check_request_limit(callable_name, in_middleware)
        else:
            self._hit_plain(limits)

    def _plain_limits(self, callable_name: str | None) -> list | None:
        """A view's limits when each is a plain count (no deduction decided by the response, no
        on-breach hook, no meta limit) and the limiter adds nothing to them (no request filter, every
        limit checked even past a breach, errors raised): what `_hit_plain` checks as Flask-Limiter
        would. None sends the view through Flask-Limiter's own check (the logins: `deduct_when`)."""
        if (
            not (callable_name and self.enabled and self.initialized)
            or self._on_breach
            or self._request_filters
        ):
            return None
        if self._fail_on_first_breach or self._swallow_errors or self._storage_dead:
            return None
        limits = self.limit_manager.decorated_limits(callable_name)
        if any(lim.deduct_when or lim.on_breach or lim.meta_limits for lim in limits):
            return None
        return limits

    def _hit_plain(self, limits: list) -> None:
        """Flask-Limiter's check of a view's own limits, every window in one hit (`hit_many`: one Redis
        round trip, where Flask-Limiter makes one a limit), without resolving the blueprint's, the
        application's and the default limits init_app refuses. As Flask-Limiter: the limits in order of
        their windows, each counted even past a breach; the headers tell the longest breached window,
        else the first not shared; the 429 names the shortest breached."""
        endpoint = self.identify_request()
        checked = []
        for lim in sorted(limits, key=lambda x: x.limit):
            if lim.is_exempt or lim.method_exempt:
                continue
            args = [lim.key_func(), lim.scope_for(endpoint, request.method)]
            if not all(args):
                self.logger.error(f"Skipping limit: {lim.limit}. Empty value found in parameters.")
                continue
            checked.append((lim, [self._key_prefix, *args] if self._key_prefix else args))
        if not checked:
            return
        allowed = self._limiter.hit_many([(lim.limit, args, lim.deduction_amount) for lim, args in checked])
        view_limits = [
            RequestLimit(self, lim.limit, args, not ok, lim.shared)
            for (lim, args), ok in zip(checked, allowed, strict=True)
        ]
        self.context.view_rate_limits = view_limits
        breached = [
            (lim, shown) for (lim, _args), shown in zip(checked, view_limits, strict=True) if shown.breached
        ]
        if not breached:
            self.context.view_rate_limit = next(
                (shown for shown in view_limits if not shown.shared), view_limits[0]
            )
            return
        self.context.view_rate_limit = breached[-1][1]
        for lim, shown in breached:
            self.logger.info("ratelimit %s (%s) exceeded at endpoint: %s", lim.limit, shown.key, endpoint)
        raise RateLimitExceeded(breached[0][0])


def _cleanup_failed(error: DBAPIError, when: str, what: str) -> None:
    """Log a failure to give a connection back after the answer was made: a dead database is a
    warning (the pool replaces the connection), anything else a logged error; neither is raised."""
    if is_outage(error):
        log.warning("database unavailable at %s: %s", when, _first_line(error))
    else:
        log.exception("%s failed", what)


def _first_line(error: DBAPIError) -> str:
    lines = str(error.orig).strip().splitlines()
    return lines[0] if lines else type(error.orig).__name__


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
api = Api()
jwt = JWTManager()
limiter = Limiter(key_func=get_remote_address)


def reads_only(view):
    """For a view that only reads (the phone's hottest GETs): on PostgreSQL its statements, the
    authentication's included, run in autocommit, each its own transaction, so the request sends no
    BEGIN and no ROLLBACK: two round trips of a two-query read. Under READ COMMITTED a transaction
    gives every statement a fresh snapshot anyway, so what the statements see does not change.
    A view that writes must not carry it: its writes would commit one by one. The pool puts the
    connection back out of autocommit when it returns (SQLAlchemy resets the isolation level).
    Place it above @auth_required, before anything reads. SQLite keeps its deferred BEGIN (local, cheap).

    On PostgreSQL the reads (`read_rows`) go to a connection of the view's own, taken from the engine
    and given back when the view returns: the ORM Session, its transaction object and its teardown
    (expunge, rollback, close) were a sixth of a time-book read's Python for a session that held
    nothing. ORM reads a service falls back to (a cold cache) use the Session as everywhere else, on
    a connection of its own."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        g.user_snapshot = True  # the principal's loader reads a snapshot of the account, not a mapped row
        if db.engine.dialect.name != "postgresql":
            return view(*args, **kwargs)
        connection = g.read_connection = _autocommit_connection()
        try:
            return view(*args, **kwargs)  # (its answer is dumped inside: nothing reads after this)
        finally:
            g.pop("read_connection", None)
            _give_back(connection)

    return wrapper


def reads_first(view):
    """For a command most of whose callers are refused from what it reads first (a storm's losers: a
    full pool, a reward out of stock): on PostgreSQL its reads up to `writes_begin()`, the
    authentication's and the service's first look, run in autocommit on a connection of the view's
    own, as in `reads_only`; a refusal made from them sends no BEGIN and no ROLLBACK (a loser's grab:
    4 statements → 2). The service calls `writes_begin()` before its first write or locking read:
    the connection goes back and the rest runs in the session's transaction as everywhere else, which
    decides (a conditional UPDATE, a lock); under READ COMMITTED each of those statements reads a
    fresh snapshot anyway. The caller is read as a snapshot (`user_snapshot`): the view must not change
    the caller's account. With an Idempotency-Key the view looks before it claims the key: the claim
    is made at `writes_begin()` and a refusal from the look reads the key instead
    (`idempotency._run_looking_first`; a loser's keyed redemption: 7 statements → 3, no write). On
    SQLite it changes nothing but this: a keyed request's first reads go to the key's connection past
    the Session (`lend_first_reads`), so a refusal opens no savepoint. Place it above @auth_required."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        g.user_snapshot = True
        g.reads_first = True  # (on SQLite idempotency._run lends the key's connection to the first reads)
        if db.engine.dialect.name == "postgresql" and g.get("read_connection") is None:
            g.read_connection = g.first_reads = _autocommit_connection()
            g.first_reads_owned = True
        try:
            return view(*args, **kwargs)
        finally:
            g.pop("before_writes", None)  # (the view is done: no claim is made on the way out)
            _first_reads_done()

    wrapper.reads_first = True  # (idempotency.keyed_snapshot: a keyed request looks before it claims)
    return wrapper


WRITES_ALONE = True  # False: `writes_alone` changes nothing (bench.ablate's `alone` mode, a before)


def writes_alone(view):
    """For a command whose common case writes with one statement that is whole by itself (a resident's
    new order: the order, its change-log line, its timeline event and its managers' notice in one
    INSERT, orders.states.create): on PostgreSQL, a request without an Idempotency-Key reads (the
    authentication's read included) and sends that statement in autocommit, on a connection of the
    view's own as in `reads_only`. The statement commits by itself, all of it or nothing (a statement is
    atomic, data-modifying CTEs included), so the request sends no BEGIN and no COMMIT: 4 statements →
    2. The service takes the connection with `alone_connection()`, which hands it out only while
    nothing has gone through the session; when something has (a proxy's new resident, a read the
    ORM made), the write goes to the session's transaction as everywhere else and the service's commit
    ends it. With an Idempotency-Key the claim, the write and the stored answer share one transaction
    (idempotency.keyed_snapshot lends its connection first): nothing changes. The caller is read as a
    snapshot (`user_snapshot`): the view must not change the caller's account. Place it above
    @auth_required (below keyed_snapshot). SQLite keeps its transaction."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        g.user_snapshot = True
        if not WRITES_ALONE or db.engine.dialect.name != "postgresql" or g.get("read_connection") is not None:
            return view(*args, **kwargs)
        if request.headers.get("Idempotency-Key") is not None:
            return view(*args, **kwargs)
        connection = g.read_connection = g.alone = _autocommit_connection()
        try:
            return view(*args, **kwargs)
        finally:
            g.pop("read_connection", None)
            g.pop("alone", None)
            _give_back(connection)

    return wrapper


def writing_alone() -> bool:
    """Whether this request writes alone (`writes_alone`: PostgreSQL, no Idempotency-Key): its one
    statement commits by itself. A view may defer its caller's check to that statement
    (`auth_required(defer=writing_alone)`)."""
    return g.get("alone") is not None


def alone_connection():
    """(connection, alone) for a statement that is whole by itself: under `writes_alone`, while
    nothing has gone through the session, the view's autocommit connection and True (the statement
    commits as it ends: nothing else may be written with it); otherwise the session's connection and
    False (the caller's commit ends it)."""
    connection = g.get("alone")
    if connection is not None and not session_used():
        return connection, True
    return db.session.connection(), False


def session_used() -> bool:
    """Whether anything has gone through the request's session: a transaction begun or a change
    pending. A command whose one statement committed by itself (`writes_alone`) has nothing to commit:
    its commit would begin and end an empty transaction of the session's, for nothing."""
    if not db.session.registry.has():  # (no Session made yet: nothing went through it, and none is
        return False  # made just to ask; the teardown then has none to close either)
    session = db.session()  # (the request's Session itself: the scoped proxy lacks in_transaction)
    return session.in_transaction() or bool(session.new or session.dirty or session.deleted)


def lend_first_reads(connection) -> None:
    """Under `reads_first`, the view's first reads (until `writes_begin`) go to `connection`, which its
    owner ends (the Idempotency-Key's transaction): past the Session, so no savepoint is opened for
    them. Anywhere else it does nothing."""
    if g.get("reads_first"):
        g.read_connection = g.first_reads = connection
        g.first_reads_owned = False


def writes_begin() -> None:
    """Under `reads_first`: the first reads are done, what follows reads and writes in the session's
    transaction (the reads' own connection goes back; a lent one stays with its owner). Anywhere else
    it does nothing. A caller still deferred (auth.tokens.DeferredPrincipal: auth_required's `defer`,
    not confirmed by the service's first look) is read first: nothing is written, and no key claimed,
    for a revoked session or a caller without the view's roles."""
    principal = g.get("principal")
    if principal is not None and not getattr(principal, "settled", True):
        principal.load()
    _first_reads_done()


def _first_reads_done() -> None:
    connection = g.pop("first_reads", None)
    if connection is not None:
        if g.get("read_connection") is connection:
            g.pop("read_connection")
        if g.pop("first_reads_owned", False):
            _give_back(connection)
    before_writes = g.pop("before_writes", None)
    if before_writes is not None:
        before_writes()  # (an Idempotency-Key's claim: idempotency._run_looking_first)


def _autocommit_connection():
    """A connection of the view's own in autocommit (PostgreSQL): each statement its own transaction.
    In a process that keeps one (`keep_read_connection`), the one it kept."""
    engine = db.engine
    if not current_app.extensions.get(_KEEP):
        return engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    kept = getattr(_kept, "connection", None)
    if kept is not None:
        connection, owner, last_used = kept
        if owner is engine and _usable(connection, last_used):
            return connection
        _kept.connection = None
        _drop(connection)
    connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    _kept.connection = (connection, engine, time.monotonic())
    return connection


_KEEP = "volunteer_keep_read_connection"
_kept = threading.local()  # (connection, its engine, when it was last given back) of this thread


def keep_read_connection(app) -> None:
    """From now on this process keeps its views' autocommit connection (`_autocommit_connection`)
    from one request to the next instead of taking it from the pool and putting it back each time: a
    gunicorn sync worker (config/gunicorn.py post_fork), which serves one request at a time on one
    thread for its whole life. Taking and giving back (the pool's checkout and checkin, the isolation
    level set and reset) was a tenth of a hot read's Python (bench/README.md "Hot paths, eleventh
    pass"). Each thread keeps its own. A kept connection idle longer than db.IDLE_PING_SECONDS is
    pinged before it serves again, as the pool pings its own (db.ping_when_idle); one that failed is
    dropped and the next request opens another. Elsewhere (the development server's threads, the
    tests) connections go back to the pool after each request."""
    app.extensions[_KEEP] = True


def release_kept_connection() -> None:
    """Put this thread's kept connection, if any, back in its pool (a test's end)."""
    kept = getattr(_kept, "connection", None)
    _kept.connection = None
    if kept is not None:
        if _usable(kept[0], time.monotonic()):
            _give_back(kept[0])
        else:
            _drop(kept[0])


def _usable(connection, last_used: float) -> bool:
    """Whether a kept connection may serve the next request: alive (pinged after an idle while) and
    outside any transaction."""
    if connection.closed or connection.invalidated:
        return False
    dbapi_connection = connection.connection.dbapi_connection
    if dbapi_connection is None or dbapi_connection.info.transaction_status != _IDLE:
        return False
    if time.monotonic() - last_used <= IDLE_PING_SECONDS:
        return True
    try:
        connection.dialect.do_ping(dbapi_connection)
    except Exception:  # dead (a restart, a proxy): the next request gets a new one, never this error
        return False
    return True


def _drop(connection) -> None:
    """A kept connection that may not serve again: closed for good, never put back in the pool."""
    try:
        if not connection.closed and not connection.invalidated:
            connection.invalidate()
        connection.close()
    except Exception:  # it is gone either way
        log.debug("dropping a kept connection failed", exc_info=True)


def _give_back(connection) -> None:
    """Close a view's own connection; one that died meanwhile is logged and replaced, never an error
    for the answer already made (as the Session's cleanup, SQLAlchemy._teardown_session). A kept one
    (`keep_read_connection`) stays, unless it died or is left in a transaction."""
    kept = getattr(_kept, "connection", None)
    if kept is not None and kept[0] is connection:
        now = time.monotonic()
        if _usable(connection, now):  # (used just now: alive unless it says otherwise; no ping)
            _kept.connection = (connection, kept[1], now)
        else:
            _kept.connection = None
            _drop(connection)
        return
    try:
        connection.close()
    except DBAPIError as error:
        _cleanup_failed(error, "the end of a read", "closing a read's connection")
        if not connection.closed:  # (a disconnect has already invalidated it: SQLAlchemy does)
            connection.invalidate()  # the pool drops it and opens a new one when asked
            connection.close()


def user_snapshot(view):
    """For a view that never changes the caller's account: the principal's user is a plain row
    (accounts.principal.UserSnapshot) read past the ORM, as in a `reads_only` view, but the request's
    transaction is the usual one. Place it above @auth_required."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        g.user_snapshot = True
        return view(*args, **kwargs)

    return wrapper


def looking_first() -> bool:
    """Whether this request's first reads run on a connection of its own (`reads_first` on PostgreSQL):
    its service's first look is one statement, which may check the caller itself
    (`auth_required(defer=looking_first)`, `first_look`)."""
    return bool(g.get("first_reads_owned"))


@dataclass(frozen=True)
class LookRider:
    """What rides on a `reads_first` service's first look (`first_look`), so that a refused request
    (a storm's loser) sends that one statement: `build` adds its columns (and an outer join) to the
    look's select (a module-level function: the composed statement is built once per process and
    look), `params` binds them, and `take` gets the look's row (None when the look found none).
    The layers above make them: the deferred caller's check (accounts.principal.caller_rider), the
    Idempotency-Key's record (idempotency.key_rider)."""

    build: Callable
    params: dict
    take: Callable


def first_look(stmt, params: dict, *riders: LookRider | None):
    """The first row of the look `stmt` (`read_rows`), with the `riders` given (None ones skipped)
    riding on it in one statement; each rider is handed the row."""
    riding = [rider for rider in riders if rider is not None]
    if riding:
        stmt = _composed(stmt, tuple(rider.build for rider in riding))
        params = {**params}
        for rider in riding:
            params.update(rider.params)
    row = read_rows(stmt, params).first()
    for rider in riding:
        rider.take(row)
    return row


@cache
def _composed(stmt, builds: tuple):
    for build in builds:
        stmt = build(stmt)
    return stmt


def read_rows(stmt, params: dict | None = None):
    """Run a Core select on the session's connection, past the ORM's execution path, which costs about
    as much Python again as the statement itself (a prebuilt select: 0.13 against 0.26 ms). Pending
    ORM changes are flushed first, so the read sees them as session.execute's autoflush would. In a
    `reads_only` view on PostgreSQL, on the view's own autocommit connection (nothing to flush).
    A statement run again and again (built once per process) is sent past SQLAlchemy's execution
    path too (volunteer_app.readplan). The rows come as a list with `all`, `first` and `scalar`."""
    connection = g.get("read_connection")
    if connection is not None:
        return readplan.read(connection, stmt, params or {})
    session = db.session
    if session.new or session.dirty or session.deleted:
        session.flush()
    return readplan.read(session.connection(), stmt, params or {})
