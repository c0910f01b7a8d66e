"""Tencent Cloud SMS (腾讯云短信), API 3.0 action SendSms version 2021-01-11, through Tencent's own SDK
(tencentcloud-sdk-python-sms: it signs with TC3-HMAC-SHA256). NOTES-smspush.md says why the SDK.

`TencentSms` sends one templated message to one phone and turns every refusal into a DeliveryError
("tencent:<Code>", retry or not); `TencentSmsSender` is the "sms" channel's sender (the notification
kind picks the template, `[tencent_sms.params]` the order of its parameters); `TencentLoginSender` is
auth's `sms_sender = "tencent"` (login codes, through the background worker).

Settings: `[tencent_sms]` (endpoint, region, sdk_app_id, sign_name, timeout_seconds, templates,
params, login_template, login_params) in app.config["TENCENT_SMS"]; the secret id and key come from
the environment only (TENCENTCLOUD_SECRET_ID, TENCENTCLOUD_SECRET_KEY, read by settings.py)."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from volunteer_app.providers import DeliveryError

# The SDK (and the requests it brings, ~0.25 s) is imported on first use, not by every process that
# imports the app: only a deployment sending through Tencent pays for it.

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "https://sms.tencentcloudapi.com"

# Refusals that the same message can never get past: a wrong or unsupported number, a template or its
# parameters the provider will not take, a number on the blocklist. Everything else (LimitExceeded.*,
# InternalError, AuthFailure.* while an operator fixes the keys, an empty SMS package) is retried.
FINAL_PREFIXES = (
    "InvalidParameter",  # InvalidParameter.* and InvalidParameterValue.* (IncorrectPhoneNumber, …)
    "MissingParameter",
    "UnknownParameter",
    "UnsupportedOperation",  # e.g. .UnsupportedRegion, .ContainDomesticAndInternationalPhoneNumber
)
FINAL_CODES = frozenset(
    {
        "FailedOperation.PhoneNumberInBlacklist",
        "FailedOperation.PhoneNumberOnBlacklist",
        "FailedOperation.ContainSensitiveWord",
        "FailedOperation.TemplateIncorrectOrUnapproved",
        "FailedOperation.SignatureIncorrectOrUnapproved",
        "FailedOperation.MissingTemplateToModify",
        "FailedOperation.MissingSignature",
    }
)


def retryable(code: str) -> bool:
    """Whether a later try of the same message can succeed after Tencent refused it with `code`."""
    return not (code in FINAL_CODES or code.startswith(FINAL_PREFIXES))


def settings() -> dict[str, Any]:
    return current_app.config.get("TENCENT_SMS") or {}


class TencentSms:
    """A SendSms client for one configuration (endpoint, region, app, signature, keys, timeout)."""

    def __init__(self, config: dict[str, Any]) -> None:
        from tencentcloud.common import credential
        from tencentcloud.common.profile.client_profile import ClientProfile
        from tencentcloud.common.profile.http_profile import HttpProfile
        from tencentcloud.sms.v20210111 import sms_client

        self.config = config
        missing = [
            key for key in ("secret_id", "secret_key", "sdk_app_id", "sign_name") if not config.get(key)
        ]
        if missing:
            raise DeliveryError(
                "tencent:not_configured", f"[tencent_sms] lacks {', '.join(missing)}", retry=True
            )
        endpoint = urlsplit(str(config.get("endpoint") or DEFAULT_ENDPOINT))
        if endpoint.scheme not in ("http", "https") or not endpoint.netloc:
            raise DeliveryError("tencent:not_configured", f"bad endpoint {config.get('endpoint')!r}")
        http = HttpProfile(
            protocol=endpoint.scheme,
            endpoint=endpoint.netloc,  # host[:port]: the SDK signs it as the Host header
            reqMethod="POST",
            reqTimeout=float(config.get("timeout_seconds", 5)),
        )
        profile = ClientProfile(signMethod="TC3-HMAC-SHA256", httpProfile=http)
        cred = credential.Credential(config["secret_id"], config["secret_key"])
        self.client = sms_client.SmsClient(cred, str(config.get("region") or "ap-guangzhou"), profile)

    def send(self, phone: str, template_id: str, params: list[str], *, context: str = "") -> str:
        """Send template `template_id` filled with `params` to `phone` (E.164, "+86…"). Returns the
        provider's serial number; raises DeliveryError when Tencent refuses it or cannot be reached."""
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
        from tencentcloud.sms.v20210111 import models

        if not isinstance(phone, str) or not phone.startswith("+") or not phone[1:].isdigit():
            raise DeliveryError("tencent:bad_number", "the phone must be in E.164 form (+86…)", retry=False)
        request = models.SendSmsRequest()
        request.SmsSdkAppId = str(self.config["sdk_app_id"])
        request.SignName = str(self.config["sign_name"])
        request.TemplateId = str(template_id)
        request.TemplateParamSet = [str(value) for value in params]
        request.PhoneNumberSet = [phone]
        if context:
            request.SessionContext = context
        try:
            response = self.client.SendSms(request)
        except TencentCloudSDKException as exc:
            raise _refusal(exc) from None
        statuses = response.SendStatusSet or []
        if len(statuses) != 1:
            raise DeliveryError("tencent:bad_answer", f"{len(statuses)} send statuses for one number")
        status = statuses[0]
        if status.Code != "Ok":
            raise DeliveryError(f"tencent:{status.Code}", status.Message or "", retry=retryable(status.Code))
        return status.SerialNo or ""


def _refusal(exc: Any) -> DeliveryError:
    """The SDK's exception as a DeliveryError: its network errors carry the requests exception as their
    context (a timeout is "timeout"); a non-200 answer is "ServerNetworkError"; the rest are Tencent's
    own error codes from the Response envelope."""
    import requests

    code = exc.get_code() or "unknown"
    if code == "ClientNetworkError":
        if isinstance(exc.__context__, requests.Timeout):
            return DeliveryError("timeout", "Tencent SMS did not answer in time")
        return DeliveryError("tencent:unreachable", str(exc.get_message())[:200])
    if code == "ServerNetworkError":
        return DeliveryError("tencent:http_error", str(exc.get_message())[:200])
    return DeliveryError(f"tencent:{code}", str(exc.get_message() or "")[:200], retry=retryable(code))


def _ordered(names: list[str], values: dict[str, Any], what: str) -> list[str]:
    """The template's parameters in order, each named param's value as text."""
    missing = [name for name in names if values.get(name) is None]
    if missing:
        raise DeliveryError("tencent:missing_param", f"{what} lacks {', '.join(missing)}", retry=False)
    return [str(values[name]) for name in names]


class TencentSmsSender:
    """The "sms" channel's sender: `send(message)` per notifications/channels.py (target: the E.164
    phone; kind picks the template in `[tencent_sms.templates]`; `[tencent_sms.params]` names the
    message params that fill it, in order, ["title"] by default)."""

    def send(self, message: dict[str, Any]) -> None:
        config = settings()
        kind = message.get("kind") or ""
        template = (config.get("templates") or {}).get(kind)
        if not template:
            raise DeliveryError("tencent:no_template", f"no SMS template for {kind!r}", retry=False)
        phone = message.get("target")
        if not phone:
            raise DeliveryError("tencent:no_target", "no phone number to send to", retry=False)
        names = list((config.get("params") or {}).get(kind, ["title"]))
        values = {**(message.get("params") or {})}
        values.setdefault("title", message.get("title"))
        params = _ordered(names, values, kind)
        serial = TencentSms(config).send(phone, template, params, context=str(message.get("id") or ""))
        log.info("sms for notification %s sent (serial %s)", message.get("notification_id"), serial)


class TencentLoginSender:
    """auth's `sms_sender = "tencent"`: a login code through `[tencent_sms] login_template`. Queued: auth
    hands the code to the background worker, so a slow provider never holds a request."""

    queued = True

    def send_login_code(self, phone: str, code: str) -> None:
        config = settings()
        minutes = max(1, int(current_app.config["APP"].get("sms_code_ttl_seconds", 300)) // 60)
        template = config.get("login_template")
        if not template:
            raise DeliveryError("tencent:no_template", "no login_template in [tencent_sms]", retry=False)
        names = list(config.get("login_params") or ["code", "minutes"])
        params = _ordered(names, {"code": code, "minutes": minutes}, "the login code")
        TencentSms(config).send(phone, template, params)
