"""One volunteer as a manager sees them: GET /volunteers/{id} (workbench.roster.volunteer), the
console's volunteer page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.activities.test_activities import activity_body
from tests.api.helpers import assert_error
from tests.support import credit
from tests.workbench.conftest import API, volunteer


def test_the_roster_row_with_the_latest_assignments_in_reach(app, client, world, loop):
    wang = volunteer(app, world.sites["S1"], 61, "王小明", ["急救"], phone="13912344321")
    credit(app, wang, world.sites["S1"], 90)
    later = datetime.now(UTC).replace(microsecond=0) + timedelta(days=3)
    first = loop.submit(world.resident, start=later)["id"]  # placed first, starts last
    loop.dispatch_assign(world.mgr_s1, first, [wang.id])
    second = loop.submit(world.resident)["id"]
    loop.dispatch_grab(world.mgr_s1, second)
    loop.grab(wang, second)
    r = client.get(f"{API}/volunteers/{wang.id}", headers=world.mgr_i1.headers)
    assert r.status_code == 200, r.json
    body = r.json
    url = f"{API}/sites/{world.sites['S1']}/volunteers"
    roster = client.get(url, query_string={"q": "4321"}, headers=world.mgr_i1.headers).json["items"]
    assert {k: v for k, v in body.items() if k != "recent"} == roster[0]
    assert (body["phone"], body["lifetime_minutes"], body["open_tasks"]) == ("+86139****4321", 90, 2)
    # Latest start first: the order starting in three days above the one starting today.
    assert [(a["order_id"], a["kind"], a["status"]) for a in body["recent"]] == [
        (first, "order", "offered"),
        (second, "order", "held"),
    ]
    assert body["recent"][0]["start_at"] == later.isoformat()
    assert body["recent"][1]["title"] == loop.get(world.mgr_s1, second)["title"]
    assert body["recent"][1]["activity_id"] is None and body["recent"][1]["minutes_confirmed"] is None


def test_out_of_reach_is_404_like_missing(app, client, world):
    url = f"{API}/volunteers/{world.vol_s1.id}"
    for person in (world.mgr_s2, world.mgr_s4):
        assert_error(client.get(url, headers=person.headers), 404, "not_found")
    for user in (world.applicant.id, world.resident.id, world.mgr_s1.id, 987654321):  # no volunteers
        assert_error(client.get(f"{API}/volunteers/{user}", headers=world.admin.headers), 404, "not_found")
    assert_error(client.get(url, headers=world.vol_s1.headers), 403, "auth.forbidden")
    assert client.get(url, headers=world.mgr_c1.headers).status_code == 200


def test_assignments_at_sites_out_of_reach_are_left_out(app, client, world, loop):
    """vol_s1 (of S1) offered an S1 order and signed up for an activity of the sibling S2: S1's manager
    sees the volunteer and the order only; the institute's manager sees both."""
    order = loop.submit(world.resident)["id"]
    loop.dispatch_assign(world.mgr_s1, order, [world.vol_s1.id])
    s2_activities = f"/sites/{world.sites['S2']}/activities"
    activity = loop.call("POST", s2_activities, world.mgr_s2, activity_body(app), 201)
    loop.call("POST", f"/activities/{activity['id']}/signup", world.vol_s1, None, 201)

    def recent(by) -> list[tuple]:
        r = client.get(f"{API}/volunteers/{world.vol_s1.id}", headers=by.headers)
        assert r.status_code == 200, r.json
        return [(a["kind"], a["order_id"] or a["activity_id"], a["site_id"]) for a in r.json["recent"]]

    s1, s2 = world.sites["S1"], world.sites["S2"]
    assert recent(world.mgr_s1) == [("order", order, s1)]
    assert recent(world.mgr_i1) == [("activity", activity["id"], s2), ("order", order, s1)]
    assert_error(client.get(f"{API}/volunteers/{world.vol_s1.id}", headers=world.mgr_s2.headers), 404)
