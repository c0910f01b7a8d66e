"""Appointing and removing managers; teams and their members (with the team_leader grant)."""

from __future__ import annotations

import pytest

from tests.support import make_volunteer

API = "/api/v1"


def appoint(client, by, site_id: int, **body):
    return client.post(f"{API}/sites/{site_id}/managers", json=body, headers=by.headers)


def roles_of(client, person) -> list[dict]:
    return client.get(f"{API}/me", headers=person.headers).json["roles"]


def add_member(client, by, team_id: int, user_id: int, leader: bool = False):
    return client.post(
        f"{API}/teams/{team_id}/members", json={"user_id": user_id, "leader": leader}, headers=by.headers
    )


def members(client, by, team_id: int, **params):
    return client.get(f"{API}/teams/{team_id}/members", query_string=params, headers=by.headers)


def create_team(client, by, site_id: int, **body):
    return client.post(f"{API}/sites/{site_id}/teams", json={"name": "新队伍", **body}, headers=by.headers)


# ---- managers -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granter", "site"),
    [("admin", "S1"), ("admin", "C2"), ("mgr_c1", "S1"), ("mgr_c1", "I1"), ("mgr_i1", "S1")],
)
def test_an_admin_or_a_manager_above_appoints_a_manager(client, world, granter, site):
    r = appoint(client, world.people[granter], world.sites[site], user_id=world.resident.id)
    assert r.status_code == 201
    assert (r.json["user_id"], r.json["role"], r.json["site_id"]) == (
        world.resident.id,
        "manager",
        world.sites[site],
    )
    assert {"role": "manager", "site_id": world.sites[site]} in [
        {"role": g["role"], "site_id": g["site_id"]} for g in roles_of(client, world.resident)
    ]


@pytest.mark.parametrize("by_phone", [False, True])
def test_a_new_manager_can_act_within_reach_at_once(client, world, by_phone):
    target = {"phone": world.resident.phone[3:]} if by_phone else {"user_id": world.resident.id}
    assert appoint(client, world.mgr_i1, world.sites["S1"], **target).status_code == 201
    r = client.get(f"{API}/sites/{world.sites['S1']}/volunteer-applications", headers=world.resident.headers)
    assert r.status_code == 200
    assert [a["id"] for a in r.json["items"] if a["status"] == "pending"] == [world.applications["applicant"]]
    outside = client.get(
        f"{API}/sites/{world.sites['S2']}/volunteer-applications", headers=world.resident.headers
    )
    assert outside.status_code == 404


@pytest.mark.parametrize(("granter", "site"), [("mgr_s1", "S1"), ("mgr_i1", "I1"), ("mgr_c1", "C1")])
def test_a_manager_cannot_appoint_on_their_own_site(client, world, granter, site):
    r = appoint(client, world.people[granter], world.sites[site], user_id=world.resident.id)
    assert (r.status_code, r.json["error"]) == (403, "manager.not_above")
    assert "manager" not in [g["role"] for g in roles_of(client, world.resident)]


@pytest.mark.parametrize(
    ("granter", "site"), [("mgr_s4", "S1"), ("mgr_s1", "I1"), ("mgr_s1", "S2"), ("mgr_c1", "S4")]
)
def test_appointing_out_of_reach_is_404(client, world, granter, site):
    r = appoint(client, world.people[granter], world.sites[site], user_id=world.resident.id)
    assert (r.status_code, r.json["error"]) == (404, "not_found")


@pytest.mark.parametrize("person", ["resident", "vol_s1"])
def test_non_managers_cannot_appoint(client, world, person):
    r = appoint(client, world.people[person], world.sites["S1"], user_id=world.people[person].id)
    assert r.status_code == 403


@pytest.mark.parametrize("target", [{"user_id": 999_999}, {"phone": "13900009999"}, {}])
def test_appointing_needs_an_existing_user(client, world, target):
    r = appoint(client, world.admin, world.sites["S1"], **target)
    assert r.status_code == (404 if target else 422)


def test_appointing_twice_is_409(client, world):
    assert appoint(client, world.admin, world.sites["S1"], user_id=world.resident.id).status_code == 201
    r = appoint(client, world.mgr_i1, world.sites["S1"], phone=world.resident.phone)
    assert (r.status_code, r.json["error"]) == (409, "role.already_granted")


def test_managers_of_a_site_are_listed_for_those_in_reach(client, world):
    s1 = world.sites["S1"]
    appoint(client, world.mgr_i1, s1, user_id=world.resident.id)
    r = client.get(f"{API}/sites/{s1}/managers", headers=world.mgr_s1.headers)
    assert r.status_code == 200
    assert [(m["user_id"], m["phone"]) for m in r.json["items"]] == [
        (world.mgr_s1.id, world.mgr_s1.phone),
        (world.resident.id, world.resident.phone),
    ]
    assert client.get(f"{API}/sites/{s1}/managers", headers=world.mgr_s4.headers).status_code == 404
    assert client.get(f"{API}/sites/{s1}/managers", headers=world.vol_s1.headers).status_code == 403


def test_removing_a_manager_ends_their_reach(client, world):
    s1 = world.sites["S1"]
    r = client.delete(f"{API}/sites/{s1}/managers/{world.mgr_s1.id}", headers=world.mgr_i1.headers)
    assert (r.status_code, r.data) == (204, b"")
    assert "manager" not in [g["role"] for g in roles_of(client, world.mgr_s1)]
    assert (
        client.get(f"{API}/sites/{s1}/volunteer-applications", headers=world.mgr_s1.headers).status_code
        == 403
    )
    assert client.get(f"{API}/sites/{s1}/managers", headers=world.mgr_i1.headers).json == {
        "items": [],
        "next_cursor": None,
    }
    again = client.delete(f"{API}/sites/{s1}/managers/{world.mgr_s1.id}", headers=world.mgr_i1.headers)
    assert again.status_code == 404


@pytest.mark.parametrize(("remover", "status"), [("mgr_s1", 403), ("mgr_s2", 404), ("mgr_s4", 404)])
def test_only_those_above_remove_a_manager(client, world, remover, status):
    r = client.delete(
        f"{API}/sites/{world.sites['S1']}/managers/{world.mgr_s1.id}", headers=world.people[remover].headers
    )
    assert r.status_code == status
    assert "manager" in [g["role"] for g in roles_of(client, world.mgr_s1)]


# ---- teams ----------------------------------------------------------------------------------------


def test_a_manager_creates_lists_and_reads_teams_of_a_site_in_reach(client, world):
    s1 = world.sites["S1"]
    r = create_team(client, world.mgr_s1, s1, name="助老分队", description="关爱老人")
    assert r.status_code == 201
    assert (r.json["site_id"], r.json["name"], r.json["parent_id"]) == (s1, "助老分队", None)
    listed = client.get(f"{API}/sites/{s1}/teams", headers=world.mgr_i1.headers)
    assert [t["id"] for t in listed.json["items"]] == [world.teams["T1"], r.json["id"]]
    detail = client.get(f"{API}/teams/{r.json['id']}", headers=world.mgr_c1.headers)
    assert (detail.status_code, detail.json["description"]) == (200, "关爱老人")


def test_subtree_lists_the_teams_of_the_sites_below_too(client, world):
    i1_team = create_team(client, world.mgr_i1, world.sites["I1"], name="大队").json["id"]
    s2_team = create_team(client, world.mgr_i1, world.sites["S2"], name="二站队").json["id"]
    create_team(client, world.admin, world.sites["S3"], name="另一所的队")  # under I2: not I1's

    def ids(by, site: str, **query) -> list[int]:
        r = client.get(f"{API}/sites/{world.sites[site]}/teams", query_string=query, headers=by.headers)
        assert r.status_code == 200, r.json
        return [t["id"] for t in r.json["items"]]

    assert ids(world.mgr_i1, "I1") == [i1_team]
    assert ids(world.mgr_i1, "I1", subtree="true") == [world.teams["T1"], i1_team, s2_team]
    assert ids(world.mgr_i1, "I1", subtree="1", limit=1) == [world.teams["T1"]]
    assert ids(world.mgr_s1, "S1", subtree="true") == [world.teams["T1"]]  # never up the tree
    assert ids(world.mgr_s1, "S1", subtree="false") == [world.teams["T1"]]
    bad = client.get(f"{API}/sites/{world.sites['I1']}/teams?subtree=yes", headers=world.mgr_i1.headers)
    assert bad.status_code == 422 and "subtree" in bad.json["errors"]["query"]
    hidden = client.get(f"{API}/sites/{world.sites['I1']}/teams?subtree=true", headers=world.mgr_s1.headers)
    assert hidden.status_code == 404


@pytest.mark.parametrize(
    ("person", "status"), [("mgr_s4", 404), ("mgr_s2", 404), ("vol_s1", 403), ("resident", 403)]
)
def test_teams_out_of_reach_are_hidden(client, world, person, status):
    headers = world.people[person].headers
    assert client.get(f"{API}/teams/{world.teams['T1']}", headers=headers).status_code == status
    assert client.get(f"{API}/sites/{world.sites['S1']}/teams", headers=headers).status_code == status
    assert create_team(client, world.people[person], world.sites["S1"]).status_code == status


def test_a_team_nests_under_a_team_of_its_own_site_or_above(client, world):
    i1_team = create_team(client, world.mgr_i1, world.sites["I1"], name="大队").json["id"]
    for parent in (world.teams["T1"], i1_team):
        r = create_team(client, world.mgr_s1, world.sites["S1"], parent_id=parent)
        assert (r.status_code, r.json["parent_id"]) == (201, parent)


@pytest.mark.parametrize(
    ("site", "parent"),
    [("S2", "T1"), ("I1", "T1"), ("S1", "T4"), ("S1", None)],
)
def test_a_team_cannot_nest_under_a_team_below_or_elsewhere(client, world, site, parent):
    parent_id = world.teams[parent] if parent else 999_999
    r = create_team(client, world.admin, world.sites[site], parent_id=parent_id)
    assert (r.status_code, r.json["error"]) == (422, "team.bad_parent")
    assert "parent_id" in r.json["errors"]["json"]


# ---- members --------------------------------------------------------------------------------------


def test_a_volunteer_of_a_station_under_the_team_site_joins(client, world):
    r = add_member(client, world.mgr_s1, world.teams["T1"], world.vol_s1.id)
    assert r.status_code == 201
    assert (r.json["team_id"], r.json["user_id"], r.json["is_leader"]) == (
        world.teams["T1"],
        world.vol_s1.id,
        False,
    )
    i1_team = create_team(client, world.mgr_i1, world.sites["I1"]).json["id"]
    assert add_member(client, world.mgr_i1, i1_team, world.vol_s1.id).status_code == 201
    listed = members(client, world.mgr_s1, world.teams["T1"]).json["items"]
    assert [(m["user_id"], m["name"], m["is_leader"]) for m in listed] == [
        (world.vol_s1.id, "志愿者一", False)
    ]
    assert listed[0]["volunteer_no"]
    assert "team_leader" not in [g["role"] for g in roles_of(client, world.vol_s1)]


@pytest.mark.parametrize("person", ["resident", "applicant", "vol_s4", "mgr_s1", None])
def test_only_volunteers_from_under_the_team_site_can_join(client, world, person):
    user_id = world.people[person].id if person else 999_999
    r = add_member(client, world.admin, world.teams["T1"], user_id)
    assert (r.status_code, r.json["error"]) == (404, "volunteer.not_found")
    assert members(client, world.admin, world.teams["T1"]).json["items"] == []


def test_a_volunteer_of_a_sibling_station_cannot_join(app, client, world):
    vol_s2 = make_volunteer(app, world.sites["S2"], 40)
    r = add_member(client, world.mgr_i1, world.teams["T1"], vol_s2.id)
    assert (r.status_code, r.json["error"]) == (404, "volunteer.not_found")


@pytest.mark.parametrize("person", ["mgr_s4", "mgr_s2"])
def test_members_of_a_team_out_of_reach_are_404(client, world, person):
    manager = world.people[person]
    assert add_member(client, manager, world.teams["T1"], world.vol_s1.id).status_code == 404
    assert members(client, manager, world.teams["T1"]).status_code == 404


def test_joining_twice_is_409(client, world):
    assert add_member(client, world.mgr_s1, world.teams["T1"], world.vol_s1.id).status_code == 201
    r = add_member(client, world.mgr_s1, world.teams["T1"], world.vol_s1.id, leader=True)
    assert (r.status_code, r.json["error"]) == (409, "team.member_exists")
    assert "team_leader" not in [g["role"] for g in roles_of(client, world.vol_s1)]


def test_a_leader_holds_team_leader_until_removed(client, world):
    t1 = world.teams["T1"]
    r = add_member(client, world.mgr_s1, t1, world.vol_s1.id, leader=True)
    assert (r.status_code, r.json["is_leader"]) == (201, True)
    assert {"role": "team_leader", "team_id": t1} in [
        {"role": g["role"], "team_id": g["team_id"]} for g in roles_of(client, world.vol_s1)
    ]
    removed = client.delete(f"{API}/teams/{t1}/members/{world.vol_s1.id}", headers=world.mgr_s1.headers)
    assert (removed.status_code, removed.data) == (204, b"")
    assert "team_leader" not in [g["role"] for g in roles_of(client, world.vol_s1)]
    assert "volunteer" in [g["role"] for g in roles_of(client, world.vol_s1)]
    assert members(client, world.mgr_s1, t1).json["items"] == []
    again = client.delete(f"{API}/teams/{t1}/members/{world.vol_s1.id}", headers=world.mgr_s1.headers)
    assert again.status_code == 404


def test_removing_a_member_out_of_reach_is_404(client, world):
    add_member(client, world.mgr_s1, world.teams["T1"], world.vol_s1.id)
    r = client.delete(
        f"{API}/teams/{world.teams['T1']}/members/{world.vol_s1.id}", headers=world.mgr_s4.headers
    )
    assert r.status_code == 404
    assert len(members(client, world.mgr_s1, world.teams["T1"]).json["items"]) == 1


def test_members_are_listed_page_by_page(app, client, world):
    t1 = world.teams["T1"]
    volunteers = [world.vol_s1] + [make_volunteer(app, world.sites["S1"], 50 + i) for i in range(4)]
    for v in volunteers:
        assert add_member(client, world.mgr_s1, t1, v.id).status_code == 201
    seen, cursor = [], None
    for _ in range(len(volunteers)):
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = members(client, world.mgr_s1, t1, **params).json
        assert len(page["items"]) <= 2
        seen += [m["user_id"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(v.id for v in volunteers)
    assert members(client, world.mgr_s1, t1, cursor="not-a-cursor").status_code == 400
