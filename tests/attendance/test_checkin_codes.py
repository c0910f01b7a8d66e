"""QR check-in: a site's or an activity's rotating check-in code, fetched by a manager in reach and
sent by a volunteer as `qr_code` instead of a position. Lifecycle with time-machine (valid, rotated,
expired), wrong place, forged, replayed, and two replays racing (exactly one wins)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
import segno
from itsdangerous import URLSafeSerializer
from sqlalchemy import func, select

from tests.activities.test_activities import activity_body
from tests.api.helpers import assert_error
from tests.orders.conftest import FAR, Loop
from tests.orders.test_attendance import staffed
from tests.race import race
from tests.support import console_sign_in, make_volunteer
from volunteer_app.attendance import codes
from volunteer_app.attendance.models import Assignment, CheckinCodeUse
from volunteer_app.extensions import db

# Activities start at a whole minute so rotation windows (30 s) line up with the test's clock.
START = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
S1_POSITION = {"lat": 30.27, "lng": 120.17}  # tests/support.py SITE_TREE


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def activity(loop, world, place=S1_POSITION, slots: int = 2, start=START) -> int:
    body = activity_body(loop.app, start=start, slots=slots, **place)
    return loop.call("POST", f"/sites/{world.sites['S1']}/activities", world.mgr_s1, body, 201)["id"]


def signed_up(loop, person, activity_id: int) -> int:
    return loop.call("POST", f"/activities/{activity_id}/signup", person, None, 201)["id"]


def code_of(loop, person, path: str, status: int = 200) -> dict:
    return loop.call("GET", f"{path}/checkin-code", person, None, status)


def uses(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(CheckinCodeUse))


def test_a_code_is_shown_as_an_svg_and_rotates(loop, world):
    activity_id = activity(loop, world)
    with loop.at(START):
        first = code_of(loop, world.mgr_s1, f"/activities/{activity_id}")
        again = code_of(loop, world.mgr_s1, f"/activities/{activity_id}")
    assert first == again  # every screen in the window shows the same code
    assert first["place_kind"] == "activity" and first["place_id"] == activity_id
    issued = datetime.fromisoformat(first["issued_at"])
    assert datetime.fromisoformat(first["refresh_after"]) - issued == timedelta(seconds=30)
    assert datetime.fromisoformat(first["expires_at"]) - issued == timedelta(seconds=90)
    assert first["qr_svg"].lstrip().startswith("<svg") and first["qr_svg"].rstrip().endswith("</svg>")
    with loop.at(START + timedelta(seconds=30)):
        second = code_of(loop, world.mgr_s1, f"/activities/{activity_id}")
    assert second["code"] != first["code"]
    assert datetime.fromisoformat(second["issued_at"]) == issued + timedelta(seconds=30)


def test_the_qr_symbol_holds_the_code(loop, world):
    """The SVG is segno's symbol of the code text itself (what a scanner reads is what is sent)."""
    with loop.at(START):
        shown = code_of(loop, world.mgr_s1, f"/sites/{world.sites['S1']}")
    out = io.BytesIO()
    segno.make(shown["code"], error="m", micro=False).save(out, kind="svg", scale=8, xmldecl=False)
    assert shown["qr_svg"] == out.getvalue().decode()
    assert len(shown["code"]) < 100  # a small symbol, quick to scan from a screen


def test_check_in_and_out_with_the_activity_code(loop, world):
    activity_id = activity(loop, world)
    a = signed_up(loop, world.vol_s1, activity_id)
    with loop.at(START):
        code = code_of(loop, world.mgr_s1, f"/activities/{activity_id}")["code"]
        checked = loop.act(world.vol_s1, a, "check-in", {"qr_code": code})
    assert checked["status"] == "checked_in" and checked["checkin_method"] == "qr"
    assert checked["checkin_distance_m"] is None and checked["checkin_ok"] is True
    with loop.at(START + timedelta(minutes=90)):
        code = code_of(loop, world.mgr_s1, f"/activities/{activity_id}")["code"]
        # With a position too: the code decides, the (drifting) position is only measured.
        out = loop.act(world.vol_s1, a, "check-out", {"qr_code": code, **FAR})
    assert out["checkout_method"] == "qr" and out["checkout_distance_m"] > 3000
    assert out["minutes_computed"] == 90
    signups = loop.call("GET", f"/activities/{activity_id}/signups", world.mgr_s1)["items"]
    assert [(s["checkin_method"], s["checkout_method"]) for s in signups] == [("qr", "qr")]


def test_a_gps_check_in_records_gps(loop, world):
    activity_id = activity(loop, world)
    a = signed_up(loop, world.vol_s1, activity_id)
    with loop.at(START):
        checked = loop.act(world.vol_s1, a, "check-in", S1_POSITION)
    assert checked["checkin_method"] == "gps" and checked["checkin_distance_m"] == 0


def test_a_station_code_covers_activities_held_at_the_station(loop, world):
    activity_id = activity(loop, world)  # at S1's own position
    a = signed_up(loop, world.vol_s1, activity_id)
    with loop.at(START + timedelta(seconds=10)):
        code = code_of(loop, world.mgr_s1, f"/sites/{world.sites['S1']}")["code"]
        assert loop.act(world.vol_s1, a, "check-in", {"qr_code": code})["checkin_method"] == "qr"


def test_a_station_code_does_not_cover_a_task_elsewhere(app, loop, world):
    """An activity 4 km away, another station's code, another activity's code: 422
    attendance.qr_wrong_place, nothing recorded."""
    far_activity = activity(loop, world, place=FAR)
    a = signed_up(loop, world.vol_s1, far_activity)
    with loop.at(START):
        code = code_of(loop, world.mgr_s1, f"/sites/{world.sites['S1']}")["code"]
        body = loop.act(world.vol_s1, a, "check-in", {"qr_code": code}, status=422)
    assert body["error"] == "attendance.qr_wrong_place" and body["errors"]["json"] == {
        "qr_code": ["属于其他地点"]
    }
    # Another station's code (S2, ~1.4 km away) for an activity held at S1.
    here = activity(loop, world)
    b = signed_up(loop, world.vol_s1, here)
    with loop.at(START):
        code = code_of(loop, world.mgr_s2, f"/sites/{world.sites['S2']}")["code"]
        assert loop.act(world.vol_s1, b, "check-in", {"qr_code": code}, status=422)["error"] == (
            "attendance.qr_wrong_place"
        )
        # Another activity's code.
        other = code_of(loop, world.mgr_s1, f"/activities/{far_activity}")["code"]
        assert loop.act(world.vol_s1, b, "check-in", {"qr_code": other}, status=422)["error"] == (
            "attendance.qr_wrong_place"
        )
    with app.app_context():
        assert db.session.get(Assignment, b).status == "held"
    assert uses(app) == 0


def test_an_order_at_a_home_cannot_use_the_station_code_but_one_at_the_station_can(app, loop, world):
    _, start, [(vol, a)] = staffed(app, world, loop)  # PLACE: ~170 m from S1, within 500 m
    with loop.at(start):
        code = code_of(loop, world.mgr_s1, f"/sites/{world.sites['S1']}")["code"]
        # PLACE is within the radius of the station: the rule is geometric, so it is covered.
        assert loop.act(vol, a["id"], "check-in", {"qr_code": code})["checkin_method"] == "qr"
    far_order = loop.submit(world.resident, lat=30.30, lng=120.20)  # a home 4 km away
    loop.dispatch_grab(world.mgr_s1, far_order["id"], capacity=1)
    held = loop.grab(world.vol_s1, far_order["id"])
    with loop.at(datetime.fromisoformat(far_order["start_at"])):
        code = code_of(loop, world.mgr_s1, f"/sites/{world.sites['S1']}")["code"]
        body = loop.act(world.vol_s1, held["id"], "check-in", {"qr_code": code}, status=422)
    assert body["error"] == "attendance.qr_wrong_place"


def test_expiry_follows_the_settings(loop, world):
    activity_id = activity(loop, world, slots=3)
    a = signed_up(loop, world.vol_s1, activity_id)
    with loop.at(START):
        code = code_of(loop, world.mgr_s1, f"/activities/{activity_id}")["code"]
    with loop.at(START + timedelta(seconds=91)):
        body = loop.act(world.vol_s1, a, "check-in", {"qr_code": code}, status=422)
        assert body["error"] == "attendance.qr_expired"
        english = loop.call(
            "POST",
            f"/assignments/{a}/check-in",
            world.vol_s1,
            {"qr_code": code},
            422,
            headers={"Accept-Language": "en"},
        )
        assert "expired" in english["message"]
    with loop.at(START + timedelta(seconds=90)):  # the last valid second
        assert loop.act(world.vol_s1, a, "check-in", {"qr_code": code})["status"] == "checked_in"


FORGERIES = [
    "",
    "hello",
    "WyJhIiwgMSwgMTc2NzIyNTYwMF0.bm90LWEtc2lnbmF0dXJl",
    "x" * 201,
    "a\u0000b",
]


def test_forged_and_altered_codes_are_invalid(app, loop, client, world):
    activity_id = activity(loop, world)
    a = signed_up(loop, world.vol_s1, activity_id)
    with loop.at(START):
        code = code_of(loop, world.mgr_s1, f"/activities/{activity_id}")["code"]
        # Signed with another key, or by us for another purpose (another salt), or altered.
        with app.app_context():
            foreign = URLSafeSerializer("not-our-secret-" * 4, salt=codes.SALT).dumps(["a", activity_id, 0])
            other_salt = URLSafeSerializer(app.config["SECRET_KEY"], salt="x").dumps(
                ["a", activity_id, int(START.timestamp())]
            )
            wrong_shape = URLSafeSerializer(app.config["SECRET_KEY"], salt=codes.SALT).dumps({"a": 1})
            future = URLSafeSerializer(app.config["SECRET_KEY"], salt=codes.SALT).dumps(
                ["a", activity_id, int(START.timestamp()) + 3600]
            )
        # The signature's first character (base64's last one may carry only padding bits).
        head, signature = code.rsplit(".", 1)
        altered = f"{head}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
        for bad in (foreign, other_salt, wrong_shape, future, altered):
            body = loop.act(world.vol_s1, a, "check-in", {"qr_code": bad}, status=422)
            assert body["error"] == "attendance.qr_invalid", (bad, body)
        for bad in FORGERIES:
            r = client.post(
                f"/api/v1/assignments/{a}/check-in", json={"qr_code": bad}, headers=loop.headers(world.vol_s1)
            )
            body = assert_error(r, 422)
            assert body["error"] in ("attendance.qr_invalid", "validation.failed"), body
            assert "qr_code" in body["errors"]["json"], body
    with app.app_context():
        assert db.session.get(Assignment, a).status == "held"
    assert uses(app) == 0


def test_a_body_needs_a_position_or_a_code(loop, client, world):
    activity_id = activity(loop, world)
    a = signed_up(loop, world.vol_s1, activity_id)
    headers = world.vol_s1.headers
    for body, field in (
        ({}, "_schema"),
        ({"lat": 30.27}, "lng"),
        ({"lng": 120.17}, "lat"),
        ({"qr_code": 5}, "qr_code"),
        ({"qr_code": None}, "_schema"),
        ({"coord_system": "gcj02"}, "_schema"),
    ):
        r = client.post(f"/api/v1/assignments/{a}/check-in", json=body, headers=headers)
        assert field in assert_error(r, 422, "validation.failed")["errors"]["json"], body


def test_the_same_volunteer_cannot_use_a_code_twice(app, loop, world):
    """Two activities at the station at the same time, one volunteer signed up to both: one sighting of
    the station's code checks in one of them, not both (409 attendance.qr_replayed)."""
    first, second = activity(loop, world), activity(loop, world)
    a, b = signed_up(loop, world.vol_s1, first), signed_up(loop, world.vol_s1, second)
    with loop.at(START):
        code = code_of(loop, world.mgr_s1, f"/sites/{world.sites['S1']}")["code"]
        assert loop.act(world.vol_s1, a, "check-in", {"qr_code": code})["checkin_method"] == "qr"
        body = loop.act(world.vol_s1, b, "check-in", {"qr_code": code}, status=409)
        assert body["error"] == "attendance.qr_replayed"
        # Nor check out with the code it checked in with.
        assert loop.act(world.vol_s1, a, "check-out", {"qr_code": code}, status=409)["error"] == (
            "attendance.qr_replayed"
        )
    with app.app_context():
        assert db.session.get(Assignment, b).status == "held"
    assert uses(app) == 1
    with loop.at(START + timedelta(seconds=30)):  # the next code is a new sighting
        code = code_of(loop, world.mgr_s1, f"/sites/{world.sites['S1']}")["code"]
        assert loop.act(world.vol_s1, b, "check-in", {"qr_code": code})["status"] == "checked_in"


def test_many_volunteers_share_one_displayed_code(app, loop, world):
    activity_id = activity(loop, world)
    a = signed_up(loop, world.vol_s1, activity_id)
    other = make_volunteer(app, world.sites["S1"], 31, "志愿者二")
    b = signed_up(loop, other, activity_id)
    with loop.at(START):
        code = code_of(loop, world.mgr_s1, f"/activities/{activity_id}")["code"]
        assert loop.act(world.vol_s1, a, "check-in", {"qr_code": code})["status"] == "checked_in"
        assert loop.act(other, b, "check-in", {"qr_code": code})["status"] == "checked_in"


def test_two_replays_racing_exactly_one_wins(app, loop, world):
    first, second = activity(loop, world), activity(loop, world)
    a, b = signed_up(loop, world.vol_s1, first), signed_up(loop, world.vol_s1, second)
    with loop.at(START):
        code = code_of(loop, world.mgr_s1, f"/sites/{world.sites['S1']}")["code"]
        headers = loop.headers(world.vol_s1)

        def check_in(assignment_id):
            return lambda client: client.post(
                f"/api/v1/assignments/{assignment_id}/check-in", json={"qr_code": code}, headers=headers
            )

        responses = race(app, [check_in(a), check_in(b)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 409], [r.get_json() for r in responses]
    loser = next(r for r in responses if r.status_code == 409)
    assert loser.get_json()["error"] == "attendance.qr_replayed"
    with app.app_context():
        states = sorted(db.session.get(Assignment, i).status for i in (a, b))
    assert states == ["checked_in", "held"]
    assert uses(app) == 1


def test_a_site_without_a_position_has_no_code(loop, world):
    site = loop.call(
        "POST",
        "/sites",
        world.admin,
        {"kind": "station", "name": "无址站", "parent_id": world.sites["I1"]},
        201,
    )
    body = code_of(loop, world.admin, f"/sites/{site['id']}", status=409)
    assert body["error"] == "checkin_code.no_position"


def test_reach_and_roles(loop, client, world):
    activity_id = activity(loop, world)
    for path in (f"/activities/{activity_id}", f"/sites/{world.sites['S1']}"):
        assert_error(client.get(f"/api/v1{path}/checkin-code", headers=world.mgr_s4.headers), 404)
        assert_error(client.get(f"/api/v1{path}/checkin-code", headers=world.mgr_s2.headers), 404)
        assert_error(client.get(f"/api/v1{path}/checkin-code", headers=world.vol_s1.headers), 403)
        assert_error(client.get(f"/api/v1{path}/checkin-code"), 401)
        assert code_of(loop, world.mgr_i1, path)["code"]  # a manager above reaches it
    assert_error(client.get("/api/v1/sites/999999/checkin-code", headers=world.admin.headers), 404)
    assert_error(client.get(f"/api/v1/sites/{2**70}/checkin-code", headers=world.admin.headers), 404)


def test_a_cancelled_activity_shows_no_code(loop, world):
    activity_id = activity(loop, world)
    loop.call("POST", f"/activities/{activity_id}/cancel", world.mgr_s1, {"reason": "下雨"})
    assert_error(
        loop.client.get(f"/api/v1/activities/{activity_id}/checkin-code", headers=world.mgr_s1.headers), 409
    )


def test_the_console_shows_a_qr_check_in(app, loop, world):
    activity_id = activity(loop, world)
    a = signed_up(loop, world.vol_s1, activity_id)
    client = app.test_client()
    console_sign_in(app, client, world.mgr_s1.id)
    page = client.get(f"/console/activities/{activity_id}").get_data(as_text=True)
    assert "扫码" not in page
    with loop.at(START):
        code = code_of(loop, world.mgr_s1, f"/activities/{activity_id}")["code"]
        loop.act(world.vol_s1, a, "check-in", {"qr_code": code})
    page = client.get(f"/console/activities/{activity_id}")
    assert page.status_code == 200 and "扫码" in page.get_data(as_text=True)
