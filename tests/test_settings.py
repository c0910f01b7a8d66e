"""Configuration: defaults, overlays, environment overrides, production refusals, shared rate limits."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid

import pytest

from volunteer_app.settings import DEV_PII_KEY, DEV_SECRET, ConfigError, build_config

STRONG = "x" * 40


def test_defaults_give_sqlite_in_the_instance_dir(tmp_path):
    config = build_config(environ={"VOLUNTEER_INSTANCE_DIR": str(tmp_path)})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'volunteer.db'}"
    assert config["JWT_ALGORITHM"] == "HS256" and config["JWT_DECODE_ALGORITHMS"] == ["HS256"]
    assert config["SITE_DEFAULTS"]["timezone"] == "Asia/Shanghai"
    assert config["RATELIMIT_STORAGE_URI"] == "memory://"


@pytest.mark.parametrize(
    "given",
    ["postgres://u@h/db", "postgresql://u@h/db", "postgresql+psycopg://u@h/db"],
)
def test_postgres_urls_use_psycopg3(given, tmp_path):
    config = build_config(environ={"DATABASE_URL": given, "VOLUNTEER_INSTANCE_DIR": str(tmp_path)})
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"


def test_environment_overrides_are_typed(tmp_path):
    config = build_config(
        environ={
            "VOLUNTEER_INSTANCE_DIR": str(tmp_path),
            "VOLUNTEER_ACCESS_TOKEN_MINUTES": "5",
            "VOLUNTEER_LOGIN_LIMIT_PER_IP": "2/minute",
            "REDIS_URL": "redis://127.0.0.1:6379/3",
        }
    )
    assert config["APP"]["access_token_minutes"] == 5
    assert config["APP"]["login_limit_per_ip"] == "2/minute"
    assert config["RATELIMIT_STORAGE_URI"] == "redis://127.0.0.1:6379/3"


def test_the_old_login_limit_is_refused_by_name(tmp_path):
    """login_limit (per address) became login_limit_per_phone and login_limit_per_ip: a deployment
    still setting it must hear so, not run with a limit it did not choose."""
    with pytest.raises(ConfigError, match="login_limit_per_phone"):
        build_config(environ={"VOLUNTEER_LOGIN_LIMIT": "5/minute", "VOLUNTEER_INSTANCE_DIR": str(tmp_path)})
    overlay = tmp_path / "old.toml"
    overlay.write_text('[app]\nlogin_limit = "5/minute"\n')
    with pytest.raises(ConfigError, match="login_limit_per_ip"):
        build_config(environ={"VOLUNTEER_CONFIG": str(overlay), "VOLUNTEER_INSTANCE_DIR": str(tmp_path)})


def test_overlay_file_merges_sections(tmp_path):
    overlay = tmp_path / "site.toml"
    overlay.write_text("[site_defaults]\ncheckin_radius_m = 800\n[app]\nsms_code_ttl_seconds = 120\n")
    config = build_config(environ={"VOLUNTEER_CONFIG": str(overlay), "VOLUNTEER_INSTANCE_DIR": str(tmp_path)})
    assert config["SITE_DEFAULTS"]["checkin_radius_m"] == 800
    assert config["SITE_DEFAULTS"]["timezone"] == "Asia/Shanghai"
    assert config["APP"]["sms_code_ttl_seconds"] == 120


@pytest.mark.parametrize(
    ("secret", "pii", "sender", "complaint"),
    [
        (None, STRONG, "gateway:Sender", "VOLUNTEER_SECRET_KEY"),
        (DEV_SECRET, STRONG, "gateway:Sender", "VOLUNTEER_SECRET_KEY"),
        ("short", STRONG, "gateway:Sender", "VOLUNTEER_SECRET_KEY"),
        (STRONG, None, "gateway:Sender", "VOLUNTEER_PII_KEY"),
        (STRONG, DEV_PII_KEY, "gateway:Sender", "VOLUNTEER_PII_KEY"),
        (STRONG, STRONG, "console", "VOLUNTEER_SMS_SENDER"),
    ],
)
def test_production_refuses_development_secrets(secret, pii, sender, complaint, tmp_path):
    environ = {
        "VOLUNTEER_ENV": "production",
        "VOLUNTEER_SMS_SENDER": sender,
        "VOLUNTEER_INSTANCE_DIR": str(tmp_path),
    }
    if secret is not None:
        environ["VOLUNTEER_SECRET_KEY"] = secret
    if pii is not None:
        environ["VOLUNTEER_PII_KEY"] = pii
    with pytest.raises(ConfigError, match=complaint):
        build_config(environ=environ)


def test_production_refuses_the_memory_notification_sender(tmp_path):
    environ = {
        "VOLUNTEER_ENV": "production",
        "VOLUNTEER_SMS_SENDER": "gateway:Sender",
        "VOLUNTEER_NOTIFICATION_SENDER": "memory",
        "VOLUNTEER_SECRET_KEY": STRONG,
        "VOLUNTEER_PII_KEY": STRONG,
        "VOLUNTEER_INSTANCE_DIR": str(tmp_path),
    }
    with pytest.raises(ConfigError, match="VOLUNTEER_NOTIFICATION_SENDER"):
        build_config(environ=environ)


def test_production_starts_with_real_secrets(tmp_path):
    environ = {
        "VOLUNTEER_ENV": "production",
        "VOLUNTEER_SECRET_KEY": STRONG,
        "VOLUNTEER_PII_KEY": "y" * 40,
        "VOLUNTEER_SMS_SENDER": "gateway:Sender",
        "VOLUNTEER_PUBLIC_BASE_URL": "https://volunteer.example.cn/",
        "VOLUNTEER_INSTANCE_DIR": str(tmp_path),
    }
    config = build_config(environ=environ)
    assert config["SECRET_KEY"] == STRONG
    assert config["APP"]["public_base_url"] == "https://volunteer.example.cn"


def test_production_refuses_to_start_without_a_public_base_url(tmp_path):
    """Issue 11, defect 5: public links come from configuration, so production must name its address."""
    environ = {
        "VOLUNTEER_ENV": "production",
        "VOLUNTEER_SECRET_KEY": STRONG,
        "VOLUNTEER_PII_KEY": "y" * 40,
        "VOLUNTEER_SMS_SENDER": "gateway:Sender",
        "VOLUNTEER_INSTANCE_DIR": str(tmp_path),
    }
    with pytest.raises(ConfigError, match="VOLUNTEER_PUBLIC_BASE_URL"):
        build_config(environ=environ)
    # Development has a default for the development server.
    development = build_config(environ={"VOLUNTEER_INSTANCE_DIR": str(tmp_path)})
    assert development["APP"]["public_base_url"] == "http://127.0.0.1:5000"


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "volunteer.example.cn",
        "ftp://volunteer.example.cn",
        "https://",
        "https://h.cn/?a=1",
        "https://h.cn/#x",
    ],
)
def test_public_base_url_must_be_an_absolute_http_url(bad, tmp_path):
    environ = {"VOLUNTEER_PUBLIC_BASE_URL": bad, "VOLUNTEER_INSTANCE_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="public_base_url"):
        build_config(environ=environ)


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Each worker process builds its own app; with REDIS_URL they must share one login counter.
_WORKER = textwrap.dedent(
    """
    import sys
    from flask_migrate import upgrade
    from volunteer_app import create_app
    db_url, attempts, prefix = "sqlite:///" + sys.argv[1], int(sys.argv[2]), sys.argv[3]
    app = create_app({"SQLALCHEMY_DATABASE_URI": db_url, "RATELIMIT_KEY_PREFIX": prefix})
    with app.app_context():
        upgrade()
    client = app.test_client()
    body = {"phone": "13800138000", "password": "wrong-pass"}
    addr = {"REMOTE_ADDR": "10.9.8.7"}
    codes = [client.post("/api/v1/auth/login", json=body, environ_base=addr).status_code
             for _ in range(attempts)]
    print(",".join(map(str, codes)))
    """
)


def _redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
        return True
    except Exception:  # any failure means "no Redis here"
        return False


def test_rate_limits_are_shared_by_workers_through_redis(tmp_path):
    if not _redis_available():
        pytest.skip(f"Redis not reachable at {REDIS_URL}; .ci/run starts it")
    prefix = f"test-{uuid.uuid4().hex}"  # this run's own counters, whoever else uses the Redis
    db_file = tmp_path / "workers.db"
    env = {
        **os.environ,
        "REDIS_URL": REDIS_URL,
        "VOLUNTEER_LOGIN_LIMIT_PER_PHONE": "3/minute",
        "VOLUNTEER_INSTANCE_DIR": str(tmp_path),
    }

    def worker(n: int) -> list[int]:
        out = subprocess.run(
            [sys.executable, "-c", _WORKER, str(db_file), str(n), prefix],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return [int(c) for c in out.stdout.strip().splitlines()[-1].split(",")]

    first = worker(2)
    second = worker(2)
    assert first == [401, 401]
    assert second == [401, 429], "the second worker must see the first worker's attempts"
