"""督办 items through the API: raising (who raises on behalf of which site, what it may be about, its
deadline), the acting and raising sides' moves, reach, lists, notifications and Idempotency-Key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.orders.conftest import PLACE, category_id, iso, order_body
from tests.supervision.conftest import call, events, move, notices, parse, raise_item, row


def test_an_institute_raises_against_its_station_and_the_station_is_told(app, client, world):
    before = datetime.now(UTC)
    item = raise_item(client, world.mgr_i1, world.sites["S1"])
    assert (item["site_id"], item["raised_site_id"]) == (world.sites["S1"], world.sites["I1"])
    assert (item["status"], item["level"], item["reopened"], item["overdue"]) == ("open", "yellow", 0, False)
    assert (item["site_name"], item["raised_site_name"], item["raised_by_name"]) == (
        "站点S1",
        "站点I1",
        "站长I1",
    )
    # Due after the level's supervision_due_days of the raising site (yellow: 7 days by default).
    due = parse(item["due_at"])
    assert before + timedelta(days=7) - timedelta(seconds=5) <= due <= datetime.now(UTC) + timedelta(days=7)
    [event] = item["events"]
    assert (event["action"], event["from"], event["to"], event["actor_id"], event["actor_name"]) == (
        "raise",
        None,
        "open",
        world.mgr_i1.id,
        "站长I1",
    )
    assert notices(app, "supervision.raised") == [(world.mgr_s1.id, str(item["id"]))]


def test_the_raising_site_is_the_callers_nearest_managed_site_above(app, client, world):
    assert raise_item(client, world.mgr_c1, world.sites["S1"])["raised_site_id"] == world.sites["C1"]
    assert raise_item(client, world.mgr_c1, world.sites["I1"])["raised_site_id"] == world.sites["C1"]
    assert raise_item(client, world.admin, world.sites["S1"])["raised_site_id"] == world.sites["I1"]
    assert raise_item(client, world.admin, world.sites["S4"])["raised_site_id"] == world.sites["I3"]


def test_reach_when_raising(app, client, world):
    # A station's managers do not supervise their own station; nobody is above a center.
    assert raise_item(client, world.mgr_s1, world.sites["S1"], 403)["error"] == "supervision.not_above"
    assert raise_item(client, world.mgr_c1, world.sites["C1"], 403)["error"] == "supervision.not_above"
    assert raise_item(client, world.admin, world.sites["C1"], 403)["error"] == "supervision.not_above"
    # Out of reach is 404: up the tree, a sibling, the other center.
    for person, site in (
        (world.mgr_s1, "I1"),
        (world.mgr_s2, "S1"),
        (world.mgr_s4, "S1"),
        (world.mgr_c1, "S4"),
    ):
        assert raise_item(client, person, world.sites[site], 404)["error"] == "not_found"
    assert raise_item(client, world.vol_s1, world.sites["S1"], 403)["error"] == "auth.forbidden"
    assert notices(app, "supervision.raised") == []


def test_who_sees_an_item(app, client, world):
    item_id = raise_item(client, world.mgr_i1, world.sites["S1"])["id"]
    for person in (world.mgr_s1, world.mgr_i1, world.mgr_c1, world.admin):
        assert call(client, person, "GET", f"/supervision-items/{item_id}")["id"] == item_id
    for person in (world.mgr_s2, world.mgr_s4):  # a sibling station, the other center
        assert (
            call(client, person, "GET", f"/supervision-items/{item_id}", status=404)["error"] == "not_found"
        )
    assert call(client, world.vol_s1, "GET", f"/supervision-items/{item_id}", status=403)
    assert call(client, world.mgr_s1, "GET", "/supervision-items/999999", status=404)


def test_the_actor_reports_the_raiser_closes_or_sends_back(app, client, world):
    item_id = raise_item(client, world.mgr_i1, world.sites["S1"], level="red")["id"]
    # The raiser does not report; the actor does not close, send back nor withdraw.
    assert move(client, world.mgr_i1, item_id, "report", 403)["error"] == "supervision.not_actor"
    assert move(client, world.mgr_c1, item_id, "report", 403)["error"] == "supervision.not_actor"
    for segment in ("close", "send-back", "withdraw"):
        assert move(client, world.mgr_s1, item_id, segment, 403)["error"] == "supervision.not_raiser"
    assert events(app, item_id) == [("raise", None, "open")]
    # Both sides write notes.
    move(client, world.mgr_s1, item_id, "notes", body={"note": "正在核查"})
    move(client, world.mgr_i1, item_id, "notes", body={"note": "请周五前报告"})
    reported = move(client, world.mgr_s1, item_id, "report", body={"result": "已补录审核"})
    assert (reported["status"], reported["result"]) == ("reported", "已补录审核")
    assert reported["reported_at"] is not None
    assert notices(app, "supervision.reported") == [(world.mgr_i1.id, str(item_id))]
    # Sent back: open again, reopened once, a new deadline (red: 3 days from now by default).
    sent = move(client, world.mgr_i1, item_id, "send-back", body={"reason": "未落实到人"})
    assert (sent["status"], sent["reopened"]) == ("open", 1)
    assert abs(parse(sent["due_at"]) - (datetime.now(UTC) + timedelta(days=3))) < timedelta(seconds=10)
    assert notices(app, "supervision.sent_back") == [(world.mgr_s1.id, str(item_id))]
    move(client, world.mgr_s1, item_id, "report")
    closed = move(client, world.mgr_c1, item_id, "close", body={})  # above the raising site: a raiser too
    assert (closed["status"], closed["closed_at"] is not None) == ("closed", True)
    assert notices(app, "supervision.closed") == [(world.mgr_s1.id, str(item_id))]
    timeline = call(client, world.mgr_s1, "GET", f"/supervision-items/{item_id}")["events"]
    assert [(e["action"], e["from"], e["to"]) for e in timeline] == [
        ("raise", None, "open"),
        ("note", "open", "open"),
        ("note", "open", "open"),
        ("report", "open", "reported"),
        ("send_back", "reported", "open"),
        ("report", "open", "reported"),
        ("close", "reported", "closed"),
    ]
    assert [e["note"] for e in timeline][1:5] == ["正在核查", "请周五前报告", "已补录审核", "未落实到人"]
    assert [e["actor_name"] for e in timeline][-1] == "站长C1"


def test_send_back_with_its_own_deadline_and_withdraw(app, client, world):
    item_id = raise_item(client, world.mgr_i1, world.sites["S1"])["id"]
    move(client, world.mgr_s1, item_id, "report")
    due = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    sent = move(client, world.mgr_i1, item_id, "send-back", body={"reason": "补充材料", "due_at": iso(due)})
    assert parse(sent["due_at"]) == due
    past = iso(datetime.now(UTC) - timedelta(minutes=1))
    move(client, world.mgr_s1, item_id, "report")
    body = move(client, world.mgr_i1, item_id, "send-back", 422, {"reason": "x", "due_at": past})
    assert body["error"] == "supervision.due_past" and "due_at" in body["errors"]["json"]
    assert row(app, item_id).status == "reported"
    withdrawn = move(client, world.mgr_i1, item_id, "withdraw")
    assert withdrawn["status"] == "withdrawn"
    assert move(client, world.mgr_s1, item_id, "notes", 409)["error"] == "supervision.bad_state"


def test_an_admin_takes_either_side(app, client, world):
    item_id = raise_item(client, world.mgr_i1, world.sites["S1"])["id"]
    assert move(client, world.admin, item_id, "report")["status"] == "reported"
    assert move(client, world.admin, item_id, "close")["status"] == "closed"


# ---- what it is about ---------------------------------------------------------------------------------


def _order(client, world, app) -> int:
    return call(client, world.resident, "POST", "/orders", order_body(app), 201)["id"]


def _activity(client, world, app, site: str, manager) -> int:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    body = {
        "category_id": category_id(app),
        "title": "社区清洁日",
        "address": "文晖街道文化广场",
        **PLACE,
        "start_at": iso(start),
        "end_at": iso(start + timedelta(hours=1)),
        "slots": 2,
    }
    return call(client, manager, "POST", f"/sites/{world.sites[site]}/activities", body, 201)["id"]


def test_about_an_order_or_activity_of_the_acting_site_or_a_figure(app, client, world):
    order_id = _order(client, world, app)
    s1_activity = _activity(client, world, app, "S1", world.mgr_s1)
    s2_activity = _activity(client, world, app, "S2", world.mgr_s2)
    s1, s2, i1 = world.sites["S1"], world.sites["S2"], world.sites["I1"]
    item = raise_item(client, world.mgr_i1, s1, about={"kind": "order", "id": order_id})
    assert item["about"] == {"kind": "order", "id": order_id, "ref": None}
    raise_item(client, world.mgr_i1, s1, about={"kind": "activity", "id": s1_activity})
    raise_item(client, world.mgr_c1, i1, about={"kind": "activity", "id": s1_activity})  # below I1
    ref = "expired_share:2026-11"
    assert raise_item(client, world.mgr_i1, s1, about={"kind": "figure", "ref": ref})["about"]["ref"] == ref
    # Another station's order or activity, or one that does not exist: 422 on about.id, nothing raised.
    for about, site in (
        ({"kind": "order", "id": order_id}, s2),
        ({"kind": "activity", "id": s2_activity}, s1),
        ({"kind": "activity", "id": 987654}, s1),
        ({"kind": "order", "id": 987654}, s1),
    ):
        body = raise_item(client, world.mgr_i1, site, 422, about=about)
        assert body["error"] == "supervision.bad_about"
        assert body["errors"] == {"json": {"about": {"id": [body["errors"]["json"]["about"]["id"][0]]}}}


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"subject": ""}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": "字" * 101}, "subject"),
        ({"description": "字" * 2001}, "description"),
        ({"level": "purple"}, "level"),
        ({"level": None}, "level"),
        ({"due_at": "2030-01-01T09:00:00"}, "due_at"),  # no offset
        ({"about": {"kind": "order"}}, "about"),
        ({"about": {"kind": "figure"}}, "about"),
        ({"about": {"kind": "figure", "ref": "x", "id": 3}}, "about"),
        ({"about": {"kind": "order", "id": 3, "ref": "x"}}, "about"),
        ({"about": {"kind": "complaint", "id": 3}}, "about"),
        ({"about": {"kind": "figure", "ref": "r" * 101}}, "about"),
        ({"about": {"kind": "order", "id": "3"}}, "about"),
        ({"status": "closed"}, "status"),  # unknown keys are refused
        ({"raised_site_id": 1}, "raised_site_id"),
    ],
)
def test_bad_input_is_422_on_the_field_and_raises_nothing(app, client, world, over, field):
    body = raise_item(client, world.mgr_i1, world.sites["S1"], 422, **over)
    assert field in body["errors"]["json"], body
    assert notices(app, "supervision.raised") == []


def test_a_deadline_in_the_past_is_refused(app, client, world):
    past = iso(datetime.now(UTC) - timedelta(minutes=1))
    body = raise_item(client, world.mgr_i1, world.sites["S1"], 422, due_at=past)
    assert body["error"] == "supervision.due_past"
    due = (datetime.now(UTC) + timedelta(hours=5)).replace(microsecond=0)
    assert parse(raise_item(client, world.mgr_i1, world.sites["S1"], due_at=iso(due))["due_at"]) == due


def test_move_bodies_are_checked(app, client, world):
    item_id = raise_item(client, world.mgr_i1, world.sites["S1"])["id"]
    for segment, body, field in (
        ("notes", {}, "note"),
        ("notes", {"note": "字" * 1001}, "note"),
        ("report", {"result": " "}, "result"),
        ("report", {"result": "字" * 2001}, "result"),
        ("withdraw", {}, "reason"),
        ("send-back", {"due_at": "tomorrow", "reason": "x"}, "due_at"),
    ):
        person = world.mgr_s1 if segment in ("notes", "report") else world.mgr_i1
        assert field in move(client, person, item_id, segment, 422, body)["errors"]["json"]
    assert events(app, item_id) == [("raise", None, "open")]


def test_raising_honours_idempotency_key(app, client, world):
    headers = {"Idempotency-Key": "raise-1"}
    path = f"/sites/{world.sites['S1']}/supervision-items"
    body = {"subject": "整改", "description": "请整改", "level": "green"}
    first = call(client, world.mgr_i1, "POST", path, body, 201, headers)
    again = call(client, world.mgr_i1, "POST", path, body, 201, headers)
    assert again["id"] == first["id"]
    assert len(notices(app, "supervision.raised")) == 1
    other = call(client, world.mgr_i1, "POST", path, {**body, "level": "red"}, 422, headers)
    assert other["error"] == "idempotency.key_reused"


# ---- lists --------------------------------------------------------------------------------------------


def _list(client, person, site_id: int, expect: int = 200, **query) -> dict:
    args = "&".join(f"{k}={v}" for k, v in query.items())
    return call(client, person, "GET", f"/sites/{site_id}/supervision-items?{args}", status=expect)


def _ids(page) -> list[int]:
    return [i["id"] for i in page["items"]]


def test_lists_by_side_level_state_and_overdue(app, client, world):
    s = world.sites
    on_s1 = raise_item(client, world.mgr_i1, s["S1"], level="red")["id"]
    on_s2 = raise_item(client, world.mgr_i1, s["S2"], level="green")["id"]
    on_i1 = raise_item(client, world.mgr_c1, s["I1"])["id"]
    on_s3 = raise_item(client, world.mgr_c1, s["S3"])["id"]
    move(client, world.mgr_s1, on_s1, "report")
    # acting: this site or below must act; newest first.
    assert _ids(_list(client, world.mgr_s1, s["S1"])) == [on_s1]
    assert _ids(_list(client, world.mgr_i1, s["I1"], side="acting")) == [on_i1, on_s2, on_s1]
    assert _ids(_list(client, world.mgr_c1, s["C1"])) == [on_s3, on_i1, on_s2, on_s1]
    # raised: this site or below raised.
    assert _ids(_list(client, world.mgr_i1, s["I1"], side="raised")) == [on_s2, on_s1]
    assert _ids(_list(client, world.mgr_c1, s["C1"], side="raised")) == [on_s3, on_i1, on_s2, on_s1]
    assert _ids(_list(client, world.mgr_s1, s["S1"], side="raised")) == []
    # filters
    assert _ids(_list(client, world.mgr_c1, s["C1"], level="green")) == [on_s2]
    assert _ids(_list(client, world.mgr_c1, s["C1"], status="reported")) == [on_s1]
    assert _ids(_list(client, world.mgr_c1, s["C1"], overdue="true")) == []
    later = datetime.now(UTC) + timedelta(days=8)  # past yellow (7 days) and red; green (15) not yet
    import time_machine

    from tests.support import headers_now

    with time_machine.travel(later, tick=False):
        headers = headers_now(app, world.mgr_c1.id)
        page = client.get(
            f"/api/v1/sites/{s['C1']}/supervision-items?overdue=true", headers=headers
        ).get_json()
        assert _ids(page) == [on_s3, on_i1]  # the reported one waits on its raiser, not overdue
        assert all(i["overdue"] for i in page["items"])
        page = client.get(
            f"/api/v1/sites/{s['C1']}/supervision-items?overdue=false", headers=headers
        ).get_json()
        assert _ids(page) == [on_s2, on_s1]
    # Reach: a sibling station, up the tree, the other center: 404; bad filters 422.
    for person, site in ((world.mgr_s2, "S1"), (world.mgr_s1, "I1"), (world.mgr_s4, "S1")):
        assert _list(client, person, s[site], 404)["error"] == "not_found"
    assert _list(client, world.mgr_s1, s["S1"], 422, side="both")["errors"]["query"]["side"]
    assert _list(client, world.mgr_s1, s["S1"], 422, overdue="maybe")["errors"]["query"]["overdue"]
    assert _list(client, world.vol_s1, s["S1"], 403)


def test_a_list_walks_to_its_end(app, client, world):
    made = [raise_item(client, world.mgr_i1, world.sites["S1"])["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        page = _list(
            client, world.mgr_s1, world.sites["S1"], limit=2, **({"cursor": cursor} if cursor else {})
        )
        seen += _ids(page)
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == made[::-1]
    assert (
        _list(client, world.mgr_s1, world.sites["S1"], 400, cursor="bogus")["error"]
        == "pagination.bad_cursor"
    )
