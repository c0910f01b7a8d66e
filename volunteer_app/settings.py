"""Configuration: the shipped defaults (volunteer_app/config/default.toml), the operator's overlay file
named in VOLUNTEER_CONFIG, then the environment."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from volunteer_app.jsonprovider import loads

CONFIG_DIR = Path(__file__).resolve().parent / "config"
DEV_SECRET = "dev-only-secret-do-not-use-in-production-0123456789"
DEV_PII_KEY = "dev-only-pii-key-do-not-use-in-production-0123456789"
DEV_PUBLIC_BASE_URL = "http://127.0.0.1:5000"


API_DESCRIPTION = """Volunteer service and time-bank API for phone clients.

* **Auth**: `Authorization: Bearer <access_token>` (15 min); renew with `POST /api/v1/auth/refresh` using
  the refresh token as the bearer (each refresh token works once; reusing one logs that device out).
* **Errors** always look like
  `{"code": 409, "status": "Conflict", "error": "application.not_pending", "message": "…", "errors": {…}}`.
  Branch on `error`; show `message` (language from `Accept-Language`: zh-CN default, `en`);
  `errors` names the location and field, e.g. `{"json": {"id_number": ["invalid"]}}`.
  Out of reach is 404, exactly like "does not exist".
* **Lists**: every one is `?limit=20&cursor=…` → `{"items": [...], "next_cursor": "…" | null}`; limit ≤ 100;
  follow `next_cursor` until null; a cursor the server did not write is 400 `pagination.bad_cursor`.
* **DELETE** answers 204 with no body.
* **Retries**: creating POSTs accept `Idempotency-Key`; the same key and body replays the first response.
* **Coordinates**: every `lat`/`lng` sent (orders, activities, service-day rules, sites, check-in and
  check-out, the task feed's query, registration's nearest station) may say its system in `coord_system`:
  `wgs84` (GPS; the default when absent), `gcj02` (AMap, Tencent Maps, WeChat `wx.getLocation` with
  `type: 'gcj02'`) or `bd09` (Baidu). The server converts to WGS-84 and stores only that; every
  coordinate returned is WGS-84 (a GCJ-02 map must convert before drawing; outside mainland China the
  two are the same).
* **Times**: RFC 3339 with offset. A service window is `start_at`/`end_at` (orders and activities alike);
  when something happened is `created_at`.
"""


class ConfigError(RuntimeError):
    """The configuration cannot be used (for example development secrets in production)."""


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _coerce(raw: str, like: Any) -> Any:
    """Turn an environment string into the type of the default it overrides."""
    if isinstance(like, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        return int(raw)
    return raw


def _load_files(environ: dict[str, str]) -> dict[str, Any]:
    with open(CONFIG_DIR / "default.toml", "rb") as fh:
        data = tomllib.load(fh)
    overlay = environ.get("VOLUNTEER_CONFIG")
    if overlay:
        with open(overlay, "rb") as fh:
            data = _deep_merge(data, tomllib.load(fh))
    return data


def _database_url(environ: dict[str, str], instance_dir: Path) -> str:
    url = environ.get("DATABASE_URL")
    if not url:
        instance_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{instance_dir / 'volunteer.db'}"
    # Accept the plain scheme that hosting platforms hand out; we speak psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _public_base_url(raw: str) -> str:
    """The configured public base URL without a trailing slash: absolute http(s), with a host, and no
    query or fragment (public links are this plus a path)."""
    url = raw.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            "public_base_url must be an absolute http(s) URL such as https://volunteer.example.cn, "
            f"not {raw!r}"
        )
    return url


def build_config(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> dict:
    """Return the Flask config mapping for one app instance."""
    environ = dict(os.environ if environ is None else environ)
    data = _load_files(environ)
    app_cfg = _app_settings(data["app"], environ)
    scheduler_cfg = _scheduler_settings(data.get("scheduler", {}), environ)
    worker_cfg = _worker_settings(data.get("worker", {}), environ)
    instance_dir = Path(environ.get("VOLUNTEER_INSTANCE_DIR", Path.cwd() / "instance"))
    secret = environ.get("VOLUNTEER_SECRET_KEY", DEV_SECRET)
    config: dict[str, Any] = {
        "ENV_NAME": app_cfg["env"],
        "SECRET_KEY": secret,
        "JWT_SECRET_KEY": secret,
        "JWT_ALGORITHM": "HS256",
        "JWT_DECODE_ALGORITHMS": ["HS256"],
        # Phones send a bearer header; the console's pages and their calls to the API carry the
        # console's access token in an HttpOnly cookie, its CSRF value in a header on every change.
        "JWT_TOKEN_LOCATION": ["headers", "cookies"],
        "JWT_ACCESS_COOKIE_NAME": "volunteer_console",
        "JWT_ACCESS_COOKIE_PATH": "/",
        "JWT_COOKIE_SECURE": app_cfg["env"] != "development",
        "JWT_COOKIE_SAMESITE": "Lax",
        "JWT_SESSION_COOKIE": True,
        "JWT_COOKIE_CSRF_PROTECT": True,
        "JWT_CSRF_IN_COOKIES": False,  # the page carries it (a <meta>), not a readable cookie
        "JWT_CSRF_CHECK_FORM": False,
        "JWT_ACCESS_CSRF_HEADER_NAME": "X-CSRF-Token",
        "PII_KEY": environ.get("VOLUNTEER_PII_KEY", DEV_PII_KEY),
        "INSTANCE_DIR": str(instance_dir),
        "SQLALCHEMY_DATABASE_URI": _database_url(environ, instance_dir),
        # hide_parameters: a database error's text (logged with its traceback) names the statement but
        # not its values, which may be phone numbers, coordinates or tokens' hashes.
        # No pool_pre_ping: create_app pings only connections idle for a while (db.ping_when_idle).
        # json_deserializer: JSON columns read with orjson (jsonprovider.loads), a tenth of the
        # standard library's time; a feed page reads 40 lists.
        "SQLALCHEMY_ENGINE_OPTIONS": {"hide_parameters": True, "json_deserializer": loads},
        "REDIS_URL": environ.get("REDIS_URL"),
        "MAX_CONTENT_LENGTH": app_cfg["max_content_length"],
        "APP": app_cfg,
        "SITE_DEFAULTS": data["site_defaults"],
        "SCHEDULER": scheduler_cfg,
        "WORKER": worker_cfg,
        "LOGGING": _logging_settings(data.get("logging", {}), environ, app_cfg["env"]),
        "CHECKIN_CODE": _checkin_code_settings(data.get("checkin_code", {})),
        "RETENTION": _retention_settings(data.get("retention", {})),
        # Outside providers' clients (volunteer_app/providers/): their sections, secrets from the environment.
        "TENCENT_SMS": _provider_settings(
            data.get("tencent_sms", {}),
            environ,
            secret_id="TENCENTCLOUD_SECRET_ID",
            secret_key="TENCENTCLOUD_SECRET_KEY",
        ),
        "JPUSH": _provider_settings(
            data.get("jpush", {}), environ, app_key="JPUSH_APP_KEY", master_secret="JPUSH_MASTER_SECRET"
        ),
        "NOTIFICATIONS": _notification_settings(data.get("notifications", {})),
        "WECHAT": _wechat_settings(data.get("wechat", {}), environ),
        "OPS": _ops_settings(data.get("ops", {}), environ),
        **_openapi_settings(),
        "JSON_SORT_KEYS": False,
        **_rate_limit_settings(environ),
    }
    if overrides:
        config.update(overrides)
    check_production(config)
    return config


def _app_settings(app_cfg: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """The [app] table with its top-level scalars overridden by VOLUNTEER_<KEY>, checked."""
    for key, value in list(app_cfg.items()):
        env_value = environ.get(f"VOLUNTEER_{key.upper()}")
        if env_value is not None:
            app_cfg[key] = _coerce(env_value, value)

    app_cfg["public_base_url"] = _public_base_url(app_cfg.get("public_base_url", ""))
    if "login_limit" in app_cfg or "VOLUNTEER_LOGIN_LIMIT" in environ:
        raise ConfigError(
            "login_limit is now login_limit_per_phone (failed logins of one phone number) and "
            "login_limit_per_ip (every login attempt from one address): set those instead"
        )
    return app_cfg


def _scheduler_settings(table: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """The [scheduler] table with its mode overridden by VOLUNTEER_SCHEDULER_MODE (or SCHEDULER_MODE)."""
    scheduler_cfg = dict(table)
    mode = environ.get("VOLUNTEER_SCHEDULER_MODE") or environ.get("SCHEDULER_MODE")
    if mode:
        scheduler_cfg["mode"] = mode.strip().lower()
    if scheduler_cfg.get("mode", "off") not in ("off", "embedded"):
        raise ConfigError(f"scheduler mode must be 'off' or 'embedded', not {scheduler_cfg['mode']!r}")
    return scheduler_cfg


LOG_FORMATS = ("auto", "json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _logging_settings(table: dict[str, Any], environ: dict[str, str], env: str) -> dict[str, Any]:
    """The [logging] table (volunteer_app/logs.py), checked, its format and level overridden by
    VOLUNTEER_LOG_FORMAT and VOLUNTEER_LOG_LEVEL; "auto" resolved: JSON in production, text otherwise."""
    cfg = dict(table)
    fmt = (environ.get("VOLUNTEER_LOG_FORMAT") or str(cfg.get("format", "auto"))).strip().lower()
    level = (environ.get("VOLUNTEER_LOG_LEVEL") or str(cfg.get("level", "INFO"))).strip().upper()
    if fmt not in LOG_FORMATS:
        raise ConfigError(f"[logging] format must be one of {', '.join(LOG_FORMATS)}, not {fmt!r}")
    levels = {name: str(value).strip().upper() for name, value in (cfg.get("levels") or {}).items()}
    for name, value in {"level": level, **levels}.items():
        if value not in LOG_LEVELS:
            raise ConfigError(f"[logging] {name} must be one of {', '.join(LOG_LEVELS)}, not {value!r}")
    if fmt == "auto":
        fmt = "json" if env == "production" else "text"
    return {"format": fmt, "level": level, "levels": levels}


def logging_settings(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The [logging] settings alone, before any app exists (gunicorn's master sets up its logging first)."""
    environ = dict(os.environ if environ is None else environ)
    data = _load_files(environ)
    env = environ.get("VOLUNTEER_ENV") or data["app"].get("env", "development")
    return _logging_settings(data.get("logging", {}), environ, env)


def _checkin_code_settings(table: dict[str, Any]) -> dict[str, int]:
    """The [checkin_code] table, checked: a code must live at least as long as it is shown."""
    cfg = {"rotate_seconds": 30, "valid_seconds": 90, **table}
    if not 5 <= cfg["rotate_seconds"] <= cfg["valid_seconds"] <= 3600:
        raise ConfigError("[checkin_code] needs 5 <= rotate_seconds <= valid_seconds <= 3600")
    return cfg


RETENTION_KEYS = ("notifications_days", "id_number_access_log_days", "sign_ins_days")


def _retention_settings(table: dict[str, Any]) -> dict[str, int]:
    """The [retention] table: whole numbers of days, at least one each."""
    out = {}
    for key in RETENTION_KEYS:
        value = table.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"[retention] {key} must be a whole number of days, at least 1 (got {value!r})")
        out[key] = value
    unknown = set(table) - set(RETENTION_KEYS)
    if unknown:
        raise ConfigError(f"[retention] has unknown keys: {', '.join(sorted(unknown))}")
    return out


def _worker_settings(table: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """The [worker] table with its mode overridden by VOLUNTEER_WORKER_MODE."""
    worker_cfg = dict(table)
    mode = environ.get("VOLUNTEER_WORKER_MODE")
    if mode:
        worker_cfg["mode"] = mode.strip().lower()
    if worker_cfg.get("mode", "off") not in ("off", "embedded"):
        raise ConfigError(f"worker mode must be 'off' or 'embedded', not {worker_cfg['mode']!r}")
    return worker_cfg


def _provider_settings(table: dict[str, Any], environ: dict[str, str], **secrets: str) -> dict[str, Any]:
    """A provider's section with its secrets taken from the environment only (a secret written in a
    configuration file is ignored: files get copied, committed and backed up)."""
    section = dict(table)
    for key, variable in secrets.items():
        section[key] = environ.get(variable, "")
    return section


# The delivery channels (volunteer_app/notifications/channels.py CHANNEL_NAMES; a test keeps them equal:
# settings is core and imports no domain).
NOTIFICATION_CHANNELS = ("push", "sms", "wechat", "console")
# The senders' built-in names (notifications/senders.py BUILTINS and PROVIDERS; a test keeps them equal).
NOTIFICATION_SENDERS = ("console", "memory", "jpush", "tencent_sms", "wechat")


def _dotted(name: str) -> bool:
    """ "package.module:Class": a sender named by its import path (checked for shape; imported when used)."""
    module, _, attr = name.partition(":")
    return bool(attr) and all(part.isidentifier() for part in [*module.split("."), attr])


def _clock(value: Any, key: str) -> str:
    """A local time "HH:MM" (00:00–23:59)."""
    text = str(value)
    hours, _, minutes = text.partition(":")
    digits = len(text) == 5 and hours.isdigit() and minutes.isdigit()
    if not (digits and int(hours) < 24 and int(minutes) < 60):
        raise ConfigError(f"[notifications] {key} must be a local time HH:MM, not {value!r}")
    return text


def _notification_settings(table: dict[str, Any]) -> dict[str, Any]:
    """The [notifications] table, checked: senders per known channel, routes of known channels (each
    entry "a" or alternatives "a|b"), a daily cap >= 0, the quiet window's times."""
    cfg = dict(table)
    senders = dict(cfg.get("senders") or {})
    for channel, name in senders.items():
        known = isinstance(name, str) and (name in NOTIFICATION_SENDERS or _dotted(name))
        if channel not in NOTIFICATION_CHANNELS or not known:
            raise ConfigError(
                f"[notifications] senders: {channel!r} = {name!r} is not a channel's sender (one of "
                f"{', '.join(NOTIFICATION_SENDERS)}, or package.module:Class)"
            )
    routes: dict[str, list[tuple[str, ...]]] = {}
    for kind, entries in (cfg.get("routes") or {}).items():
        if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
            raise ConfigError(f"[notifications.routes] {kind} must be a list of channels")
        routes[kind] = [tuple(part.strip() for part in entry.split("|")) for entry in entries]
        unknown = {c for entry in routes[kind] for c in entry} - set(NOTIFICATION_CHANNELS)
        if unknown:
            raise ConfigError(f"[notifications.routes] {kind}: unknown channels {sorted(unknown)}")
    routes.setdefault("default", [("console",)])
    cap = cfg.get("daily_cap", 0)
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0:
        raise ConfigError(f"[notifications] daily_cap must be a whole number >= 0, not {cap!r}")
    return {
        "senders": senders,
        "routes": routes,
        "daily_cap": cap,
        "quiet_start": _clock(cfg.get("quiet_start", "22:00"), "quiet_start"),
        "quiet_end": _clock(cfg.get("quiet_end", "07:00"), "quiet_end"),
    }


def _wechat_settings(table: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """The [wechat] table; the mini-program's app secret only from WECHAT_APP_SECRET, the appid also from
    VOLUNTEER_WECHAT_APPID."""
    wechat_cfg = dict(table)
    wechat_cfg["appid"] = environ.get("VOLUNTEER_WECHAT_APPID", wechat_cfg.get("appid", ""))
    wechat_cfg["secret"] = environ.get("WECHAT_APP_SECRET", "")
    wechat_cfg["templates"] = dict(wechat_cfg.get("templates") or {})
    if wechat_cfg.get("miniprogram_state", "formal") not in ("formal", "trial", "developer"):
        raise ConfigError(
            "wechat miniprogram_state must be formal, trial or developer, "
            f"not {wechat_cfg['miniprogram_state']!r}"
        )
    for kind, template in wechat_cfg["templates"].items():
        if not isinstance(template, dict) or not isinstance(template.get("id"), str):
            raise ConfigError(f"wechat.templates.{kind} needs an id (the template's id) and its data fields")
    return wechat_cfg


def _ops_settings(table: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """The [ops] table (docs/ops/metrics.md), with its secrets from the environment only: the bearer
    token /metrics asks for (VOLUNTEER_METRICS_TOKEN; none: /metrics is 404) and the Sentry DSN
    (SENTRY_DSN; none: nothing is sent)."""
    ops_cfg = {
        "heartbeat_seconds": 30,
        "heartbeat_stale_seconds": 180,
        "queue_backlog_seconds": 600,
        "verify_max_age_hours": 30,
        **table,
    }
    ops_cfg["metrics_token"] = environ.get("VOLUNTEER_METRICS_TOKEN", "").strip()
    ops_cfg["sentry_dsn"] = environ.get("SENTRY_DSN", "").strip()
    for key in (
        "heartbeat_seconds",
        "heartbeat_stale_seconds",
        "queue_backlog_seconds",
        "verify_max_age_hours",
    ):
        value = ops_cfg[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"[ops] {key} must be a whole number >= 1, not {value!r}")
    if ops_cfg["heartbeat_stale_seconds"] <= ops_cfg["heartbeat_seconds"]:
        raise ConfigError("[ops] heartbeat_stale_seconds must be longer than heartbeat_seconds")
    return ops_cfg


def _openapi_settings() -> dict[str, Any]:
    """flask-smorest's settings for the OpenAPI document and its Swagger UI (a fresh mapping per app)."""
    return {
        "API_TITLE": "volunteer_app",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "v1/openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/docs/assets/",
        "API_SPEC_OPTIONS": {
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
            },
            "info": {"description": API_DESCRIPTION},
        },
    }


def _rate_limit_settings(environ: dict[str, str]) -> dict[str, Any]:
    """Flask-Limiter's settings: counters in Redis with REDIS_URL, otherwise in each worker's memory."""
    return {
        "RATELIMIT_HEADERS_ENABLED": True,
        # Flask-Limiter would put its window reset into Retry-After on every response, overriding a
        # domain 429's own (sms.cooldown: 31 s became an hour); keep its value under its own name.
        "RATELIMIT_HEADER_RETRY_AFTER": "X-RateLimit-Retry-After",
        "RATELIMIT_STORAGE_URI": environ.get("REDIS_URL") or "memory://",
        "RATELIMIT_ENABLED": True,
        # Check every limit of a request, not only up to the first breached: Retry-After then names the
        # longest breached window (a phone that spent its hour would otherwise be told "a minute").
        "RATELIMIT_FAIL_ON_FIRST_BREACH": False,
    }


def check_production(config: dict[str, Any]) -> None:
    """Refuse to run production with development secrets, a console SMS sender, the memory push sender
    or without its public base URL."""
    if config["ENV_NAME"] != "production":
        return
    problems = production_problems(config)
    if problems:
        raise ConfigError("refusing to start in production: " + "; ".join(problems))


def production_problems(config: dict[str, Any]) -> list[str]:
    """What production would refuse in `config` (whatever its env), each saying what to set
    (`flask doctor` reports them for a configuration still in development)."""
    problems = []
    if config["SECRET_KEY"] in (DEV_SECRET, "") or len(config["SECRET_KEY"]) < 32:
        problems.append("VOLUNTEER_SECRET_KEY must be set to a random string of 32+ characters")
    if config["PII_KEY"] in (DEV_PII_KEY, "") or len(config["PII_KEY"]) < 32:
        problems.append("VOLUNTEER_PII_KEY must be set to a random string of 32+ characters")
    if config["APP"]["sms_sender"] in ("console", "memory"):
        problems.append("VOLUNTEER_SMS_SENDER must name a real SMS gateway in production")
    if config["APP"]["sms_sender"] == "tencent" and not (
        config["TENCENT_SMS"].get("secret_id") and config["TENCENT_SMS"].get("secret_key")
    ):
        problems.append(
            "TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY must be set for the tencent SMS sender"
        )
    if config["APP"]["public_base_url"] == DEV_PUBLIC_BASE_URL:
        problems.append(
            "VOLUNTEER_PUBLIC_BASE_URL must be set to the address clients reach the API at (public links)"
        )
    if config["APP"]["notification_sender"] == "memory":  # (console at least logs every message)
        problems.append("VOLUNTEER_NOTIFICATION_SENDER must not be the test-only memory sender in production")
    return problems
