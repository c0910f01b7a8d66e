"""A fake of WeChat's server API for mini-programs (api.weixin.qq.com), as much as we use of it:

- POST /cgi-bin/stable_token {grant_type, appid, secret, force_refresh}: the access token. Normal mode
  hands out the current token while it has more than 5 minutes left, else a new one; force_refresh
  always a new one (the old one stops working at once). Wrong appid 40013, wrong secret 40125.
- GET /sns/jscode2session?appid&secret&js_code&grant_type=authorization_code: the user of a wx.login
  code the test told it about (`fake.codes[code] = openid`, or (openid, unionid)); a code works once
  (again: 40163), an unknown one is 40029.
- POST /wxa/business/getuserphonenumber?access_token= {code}: the number of a getPhoneNumber code
  (`fake.phone_codes[code] = "13700000001"` or (number, country code)); once; unknown 40029.
- POST /cgi-bin/message/subscribe/send?access_token= {touser, template_id, page, data, ...}: checks the
  openid (one it issued, or in `fake.openids`: else 40003), the template (in `fake.templates`, with
  exactly its fields: else 40037 / 47003), each value {"value": str} within its type's length
  (47003), miniprogram_state; records the message in `fake.sent`.

Every call with an access token checks it: missing 41001, unknown or replaced 40001, past its time 42001.

Scripted trouble (`fake.fail_next(...)`), for the next request: "expired" (a call with a token answers
42001 and the token is expired from then on; ignored by the token endpoint), "invalid_token" (40001
for the token still handed out), "refused" (43101: the user
gave no consent), "rate_limited" (45009, on jscode2session 45011), "busy" (-1), "invalid_openid" (40003),
"http_502", "timeout" (answers after 6 s, past the client's read timeout), "garbage" (not JSON).
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from tests.fakes.server import FakeServer, Reply, Request, main

APPID = "wx0123456789abcdef"
SECRET = "fake-app-secret-0123456789abcdef"
TOKEN_TTL = 7200
# WeChat's length limits per field type (a field is named type + number: thing1, time2).
LIMITS = {
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


def _error(errcode: int, errmsg: str) -> Reply:
    return Reply(200, {"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(4)}"})


class FakeWeChat(FakeServer):
    name = "fake-wechat"

    def __init__(self, port: int = 0, *, appid: str = APPID, secret: str = SECRET) -> None:
        super().__init__(port)
        self.appid = appid
        self.secret = secret
        self.token_ttl = TOKEN_TTL
        self.codes: dict[str, str | tuple[str, str]] = {}
        self.phone_codes: dict[str, str | tuple[str, str]] = {}
        self.openids: set[str] = set()
        # template id -> its field names ({"thing1", "time2"}); a template not here does not exist.
        self.templates: dict[str, set[str]] = {}
        self.sent: list[dict[str, Any]] = []
        self.token_fetches = 0
        self._used_codes: set[str] = set()
        self._tokens: dict[str, float] = {}  # live token -> expiry (time.time())
        self._current: str | None = None
        self._state = threading.Lock()

    # ---- tokens -----------------------------------------------------------------------------------

    def _new_token(self) -> str:
        token = "TOKEN-" + secrets.token_urlsafe(24)
        self._tokens = {token: time.time() + self.token_ttl}  # the older one stops working
        self._current = token
        return token

    def expire_tokens(self) -> None:
        """Every token handed out is past its time (the next call with one answers 42001)."""
        with self._state:
            self._tokens = dict.fromkeys(self._tokens, 0.0)

    def _stable_token(self, request: Request) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return _error(47001, "data format error")
        if not isinstance(body, dict) or body.get("grant_type") != "client_credential":
            return _error(40002, "invalid grant_type")
        if body.get("appid") != self.appid:
            return _error(40013, "invalid appid")
        if body.get("secret") != self.secret:
            return _error(40125, "invalid appsecret")
        with self._state:
            self.token_fetches += 1
            now = time.time()
            expiry = self._tokens.get(self._current or "", 0.0)
            if body.get("force_refresh") is True or expiry - now <= 300:
                token = self._new_token()
            else:
                token = self._current
            return Reply(200, {"access_token": token, "expires_in": int(self._tokens[token] - now)})

    def _token_problem(self, request: Request, trouble: str | None) -> Reply | None:
        token = request.query.get("access_token")
        if not token:
            return _error(41001, "access_token missing")
        with self._state:
            expiry = self._tokens.get(token)
            if expiry is None:
                return _error(40001, "invalid credential, access_token is invalid or not latest")
            if trouble == "invalid_token":  # refused, though still the one handed out
                return _error(40001, "invalid credential, access_token is invalid or not latest")
            if trouble == "expired":
                self._tokens[token] = 0.0
                expiry = 0.0
            if expiry <= time.time():
                return _error(42001, "access_token expired")
        return None

    # ---- the API ----------------------------------------------------------------------------------

    def handle(self, request: Request, trouble: str | None) -> Reply:
        if trouble == "timeout":
            return Reply(200, {"errcode": -1, "errmsg": "late"}, delay=6.0)
        if trouble == "http_502":
            return Reply(502, b"<html>Bad Gateway</html>", headers={"Content-Type": "text/html"})
        if trouble == "garbage":
            return Reply(200, b"<html>oops</html>", headers={"Content-Type": "text/html"})
        if trouble == "busy":
            return _error(-1, "system error")
        route = (request.method, request.path)
        if route == ("POST", "/cgi-bin/stable_token"):
            return self._stable_token(request)
        if route == ("GET", "/sns/jscode2session"):
            return self._jscode2session(request, trouble)
        if route == ("POST", "/wxa/business/getuserphonenumber"):
            return self._token_problem(request, trouble) or self._phone(request)
        if route == ("POST", "/cgi-bin/message/subscribe/send"):
            return self._token_problem(request, trouble) or self._send(request, trouble)
        return Reply(404, {"errcode": 404, "errmsg": "not found"})

    def _jscode2session(self, request: Request, trouble: str | None) -> Reply:
        q = request.query
        if q.get("appid") != self.appid:
            return _error(40013, "invalid appid")
        if q.get("secret") != self.secret:
            return _error(40125, "invalid appsecret")
        if q.get("grant_type") != "authorization_code":
            return _error(40002, "invalid grant_type")
        if trouble == "rate_limited":
            return _error(45011, "api minute-quota reach limit")
        code = q.get("js_code") or ""
        with self._state:
            if code in self._used_codes:
                return _error(40163, "code been used")
            user = self.codes.get(code)
            if user is None:
                return _error(40029, "invalid code")
            self._used_codes.add(code)
        openid, unionid = user if isinstance(user, tuple) else (user, None)
        self.openids.add(openid)
        body = {"openid": openid, "session_key": secrets.token_urlsafe(16)}
        if unionid:
            body["unionid"] = unionid
        return Reply(200, body)

    def _phone(self, request: Request) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return _error(47001, "data format error")
        code = body.get("code") if isinstance(body, dict) else None
        with self._state:
            phone = self.phone_codes.pop(code, None) if isinstance(code, str) else None
        if phone is None:
            return _error(40029, "invalid code")
        number, country = phone if isinstance(phone, tuple) else (phone, "86")
        return Reply(
            200,
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": number if country == "86" else f"+{country}{number}",
                    "purePhoneNumber": number,
                    "countryCode": country,
                    "watermark": {"timestamp": int(time.time()), "appid": self.appid},
                },
            },
        )

    def _send(self, request: Request, trouble: str | None) -> Reply:
        try:
            body = request.json()
        except ValueError:
            return _error(47001, "data format error")
        if not isinstance(body, dict):
            return _error(47001, "data format error")
        if trouble == "rate_limited":
            return _error(45009, "reach max api daily quota limit")
        if trouble == "refused":
            return _error(43101, "user refuse to accept the msg")
        if trouble == "invalid_openid" or body.get("touser") not in self.openids:
            return _error(40003, "invalid openid")
        fields = self.templates.get(body.get("template_id"))
        if fields is None:
            return _error(40037, "invalid template_id")
        data = body.get("data")
        if not isinstance(data, dict) or set(data) != fields:
            return _error(47003, "argument invalid! data.keys mismatch")
        for field, value in data.items():
            text = value.get("value") if isinstance(value, dict) else None
            if not isinstance(text, str) or not text:
                return _error(47003, f"argument invalid! data.{field}.value empty")
            limit = LIMITS.get(field.rstrip("0123456789"))
            if limit is not None and len(text) > limit:
                return _error(47003, f"argument invalid! data.{field}.value too long")
        if body.get("miniprogram_state", "formal") not in ("formal", "trial", "developer"):
            return _error(47003, "argument invalid! miniprogram_state")
        with self._state:
            self.sent.append(body)
        return Reply(200, {"errcode": 0, "errmsg": "ok", "msgid": 1000 + len(self.sent)})


if __name__ == "__main__":
    main(FakeWeChat)
