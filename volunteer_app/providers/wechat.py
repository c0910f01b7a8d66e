"""WeChat mini-program: the server API client (sign-in code exchange, the confirmed phone number,
subscription messages) with its access token cached, and the notification sender for channel "wechat".

Configuration is `[wechat]` (config/default.toml); the app secret only from the environment
(WECHAT_APP_SECRET). The access token comes from `POST /cgi-bin/stable_token` in its normal mode: while a
token is valid every caller gets the same one, so each process keeps it in memory (no shared store is
needed: unlike `/cgi-bin/token`, fetching it does not invalidate the token another worker holds). It is
fetched again shortly before it expires, and when an API call answers that the token is invalid or
expired (40001/42001/40014): then refreshed once and the call retried once (a forced refresh only when
WeChat hands back the very token it just refused).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import httpx
from flask import current_app

from volunteer_app.providers import DeliveryError

log = logging.getLogger(__name__)

TIMEOUT = httpx.Timeout(5.0, connect=3.0)
TOKEN_ERRORS = frozenset({40001, 42001, 40014})
# Sending cannot succeed by trying again: no consent left (43101), an openid not of this mini-program
# (40003), bad data or template (47003, 40037), a page that does not exist (41030).
FINAL_SEND_ERRORS = frozenset({43101, 40003, 47003, 40037, 41030})
# A subscription message's values, by the type its field name starts with: WeChat refuses longer ones
# (47003). Types not listed (time, date, amount) have formats, not lengths: sent as written.
FIELD_LIMITS = {
    "thing": 20,
    "character_string": 32,
    "number": 32,
    "letter": 32,
    "symbol": 5,
    "phone_number": 17,
    "car_number": 8,
    "name": 10,
    "phrase": 5,
    "short_thing": 5,
}


class WechatError(Exception):
    """WeChat answered with an error code (errcode != 0)."""

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"wechat:{errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


class WechatUnavailable(Exception):
    """WeChat could not be reached or answered something that is not its API (`code`: "timeout",
    "http:<status>", "wechat:unreachable", "wechat:not_configured", "wechat:bad_answer")."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        self.detail = detail


def settings() -> dict[str, Any]:
    """The app's `[wechat]` settings (secret from WECHAT_APP_SECRET)."""
    return current_app.config["WECHAT"]


def configured() -> bool:
    cfg = settings()
    return bool(cfg.get("appid") and cfg.get("secret"))


def client() -> WechatClient:
    """The app's client, made once per app (its token cache lives as long as the process)."""
    ext = current_app.extensions
    if "wechat_client" not in ext:
        cfg = settings()
        ext["wechat_client"] = WechatClient(
            api_base=cfg["api_base"], appid=cfg["appid"], secret=cfg["secret"]
        )
    return ext["wechat_client"]


class WechatClient:
    def __init__(self, *, api_base: str, appid: str, secret: str, timeout: httpx.Timeout = TIMEOUT) -> None:
        self.api_base = api_base.rstrip("/")
        self.appid = appid
        self.secret = secret
        self.http = httpx.Client(base_url=self.api_base, timeout=timeout)
        self._token: str | None = None
        self._token_fresh_until = 0.0  # time.monotonic()
        self._lock = threading.Lock()

    # ---- transport -------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        if not (self.appid and self.secret):
            raise WechatUnavailable("wechat:not_configured", "appid or WECHAT_APP_SECRET missing")
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise WechatUnavailable("timeout", type(exc).__name__) from exc
        except httpx.HTTPError as exc:
            raise WechatUnavailable("wechat:unreachable", type(exc).__name__) from exc
        if response.status_code != 200:
            raise WechatUnavailable(f"http:{response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise WechatUnavailable("wechat:bad_answer", "not JSON") from exc
        if not isinstance(body, dict):
            raise WechatUnavailable("wechat:bad_answer", "not an object")
        errcode = body.get("errcode") or 0
        if errcode != 0:
            raise WechatError(int(errcode) if isinstance(errcode, int) else -1, str(body.get("errmsg", "")))
        return body

    # ---- access token ----------------------------------------------------------------------------

    def access_token(self, *, refused: str | None = None) -> str:
        """The cached token, or a fresh one when it is about to expire or WeChat `refused` it."""
        with self._lock:
            if self._token and refused is None and time.monotonic() < self._token_fresh_until:
                return self._token
            if refused is not None and self._token != refused:
                return self._token or self._fetch_token(force=False)  # another thread refreshed it
            token = self._fetch_token(force=False)
            if refused is not None and token == refused:  # WeChat still hands out the one it refuses
                token = self._fetch_token(force=True)
            return token

    def _fetch_token(self, *, force: bool) -> str:
        body = self._request(
            "POST",
            "/cgi-bin/stable_token",
            json={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self.secret,
                "force_refresh": force,
            },
        )
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WechatUnavailable("wechat:bad_answer", "no access_token")
        # Fetch again 5 minutes before it runs out (WeChat hands out the next one from then on); a token
        # given with less time left than that is kept for half of it.
        self._token = token
        self._token_fresh_until = time.monotonic() + max(expires_in - 300, expires_in // 2)
        return token

    def _with_token(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        """POST with the access token; on a token error refresh it once and try once more."""
        token = self.access_token()
        try:
            return self._request("POST", path, params={"access_token": token}, json=payload)
        except WechatError as exc:
            if exc.errcode not in TOKEN_ERRORS:
                raise
            log.info("wechat token refused (%s): refreshing", exc.errcode)
        token = self.access_token(refused=token)
        return self._request("POST", path, params={"access_token": token}, json=payload)

    # ---- calls -----------------------------------------------------------------------------------

    def code2session(self, code: str) -> dict[str, str | None]:
        """The mini-program user behind a wx.login code: openid, unionid (when the app has one)."""
        body = self._request(
            "GET",
            "/sns/jscode2session",
            params={
                "appid": self.appid,
                "secret": self.secret,
                "js_code": code,
                "grant_type": "authorization_code",
            },
        )
        openid = body.get("openid")
        if not isinstance(openid, str) or not openid:
            raise WechatUnavailable("wechat:bad_answer", "no openid")
        unionid = body.get("unionid")
        return {"openid": openid, "unionid": unionid if isinstance(unionid, str) else None}

    def phone_number(self, code: str) -> dict[str, str]:
        """The phone number WeChat confirmed for a getPhoneNumber code: {phone, country_code}."""
        body = self._with_token("/wxa/business/getuserphonenumber", {"code": code})
        info = body.get("phone_info")
        number = info.get("purePhoneNumber") if isinstance(info, dict) else None
        if not isinstance(number, str) or not number:
            raise WechatUnavailable("wechat:bad_answer", "no phone_info")
        country = info.get("countryCode")
        return {"phone": number, "country_code": str(country or "86")}

    def send_subscription(
        self,
        *,
        touser: str,
        template_id: str,
        data: dict[str, str],
        page: str | None,
        miniprogram_state: str,
        lang: str,
    ) -> None:
        payload: dict[str, Any] = {
            "touser": touser,
            "template_id": template_id,
            "data": {field: {"value": value} for field, value in data.items()},
            "miniprogram_state": miniprogram_state,
            "lang": lang,
        }
        if page:
            payload["page"] = page
        self._with_token("/cgi-bin/message/subscribe/send", payload)


# ---- the sender -------------------------------------------------------------------------------------


class _Values(dict):
    """format_map values: a placeholder without a value stays as written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(text: str, values: dict[str, Any]) -> str:
    try:
        return text.format_map(_Values(values))
    except (AttributeError, IndexError, KeyError, ValueError):
        return text


def field_type(field: str) -> str:
    """A template field's type: its name without the trailing number ("thing1" → "thing")."""
    return field.rstrip("0123456789")


def truncate(field: str, value: str) -> str:
    """Fit a value into its field's length limit, marking a cut with "…"."""
    value = " ".join(value.split())  # no line breaks in a template field
    limit = FIELD_LIMITS.get(field_type(field))
    if limit is None or len(value) <= limit:
        return value
    if field_type(field) in ("thing", "name", "short_thing", "phrase"):
        return value[: limit - 1] + "…"
    return value[:limit]  # character strings and numbers allow no "…"


def template_data(template: dict[str, Any], message: dict[str, Any]) -> dict[str, str]:
    """The `data` of a subscription message: each configured field's text filled from the notification
    (its params, `text`: the whole notification text, subject_type, subject_id), cut to fit."""
    values = {
        **{k: v for k, v in (message.get("params") or {}).items() if isinstance(v, str | int | float)},
        "text": message.get("title") or "",
        "subject_type": message.get("subject_type") or "",
        "subject_id": message.get("subject_id") or "",
        "kind": message.get("kind") or "",
    }
    # WeChat refuses an empty value (47003): a param given empty shows as "-".
    return {
        field: truncate(field, fill(str(text), values)) or "-"
        for field, text in (template.get("data") or {}).items()
    }


def delivery_error(exc: WechatError | WechatUnavailable) -> DeliveryError:
    if isinstance(exc, WechatUnavailable):
        return DeliveryError(exc.code, exc.detail, retry=exc.code != "wechat:not_configured")
    return DeliveryError(f"wechat:{exc.errcode}", exc.errmsg, retry=exc.errcode not in FINAL_SEND_ERRORS)


class WechatSender:
    """Sends an outbox row of channel "wechat" as a subscription message to its openid (the target)."""

    def send(self, message: dict[str, Any]) -> None:
        cfg = settings()
        openid = message.get("target")
        if not openid:
            raise DeliveryError("wechat:no_openid", retry=False)
        template = (cfg.get("templates") or {}).get(message.get("kind"))
        if not template or not template.get("id"):
            raise DeliveryError("wechat:no_template", str(message.get("kind")), retry=False)
        values = {
            "subject_id": message.get("subject_id") or "",
            "subject_type": message.get("subject_type") or "",
        }
        page = fill(template.get("page") or cfg.get("page") or "", values)
        try:
            client().send_subscription(
                touser=openid,
                template_id=template["id"],
                data=template_data(template, message),
                page=page or None,
                miniprogram_state=cfg.get("miniprogram_state", "formal"),
                lang=cfg.get("lang", "zh_CN"),
            )
        except (WechatError, WechatUnavailable) as exc:
            raise delivery_error(exc) from exc
