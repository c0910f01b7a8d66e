"""The providers' settings: sections from the files, secrets from the environment only."""

from __future__ import annotations

import pytest

from volunteer_app.settings import ConfigError, build_config

PRODUCTION = {
    "VOLUNTEER_ENV": "production",
    "VOLUNTEER_SECRET_KEY": "s" * 40,
    "VOLUNTEER_PII_KEY": "p" * 40,
    "VOLUNTEER_PUBLIC_BASE_URL": "https://volunteer.example.cn",
    "VOLUNTEER_SMS_SENDER": "tencent",
}


def test_defaults_point_at_the_real_providers(tmp_path):
    config = build_config(environ={"VOLUNTEER_INSTANCE_DIR": str(tmp_path)})
    assert config["TENCENT_SMS"]["endpoint"] == "https://sms.tencentcloudapi.com"
    assert config["JPUSH"]["api_base"] == "https://api.jpush.cn"
    assert config["TENCENT_SMS"]["secret_key"] == config["JPUSH"]["master_secret"] == ""


def test_secrets_come_from_the_environment_and_never_from_a_file(tmp_path):
    overlay = tmp_path / "volunteer.toml"
    overlay.write_text(
        '[tencent_sms]\nsecret_key = "from-a-file"\nsdk_app_id = "1400000001"\n[jpush]\nmaster_secret = "x"\n'
    )
    environ = {
        "VOLUNTEER_CONFIG": str(overlay),
        "VOLUNTEER_INSTANCE_DIR": str(tmp_path),
        "TENCENTCLOUD_SECRET_ID": "AKIDenv",
        "JPUSH_APP_KEY": "key-env",
    }
    config = build_config(environ=environ)
    assert config["TENCENT_SMS"]["sdk_app_id"] == "1400000001"
    assert (config["TENCENT_SMS"]["secret_id"], config["TENCENT_SMS"]["secret_key"]) == ("AKIDenv", "")
    assert (config["JPUSH"]["app_key"], config["JPUSH"]["master_secret"]) == ("key-env", "")


def test_production_refuses_the_tencent_sender_without_its_keys(tmp_path):
    with pytest.raises(ConfigError, match="TENCENTCLOUD_SECRET_ID"):
        build_config(environ={**PRODUCTION, "VOLUNTEER_INSTANCE_DIR": str(tmp_path)})
    keys = {"TENCENTCLOUD_SECRET_ID": "AKIDx", "TENCENTCLOUD_SECRET_KEY": "k" * 32}
    config = build_config(environ={**PRODUCTION, **keys, "VOLUNTEER_INSTANCE_DIR": str(tmp_path)})
    assert config["APP"]["sms_sender"] == "tencent"
