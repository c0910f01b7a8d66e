"""JPush (极光推送) REST API v3: `POST /v3/push` to one device's registration id, over httpx (the `jpush`
PyPI client pins its hosts by zone, so it cannot be pointed at a fake, and folds read timeouts into a
generic error; NOTES-smspush.md).

`JPushSender.send(message)` is the "push" channel's sender (notifications/channels.py): the target is
the device's registration id; the alert is the message's zh-CN text, the extras say what it is about
({kind, subject_type, subject_id}) so the app opens the right page. JPush's refusals become
DeliveryError("jpush:<code>", retry or not); a timeout raises httpx.TimeoutException (retried).

Settings: `[jpush]` (api_base, apns_production, connect_timeout_seconds, timeout_seconds, time_to_live)
in app.config["JPUSH"]; the app key and master secret from the environment only (JPUSH_APP_KEY,
JPUSH_MASTER_SECRET, read by settings.py)."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from flask import current_app

from volunteer_app.providers import DeliveryError

log = logging.getLogger(__name__)

DEFAULT_API_BASE = "https://api.jpush.cn"

# JPush's codes that trying the same push again cannot get past: a malformed request (1001 not a POST,
# 1002 a missing parameter, 1003 a bad value, 1005 too large, 1009 an unsupported key, 1020 not HTTPS)
# and 1011 (no such device: the registration id is gone). The rest are retried with the delivery
# loop's backoff: 1000/1030 JPush's own trouble, 1004 and 1008 the keys (an operator fixes them),
# 2002/2008 rate limits (429), 2003 the app's quota.
FINAL_CODES = frozenset({1001, 1002, 1003, 1005, 1009, 1011, 1020})


def settings() -> dict[str, Any]:
    return current_app.config.get("JPUSH") or {}


def payload(message: dict[str, Any], registration_id: str, config: dict[str, Any]) -> dict[str, Any]:
    """The v3 push body for one device."""
    alert = str(message.get("title") or message.get("kind") or "")
    extras = {
        "kind": message.get("kind"),
        "subject_type": message.get("subject_type"),
        "subject_id": message.get("subject_id"),
    }
    body: dict[str, Any] = {
        "platform": ["android", "ios"],
        "audience": {"registration_id": [registration_id]},
        "notification": {
            "android": {"alert": alert, "extras": extras},
            "ios": {"alert": alert, "sound": "default", "extras": extras},
        },
        "options": {
            "apns_production": bool(config.get("apns_production", True)),
            "time_to_live": int(config.get("time_to_live", 86400)),
        },
    }
    if isinstance(message.get("id"), int):
        body["options"]["sendno"] = message["id"]  # the outbox row: JPush echoes it back
    return body


def _refusal(response: httpx.Response) -> DeliveryError:
    """JPush's error answer ({"error": {"code", "message"}}) as a DeliveryError."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    code = error.get("code") if isinstance(error, dict) else None
    if not isinstance(code, int):
        detail = ""
        if response.status_code == 429:
            detail = f"rate limited; resets in {response.headers.get('X-Rate-Limit-Reset', '?')} s"
        return DeliveryError(
            f"http:{response.status_code}", detail, retry=response.status_code not in (400, 404)
        )
    detail = str(error.get("message") or "")[:200]
    if response.status_code == 429 or code in (2002, 2008):
        detail = f"{detail} (limit {response.headers.get('X-Rate-Limit-Limit', '?')}, resets in " + (
            f"{response.headers.get('X-Rate-Limit-Reset', '?')} s)"
        )
    return DeliveryError(f"jpush:{code}", detail, retry=code not in FINAL_CODES)


class JPushSender:
    """Sends one outbox message to one device through JPush."""

    def send(self, message: dict[str, Any]) -> None:
        config = settings()
        app_key, secret = config.get("app_key"), config.get("master_secret")
        if not app_key or not secret:
            raise DeliveryError("jpush:not_configured", "JPUSH_APP_KEY and JPUSH_MASTER_SECRET are required")
        registration_id = message.get("target")
        if not registration_id:
            raise DeliveryError("jpush:no_target", "no registration id to push to", retry=False)
        base = str(config.get("api_base") or DEFAULT_API_BASE).rstrip("/")
        timeout = httpx.Timeout(
            float(config.get("timeout_seconds", 5)), connect=float(config.get("connect_timeout_seconds", 3))
        )
        try:
            response = httpx.post(
                f"{base}/v3/push",
                json=payload(message, str(registration_id), config),
                auth=(str(app_key), str(secret)),
                timeout=timeout,
            )
        except httpx.TimeoutException:
            raise  # the caller retries (a "timeout")
        except httpx.TransportError as exc:
            raise DeliveryError("jpush:unreachable", type(exc).__name__) from None
        if response.status_code != 200:
            raise _refusal(response)
        try:
            msg_id = response.json().get("msg_id")
        except (ValueError, AttributeError):
            raise DeliveryError("jpush:bad_answer", "the answer is not JSON") from None
        log.info("push for notification %s sent (msg_id %s)", message.get("notification_id"), msg_id)
