"""Logs: one pipeline for every logger of the process, one line per request, and nothing secret in them.

Every logger — the app's own `logging.getLogger(__name__)`, Flask's, alembic's, APScheduler's,
gunicorn's error log — writes through one stdlib handler whose formatter is structlog's
ProcessorFormatter: JSON lines in production, readable `key=value` text in development (colours only
on a terminal). Each line gets the time (ISO 8601, UTC), its level, its logger, the process id and
whatever is bound in the context: the request's id while a request runs, the work item's id in the
worker, the job and its run in the scheduler (`bound_contextvars`). A redaction step over every line
is the safety net for what a log call should never have written (tokens, passwords, codes, ID
numbers, coordinates, full phone numbers).

The request line: each request writes one line, `event="request"`, with its method, route template
(`/api/v1/orders/<int:order_id>`, never the path with its ids or the query string), status, duration,
the caller's user id when a token named one, and the background work it queued (`work_queued`). The
probes (/healthz, /readyz) write theirs at DEBUG.

The request id: `X-Request-ID` from the client's request when a trusted proxy sits in front
(`[app] proxy_hops` > 0; only then can the header be the proxy's, not the client's) and it is short
and plain; a new one otherwise. Every response carries it back in `X-Request-ID`."""

from __future__ import annotations

import contextvars
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, get_contextvars

from volunteer_app.jsonprovider import dumps_line

__all__ = ["bound_contextvars", "configure", "first_line", "init_app", "is_idle", "request_id"]

HEADER = "X-Request-ID"
# An incoming id is kept only if it looks like an id (a proxy's UUID, nginx's $request_id, …): short
# and of these characters; anything else (long, spaces, quotes, newlines) is replaced.
_GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_ENVIRON_ID = "volunteer_app.request_id"
_ENVIRON_LINE = "volunteer_app.request_line"
_ENVIRON_QUEUED = "volunteer_app.work_queued"
# Routes whose successful requests log at DEBUG: a load balancer asks them every few seconds.
PROBES = frozenset({"/healthz", "/readyz"})
_MARK = "_volunteer_app_logs"  # our handler on the root logger (replaced, never stacked)

request_log = logging.getLogger("volunteer_app.request")


# ---- the request id ----------------------------------------------------------------------------------


def request_id() -> str | None:
    """The id of the request (or nothing) this code runs for."""
    return get_contextvars().get("request_id")


def new_id() -> str:
    return uuid.uuid4().hex


def incoming_id(value: str | None, trusted: bool) -> str:
    """The request's id: the proxy's X-Request-ID when trusted and well-formed, else a new one."""
    if trusted and value and _GOOD_ID.fullmatch(value):
        return value
    return new_id()


class _RequestScope:
    """WSGI middleware around the Flask app: each request runs in a context of its own (what it binds
    for its log lines ends with it, teardown included), gets its id, answers it in X-Request-ID on every
    response (errors and 304s too), and writes its one line when it is done."""

    def __init__(self, wsgi_app, trusted: bool):
        self.wsgi_app = wsgi_app
        self.trusted = trusted

    def __call__(self, wsgi_env, start_response):
        return contextvars.copy_context().run(self._serve, wsgi_env, start_response)

    def _serve(self, wsgi_env, start_response):
        started = time.perf_counter()
        rid = incoming_id(wsgi_env.get("HTTP_X_REQUEST_ID"), self.trusted)
        wsgi_env[_ENVIRON_ID] = rid
        bind_contextvars(request_id=rid)
        status: list[str] = []

        def start(status_line, headers, exc_info=None):
            status[:] = [status_line]
            headers = [(k, v) for k, v in headers if k.lower() != "x-request-id"]
            headers.append((HEADER, rid))
            return start_response(status_line, headers, exc_info)

        try:
            return self.wsgi_app(wsgi_env, start)
        finally:
            _request_line(wsgi_env, status[0] if status else "500", started)


def _request_line(wsgi_env, status_line: str, started: float) -> None:
    status = int(status_line.split(" ", 1)[0])
    noted = wsgi_env.get(_ENVIRON_LINE) or {}
    route = noted.get("route")
    if status >= 500:
        level = logging.WARNING
    elif route in PROBES:
        level = logging.DEBUG
    else:
        level = logging.INFO
    queued = wsgi_env.get(_ENVIRON_QUEUED)
    if not request_log.isEnabledFor(level):
        for work in queued or ():  # (no request line to name them in: each its own line, as outside)
            queued_line(work["work_id"], work["work_kind"])
        return
    extra = {
        "method": wsgi_env.get("REQUEST_METHOD"),
        "route": route,
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        "user_id": noted.get("user_id"),
    }
    if queued:
        extra["work_queued"] = queued
    request_log.log(level, "request", extra=extra)


def work_queued(item_id: int, kind: str) -> None:
    """Background work was queued (worker.queue). In a request, its request line names it
    (`work_queued`: its `work_id` and `work_kind`, the fields of the worker's lines for it), which is
    how an operator follows a request into the worker: one line a request, not one more for each item
    (the "work N queued" line was about a twentieth of a new order's CPU). Elsewhere (the worker, the
    scheduler, a command) it gets its own line, with whatever context is bound."""
    from flask import has_request_context, request

    if has_request_context() and _ENVIRON_ID in request.environ:  # (served through _RequestScope)
        request.environ.setdefault(_ENVIRON_QUEUED, []).append({"work_id": item_id, "work_kind": kind})
    else:
        queued_line(item_id, kind)


def queued_line(item_id: int, kind: str) -> None:
    logging.getLogger("volunteer_app.worker.queue").info("work %s (%s) queued", item_id, kind)


def _note_request(_exc=None) -> None:
    """At teardown, while Flask still knows them: the route template, and the user the token named
    (the principal auth's token check already loaded into `g`; no token is decoded again here)."""
    from flask import g, request

    rule = request.url_rule
    principal = g.get("principal")
    request.environ[_ENVIRON_LINE] = {
        "route": rule.rule if rule is not None else None,
        "user_id": getattr(principal, "user_id", None),
    }


def init_app(app) -> None:
    """Set up the process's logging from the app's [logging] settings and wrap the app so that every
    request gets its id, its context and its line."""
    configure(app.config["LOGGING"])
    hops = int(app.config["APP"].get("proxy_hops", 0) or 0)
    app.wsgi_app = _RequestScope(app.wsgi_app, trusted=hops > 0)
    app.teardown_request(_note_request)


# ---- idle runs ---------------------------------------------------------------------------------------


def is_idle(result: Any) -> bool:
    """Whether a job's result says it did nothing (None, zeros, empties): such a run logs at DEBUG."""
    if isinstance(result, Mapping):
        return all(is_idle(v) for v in result.values())
    if isinstance(result, list | tuple):
        return all(is_idle(v) for v in result)
    return result is None or result is False or result == 0 or result == ""


def first_line(exc: BaseException) -> str:
    """An exception's text up to its first line break (a database error's runs on with the statement)."""
    lines = str(exc).splitlines()
    return lines[0] if lines else ""


# ---- redaction ---------------------------------------------------------------------------------------

REDACTED = "[redacted]"
# Keys whose values are never written (any level, any logger): secrets, codes, identity numbers and
# places. Phone numbers under any key are masked by the text patterns below.
_SECRET_KEY = re.compile(
    r"pass(word|wd)?|secret|token|authori[sz]ation|cookie|csrf|signature|api_?key|session_key|"
    r"(^|_)code$|id_?(number|card)|openid|unionid|^(lat|lng|lon|latitude|longitude|location|coords?)$",
    re.IGNORECASE,
)
# In text (messages, exception texts, any string value):
_TEXT = re.compile(
    # a terminal's colour codes (werkzeug colours some of its lines): dropped, lines go to files too
    r"(?P<ansi>\x1b\[[0-9;]*m)"
    # a JWT (access and refresh tokens, the console's cookie)
    r"|(?P<jwt>eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*)"
    # an Authorization header's credentials
    r"|(?P<auth>\b(?:[Bb]earer|[Bb]asic)\s+)[A-Za-z0-9._~+/=-]{6,}"
    # name=value and "name": value of secret names (a query string, a dict's repr, a form)
    r"|(?P<kv>\b(?:password|passwd|secret|\w*token|code|js_code|phone_code|sms_code|id_number|lat|lng|"
    r"latitude|longitude|openid)[\"']?\s*[:=]\s*[\"']?)[^\s,;&\"'}\]]+"
    # any other query string's values: URLs in messages carry tokens, codes and places
    r"|(?P<query>[?&][A-Za-z_][A-Za-z0-9_.\[\]-]*=)[^&#\s\"'<>]+"
    # a resident identity card number (GB 11643: 18 characters, the last a digit or X)
    r"|(?P<idn>(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}"
    r"[0-9Xx](?![0-9A-Za-z]))"
    # a mainland mobile number, with or without +86 (masked as 139****1234)
    r"|(?P<phone>(?<![0-9A-Za-z+])(?:\+?86)?1[3-9]\d{9}(?![0-9A-Za-z]))"
    # an international E.164 number
    r"|(?P<e164>(?<![0-9A-Za-z+])\+[1-9]\d{7,14}(?![0-9A-Za-z]))"
    # a coordinate: a decimal with four or more places (not a time's fraction of a second)
    r"|(?P<coord>(?<![0-9A-Za-z.:])-?\d{1,3}\.\d{4,}(?![0-9A-Za-z]))"
)


def mask_phone(phone: str) -> str:
    """13912345678 -> 139****5678; +8613912345678 -> +86139****5678."""
    return phone[:-8] + "****" + phone[-4:]


def _replace(match: re.Match) -> str:
    kind = match.lastgroup
    if kind in ("auth", "kv", "query"):
        return match.group(kind) + REDACTED
    if kind in ("phone", "e164"):
        return mask_phone(match.group(kind))
    if kind == "idn":
        return "[id number]"
    if kind == "coord":
        return "[coordinate]"
    if kind == "ansi":
        return ""
    return "[token]"


def redact_text(text: str) -> str:
    clean = _CLEAN.get(text)
    if clean is not None:
        return clean
    redacted = _TEXT.sub(_replace, text)
    if redacted == text and len(text) <= 100:  # (only what had nothing to hide is remembered)
        _remember(_CLEAN, text, text)
    return redacted


# Short texts that redaction leaves as they are ("request", "GET", a route): every line carries a few,
# the same again and again, and the pattern above costs a microsecond or two on each. The check is a
# function of the text alone, so its answer is remembered; a text it changes is never kept.
_CLEAN: dict[str, str] = {}


def _secret_key(key: str) -> bool:
    """Whether values under `key` are never written (`_SECRET_KEY`), remembered per key."""
    secret = _SECRET_KEYS.get(key)
    if secret is None:
        secret = _SECRET_KEY.search(key) is not None
        _remember(_SECRET_KEYS, key, secret)
    return secret


_SECRET_KEYS: dict[str, bool] = {}


def _remember(memo: dict, key, value) -> None:
    """`value` kept for `key` in `memo`, which is emptied whenever it holds 4,096 (bounded memory)."""
    if len(memo) >= 4096:
        memo.clear()
    memo[key] = value


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: REDACTED if _secret_key(str(k)) else _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_redact(v) for v in value]
    return value


def redact(_logger, _name, event_dict: dict) -> dict:
    """structlog processor: every line, whatever wrote it."""
    for key, value in event_dict.items():
        if key in _PLAIN_KEYS:
            continue
        if _secret_key(key) and value is not None:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _redact(value)
    return event_dict


# Our own fields, which hold no personal data and must stay exact.
_PLAIN_KEYS = frozenset({"time", "level", "logger", "pid", "request_id", "route", "status", "duration_ms"})


# ---- the pipeline ------------------------------------------------------------------------------------


def _add_time(_logger, _name, event_dict: dict) -> dict:
    record = event_dict.get("_record")
    moment = datetime.fromtimestamp(record.created if record else time.time(), UTC)
    event_dict["time"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return event_dict


def _add_pid(_logger, _name, event_dict: dict) -> dict:
    event_dict["pid"] = os.getpid()
    return event_dict


_FIRST = ("time", "level", "logger", "event")


def _in_order(_logger, _name, event_dict: dict) -> dict:
    """time, level, logger, event, then the rest as bound (the request id first of them)."""
    ordered = {k: event_dict.pop(k) for k in _FIRST if k in event_dict}
    ordered.update(event_dict)
    return ordered


_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    _add_time,
    _add_pid,
]


def formatter(fmt: str, colors: bool = False) -> structlog.stdlib.ProcessorFormatter:
    """The one formatter: "json" (a JSON object per line) or "text" (readable key=value)."""
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors,
            exception_formatter=structlog.dev.plain_traceback,
            timestamp_key="time",
            sort_keys=False,
            pad_event_to=20,
        )
    return _Formatter(
        foreign_pre_chain=[*_SHARED, _add_extra],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,  # the traceback as text, which redaction then reads
            redact,
            _in_order,
            renderer,
        ],
        fast_json=fmt == "json",
    )


class _Formatter(structlog.stdlib.ProcessorFormatter):
    """structlog's ProcessorFormatter, with the JSON line of a plain standard-library record (no
    traceback, no stack: the request line, a "work queued" line) made in one step: the chain's own
    pre-chain and the processors that do something for such a record (`redact`, `_in_order`, the
    renderer's `dumps_line`), in the same order, without copying the record, dispatching the processors
    that have nothing to do (the meta, stack and traceback ones) and formatting the result once more
    (`logging.Formatter.format` of "%(message)s"). The request line is written on every
    request; through the chain it was about a tenth of a hot read's CPU in-process (bench.ablate's
    `log` mode). tests/ops/test_logs.py compares the two ways line by line."""

    def __init__(self, *args, fast_json: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fast_json = fast_json

    def format(self, record: logging.LogRecord) -> str:
        if not self.fast_json or record.exc_info or record.stack_info or hasattr(record, "_logger"):
            return super().format(record)  # (a traceback, a stack, or a structlog logger's event)
        # The pre-chain (_SHARED, _add_extra) as the chain calls it, on the record itself (not a copy);
        # its `_record` then removed, as remove_processors_meta does.
        line = {"event": record.getMessage(), "_record": record}
        for step in self.foreign_pre_chain:
            line = step(None, record.levelname.lower(), line)
        del line["_record"]
        return dumps_line(_in_order(None, None, redact(None, None, line)))


# What a LogRecord holds of its own (and what formatting adds to it); anything else came in `extra=`.
_RECORD_KEYS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _add_extra(_logger, _name, event_dict: dict) -> dict:
    """The fields a stdlib call gave in `extra={…}` (the request line's), as fields of the line."""
    record = event_dict.get("_record")
    if record is not None:
        for key, value in record.__dict__.items():
            if key not in _RECORD_KEYS and not key.startswith("_"):
                event_dict.setdefault(key, value)
    return event_dict


def _dumps(obj: Any, **_kwargs) -> str:
    return dumps_line(obj)  # its own fallback for what JSON cannot hold: str


class _Handler(logging.StreamHandler):
    """A stream handler writing to its stream, or to sys.stderr as it is when a line is written (test
    runners and servers swap sys.stderr after start-up)."""

    def __init__(self, stream=None):
        self._fixed = stream
        super().__init__(stream)
        setattr(self, _MARK, True)

    @property
    def stream(self):
        return self._fixed if self._fixed is not None else sys.stderr

    @stream.setter
    def stream(self, value):
        self._fixed = value if value is not sys.stderr else self._fixed


class _NoServerRequestLines(logging.Filter):
    """werkzeug's development server writes its own line per request, with the whole query string
    (coordinates, tokens) and ANSI colours even into files; the app's own request line replaces it.
    Its start-up lines (" * Running on …") and errors stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or " - - [" not in str(record.msg)


def handler(settings: Mapping[str, Any], stream=None) -> logging.Handler:
    """A handler formatting as `settings["format"]` says, writing to `stream` (default: stderr)."""
    out = _Handler(stream)
    isatty = getattr(stream if stream is not None else sys.stderr, "isatty", None)
    out.setFormatter(formatter(settings["format"], colors=bool(isatty and isatty())))
    return out


def configure(settings: Mapping[str, Any], stream=None) -> logging.Handler:
    """Route every logger of the process through one handler of ours on the root logger (replacing
    the one an earlier call or gunicorn's logconfig_dict installed; other handlers are left alone),
    at the configured levels. Returns the handler."""
    _configure_structlog()
    if settings["format"] == "json":
        # No line shows where in the source it was logged from, or the thread's and process's names
        # (the pid is its own field): the standard library's optional per-record work, off (the
        # logging HOWTO's "Optimization"). Not for text, whose records test runners also show.
        logging._srcfile = None
        logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(old)
    new = handler(settings, stream)
    root.addHandler(new)
    root.setLevel(settings["level"])
    for name, level in (settings.get("levels") or {}).items():
        logging.getLogger(name).setLevel(level)
    server = logging.getLogger("werkzeug")
    if not any(isinstance(f, _NoServerRequestLines) for f in server.filters):
        server.addFilter(_NoServerRequestLines())
    return new


def configured() -> bool:
    """Whether configure() has set up this process's logging (alembic's env.py then keeps it)."""
    return any(getattr(h, _MARK, False) for h in logging.getLogger().handlers)


_structlog_done = False


def _configure_structlog() -> None:
    """structlog's own loggers (structlog.get_logger()) go through the same handler."""
    global _structlog_done
    if _structlog_done:
        return
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_SHARED,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    _structlog_done = True


# ---- gunicorn ----------------------------------------------------------------------------------------


def gunicorn_handler() -> logging.Handler:
    """dictConfig's factory for gunicorn's master, which sets up logging before it loads the app."""
    from volunteer_app.settings import logging_settings

    _configure_structlog()
    return handler(logging_settings())


def gunicorn_logconfig() -> dict:
    """gunicorn's logconfig_dict: its error log through our handler; its access log off (the app
    writes its own request line, with the request id, route template and user)."""
    from volunteer_app.settings import logging_settings

    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": logging_settings()["level"], "handlers": ["app"]},
        "loggers": {
            "gunicorn.error": {"handlers": [], "propagate": True},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
        "handlers": {"app": {"()": "volunteer_app.logs.gunicorn_handler"}},
        "formatters": {},
    }
