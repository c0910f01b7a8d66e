"""Real-name volunteer applications: applying, the ID number's protection, review by managers in reach."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.race import race
from tests.support import id_number, make_user
from volunteer_app.accounts import identity
from volunteer_app.extensions import db

API = "/api/v1"


def application_body(site_id: int, n: int = 21, **overrides) -> dict:
    body = {
        "real_name": "张三丰",
        "id_number": id_number(n),
        "site_id": site_id,
        "skills": ["维修"],
        "category_ids": [],
    }
    body.update(overrides)
    return body


def apply(client, person, body: dict):
    return client.post(f"{API}/me/volunteer-application", json=body, headers=person.headers)


def approve(client, person, application_id: int):
    return client.post(f"{API}/volunteer-applications/{application_id}/approve", headers=person.headers)


def reject(client, person, application_id: int, reason: str | None = "资料不全"):
    body = {} if reason is None else {"reason": reason}
    return client.post(
        f"{API}/volunteer-applications/{application_id}/reject", json=body, headers=person.headers
    )


def queue(client, person, site_id: int, **params):
    return client.get(
        f"{API}/sites/{site_id}/volunteer-applications", query_string=params, headers=person.headers
    )


# ---- applying -------------------------------------------------------------------------------------


def test_apply_returns_the_application_with_the_id_number_masked(client, world):
    category = client.get(f"{API}/categories").json["items"][0]["id"]
    plain = id_number(21)
    r = apply(client, world.resident, application_body(world.sites["S1"], category_ids=[category]))
    assert r.status_code == 201
    assert r.json["status"] == "pending"
    assert r.json["site_id"] == world.sites["S1"]
    assert r.json["category_ids"] == [category]
    assert r.json["id_number_masked"] == plain[:4] + "*" * 10 + plain[-4:]
    assert plain not in r.get_data(as_text=True)


def test_the_id_number_is_stored_encrypted(app, client, world):
    plain = id_number(21)
    application_id = apply(client, world.resident, application_body(world.sites["S1"])).json["id"]
    assert approve(client, world.mgr_s1, application_id).status_code == 200
    with app.app_context():
        stored = db.session.execute(
            sa.text("SELECT id_number_enc, id_number_hash FROM volunteer_applications WHERE id = :id"),
            {"id": application_id},
        ).one()
        user_enc = db.session.execute(
            sa.text("SELECT id_number_enc FROM users WHERE id = :id"), {"id": world.resident.id}
        ).scalar_one()
        for encrypted in (bytes(stored.id_number_enc), bytes(user_enc)):
            assert plain.encode() not in encrypted
            assert identity.decrypt_id_number(encrypted) == plain
        assert plain not in stored.id_number_hash


def test_the_full_id_number_appears_in_no_response(client, world):
    plain = id_number(21)
    s1 = world.sites["S1"]
    application_id = apply(client, world.resident, application_body(s1)).json["id"]
    responses = [
        client.get(f"{API}/me/volunteer-applications", headers=world.resident.headers),
        queue(client, world.mgr_s1, s1),
        approve(client, world.mgr_s1, application_id),
        client.get(f"{API}/me", headers=world.resident.headers),
        queue(client, world.mgr_c1, world.sites["C1"], status="approved"),
    ]
    assert all(r.status_code == 200 for r in responses)
    masked = plain[:4] + "*" * 10 + plain[-4:]
    assert responses[3].json["id_number_masked"] == masked
    for r in responses:
        assert plain not in r.get_data(as_text=True)
        assert plain[6:14] not in r.get_data(as_text=True)  # not even the birth date


def test_a_lowercase_check_character_is_accepted(client, world):
    n = next(n for n in range(100, 400) if id_number(n).endswith("X"))
    r = apply(client, world.resident, application_body(world.sites["S1"], id_number=id_number(n).lower()))
    assert r.status_code == 201
    assert r.json["id_number_masked"].endswith("X")


@pytest.mark.parametrize(
    "bad",
    [
        id_number(21)[:17] + ("0" if id_number(21)[17] != "0" else "1"),  # wrong check character
        "110101199013320011",  # month 13
        "110101" + "2999" + "0101" + "001" + "0",  # born in the future
        "010101199001010011",  # leading zero
        id_number(21)[:17],  # too short
        id_number(21) + "1",  # too long
        "11010119900101001Y",
    ],
)
def test_an_invalid_id_number_is_422_naming_the_field(client, world, bad):
    r = apply(client, world.resident, application_body(world.sites["S1"], id_number=bad))
    assert r.status_code == 422
    assert "id_number" in r.json["errors"]["json"]


@pytest.mark.parametrize("site", ["C1", "I1", None])
def test_only_a_station_can_be_applied_to(client, world, site):
    site_id = world.sites[site] if site else 999_999
    r = apply(client, world.resident, application_body(site_id))
    assert r.status_code == 422
    assert r.json["error"] == "site.not_station"
    assert "site_id" in r.json["errors"]["json"]


def test_unknown_or_inactive_category_is_422(client, world):
    r = apply(client, world.resident, application_body(world.sites["S1"], category_ids=[999_999]))
    assert (r.status_code, r.json["error"]) == (422, "category.unknown")
    category = client.get(f"{API}/categories").json["items"][0]["id"]
    patched = client.patch(
        f"{API}/categories/{category}", json={"active": False}, headers=world.admin.headers
    )
    assert patched.status_code == 200
    r = apply(client, world.resident, application_body(world.sites["S1"], category_ids=[category]))
    assert (r.status_code, r.json["error"]) == (422, "category.unknown")


def test_a_second_pending_application_is_409(client, world):
    r = apply(client, world.applicant, application_body(world.sites["S1"], n=22))
    assert (r.status_code, r.json["error"]) == (409, "application.pending_exists")


def test_a_rejected_applicant_may_apply_again(client, world):
    assert reject(client, world.mgr_s1, world.applications["applicant"]).status_code == 200
    assert apply(client, world.applicant, application_body(world.sites["S1"], n=7)).status_code == 201


def test_a_volunteer_cannot_apply_again(client, world):
    r = apply(client, world.vol_s1, application_body(world.sites["S1"], n=23))
    assert (r.status_code, r.json["error"]) == (409, "volunteer.already")


def test_an_id_number_held_by_an_approved_volunteer_is_409(client, world):
    r = apply(client, world.resident, application_body(world.sites["S1"], n=1))  # vol_s1's number
    assert (r.status_code, r.json["error"]) == (409, "id_number.taken")


def test_approving_a_second_holder_of_the_same_id_number_is_409_and_changes_nothing(client, world):
    # The applicant's number (n=7) is only pending, so another person may still apply with it...
    other = apply(client, world.resident, application_body(world.sites["S1"], n=7)).json["id"]
    assert approve(client, world.mgr_s1, world.applications["applicant"]).status_code == 200
    # ...but only one of them can be approved with it.
    r = approve(client, world.mgr_s1, other)
    assert (r.status_code, r.json["error"]) == (409, "id_number.taken")
    mine = client.get(f"{API}/me/volunteer-applications", headers=world.resident.headers).json["items"]
    assert mine[0]["status"] == "pending"
    me = client.get(f"{API}/me", headers=world.resident.headers).json
    assert me["volunteer"] is None
    assert "volunteer" not in [g["role"] for g in me["roles"]]


# ---- review ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("manager", "site", "sees_s1", "sees_s4"),
    [
        ("mgr_s1", "S1", True, False),
        ("mgr_i1", "I1", True, False),
        ("mgr_c1", "C1", True, False),
        ("mgr_s2", "S2", False, False),
        ("admin", "C2", False, True),
        ("mgr_s4", "S4", False, True),
    ],
)
def test_the_review_queue_holds_the_applications_of_the_site_and_below(
    client, world, manager, site, sees_s1, sees_s4
):
    r = queue(client, world.people[manager], world.sites[site], status="pending")
    assert r.status_code == 200
    ids = {item["id"] for item in r.json["items"]}
    assert (world.applications["applicant"] in ids) is sees_s1
    assert (world.applications["applicant_s4"] in ids) is sees_s4


def test_the_review_queue_filters_by_status_and_shows_the_phone_in_full(client, world):
    s1 = world.sites["S1"]
    pending = queue(client, world.mgr_s1, s1, status="pending").json["items"]
    assert [a["id"] for a in pending] == [world.applications["applicant"]]
    assert pending[0]["phone"] == world.applicant.phone
    assert pending[0]["user_id"] == world.applicant.id
    approved = queue(client, world.mgr_s1, s1, status="approved").json["items"]
    assert [a["user_id"] for a in approved] == [world.vol_s1.id]
    everything = queue(client, world.mgr_s1, s1).json["items"]
    assert {a["status"] for a in everything} == {"pending", "approved"}
    assert queue(client, world.mgr_s1, s1, status="maybe").status_code == 422


@pytest.mark.parametrize(("manager", "site"), [("mgr_s2", "S1"), ("mgr_s4", "S1"), ("mgr_s1", "I1")])
def test_a_queue_out_of_reach_is_404(client, world, manager, site):
    assert queue(client, world.people[manager], world.sites[site]).status_code == 404


def test_a_resident_cannot_see_a_queue(client, world):
    assert queue(client, world.resident, world.sites["S1"]).status_code == 403


@pytest.mark.parametrize("manager", ["mgr_s1", "mgr_i1", "mgr_c1", "admin"])
def test_approval_makes_the_applicant_a_volunteer_of_the_station(client, world, manager):
    s1 = world.sites["S1"]
    r = approve(client, world.people[manager], world.applications["applicant"])
    assert r.status_code == 200
    assert r.json["status"] == "approved"
    assert r.json["reviewed_at"] is not None
    me = client.get(f"{API}/me", headers=world.applicant.headers).json
    assert {"role": "volunteer", "site_id": s1} in [
        {k: g[k] for k in ("role", "site_id")} for g in me["roles"]
    ]
    assert me["real_name"] == "申请人"
    assert me["volunteer"]["site_id"] == s1
    assert me["volunteer"]["skills"] == ["急救"]
    assert me["volunteer"]["volunteer_no"]
    assert me["home_site"]["id"] == s1
    other = client.get(f"{API}/me", headers=world.vol_s1.headers).json["volunteer"]["volunteer_no"]
    assert me["volunteer"]["volunteer_no"] != other


def test_rejection_records_the_reason_the_applicant_sees(client, world):
    r = reject(client, world.mgr_s1, world.applications["applicant"], reason="身份证照片不清晰")
    assert r.status_code == 200
    assert (r.json["status"], r.json["reason"]) == ("rejected", "身份证照片不清晰")
    mine = client.get(f"{API}/me/volunteer-applications", headers=world.applicant.headers).json["items"]
    assert [(a["status"], a["reason"]) for a in mine] == [("rejected", "身份证照片不清晰")]
    me = client.get(f"{API}/me", headers=world.applicant.headers).json
    assert me["volunteer"] is None


@pytest.mark.parametrize("reason", [None, "", "长" * 501])
def test_a_rejection_needs_a_reason(client, world, reason):
    r = reject(client, world.mgr_s1, world.applications["applicant"], reason=reason)
    assert r.status_code == 422
    assert "reason" in r.json["errors"]["json"]
    pending = queue(client, world.mgr_s1, world.sites["S1"], status="pending").json["items"]
    assert [a["id"] for a in pending] == [world.applications["applicant"]]


def test_my_applications_show_the_outcome(client, world):
    before = client.get(f"{API}/me/volunteer-applications", headers=world.applicant.headers).json
    assert [(a["status"], a["reviewed_at"]) for a in before["items"]] == [("pending", None)]
    approve(client, world.mgr_s1, world.applications["applicant"])
    after = client.get(f"{API}/me/volunteer-applications", headers=world.applicant.headers).json
    assert [(a["status"], a["reason"]) for a in after["items"]] == [("approved", None)]
    assert after["items"][0]["reviewed_at"] is not None
    assert after["next_cursor"] is None
    other = client.get(f"{API}/me/volunteer-applications", headers=world.resident.headers).json
    assert other["items"] == []


@pytest.mark.parametrize(("first", "second"), [(approve, approve), (approve, reject), (reject, approve)])
def test_a_reviewed_application_cannot_be_reviewed_again(client, world, first, second):
    application_id = world.applications["applicant"]
    assert first(client, world.mgr_s1, application_id).status_code == 200
    r = second(client, world.mgr_i1, application_id)
    assert (r.status_code, r.json["error"]) == (409, "application.not_pending")


@pytest.mark.parametrize("manager", ["mgr_s2", "mgr_s4"])
@pytest.mark.parametrize("action", [approve, reject])
def test_reviewing_out_of_reach_is_404_and_changes_nothing(client, world, manager, action):
    r = action(client, world.people[manager], world.applications["applicant"])
    assert (r.status_code, r.json["error"]) == (404, "not_found")
    assert "申请人" not in r.get_data(as_text=True)
    mine = client.get(f"{API}/me/volunteer-applications", headers=world.applicant.headers).json["items"]
    assert mine[0]["status"] == "pending"


def test_reviewing_an_unknown_application_is_404(client, world):
    assert approve(client, world.admin, 999_999).status_code == 404


@pytest.mark.parametrize("person", ["resident", "vol_s1", "applicant"])
def test_non_managers_cannot_review(client, world, person):
    assert approve(client, world.people[person], world.applications["applicant"]).status_code == 403


def test_concurrent_reviews_let_exactly_one_through(app, world):
    application_id = world.applications["applicant"]
    reviewers = [world.mgr_s1, world.mgr_i1, world.mgr_c1, world.admin, world.mgr_s1] * 2

    def call(person, action):
        return lambda c: action(c, person, application_id)

    responses = race(app, [call(p, approve if i % 2 else reject) for i, p in enumerate(reviewers)])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * (len(reviewers) - 1), statuses
    assert {r.json["error"] for r in responses if r.status_code == 409} == {"application.not_pending"}
    winner = next(r.json for r in responses if r.status_code == 200)
    client = app.test_client()
    me = client.get(f"{API}/me", headers=world.applicant.headers).json
    roles = [g["role"] for g in me["roles"]]
    if winner["status"] == "approved":
        assert roles.count("volunteer") == 1 and me["volunteer"] is not None
    else:
        assert "volunteer" not in roles and me["volunteer"] is None


def test_concurrent_applications_by_one_person_leave_one_pending(app, world):
    person = make_user(app, home_site_id=world.sites["S1"])
    bodies = [application_body(world.sites["S1"], n=30 + i) for i in range(8)]
    responses = race(app, [lambda c, b=b: apply(c, person, b) for b in bodies])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 7, statuses
    assert {r.json["error"] for r in responses if r.status_code == 409} == {"application.pending_exists"}
    mine = app.test_client().get(f"{API}/me/volunteer-applications", headers=person.headers).json["items"]
    assert len(mine) == 1
