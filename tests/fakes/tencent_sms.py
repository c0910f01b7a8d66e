"""A fake Tencent Cloud SMS (API 3.0, SendSms 2021-01-11) that checks what the real one checks: the
TC3-HMAC-SHA256 signature (recomputed here from the documented algorithm with the known secret, not
with the SDK's code), the X-TC-Action / Version / Timestamp / Region headers, and SendSms's parameters
(the app, the signature name, an approved template and its parameter count, the numbers); it answers
in Tencent's Response envelope, with SendStatusSet per number.

    with FakeTencentSms() as fake:          # fake.url: the sender's [tencent_sms] endpoint
        fake.fail_next("thirty_second_limit")
        fake.sent                            # [(phone, template_id, [params…]), …] accepted messages

Troubles (fail_next): thirty_second_limit, daily_limit (per-number LimitExceeded.*), bad_number
(per-number InvalidParameterValue.IncorrectPhoneNumber), unsupported (UnsupportedOperation.*),
request_limit (RequestLimitExceeded), no_balance, internal (InternalError), http_502, timeout (answers
after `fake.delay` seconds). `python -m tests.fakes.tencent_sms --port 8702` serves one alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.fakes.server import FakeServer, Reply, Request, main

SECRET_ID = "AKIDfake0000000000000000000000000000"
SECRET_KEY = "fake-tencent-secret-key-0000000000"
SDK_APP_ID = "1400000000"
SIGN_NAME = "文明实践"
# Approved templates: id -> how many parameters it has ({1}, {2}, …).
TEMPLATES = {"1000001": 2, "1000002": 1, "1000003": 2}
REGIONS = ("ap-guangzhou", "ap-beijing", "ap-nanjing")
PHONE = re.compile(r"^\+\d{6,15}$")
MAINLAND = re.compile(r"^\+861\d{10}$")

PER_NUMBER = {
    "thirty_second_limit": (
        "LimitExceeded.PhoneNumberThirtySecondLimit",
        "the number has hit its 30-second limit",
    ),
    "daily_limit": ("LimitExceeded.PhoneNumberDailyLimit", "the number has hit its daily limit"),
    "bad_number": ("InvalidParameterValue.IncorrectPhoneNumber", "incorrect phone number"),
}
WHOLE_REQUEST = {
    "request_limit": ("RequestLimitExceeded", "request limit exceeded"),
    "no_balance": ("FailedOperation.InsufficientBalanceInSmsPackage", "the SMS package is used up"),
    "internal": ("InternalError", "internal error"),
    "unsupported": (
        "UnsupportedOperation.ContainDomesticAndInternationalPhoneNumber",
        "mixed domestic and international numbers",
    ),
}


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def tc3_signature(
    secret_key: str, request: Request, signed: list[str], timestamp: str, date: str, service: str
) -> str:
    """TC3-HMAC-SHA256 as Tencent documents it (签名方法 v3): canonical request, string to sign, and the
    key derived from "TC3" + secret over the date, the service and "tc3_request"."""
    headers = "".join(f"{name}:{request.headers.get(name, '').strip().lower()}\n" for name in signed)
    canonical = "\n".join(
        [
            request.method,
            request.path or "/",
            "&".join(f"{k}={v}" for k, v in sorted(request.query.items())),
            headers,
            ";".join(signed),
            hashlib.sha256(request.body).hexdigest(),
        ]
    )
    scope = f"{date}/{service}/tc3_request"
    to_sign = "\n".join(["TC3-HMAC-SHA256", timestamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), service), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class FakeTencentSms(FakeServer):
    name = "fake-tencent-sms"

    def __init__(
        self,
        port: int = 0,
        *,
        secret_id: str = SECRET_ID,
        secret_key: str = SECRET_KEY,
        sdk_app_id: str = SDK_APP_ID,
        sign_name: str = SIGN_NAME,
        templates: dict[str, int] | None = None,
        delay: float = 2.0,
    ) -> None:
        super().__init__(port)
        self.secret_id, self.secret_key = secret_id, secret_key
        self.sdk_app_id, self.sign_name = sdk_app_id, sign_name
        self.templates = dict(TEMPLATES if templates is None else templates)
        self.delay = delay
        self.sent: list[tuple[str, str, list[str]]] = []
        self.refused: list[str] = []  # every error code answered, in order

    # ---- answers in Tencent's envelope ----

    def _error(self, code: str, message: str) -> Reply:
        self.refused.append(code)
        return Reply(
            200, {"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}}
        )

    def _ok(self, statuses: list[dict[str, Any]]) -> Reply:
        return Reply(200, {"Response": {"SendStatusSet": statuses, "RequestId": str(uuid.uuid4())}})

    # ---- checks ----

    def _auth_refusal(self, request: Request) -> Reply | None:
        auth = request.headers.get("authorization", "")
        match = re.fullmatch(
            r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z]+)/tc3_request, "
            r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})",
            auth,
        )
        if match is None:
            return self._error("AuthFailure.InvalidAuthorization", "the Authorization header is malformed")
        secret_id, date, service, signed_text, signature = match.groups()
        if secret_id != self.secret_id:
            return self._error("AuthFailure.SecretIdNotFound", "the SecretId is not found")
        signed = signed_text.split(";")
        if "content-type" not in signed or "host" not in signed:
            return self._error("AuthFailure.InvalidAuthorization", "content-type and host must be signed")
        timestamp = request.headers.get("x-tc-timestamp", "")
        if not timestamp.isdigit():
            return self._error("MissingParameter", "X-TC-Timestamp is required")
        if abs(time.time() - int(timestamp)) > 300:
            return self._error("AuthFailure.SignatureExpire", "the signature expired")
        if datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%d") != date or service != "sms":
            return self._error("AuthFailure.SignatureFailure", "the credential scope does not match")
        expected = tc3_signature(self.secret_key, request, signed, timestamp, date, service)
        if not hmac.compare_digest(expected, signature):
            return self._error("AuthFailure.SignatureFailure", "the signature is wrong")
        return None

    def handle(self, request: Request, trouble: str | None) -> Reply:
        if request.method != "POST" or request.path != "/":
            return Reply(404, b"not found", {"Content-Type": "text/plain"})
        refusal = self._auth_refusal(request)
        if refusal is not None:
            return refusal
        if request.headers.get("x-tc-action") != "SendSms":
            return self._error("InvalidAction", f"no action {request.headers.get('x-tc-action')!r}")
        if request.headers.get("x-tc-version") != "2021-01-11":
            return self._error("NoSuchVersion", "the version does not exist")
        if request.headers.get("x-tc-region") not in REGIONS:
            return self._error("UnsupportedRegion", "SMS is not offered in that region")
        if not request.headers.get("content-type", "").startswith("application/json"):
            return self._error("InvalidParameter", "the body must be JSON")
        if trouble == "timeout":
            return Reply(200, {"Response": {"RequestId": str(uuid.uuid4())}}, delay=self.delay)
        if trouble == "http_502":
            return Reply(502, b"<html>502 Bad Gateway</html>", {"Content-Type": "text/html"})
        if trouble in WHOLE_REQUEST:
            return self._error(*WHOLE_REQUEST[trouble])
        try:
            params = json.loads(request.body)
        except ValueError:
            return self._error("InvalidParameter", "the body is not JSON")
        refusal = self._parameter_refusal(params if isinstance(params, dict) else {})
        if refusal is not None:
            return refusal
        statuses = []
        for phone in params["PhoneNumberSet"]:
            code, message = "Ok", "send success"
            if trouble in PER_NUMBER:
                code, message = PER_NUMBER[trouble]
            elif not PHONE.match(phone) or (phone.startswith("+86") and not MAINLAND.match(phone)):
                code, message = PER_NUMBER["bad_number"]
            if code == "Ok":
                self.sent.append((phone, params["TemplateId"], list(params.get("TemplateParamSet") or [])))
            else:
                self.refused.append(code)
            statuses.append(
                {
                    "SerialNo": uuid.uuid4().hex if code == "Ok" else "",
                    "PhoneNumber": phone,
                    "Fee": 1 if code == "Ok" else 0,
                    "SessionContext": params.get("SessionContext", ""),
                    "Code": code,
                    "Message": message,
                    "IsoCode": "CN" if phone.startswith("+86") else "",
                }
            )
        return self._ok(statuses)

    def _parameter_refusal(self, params: dict[str, Any]) -> Reply | None:
        for name in ("SmsSdkAppId", "TemplateId", "PhoneNumberSet"):
            if name not in params:
                return self._error("MissingParameter", f"{name} is required")
        if params["SmsSdkAppId"] != self.sdk_app_id:
            return self._error("InvalidParameterValue.SdkAppIdNotExist", "the SdkAppId does not exist")
        if params.get("SignName") != self.sign_name:
            return self._error(
                "FailedOperation.SignatureIncorrectOrUnapproved", "the signature is wrong or unapproved"
            )
        if params["TemplateId"] not in self.templates:
            return self._error(
                "FailedOperation.TemplateIncorrectOrUnapproved", "the template is wrong or unapproved"
            )
        values = params.get("TemplateParamSet") or []
        if not isinstance(values, list) or not all(isinstance(value, str) for value in values):
            return self._error("InvalidParameterValue.TemplateParameterFormatError", "params must be strings")
        if len(values) != self.templates[params["TemplateId"]]:
            return self._error(
                "InvalidParameterValue.TemplateParameterFormatError",
                "the parameters do not match the template",
            )
        phones = params["PhoneNumberSet"]
        if not isinstance(phones, list) or not phones or not all(isinstance(p, str) for p in phones):
            return self._error("InvalidParameterValue.IncorrectPhoneNumber", "PhoneNumberSet is empty")
        if len(phones) > 200:
            return self._error("LimitExceeded.PhoneNumberCountLimit", "at most 200 numbers a request")
        return None


if __name__ == "__main__":
    main(FakeTencentSms)
