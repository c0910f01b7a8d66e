"""The log scan (README "Logs"): a realistic walk through the API in-process — registration near a
place, password and SMS-code logins, a refresh, a volunteer application with an ID number, an order
with coordinates, the feed asked with coordinates in its query, a grab, check-in and check-out with the
position in body and query, the rating, the audit, the time book, a WeChat sign-in against the fake, a
password change and a logout, then the worker's round — with the app's own logging configuration at
DEBUG (every library's logger at DEBUG too, httpx's full URLs included) in production's JSON format.

None of what the walk sent or was given (tokens, passwords, the SMS code, WeChat's codes and secret,
the ID number, the coordinates as sent, the full phone number) may appear anywhere in what was written;
and each request wrote exactly one request line, with its fields, under the id its response echoed."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from tests.auth.conftest import sent_codes
from volunteer_app.accounts import identity
from volunteer_app.worker.runner import Worker

PHONE = "13955501234"
PASSWORD = "Walk-secret-pass-2026"
WRONG_PASSWORD = "Wrong-guess-pass-77"
NEW_PASSWORD = "Walk-new-pass-2027"
ID_NUMBER = "33010619900307152" + identity.id_check_char("33010619900307152")
HOME = {"lat": 30.270431, "lng": 120.170362}  # near station S1 (30.27, 120.17): registration's nearest
PLACE = {"lat": 30.271283, "lng": 120.171547}  # the order's place
AT_PLACE = {"lat": 30.271301, "lng": 120.171588}  # where the volunteer stands to check in and out
FIELDS = {"time", "level", "logger", "event", "request_id", "method", "route", "status", "duration_ms"}


class Walk:
    """The test client, counting each request and keeping every token it is given."""

    def __init__(self, client):
        self.client = client
        self.answers = []
        self.tokens: set[str] = set()

    def __call__(self, method: str, url: str, token: str | None = None, expect: int = 200, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
            self.tokens.add(token)
        response = self.client.open(url, method=method, headers=headers, **kwargs)
        assert response.status_code == expect, (method, url, response.status_code, response.get_json())
        self.answers.append(response)
        body = response.get_json(silent=True)
        if isinstance(body, dict):
            self.tokens.update(str(body[k]) for k in ("access_token", "refresh_token") if body.get(k))
        return body


def test_a_full_walk_leaves_nothing_secret_in_the_logs(wechat_app, fake, client, world, capture_logs):
    app = wechat_app
    logged = capture_logs(
        fmt="json",
        level="DEBUG",
        levels={"httpx": "DEBUG", "httpcore": "DEBUG", "urllib3": "DEBUG", "apscheduler": "DEBUG"},
    )
    call = Walk(client)
    now = datetime.now(UTC).replace(microsecond=0)

    # Registration (the home station found from the phone's position) and every way of signing in.
    registered = call(
        "POST",
        "/api/v1/auth/register",
        json={"phone": PHONE, "password": PASSWORD, "name": "走查者", **HOME},
        expect=201,
    )
    user_id = registered["user"]["id"]
    call("POST", "/api/v1/auth/login", json={"phone": PHONE, "password": WRONG_PASSWORD}, expect=401)
    call("POST", "/api/v1/auth/login", json={"phone": PHONE, "password": PASSWORD})
    call("POST", "/api/v1/auth/sms-code", json={"phone": PHONE})
    [(_phone, sms_code)] = sent_codes(app)
    by_sms = call("POST", "/api/v1/auth/sms-login", json={"phone": PHONE, "code": sms_code})
    token = call("POST", "/api/v1/auth/refresh", token=by_sms["refresh_token"])["access_token"]

    # 申请 with an ID number; the station's manager approves.
    application = call(
        "POST",
        "/api/v1/me/volunteer-application",
        token=token,
        json={"real_name": "走查志愿者", "id_number": ID_NUMBER, "site_id": world.sites["S1"]},
        expect=201,
    )
    call("POST", f"/api/v1/volunteer-applications/{application['id']}/approve", token=world.mgr_s1.token)

    # 点单 → 派单 → the feed near me → 抢单 → 签到 → 签退 → 评单 → 审核 → the time book.
    order = call(
        "POST",
        "/api/v1/orders",
        token=world.resident.token,
        json={
            "category_id": 1,
            "title": "走查订单：陪老人散步",
            "address": "社区花园",
            **PLACE,
            "start_at": (now - timedelta(minutes=5)).isoformat(),
            "end_at": (now + timedelta(hours=1)).isoformat(),
            "volunteers_needed": 1,
        },
        expect=201,
    )
    call(
        "POST",
        f"/api/v1/orders/{order['id']}/dispatch",
        token=world.mgr_s1.token,
        json={"mode": "grab", "capacity": 1},
    )
    near = f"lat={PLACE['lat']}&lng={PLACE['lng']}"
    feed = call("GET", f"/api/v1/tasks/available?{near}", token=token)
    assert order["id"] in [task["id"] for task in feed["items"]]
    assignment = call("POST", f"/api/v1/orders/{order['id']}/grab", token=token, expect=201)
    here = f"lat={AT_PLACE['lat']}&lng={AT_PLACE['lng']}"
    call("POST", f"/api/v1/assignments/{assignment['id']}/check-in?{here}", token=token, json=AT_PLACE)
    call("POST", f"/api/v1/assignments/{assignment['id']}/check-out?{here}", token=token, json=AT_PLACE)
    call(
        "POST",
        f"/api/v1/orders/{order['id']}/rating",
        token=world.resident.token,
        json={"stars": 5, "comment": "谢谢"},
    )
    audited = call(
        "POST",
        f"/api/v1/orders/{order['id']}/audit",
        token=world.mgr_s1.token,
        json={"assignments": [{"assignment_id": assignment["id"], "minutes": 30, "reason": "按30分钟确认"}]},
    )
    assert audited["status"] == "closed"
    assert call("GET", "/api/v1/me/timebook", token=token)["balance_minutes"] == 30
    call("GET", "/api/v1/me", token=token)

    # WeChat: the mini-program's login code and phone code bind this WeChat to the account.
    fake.codes["JS-WALK-4471"] = "o-walk-openid-9931"
    fake.phone_codes["PH-WALK-5582"] = PHONE
    by_wechat = call(
        "POST", "/api/v1/auth/wechat", json={"code": "JS-WALK-4471", "phone_code": "PH-WALK-5582"}
    )
    assert by_wechat["user"]["id"] == user_id

    # A new password (the other sessions end), a login with it, and out.
    call(
        "POST",
        "/api/v1/auth/password",
        token=by_wechat["access_token"],
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
    )
    last = call("POST", "/api/v1/auth/login", json={"phone": PHONE, "password": NEW_PASSWORD})
    call("POST", "/api/v1/auth/logout", token=last["access_token"])

    requests_text = logged.text
    with app.app_context():  # the worker sends what the walk notified (the console sender logs each)
        assert Worker(app).run_once() > 0
    text = logged.text
    lines = logged.lines()

    secrets = {
        *call.tokens,
        world.resident.token,
        world.mgr_s1.token,
        PASSWORD,
        WRONG_PASSWORD,
        NEW_PASSWORD,
        sms_code,
        ID_NUMBER,
        ID_NUMBER[6:14],  # the birth date inside it
        PHONE,
        "+86" + PHONE,
        fake.secret,
        "JS-WALK-4471",
        "PH-WALK-5582",
        "o-walk-openid-9931",
        *(str(v) for place in (HOME, PLACE, AT_PLACE) for v in place.values()),
    }
    assert len(call.tokens) >= 12
    leaked = sorted(s for s in secrets if s in text)
    assert leaked == [], leaked

    # One request line per request, with its fields, under the id its response echoed.
    requests = [line for line in lines if line["event"] == "request"]
    assert len(requests) == len(call.answers)
    assert [r["request_id"] for r in requests] == [a.headers["X-Request-ID"] for a in call.answers]
    assert len({r["request_id"] for r in requests}) == len(requests)
    assert [r["status"] for r in requests] == [a.status_code for a in call.answers]
    for line in requests:
        assert set(line) >= FIELDS and line["pid"] == os.getpid() and "?" not in line["route"]
    assert {r["user_id"] for r in requests if r["route"] == "/api/v1/me/timebook"} == {user_id}
    assert {r["route"] for r in requests} >= {
        "/api/v1/assignments/<int:assignment_id>/check-in",
        "/api/v1/orders/<int:order_id>/audit",
        "/api/v1/auth/wechat",
    }
    # Every line written while the walk's requests ran belongs to one of them.
    during = logged.lines()[: len(requests_text.splitlines())]
    assert all(line.get("request_id") for line in during)
    # The worker's lines (after the walk) name their drain or item, not a request.
    after = lines[len(during) :]
    assert after and all(
        "request_id" not in line and ("drain" in line or "work_id" in line) for line in after
    )
