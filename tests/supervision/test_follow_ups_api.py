"""回访 through the API: a site's list (filters, cursor, soonest due first), one task with its order and
resident, calls that reach or not, giving up; reach (a sibling station's managers see nothing)."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from tests.api.helpers import assert_error
from tests.orders.conftest import Loop
from tests.supervision.follow_up_support import API, audit, events_of, rate, served
from volunteer_app.accounts.models import User
from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.sites.models import Site
from volunteer_app.supervision import follow_ups
from volunteer_app.supervision.models import FollowUp


@pytest.fixture
def loop(app, client) -> Loop:
    return Loop(app, client)


def low(app, world, loop, stars: int = 1) -> int:
    """A follow-up (low_rating) of a served order of S1; returns its id."""
    order_id = served(app, world, loop)
    rate(loop, world, order_id, stars)
    audit(loop, world, order_id)
    with app.app_context():
        return db.session.scalar(select(FollowUp.id).where(FollowUp.order_id == order_id))


def call(client, person, follow_up_id: int, body: dict):
    return client.post(f"{API}/follow-ups/{follow_up_id}/calls", json=body, headers=person.headers)


def give_up(client, person, follow_up_id: int, note: str = "多次无人接听"):
    return client.post(
        f"{API}/follow-ups/{follow_up_id}/give-up", json={"note": note}, headers=person.headers
    )


def test_the_detail_shows_the_order_the_resident_and_the_timeline(app, client, world, loop):
    follow_up_id = low(app, world, loop, stars=2)
    body = loop.call("GET", f"/follow-ups/{follow_up_id}", world.mgr_s1)
    assert (body["status"], body["reason"], body["attempts"]) == ("pending", "low_rating", 0)
    order = body["order"]
    assert (
        order["title"] == "陪独居老人就医" and order["rating_stars"] == 2 and order["rating_state"] == "rated"
    )
    with app.app_context():
        resident = db.session.get(User, world.resident.id)
    # As the order's detail shows the resident to a manager of its station: the phone in full.
    shown = loop.call("GET", f"/orders/{body['order_id']}", world.mgr_s1)["resident"]
    assert body["resident"] == shown == {"id": resident.id, "name": resident.name, "phone": resident.phone}
    assert [(e["action"], e["from"], e["to"], e["actor_id"]) for e in body["timeline"]] == [
        ("create", None, "pending", None)
    ]
    # Above the station too; a sibling station and the other center: 404 like a missing one.
    assert loop.call("GET", f"/follow-ups/{follow_up_id}", world.mgr_c1)["id"] == follow_up_id
    for person in (world.mgr_s2, world.mgr_s4):
        assert_error(client.get(f"{API}/follow-ups/{follow_up_id}", headers=person.headers), 404)
        assert_error(call(client, person, follow_up_id, {"reached": False}), 404)
        assert_error(give_up(client, person, follow_up_id), 404)
    assert_error(client.get(f"{API}/follow-ups/{follow_up_id + 1000}", headers=world.mgr_s1.headers), 404)
    assert_error(client.get(f"{API}/follow-ups/{follow_up_id}", headers=world.resident.headers), 403)


def test_a_call_that_reaches_closes_it(app, client, world, loop):
    follow_up_id = low(app, world, loop)
    done = loop.call(
        "POST",
        f"/follow-ups/{follow_up_id}/calls",
        world.mgr_s1,
        {"reached": True, "satisfaction": 4, "notes": "已改进"},
    )
    assert (done["status"], done["attempts"], done["reached"], done["satisfaction"]) == ("done", 1, True, 4)
    assert (done["notes"], done["done_by_id"]) == ("已改进", world.mgr_s1.id)
    assert done["done_at"] is not None
    assert [e["action"] for e in done["timeline"]] == ["create", "reached"]
    # Done: no more calls, no giving up; nothing changes.
    assert_error(call(client, world.mgr_s1, follow_up_id, {"reached": False}), 409, "follow_up.bad_state")
    assert_error(give_up(client, world.mgr_s1, follow_up_id), 409, "follow_up.bad_state")
    assert len(events_of(app, follow_up_id)) == 2


def test_missed_calls_then_giving_up(app, client, world, loop):
    follow_up_id = low(app, world, loop)
    assert_error(give_up(client, world.mgr_s1, follow_up_id), 409, "follow_up.not_tried")
    for n in (1, 2):
        missed = loop.call("POST", f"/follow-ups/{follow_up_id}/calls", world.mgr_s1, {"reached": False})
        assert (missed["status"], missed["attempts"], missed["reached"]) == ("pending", n, False)
    gone = loop.call("POST", f"/follow-ups/{follow_up_id}/give-up", world.mgr_s1, {"note": "三次无人接听"})
    assert (gone["status"], gone["attempts"], gone["notes"]) == ("unreachable", 2, "三次无人接听")
    assert events_of(app, follow_up_id) == [
        ("create", None, "pending", None),
        ("missed", "pending", "pending", world.mgr_s1.id),
        ("missed", "pending", "pending", world.mgr_s1.id),
        ("give_up", "pending", "unreachable", world.mgr_s1.id),
    ]
    assert_error(call(client, world.mgr_s1, follow_up_id, {"reached": True, "satisfaction": 5}), 409)
    assert_error(give_up(client, world.mgr_s1, follow_up_id), 409, "follow_up.bad_state")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reached": True}, "satisfaction"),
        ({"reached": True, "satisfaction": None}, "satisfaction"),
        ({"reached": False, "satisfaction": 3}, "satisfaction"),
        ({"reached": True, "satisfaction": 0}, "satisfaction"),
        ({"reached": True, "satisfaction": 6}, "satisfaction"),
        ({"reached": True, "satisfaction": "5"}, "satisfaction"),
        ({"reached": "yes", "satisfaction": 5}, "reached"),
        ({"satisfaction": 5}, "reached"),
        ({"reached": False, "notes": "x" * 2001}, "notes"),
        ({"reached": False, "notes": "   "}, "notes"),
    ],
)
def test_bad_calls_are_422_and_change_nothing(app, client, world, loop, body, field):
    follow_up_id = low(app, world, loop)
    error = assert_error(call(client, world.mgr_s1, follow_up_id, body), 422)
    assert field in error["errors"]["json"], error
    assert len(events_of(app, follow_up_id)) == 1


def test_long_notes_are_kept_whole_on_the_record(app, client, world, loop):
    follow_up_id = low(app, world, loop)
    notes = "很" * 2000
    done = loop.call(
        "POST",
        f"/follow-ups/{follow_up_id}/calls",
        world.mgr_s1,
        {"reached": True, "satisfaction": 3, "notes": notes},
    )
    assert done["notes"] == notes
    assert len(done["timeline"][-1]["note"]) == 1000  # the event's note is at most 1000


def test_the_list_of_a_site_and_below(app, client, world, loop):
    first, second, third = (low(app, world, loop) for _ in range(3))
    with app.app_context():
        now = utcnow()
        db.session.execute(
            update(FollowUp).where(FollowUp.id == first).values(due_at=now - timedelta(hours=1))
        )
        db.session.execute(
            update(FollowUp).where(FollowUp.id == second).values(due_at=now + timedelta(hours=5))
        )
        db.session.execute(
            update(FollowUp).where(FollowUp.id == third).values(due_at=now + timedelta(hours=1))
        )
        db.session.commit()
    loop.call("POST", f"/follow-ups/{third}/calls", world.mgr_s1, {"reached": True, "satisfaction": 5})

    def ids(person, site: str, query: str = "") -> list[int]:
        return [
            f["id"]
            for f in loop.call("GET", f"/sites/{world.sites[site]}/follow-ups?{query}", person)["items"]
        ]

    assert ids(world.mgr_s1, "S1") == [first, third, second]  # soonest due first
    assert ids(world.mgr_c1, "C1") == [first, third, second]  # the center sees its stations'
    assert ids(world.mgr_c1, "S2") == []
    assert ids(world.mgr_s1, "S1", "status=pending") == [first, second]
    assert ids(world.mgr_s1, "S1", "status=done") == [third]
    assert ids(world.mgr_s1, "S1", "reason=low_rating") == [first, third, second]
    assert ids(world.mgr_s1, "S1", "reason=sample") == []
    assert ids(world.mgr_s1, "S1", "overdue=true") == [first]
    assert ids(world.mgr_s1, "S1", "overdue=false") == [third, second]
    page = loop.call("GET", f"/sites/{world.sites['S1']}/follow-ups?limit=2", world.mgr_s1)
    assert [f["id"] for f in page["items"]] == [first, third]
    rest = loop.call(
        "GET", f"/sites/{world.sites['S1']}/follow-ups?limit=2&cursor={page['next_cursor']}", world.mgr_s1
    )
    assert ([f["id"] for f in rest["items"]], rest["next_cursor"]) == ([second], None)
    for person, site in (
        (world.mgr_s2, "S1"),
        (world.mgr_s1, "I1"),
        (world.mgr_s4, "S1"),
        (world.mgr_s1, "S4"),
    ):
        url = f"{API}/sites/{world.sites[site]}/follow-ups"
        assert_error(client.get(url, headers=person.headers), 404)
    for query in ("status=open", "reason=whim", "overdue=maybe", "cursor=xyz", "limit=0"):
        url = f"{API}/sites/{world.sites['S1']}/follow-ups?{query}"
        assert_error(client.get(url, headers=world.mgr_s1.headers), 400 if "cursor" in query else 422)


def test_the_service_list_for_the_console(app, world, loop):
    follow_up_id = low(app, world, loop)
    with app.app_context():
        path = db.session.scalar(select(Site.path).where(Site.id == world.sites["S1"]))
        who = SimpleNamespace(user_id=world.mgr_s1.id, is_admin=False, manager_paths=(path,))
        page = follow_ups.list_for_site(
            who=who, site_id=world.sites["S1"], status="pending", limit=10, cursor=None
        )
    assert [f.id for f in page["items"]] == [follow_up_id]


def test_a_retried_call_with_its_idempotency_key_counts_once(app, client, world, loop):
    follow_up_id = low(app, world, loop)
    headers = {**world.mgr_s1.headers, "Idempotency-Key": "call-1"}
    url = f"{API}/follow-ups/{follow_up_id}/calls"
    first, again = (client.post(url, json={"reached": False}, headers=headers) for _ in range(2))
    assert (first.status_code, again.status_code) == (200, 200)
    assert first.get_json() == again.get_json()
    assert [e[0] for e in events_of(app, follow_up_id)] == ["create", "missed"]
    other = client.post(url, json={"reached": False, "notes": "又没接"}, headers=headers)
    assert_error(other, 422, "idempotency.key_reused")
