"""Newcomer's walk through a running server: register, apply as a volunteer, approve as the demo manager;
then a demo volunteer redeems a reward, the station fulfils it, they gift 30 minutes and certify;
then the order loop: a resident orders, a manager opens it to grabbing, two volunteers grab, check in
and out, the resident rates, the manager audits and the volunteers see the hours; the station's
statistics count that session at once, and its orders come back as an XLSX file made by the worker;
then a station manager signs in to the console, sees Today and its orders, and signs out; last the
phone client's walk against fake providers: a volunteer signs in through WeChat (the fake's
jscode2session and phone number), registers a device, is pushed a new grab pool near them (the worker
sends it to the fake JPush), grabs it from the feed, checks in at an activity with the QR code the
manager shows, and the certificate's public page opens without a bearer token.

Usage: python .ci/smoke.py http://127.0.0.1:5000   (exits non-zero on the first surprise)
The phone walk needs the fakes, named in FAKE_WECHAT and FAKE_JPUSH (their URLs; .ci/run starts them
and points the server at them); without them it is skipped, and says so.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta

BASE = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:5000"
PASSWORD = "demo-pass-2026"


def call(method: str, path: str, body=None, token: str | None = None, expect: int = 200):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            status, payload = resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        status, payload = err.code, json.loads(err.read() or b"null")
    if status != expect:
        sys.exit(f"{method} {path}: expected {expect}, got {status}: {payload}")
    return payload


def gb11643(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


def main() -> None:
    assert call("GET", "/readyz")["status"] == "ok"
    stations = call("GET", "/api/v1/sites?kind=station&limit=10")["items"]
    station = stations[0]
    phone = f"135{random.randint(10_000_000, 99_999_999)}"
    me = call(
        "POST",
        "/api/v1/auth/register",
        {"phone": phone, "password": "newcomer-pass-1", "name": "新居民", "home_site_id": station["id"]},
        expect=201,
    )
    token = me["access_token"]
    id_number = gb11643(f"330106199001{random.randint(10, 28)}{random.randint(100, 999)}")
    application = call(
        "POST",
        "/api/v1/me/volunteer-application",
        {"real_name": "新志愿者", "id_number": id_number, "site_id": station["id"]},
        token=token,
        expect=201,
    )
    assert application["id_number_masked"].count("*") == 10, application
    manager = call("POST", "/api/v1/auth/login", {"phone": "13900000004", "password": PASSWORD})
    queue = call(
        "GET",
        f"/api/v1/sites/{station['id']}/volunteer-applications?status=pending",
        token=manager["access_token"],
    )
    if application["id"] not in [a["id"] for a in queue["items"]]:
        # The demo's first station manager may not reach this station; the center manager does.
        manager = call("POST", "/api/v1/auth/login", {"phone": "13900000001", "password": PASSWORD})
    call("POST", f"/api/v1/volunteer-applications/{application['id']}/approve", token=manager["access_token"])
    profile = call("GET", "/api/v1/me", token=token)
    assert profile["volunteer"] and profile["volunteer"]["site_id"] == station["id"], profile
    assert "volunteer" in [r["role"] for r in profile["roles"]], profile
    number = profile["volunteer"]["volunteer_no"]
    print(f"smoke ok: {phone} registered, applied, approved as volunteer {number}")
    time_book()
    order_loop()
    service_day()
    console()
    phone_client()
    supervision()


def time_book() -> None:
    """A demo volunteer with credited hours redeems, the station fulfils, they gift and certify."""
    volunteer = call("POST", "/api/v1/auth/login", {"phone": "13700000001", "password": PASSWORD})[
        "access_token"
    ]
    before = call("GET", "/api/v1/me/timebook", token=volunteer)["balance_minutes"]
    assert before > 0, before
    rewards = call("GET", "/api/v1/rewards?limit=50", token=volunteer)["items"]
    reward = min(
        (r for r in rewards if r["min_age"] is None and r["stock"] > 0), key=lambda r: r["price_minutes"]
    )
    code = call("POST", "/api/v1/redemptions", {"reward_id": reward["id"]}, token=volunteer, expect=201)[
        "code"
    ]
    manager = call("POST", "/api/v1/auth/login", {"phone": "13900000001", "password": PASSWORD})[
        "access_token"
    ]
    call("POST", f"/api/v1/redemptions/{code}/fulfil", token=manager)
    links = call("GET", "/api/v1/me/family-links", token=volunteer)["items"]
    link = next(link for link in links if link["status"] == "approved")
    call(
        "POST",
        "/api/v1/me/timebook/gifts",
        {"minutes": 30, "family_link_id": link["id"]},
        token=volunteer,
        expect=201,
    )
    after = call("GET", "/api/v1/me/timebook", token=volunteer)["balance_minutes"]
    assert after == before - reward["price_minutes"] - 30, (before, after)
    today = date.today()
    certificate = call(
        "POST",
        "/api/v1/me/certificates",
        {"date_from": (today - timedelta(days=120)).isoformat(), "date_to": today.isoformat()},
        token=volunteer,
        expect=201,
    )
    verified = call("GET", f"/api/v1/certificates/verify/{certificate['verification_code']}")
    assert verified["valid"] and verified["number"] == certificate["number"], verified
    number = verified["number"]
    page = fetch(certificate["share_url"])  # a phone opens the shared link: no bearer token
    assert number in page and "13700000001" not in page, certificate["share_url"]
    assert fetch(call("POST", f"/api/v1/certificates/{certificate['id']}/print-link", token=volunteer)["url"])
    print(f"smoke ok: redeemed {reward['title']}, fulfilled {code}, gifted 30 min, certificate {number}")


TOKENS: dict[str, str] = {}


def fetch(url: str) -> str:
    """A page as a phone's browser opens it: no Authorization header; must be 200 and on this server."""
    assert url.startswith(BASE + "/"), f"{url} is not on {BASE} (is VOLUNTEER_PUBLIC_BASE_URL set?)"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200, (url, resp.status)
        return resp.read().decode()


def fake(base: str, method: str, body=None):
    """Tell a fake provider something, or read what it received (tests/fakes/server.py /_fake/state)."""
    if method == "GET":
        req = urllib.request.Request(f"{base}/_fake/state?attr={body}")
    else:
        req = urllib.request.Request(f"{base}/_fake/state", data=json.dumps(body).encode(), method="POST")
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def login(phone: str) -> str:
    """One login per demo account per walk (logins are rate-limited per phone and per address)."""
    if phone not in TOKENS:
        TOKENS[phone] = call("POST", "/api/v1/auth/login", {"phone": phone, "password": PASSWORD})[
            "access_token"
        ]
    return TOKENS[phone]


def order_loop() -> None:
    """点单 → 派单 (grab pool) → 抢单 ×2 → 签到/签退 → 评单 → 审核 → hours in both books."""
    resident = login("13600000001")
    me = call("GET", "/api/v1/me", token=resident)
    home = call("GET", f"/api/v1/sites/{me['home_site']['id']}")
    place = {"lat": home["lat"] + 0.0005, "lng": home["lng"] + 0.0005}
    now = datetime.now(UTC).replace(microsecond=0)
    category = call("GET", "/api/v1/categories")["items"][0]
    order = call(
        "POST",
        "/api/v1/orders",
        {
            "category_id": category["id"],
            "title": "烟测订单：陪老人散步",
            "address": "社区花园",
            **place,
            # Started a few minutes ago, so the volunteers can check in at once.
            "start_at": (now - timedelta(minutes=5)).isoformat(),
            "end_at": (now + timedelta(hours=1)).isoformat(),
            "volunteers_needed": 2,
            "target_groups": ["elderly_alone"],
        },
        token=resident,
        expect=201,
    )
    manager = login("13900000001")
    call("POST", f"/api/v1/orders/{order['id']}/dispatch", {"mode": "grab", "capacity": 2}, token=manager)
    volunteers = [login(p) for p in ("13700000002", "13700000003", "13700000004")]
    feed = call("GET", f"/api/v1/tasks/available?lat={place['lat']}&lng={place['lng']}", token=volunteers[0])
    assert order["id"] in [t["id"] for t in feed["items"]], feed
    grab = f"/api/v1/orders/{order['id']}/grab"
    assignments = [call("POST", grab, token=v, expect=201) for v in volunteers[:2]]
    full = call("POST", grab, token=volunteers[2], expect=409)
    assert full["error"] == "order.full", full
    before = [call("GET", "/api/v1/me/timebook", token=v)["balance_minutes"] for v in volunteers[:2]]
    for volunteer, assignment in zip(volunteers, assignments, strict=False):
        call("POST", f"/api/v1/assignments/{assignment['id']}/check-in", place, token=volunteer)
    for volunteer, assignment in zip(volunteers, assignments, strict=False):
        call("POST", f"/api/v1/assignments/{assignment['id']}/check-out", place, token=volunteer)
    call(
        "POST", f"/api/v1/orders/{order['id']}/rating", {"stars": 5, "comment": "谢谢志愿者"}, token=resident
    )
    items = [{"assignment_id": a["id"], "minutes": 30, "reason": "烟测：按30分钟确认"} for a in assignments]
    closed = call("POST", f"/api/v1/orders/{order['id']}/audit", {"assignments": items}, token=manager)
    assert closed["status"] == "closed", closed
    after = [call("GET", "/api/v1/me/timebook", token=v)["balance_minutes"] for v in volunteers[:2]]
    assert [a - b for a, b in zip(after, before, strict=True)] == [30, 30], (before, after)
    events = call("GET", f"/api/v1/orders/{order['id']}/events?limit=50", token=resident)["items"]
    print(
        f"smoke ok: order {order['id']} ordered, grabbed by 2, served, rated, audited ({len(events)} events)"
    )
    statistics_and_export(manager, me["home_site"]["id"], order["id"])


def statistics_and_export(manager: str, station: int, order_id: int) -> None:
    """The audited order is in the station's figures at once, and an export of its orders is made."""
    today = call("GET", f"/api/v1/sites/{station}/stats", token=manager)  # this month up to today
    figures = today["figures"]
    assert today["pending_changes"] == 0, today
    assert figures["sessions"]["orders"] >= 1 and figures["attendances"] >= 2, figures
    assert figures["satisfaction"]["rated"] >= 1, figures
    period = {"from": today["from"], "to": today["to"]}
    job = call(
        "POST",
        f"/api/v1/sites/{station}/exports",
        {"kind": "orders", "format": "xlsx", **period},
        token=manager,
        expect=202,
    )
    for _ in range(60):  # the worker (embedded, or `flask worker run`) makes the file
        job = call("GET", f"/api/v1/jobs/{job['id']}", token=manager)
        if job["state"] in ("done", "dead"):
            break
        time.sleep(0.5)
    assert job["state"] == "done", job
    req = urllib.request.Request(BASE + job["result_url"], headers={"Authorization": f"Bearer {manager}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        data = resp.read()
    assert data[:2] == b"PK" and job["result"]["rows"] >= 1, job  # an XLSX file is a zip
    print(
        f"smoke ok: station {station}'s statistics count order {order_id}; "
        f"its orders exported ({job['result']['rows']} rows, {len(data):,} bytes)"
    )


def service_day() -> None:
    """A manager checks and saves a service-day rule for tomorrow's day of the month; the generated
    activity is in the feed; 报名 fills the place, then the waitlist, then refuses; a cancellation
    moves the waitlist up."""
    manager = login("13900000001")
    station = call("GET", "/api/v1/me", token=login("13600000001"))["home_site"]["id"]
    site = call("GET", f"/api/v1/sites/{station}")
    place = {"lat": site["lat"] + 0.0003, "lng": site["lng"] + 0.0003}
    tomorrow = (datetime.now(UTC) + timedelta(hours=8) + timedelta(days=1)).day  # Shanghai is UTC+8
    preview = call(
        "GET",
        f"/api/v1/sites/{station}/service-day-rules/preview?kind=days_of_month&days={tomorrow}"
        "&part_of_day=evening&count=2",
        token=manager,
    )
    assert len(preview["next_occurrences"]) == 2, preview
    category = call("GET", "/api/v1/categories")["items"][0]
    rule = call(
        "POST",
        f"/api/v1/sites/{station}/service-day-rules",
        {
            "spec": {"kind": "days_of_month", "days": [tomorrow], "part_of_day": "evening"},
            "theme": "烟测服务日",
            "title": "烟测：夜间巡逻",
            "category_id": category["id"],
            "address": "社区广场",
            **place,
            "slots": 1,
            "waitlist_max": 1,
        },
        token=manager,
        expect=201,
    )
    volunteers = [login(p) for p in ("13700000002", "13700000003", "13700000004")]  # as in order_loop
    feed = call("GET", f"/api/v1/tasks/available?lat={place['lat']}&lng={place['lng']}", token=volunteers[0])
    listed = call("GET", f"/api/v1/sites/{station}/activities?limit=100", token=volunteers[0])["items"]
    activity = next(a["id"] for a in listed if a["rule_id"] == rule["id"])  # the next one (runs twice)
    assert ("activity", activity) in [(t["kind"], t["id"]) for t in feed["items"]], feed
    signup = f"/api/v1/activities/{activity}/signup"
    assert call("POST", signup, token=volunteers[0], expect=201)["status"] == "held"
    assert call("POST", signup, token=volunteers[1], expect=201)["status"] == "waitlisted"
    assert call("POST", signup, token=volunteers[2], expect=409)["error"] == "activity.full"
    call("DELETE", signup, token=volunteers[0], expect=204)
    moved = call("GET", f"/api/v1/activities/{activity}", token=volunteers[1])["my_assignment"]
    assert moved["status"] == "held", moved
    print(f"smoke ok: rule {rule['id']} ({rule['description']}) → activity {activity}, waitlist moved up")


def console() -> None:
    """The managers' console as a browser meets it: its sign-in page and assets (served by the app,
    with their CSP), a sign-in with the page's token, Today and the orders, a change refused without the
    CSRF value, sign-out."""
    import http.cookiejar
    import re

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def get(path: str) -> tuple[int, str, dict]:
        try:
            with opener.open(BASE + path, timeout=10) as resp:
                return resp.status, resp.read().decode(), dict(resp.headers)
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode(), dict(err.headers)

    def post(path: str, body: dict, csrf: str) -> tuple[int, dict]:
        req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), method="POST")
        req.add_header("Content-Type", "application/json")
        if csrf:
            req.add_header("X-CSRF-Token", csrf)
        try:
            with opener.open(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    status, page, headers = get("/console/login")
    assert status == 200 and "frame-ancestors 'none'" in headers["Content-Security-Policy"], (status, headers)
    for asset in ("/console/static/console.js", "/console/static/console.css"):
        assert get(asset)[0] == 200, asset
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    status, answer = post("/console/session", {"phone": "13900000004", "password": PASSWORD}, token)
    assert status == 200, (status, answer)
    status, page, _ = get("/console/")
    assert status == 200 and "今日" in page, status
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    status, page, _ = get("/console/orders")
    assert status == 200 and "/console/orders/" in page, status
    status, answer = post("/console/logout", {}, "")
    assert status == 403 and answer["error"] == "auth.csrf", (status, answer)
    assert post("/console/logout", {}, csrf)[0] == 200
    status, _page, _ = get("/console/")
    assert status == 200 and "/console/session" in _page, "signed out: the sign-in page again"
    print("smoke ok: console sign-in, Today, orders, CSRF refused, sign-out")


def phone_client() -> None:
    """A volunteer's phone: WeChat sign-in, a device, a pool push, 抢单 from the feed, QR check-in."""
    wechat, jpush = os.environ.get("FAKE_WECHAT"), os.environ.get("FAKE_JPUSH")
    if not (wechat and jpush):
        print("smoke skipped: the phone walk (FAKE_WECHAT and FAKE_JPUSH name no fake providers)")
        return
    tag = f"{random.randint(0, 10**9):09d}"
    phone = "13700000005"
    # One openid for this phone: a second walk against the same server signs in by the binding made
    # by the first (WeChat gives a user one openid per mini-program).
    fake(wechat, "POST", {"attr": "codes", "key": f"login-{tag}", "value": f"o-smoke-{phone}"})
    fake(wechat, "POST", {"attr": "phone_codes", "key": f"phone-{tag}", "value": phone})
    signed_in = call("POST", "/api/v1/auth/wechat", {"code": f"login-{tag}", "phone_code": f"phone-{tag}"})
    assert signed_in["access_token"] and signed_in["refresh_token"], signed_in
    volunteer = signed_in["access_token"]
    me = call("GET", "/api/v1/me", token=volunteer)
    assert me["phone"].endswith(phone[-4:]) and me["volunteer"], me
    device = f"smoke{tag}"
    fake(jpush, "POST", {"attr": "devices", "value": device})
    call("POST", "/api/v1/me/devices", {"platform": "android", "token": device}, token=volunteer, expect=201)
    # Pools may reach this volunteer at any hour (the walk may run in the default quiet hours).
    call("PATCH", "/api/v1/me/notification-settings", {"quiet_hours": {"enabled": False}}, token=volunteer)

    station = call("GET", f"/api/v1/sites/{me['volunteer']['site_id']}")
    place = {"lat": station["lat"] + 0.001, "lng": station["lng"] + 0.001}
    categories = me["volunteer"].get("category_ids") or [call("GET", "/api/v1/categories")["items"][0]["id"]]
    now = datetime.now(UTC).replace(microsecond=0)
    resident = login("13600000001")
    order = call(
        "POST",
        "/api/v1/orders",
        {
            "category_id": categories[0],
            "title": "烟测：附近新单",
            "address": "社区活动室",
            **place,
            "start_at": (now + timedelta(hours=30)).isoformat(),
            "end_at": (now + timedelta(hours=31)).isoformat(),
            "volunteers_needed": 1,
        },
        token=resident,
        expect=201,
    )
    manager = login("13900000001")
    call("POST", f"/api/v1/orders/{order['id']}/dispatch", {"mode": "grab", "capacity": 1}, token=manager)
    pushed = None
    for _ in range(60):  # the worker sends the outbox to the fake JPush
        mine = [p for p in fake(jpush, "GET", "sent") if p[0] == device]  # (registration id, alert, extras)
        pushed = next((p for p in mine if p[2].get("subject_id") == str(order["id"])), None)
        if pushed:
            break
        time.sleep(0.5)
    assert pushed and pushed[2]["kind"] == "order.pool_nearby", fake(jpush, "GET", "sent")[-3:]
    near = f"lat={place['lat']}&lng={place['lng']}"
    feed = call("GET", f"/api/v1/tasks/available?{near}&matching=true", token=volunteer)
    assert order["id"] in [t["id"] for t in feed["items"] if t["kind"] == "order"], feed
    grabbed = call("POST", f"/api/v1/orders/{order['id']}/grab", token=volunteer, expect=201)

    activity = call(
        "POST",
        f"/api/v1/sites/{station['id']}/activities",
        {
            "category_id": categories[0],
            "title": "烟测：室内讲座",
            "address": "实践站多功能厅",
            "lat": station["lat"],
            "lng": station["lng"],
            # Sign-ups close at the start; check-in opens the grace period before it.
            "start_at": (now + timedelta(minutes=10)).isoformat(),
            "end_at": (now + timedelta(hours=1)).isoformat(),
            "slots": 5,
        },
        token=manager,
        expect=201,
    )
    signup = call("POST", f"/api/v1/activities/{activity['id']}/signup", token=volunteer, expect=201)
    code = call("GET", f"/api/v1/activities/{activity['id']}/checkin-code", token=manager)
    assert code["qr_svg"].lstrip().startswith("<"), code
    check_in = f"/api/v1/assignments/{signup['id']}/check-in"
    checked = call("POST", check_in, {"qr_code": code["code"]}, token=volunteer)
    assert checked["checkin_method"] == "qr", checked
    # Leave the volunteer free for the next walk against the same server: out by GPS at the station,
    # and the pool's place given back.
    at_station = {"lat": station["lat"], "lng": station["lng"]}
    call("POST", f"/api/v1/assignments/{signup['id']}/check-out", at_station, token=volunteer)
    call("POST", f"/api/v1/assignments/{grabbed['id']}/withdraw", {}, token=volunteer)
    print(
        f"smoke ok: WeChat sign-in of {phone[:3]}****{phone[-4:]}, pool {order['id']} pushed to the fake "
        f"JPush and grabbed, QR check-in at activity {activity['id']}"
    )


def supervision() -> None:
    """督办: the institute raises an item against its station, the station reports it, the institute
    closes it (销号); 诉求: a resident complains about an order they cancelled, the station answers, the
    resident accepts; the statistics count both."""
    station_manager, institute_manager = login("13900000004"), login("13900000002")
    station = call("GET", "/api/v1/me", token=station_manager)["home_site"]["id"]
    body = {"subject": "烟测督办：审核不及时", "description": "请核查并整改", "level": "yellow"}
    item = call(
        "POST", f"/api/v1/sites/{station}/supervision-items", body, token=institute_manager, expect=201
    )
    today = call("GET", f"/api/v1/sites/{station}/today", token=station_manager)["counts"]
    assert next(c for c in today if c["key"] == "items_to_act")["count"] >= 1, today
    call(
        "POST", f"/api/v1/supervision-items/{item['id']}/report", {"result": "已整改"}, token=station_manager
    )
    closed = call("POST", f"/api/v1/supervision-items/{item['id']}/close", {}, token=institute_manager)
    assert closed["status"] == "closed" and [e["action"] for e in closed["events"]] == [
        "raise",
        "report",
        "close",
    ], closed

    resident = login("13600000001")
    home = call("GET", "/api/v1/me", token=resident)["home_site"]["id"]
    place = call("GET", f"/api/v1/sites/{home}")
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    order = call(
        "POST",
        "/api/v1/orders",
        {
            "category_id": call("GET", "/api/v1/categories")["items"][0]["id"],
            "title": "烟测订单：代买药品",
            "address": "社区药店",
            "lat": place["lat"],
            "lng": place["lng"],
            "start_at": start.isoformat(),
            "end_at": (start + timedelta(hours=1)).isoformat(),
            "volunteers_needed": 1,
        },
        token=resident,
        expect=201,
    )
    call("POST", f"/api/v1/orders/{order['id']}/cancel", {"reason": "不需要了"}, token=resident)
    complaint = call(
        "POST",
        f"/api/v1/orders/{order['id']}/complaints",
        {"category": "timeliness", "text": "下单后一直没人联系"},
        token=resident,
        expect=201,
    )
    manager = login("13900000001")  # the center reaches whichever station dispatches it
    call("POST", f"/api/v1/complaints/{complaint['id']}/answer", {"resolution": "已回电说明"}, token=manager)
    accepted = call("POST", f"/api/v1/complaints/{complaint['id']}/accept", {}, token=resident)
    assert accepted["status"] == "closed" and accepted["resolution"] == "已回电说明", accepted
    stats = call("GET", f"/api/v1/sites/{station}/stats", token=station_manager)
    assert stats["supervision"]["items"]["raised"] >= 1, stats["supervision"]
    print(
        f"smoke ok: 督办 {item['id']} raised, reported, closed; "
        f"complaint {complaint['id']} answered, accepted"
    )


if __name__ == "__main__":
    main()
