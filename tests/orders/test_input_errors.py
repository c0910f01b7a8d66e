"""Bad input to the order loop: 422 in the one error format naming the field, and nothing changed.

Each case sends one malformed or out-of-range value in an otherwise valid request (times without an
offset, windows the wrong way round or too long, far-off years, unknown categories and groups,
impossible places, ids beyond 64 bits, forged cursors) and checks the answer names the field and that
no order, event or assignment was written or moved.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from sqlalchemy import func, select

from tests.api.helpers import assert_error
from tests.orders.conftest import NEAR, PLACE, order_body
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order, OrderEvent
from volunteer_app.schemas import MAX_ID

HUGE = MAX_ID + 1


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _naive(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat()


def _snapshot(app) -> tuple:
    """Everything a refused request must leave as it was."""
    with app.app_context():
        orders = db.session.execute(
            select(Order.id, Order.status, Order.mode, Order.capacity, Order.taken, Order.fill_due_at)
        ).all()
        events = db.session.scalar(select(func.count()).select_from(OrderEvent))
        assignments = db.session.execute(
            select(Assignment.id, Assignment.status, Assignment.checkin_at, Assignment.checkout_at)
        ).all()
    return sorted(orders), events, sorted(assignments)


def _refused(
    app,
    client,
    person,
    method: str,
    url: str,
    body,
    field: str,
    *,
    raw: bool = False,
    location: str = "json",
    error_code: str = "validation.failed",
):
    """Send the request; it is a 422 naming `field` (in the JSON body, or the query) and changes nothing
    (a forged cursor is a 400)."""
    before = _snapshot(app)
    if raw:  # already serialised (NaN is not JSON; Python writes it and a client could too)
        response = client.open(
            url, method=method, data=body, content_type="application/json", headers=person.headers
        )
    else:
        response = client.open(url, method=method, json=body, headers=person.headers)
    status = 400 if error_code == "pagination.bad_cursor" else 422
    error = assert_error(response, status, error_code)
    assert field in error["errors"][location], error
    assert _snapshot(app) == before
    return error


def _submitted(client, world, **over) -> dict:
    r = client.post(
        "/api/v1/orders", json=order_body(client.application, **over), headers=world.resident.headers
    )
    assert r.status_code == 201, r.get_json()
    return r.get_json()


# ---- 点单 -------------------------------------------------------------------------------------------

_START = _now() + timedelta(hours=2)

SUBMIT_CASES = [
    ("naive start_at", {"start_at": _naive(_START)}, "start_at"),
    ("naive end_at", {"end_at": _naive(_START + timedelta(hours=1))}, "end_at"),
    ("end_at before start", {"end_at": (_START - timedelta(minutes=1)).isoformat()}, "end_at"),
    ("empty window", {"end_at": _START.isoformat()}, "end_at"),
    (
        "window over 12 hours",
        {"end_at": (_START + timedelta(hours=12, minutes=1)).isoformat()},
        "end_at",
    ),
    (
        "year 9999",
        {"start_at": "9999-12-31T10:00:00+08:00", "end_at": "9999-12-31T12:00:00+08:00"},
        "start_at",
    ),
    ("year 1", {"start_at": "0001-01-01T00:00:00+14:00"}, "start_at"),
    ("start in the past", {"start_at": (_now() - timedelta(minutes=30)).isoformat()}, "start_at"),
    (
        "start beyond 90 days",
        {
            "start_at": (_START + timedelta(days=91)).isoformat(),
            "end_at": (_START + timedelta(days=91, hours=1)).isoformat(),
        },
        "start_at",
    ),
    ("not a time", {"start_at": "tomorrow morning"}, "start_at"),
    ("unknown category", {"category_id": 999_999}, "category_id"),
    ("category beyond 64 bits", {"category_id": HUGE}, "category_id"),
    ("category 0", {"category_id": 0}, "category_id"),
    ("category as a string", {"category_id": "1"}, "category_id"),
    ("volunteers_needed 0", {"volunteers_needed": 0}, "volunteers_needed"),
    ("volunteers_needed 51", {"volunteers_needed": 51}, "volunteers_needed"),
    ("volunteers_needed 10**30", {"volunteers_needed": 10**30}, "volunteers_needed"),
    ("volunteers_needed 1.5", {"volunteers_needed": 1.5}, "volunteers_needed"),
    ("unknown target group", {"target_groups": ["martians"]}, "target_groups"),
    ("target groups not a list", {"target_groups": "elderly_alone"}, "target_groups"),
    ("lat 91", {"lat": 91}, "lat"),
    ("lat -90.5", {"lat": -90.5}, "lat"),
    ("lng 181", {"lng": 181}, "lng"),
    ("lng not a number", {"lng": "east"}, "lng"),
    ("lat missing", {"lat": None}, "lat"),
    ("empty title", {"title": ""}, "title"),
    ("title with NUL", {"title": "陪\u0000诊"}, "title"),
    (
        "proxy site beyond 64 bits",
        {"site_id": HUGE, "resident_phone": "13612345678", "resident_name": "王奶奶"},
        "site_id",
    ),
]


@pytest.mark.parametrize(("over", "field"), [c[1:] for c in SUBMIT_CASES], ids=[c[0] for c in SUBMIT_CASES])
def test_bad_order_is_refused(app, client, world, over, field):
    body = order_body(app, start=_START)
    body.update(over)
    body = {k: v for k, v in body.items() if v is not None}
    person = world.mgr_s1 if "resident_phone" in over else world.resident
    _refused(app, client, person, "POST", "/api/v1/orders", body, field)


@pytest.mark.parametrize("field", ["lat", "lng"])
def test_non_finite_coordinates_are_refused(app, client, world, field):
    body = order_body(app)
    raw = json.dumps(body).replace(json.dumps(body[field]), "NaN", 1)
    assert "NaN" in raw
    _refused(app, client, world.resident, "POST", "/api/v1/orders", raw, field, raw=True)


# ---- 派单 -------------------------------------------------------------------------------------------

DISPATCH_CASES = [
    ("unknown mode", {"mode": "auction"}, "mode"),
    ("naive deadline", {"mode": "grab", "deadline": _naive(_now() + timedelta(hours=1))}, "deadline"),
    (
        "deadline in the past",
        {"mode": "grab", "deadline": (_now() - timedelta(hours=1)).isoformat()},
        "deadline",
    ),
    (
        "deadline after the window",
        {"mode": "grab", "deadline": (_now() + timedelta(days=2)).isoformat()},
        "deadline",
    ),
    ("deadline in year 9999", {"mode": "grab", "deadline": "9999-01-01T00:00:00+00:00"}, "deadline"),
    ("capacity 0", {"mode": "grab", "capacity": 0}, "capacity"),
    ("capacity 51", {"mode": "grab", "capacity": 51}, "capacity"),
    ("assign to nobody", {"mode": "assign"}, "volunteer_ids"),
    ("assign to an empty list", {"mode": "assign", "volunteer_ids": []}, "volunteer_ids"),
    ("volunteer id beyond 64 bits", {"mode": "assign", "volunteer_ids": [HUGE]}, "volunteer_ids"),
    ("a resident is no volunteer", {"mode": "assign", "volunteer_ids": ["RESIDENT"]}, "volunteer_ids"),
    ("team id beyond 64 bits", {"mode": "assign", "team_id": HUGE}, "team_id"),
    # Found by these tests: a team named in the body that is absent or out of reach was a 404, as if
    # the order itself were gone; like an unknown volunteer, it is bad input naming the field.
    ("unknown team", {"mode": "assign", "team_id": 999_999}, "team_id"),
    ("another center's team", {"mode": "assign", "team_id": "T4"}, "team_id"),
    ("grab names volunteers", {"mode": "grab", "volunteer_ids": ["VOLUNTEER"]}, "mode"),
]


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in DISPATCH_CASES], ids=[c[0] for c in DISPATCH_CASES]
)
def test_bad_dispatch_is_refused(app, client, world, body, field):
    order = _submitted(client, world)
    named = {"RESIDENT": world.resident.id, "VOLUNTEER": world.vol_s1.id}
    if "volunteer_ids" in body:
        body = {**body, "volunteer_ids": [named.get(v, v) for v in body["volunteer_ids"]]}
    if body.get("team_id") == "T4":
        body = {**body, "team_id": world.teams["T4"]}
    _refused(app, client, world.mgr_s1, "POST", f"/api/v1/orders/{order['id']}/dispatch", body, field)


def test_bad_offer_is_refused(app, client, world):
    order = _submitted(client, world)
    dispatched = client.post(
        f"/api/v1/orders/{order['id']}/dispatch",
        json={"mode": "assign", "volunteer_ids": [world.vol_s1.id]},
        headers=world.mgr_s1.headers,
    )
    assert dispatched.status_code == 200, dispatched.get_json()
    url = f"/api/v1/orders/{order['id']}/offers"
    _refused(app, client, world.mgr_s1, "POST", url, {"volunteer_ids": [HUGE]}, "volunteer_ids")
    _refused(app, client, world.mgr_s1, "POST", url, {"volunteer_ids": [world.vol_s4.id]}, "volunteer_ids")
    _refused(app, client, world.mgr_s1, "POST", url, {}, "volunteer_ids")
    _refused(app, client, world.mgr_s1, "POST", url, {"team_id": world.teams["T4"]}, "team_id")
    _refused(app, client, world.mgr_s1, "POST", url, {"team_id": 999_999}, "team_id")


# ---- the task feed ----------------------------------------------------------------------------------


def _cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


TASKS_CASES = [
    ("radius 99", "radius_m=99", "radius_m", "validation.failed"),
    ("radius 50001", "radius_m=50001", "radius_m", "validation.failed"),
    ("radius not a number", "radius_m=far", "radius_m", "validation.failed"),
    ("lat 91", "lat=91", "lat", "validation.failed"),
    ("lng -181", "lng=-181", "lng", "validation.failed"),
    ("lat NaN", "lat=nan", "lat", "validation.failed"),
    ("category 0", "category_id=0", "category_id", "validation.failed"),
    ("category beyond 64 bits", f"category_id={HUGE}", "category_id", "validation.failed"),
    ("limit 0", "limit=0", "limit", "validation.failed"),
    ("cursor not base64 JSON", "cursor=%25%25%25", "cursor", "pagination.bad_cursor"),
    ("cursor of one value", f"cursor={_cursor([1.5])}", "cursor", "pagination.bad_cursor"),
    ("cursor of strings", f"cursor={_cursor(['x', 'y'])}", "cursor", "pagination.bad_cursor"),
    ("cursor with a float id", f"cursor={_cursor([0.5, 1.5])}", "cursor", "pagination.bad_cursor"),
    (
        "cursor with an id beyond 64 bits",
        f"cursor={_cursor([0.5, 2**64])}",
        "cursor",
        "pagination.bad_cursor",
    ),
    ("cursor too long", f"cursor={'A' * 201}", "cursor", "pagination.bad_cursor"),
]


@pytest.mark.parametrize(
    ("query", "field", "error"), [c[1:] for c in TASKS_CASES], ids=[c[0] for c in TASKS_CASES]
)
def test_bad_feed_query_is_refused(app, client, world, query, field, error):
    args = {"lat": PLACE["lat"], "lng": PLACE["lng"]}
    name, _, value = query.partition("=")
    args[name] = value
    url = "/api/v1/tasks/available?" + "&".join(f"{k}={v}" for k, v in args.items())
    _refused(app, client, world.vol_s1, "GET", url, None, field, location="query", error_code=error)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_cursor_with_a_non_finite_distance_is_refused(app, client, world, value):
    """A forged cursor whose distance is not a finite number: JSON readers accept NaN and Infinity, and
    the feed answered an empty page (or, for -Infinity, the first page) instead of refusing it."""
    cursor = base64.urlsafe_b64encode(f"[{value},1]".encode()).decode().rstrip("=")
    url = f"/api/v1/tasks/available?lat={PLACE['lat']}&lng={PLACE['lng']}&cursor={cursor}"
    refuse = partial(_refused, location="query", error_code="pagination.bad_cursor")
    refuse(app, client, world.vol_s1, "GET", url, None, "cursor")


# ---- attendance, rating, audit ----------------------------------------------------------------------


def _held(loop, world) -> tuple[dict, dict]:
    """S1's order with vol_s1 holding its only place, its window starting a minute ago (check-in open)."""
    order = loop.submit(world.resident, start=_now() - timedelta(minutes=1), volunteers_needed=1)
    deadline = (_now() + timedelta(minutes=30)).isoformat()
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=1, deadline=deadline)
    return order, loop.grab(world.vol_s1, order["id"])


POSITION_CASES = [
    ("lat 91", {**NEAR, "lat": 91}, "lat"),
    ("lng 180.5", {**NEAR, "lng": 180.5}, "lng"),
    ("lat missing", {"lng": NEAR["lng"]}, "lat"),
    ("lng a string", {**NEAR, "lng": "here"}, "lng"),
]


@pytest.mark.parametrize(
    ("body", "field"), [c[1:] for c in POSITION_CASES], ids=[c[0] for c in POSITION_CASES]
)
def test_bad_check_in_position_is_refused(app, client, world, loop, body, field):
    _, assignment = _held(loop, world)
    url = f"/api/v1/assignments/{assignment['id']}/check-in"
    _refused(app, client, world.vol_s1, "POST", url, body, field)


def test_bad_close_and_no_show_are_refused(app, client, world, loop):
    _, assignment = _held(loop, world)
    loop.act(world.vol_s1, assignment["id"], "check-in", NEAR)
    close = partial(
        _refused, app, client, world.mgr_s1, "POST", f"/api/v1/assignments/{assignment['id']}/close"
    )
    close({}, "reason")
    close({"reason": ""}, "reason")
    # No offset, a far-off year, before the check-in, after the window and its grace.
    for moment in (
        _naive(_now()),
        "9999-01-01T00:00:00+00:00",
        (_now() - timedelta(hours=1)).isoformat(),
        (_now() + timedelta(days=1)).isoformat(),
    ):
        close({"reason": "忘记签退", "checkout_at": moment}, "checkout_at")
    no_show = f"/api/v1/assignments/{assignment['id']}/no-show"
    _refused(app, client, world.mgr_s1, "POST", no_show, {}, "reason")


def _completed(loop, world) -> tuple[dict, dict]:
    order, assignment = _held(loop, world)
    loop.act(world.vol_s1, assignment["id"], "check-in", NEAR)
    loop.act(world.vol_s1, assignment["id"], "check-out", NEAR)
    assert loop.get(world.resident, order["id"])["status"] == "completed"
    return order, assignment


def test_bad_rating_is_refused(app, client, world, loop):
    order, _ = _completed(loop, world)
    url = f"/api/v1/orders/{order['id']}/rating"
    for body in ({"stars": 0}, {"stars": 6}, {"stars": "5"}, {"stars": 4.5}, {}, {"stars": 10**30}):
        _refused(app, client, world.resident, "POST", url, body, "stars")
    _refused(app, client, world.resident, "POST", url, {"stars": 5, "comment": "好" * 501}, "comment")


def test_bad_audit_is_refused(app, client, world, loop):
    order, assignment = _completed(loop, world)
    url = f"/api/v1/orders/{order['id']}/audit"
    mine = assignment["id"]
    for items in (
        [{"assignment_id": HUGE}],
        [{"assignment_id": 0}],
        [{"assignment_id": mine + 1000}],  # not an assignment of this order
        [{"assignment_id": mine, "minutes": -1, "reason": "x"}],
        [{"assignment_id": mine, "minutes": 24 * 60 + 1, "reason": "x"}],
        [{"assignment_id": mine}, {"assignment_id": mine}],
    ):
        _refused(app, client, world.mgr_s1, "POST", url, {"assignments": items}, "assignments")
    # Above the window (2 hours) is no service this order could have had.
    above = {"assignments": [{"assignment_id": mine, "minutes": 121, "reason": "x"}]}
    error = _refused(app, client, world.mgr_s1, "POST", url, above, "assignments")
    assert error["errors"]["json"]["assignments"] == {"0": {"minutes": ["超过了服务时段"]}}


# ---- lists ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "error"),
    [
        ("scope=everyone", "scope", "validation.failed"),
        ("status=lost", "status", "validation.failed"),
        ("limit=101", "limit", "validation.failed"),
        (f"cursor={_cursor(['1'])}", "cursor", "pagination.bad_cursor"),
        (f"cursor={_cursor([2**63])}", "cursor", "pagination.bad_cursor"),
    ],
)
def test_bad_order_list_query_is_refused(app, client, world, query, field, error):
    _submitted(client, world)
    url = f"/api/v1/orders?{query}"
    _refused(app, client, world.resident, "GET", url, None, field, location="query", error_code=error)
