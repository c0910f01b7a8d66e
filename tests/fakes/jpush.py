"""A fake JPush REST API v3 (`POST /v3/push`) that checks what JPush checks: HTTP Basic appKey:masterSecret,
a JSON body with platform, audience (registration ids it knows), notification (an alert per platform)
and options; it answers {sendno, msg_id}, or JPush's error JSON {"error": {"code", "message"}, "msg_id"}.

    with FakeJPush() as fake:                # fake.url: the sender's [jpush] api_base
        fake.devices.add("1a0018970a0d8b5c") # a registration id JPush knows (others get 1011)
        fake.fail_next("rate_limited")
        fake.sent                            # [(registration_id, alert, extras), …] accepted pushes

Troubles (fail_next): rate_limited (429, code 2002, X-Rate-Limit-* headers), quota (2003), internal
(500, 1000), no_target (1011), http_503 (no JSON), timeout (answers after `fake.delay` seconds).
`python -m tests.fakes.jpush --port 8703` serves one alone.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

from tests.fakes.server import FakeServer, Reply, Request, main

APP_KEY = "fakeappkey0000000000000"
MASTER_SECRET = "fakemastersecret00000000"
DEVICE = "1a0018970a0d8b5c0aa"


class FakeJPush(FakeServer):
    name = "fake-jpush"

    def __init__(
        self, port: int = 0, *, app_key: str = APP_KEY, master_secret: str = MASTER_SECRET, delay: float = 2.0
    ) -> None:
        super().__init__(port)
        self.app_key, self.master_secret = app_key, master_secret
        self.delay = delay
        self.devices: set[str] = {DEVICE}
        self.sent: list[tuple[str, str, dict[str, Any]]] = []
        self.refused: list[int] = []

    def _error(self, status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Reply:
        self.refused.append(code)
        body = {"error": {"code": code, "message": message}, "msg_id": str(secrets.randbelow(10**18))}
        return Reply(status, body, headers or {})

    def _rate_headers(self, remaining: int) -> dict[str, str]:
        return {
            "X-Rate-Limit-Limit": "600",
            "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": "42",
        }

    def handle(self, request: Request, trouble: str | None) -> Reply:
        if request.path != "/v3/push":
            return Reply(404, b"", {"Content-Type": "text/plain"})
        if request.method != "POST":
            return self._error(405, 1001, "only HTTP POST is supported")
        expected = "Basic " + base64.b64encode(f"{self.app_key}:{self.master_secret}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return self._error(401, 1004, "basic authentication failed")
        if trouble == "timeout":
            return Reply(200, {"sendno": "0", "msg_id": "0"}, delay=self.delay)
        if trouble == "rate_limited":
            return self._error(429, 2002, "Request times is exceeded the limit", self._rate_headers(0))
        if trouble == "quota":
            return self._error(403, 2003, "the appkey is restricted from pushing")
        if trouble == "internal":
            return self._error(500, 1000, "server error")
        if trouble == "http_503":
            return Reply(503, b"<html>Service Unavailable</html>", {"Content-Type": "text/html"})
        if not request.headers.get("content-type", "").startswith("application/json"):
            return self._error(400, 1003, "the body must be JSON")
        try:
            body = json.loads(request.body)
        except ValueError:
            return self._error(400, 1003, "the body is not JSON")
        problem = self._body_problem(body)
        if problem is not None:
            return self._error(400, *problem)
        ids = body["audience"]["registration_id"]
        known = [rid for rid in ids if rid in self.devices]
        if trouble == "no_target" or not known:
            return self._error(400, 1011, "cannot find user by this audience")
        notification = body["notification"]
        for rid in known:
            platform = notification.get("android") or notification.get("ios")
            self.sent.append((rid, platform["alert"], dict(platform.get("extras") or {})))
        sendno = str(body.get("options", {}).get("sendno", 0))
        return Reply(
            200, {"sendno": sendno, "msg_id": str(secrets.randbelow(10**18))}, self._rate_headers(599)
        )

    def _body_problem(self, body: Any) -> tuple[int, str] | None:
        """(code, message) for a body JSON would refuse, as JPush's 1002 (missing) and 1003 (bad value)."""
        if not isinstance(body, dict):
            return 1003, "the body must be an object"
        for key in ("platform", "audience"):
            if key not in body:
                return 1002, f"{key} is required"
        platform = body["platform"]
        if platform != "all" and not (
            isinstance(platform, list)
            and platform
            and set(platform) <= {"android", "ios", "hmos", "quickapp"}
        ):
            return 1003, "platform is invalid"
        audience = body["audience"]
        ids = audience.get("registration_id") if isinstance(audience, dict) else None
        if (
            not isinstance(ids, list)
            or not ids
            or not all(isinstance(i, str) and i for i in ids)
            or len(ids) > 1000
        ):
            return 1003, "audience.registration_id must be 1-1000 ids"
        notification = body.get("notification")
        if not isinstance(notification, dict) or not notification:
            return 1002, "notification or message is required"
        for name, part in notification.items():
            if name not in ("android", "ios", "alert", "hmos") or (
                name != "alert" and not isinstance(part, dict)
            ):
                return 1003, f"notification.{name} is invalid"
            if name != "alert" and (not isinstance(part.get("alert"), str) or not part["alert"]):
                return 1003, f"notification.{name}.alert is required"
            if name != "alert" and not isinstance(part.get("extras", {}), dict):
                return 1003, f"notification.{name}.extras must be an object"
        options = body.get("options", {})
        if not isinstance(options, dict) or not isinstance(options.get("apns_production", True), bool):
            return 1003, "options.apns_production must be a boolean"
        if len(json.dumps(body).encode()) > 4000:
            return 1005, "the message is too long"
        return None


if __name__ == "__main__":
    main(FakeJPush)
