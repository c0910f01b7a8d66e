"""The roster and dispatch picker: GET /sites/{id}/volunteers (workbench.roster.volunteers)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from sqlalchemy import event

from tests.api.helpers import assert_error
from tests.support import ADMIN_VIEW, credit
from tests.workbench.conftest import API, as_caller, read_all, soon, volunteer
from volunteer_app.accounts import service as accounts
from volunteer_app.extensions import db
from volunteer_app.workbench import roster


def rows(client, person, site_id: int, **query) -> list[dict]:
    return read_all(client, person, f"{API}/sites/{site_id}/volunteers", query)


def user_ids(client, person, site_id: int, **query) -> list[int]:
    return [row["user_id"] for row in rows(client, person, site_id, **query)]


def join(app, world, team: str, person, leader: bool = False) -> None:
    with app.app_context():
        accounts.add_team_member(
            who=ADMIN_VIEW,
            granter_id=world.admin.id,
            team_id=world.teams[team],
            user_id=person.id,
            leader=leader,
        )


@pytest.fixture
def crew(app, world):
    """S1: vol_s1 (world), 王小明 (急救, 驾驶; phone ending 4321, team T1 leader), 李华 (急救; team T1);
    S2: 赵敏 (心理辅导). S4's vol_s4 is under the other center."""
    s1, s2 = world.sites["S1"], world.sites["S2"]
    people = {
        "wang": volunteer(app, s1, 71, "王小明", ["急救", "驾驶"], phone="13912344321"),
        "li": volunteer(app, s1, 72, "李华", ["急救"], phone="13912340000"),
        "zhao": volunteer(app, s2, 73, "赵敏", ["心理辅导"], phone="13912354321"),
    }
    join(app, world, "T1", people["wang"], leader=True)
    join(app, world, "T1", people["li"])
    return people


def test_the_subtree_of_a_site_in_reach(app, client, world, crew):
    s1 = [world.vol_s1.id, crew["wang"].id, crew["li"].id]
    assert user_ids(client, world.mgr_s1, world.sites["S1"]) == s1
    assert user_ids(client, world.mgr_i1, world.sites["I1"]) == [*s1, crew["zhao"].id]
    assert user_ids(client, world.mgr_c1, world.sites["S2"]) == [crew["zhao"].id]
    assert user_ids(client, world.admin, world.sites["C2"]) == [world.vol_s4.id]
    assert user_ids(client, world.mgr_c1, world.sites["I2"]) == []
    # An applicant not yet approved is no volunteer.
    assert world.applicant.id not in user_ids(client, world.mgr_s1, world.sites["S1"])


def test_reach_and_roles(app, client, world, crew):
    url = f"{API}/sites/{world.sites['S1']}/volunteers"
    for person in (world.mgr_s2, world.mgr_s4):  # a sibling station, the other center
        assert_error(client.get(url, headers=person.headers), 404, "not_found")
    assert_error(client.get(f"{API}/sites/{world.sites['I1']}/volunteers", headers=world.mgr_s1.headers), 404)
    assert_error(client.get(f"{API}/sites/987654321/volunteers", headers=world.admin.headers), 404)
    for person in (world.vol_s1, world.resident):
        assert_error(client.get(url, headers=person.headers), 403, "auth.forbidden")
    assert_error(client.get(url), 401)


def test_a_row(app, client, world, crew):
    credit(app, crew["wang"], world.sites["S1"], 150)
    row = next(r for r in rows(client, world.mgr_s1, world.sites["S1"]) if r["user_id"] == crew["wang"].id)
    assert row == {
        "user_id": crew["wang"].id,
        "name": "王小明",
        "real_name": "王小明实名",
        "phone": "+86139****4321",
        "volunteer_no": f"ZY{crew['wang'].id:010d}",
        "station": {"id": world.sites["S1"], "name": "站点S1"},
        "skills": ["急救", "驾驶"],
        "teams": [{"id": world.teams["T1"], "name": "宝石志愿服务队", "is_leader": True}],
        "star_level": 0,
        "lifetime_minutes": 150,
        "lifetime_hours": 2.5,
        "balance_minutes": 150,
        "balance_hours": 2.5,
        "open_tasks": 0,
        "matches": None,  # without for_order
    }
    # No book yet: nothing credited, level 0, no teams.
    zhao = rows(client, world.mgr_i1, world.sites["S2"])[0]
    assert (zhao["lifetime_minutes"], zhao["balance_minutes"], zhao["star_level"], zhao["teams"]) == (
        0,
        0,
        0,
        [],
    )


def test_star_level_by_the_book_station_thresholds(app, client, world, crew):
    r = client.patch(
        f"{API}/sites/{world.sites['S1']}/settings",
        json={"star_thresholds_hours": [1, 2, 3]},
        headers=world.mgr_s1.headers,
    )
    assert r.status_code == 200, r.get_json()
    credit(app, crew["wang"], world.sites["S1"], 150)
    credit(app, crew["li"], world.sites["S1"], 59)
    levels = {row["user_id"]: row["star_level"] for row in rows(client, world.mgr_s1, world.sites["S1"])}
    assert (levels[crew["wang"].id], levels[crew["li"].id]) == (2, 0)
    # The same level the volunteer's own book shows.
    assert client.get(f"{API}/me/timebook", headers=crew["wang"].headers).get_json()["star_level"] == 2


@pytest.mark.parametrize(
    ("q", "who"),
    [
        ("小明", ["wang"]),
        ("华", ["li"]),
        ("实名", ["wang", "li"]),  # their real names (王小明实名, 李华实名)
        ("志愿者", ["vol_s1"]),
        ("4321", ["wang"]),  # the phone's last four (赵敏's ends so too, but is at S2)
        ("４３２１", ["wang"]),  # typed full-width
        ("1234", []),  # four digits are a tail, never the middle
        ("139 1234 4321", ["wang"]),  # a whole phone number
        ("王", ["wang"]),
        ("nobody", []),
        ("%", []),  # LIKE's wildcards are taken literally
        ("_", []),
    ],
)
def test_search(app, client, world, crew, q, who):
    people = {**crew, "vol_s1": world.vol_s1}
    found = user_ids(client, world.mgr_s1, world.sites["S1"], q=q)
    assert sorted(found) == sorted(people[k].id for k in who)


def test_search_by_volunteer_number(app, client, world, crew):
    number = f"zy{crew['li'].id:010d}"
    assert user_ids(client, world.mgr_s1, world.sites["S1"], q=number) == [crew["li"].id]


def test_skill_and_team_filters(app, client, world, crew):
    s1, i1 = world.sites["S1"], world.sites["I1"]
    assert user_ids(client, world.mgr_s1, s1, skill="急救") == [crew["wang"].id, crew["li"].id]
    assert user_ids(client, world.mgr_s1, s1, skill="驾驶") == [crew["wang"].id]
    assert user_ids(client, world.mgr_s1, s1, skill="急") == []  # a skill is matched whole
    assert user_ids(client, world.mgr_i1, i1, skill="心理辅导") == [crew["zhao"].id]
    assert user_ids(client, world.mgr_s1, s1, team_id=world.teams["T1"]) == [crew["wang"].id, crew["li"].id]
    assert user_ids(client, world.mgr_s1, s1, team_id=world.teams["T1"], skill="驾驶") == [crew["wang"].id]
    assert user_ids(client, world.mgr_s1, s1, team_id=world.teams["T1"], q="李") == [crew["li"].id]
    assert user_ids(client, world.mgr_s1, s1, team_id=world.teams["T4"]) == []
    assert user_ids(client, world.mgr_s1, s1, team_id=987654321) == []
    for bad in (
        "team_id=0",
        "team_id=x",
        f"q={'长' * 41}",
        "limit=0",
        "cursor=nope",
    ):
        r = client.get(f"{API}/sites/{s1}/volunteers?{bad}", headers=world.mgr_s1.headers)
        assert r.status_code in (400, 422), (bad, r.status_code)
    # A search box left empty, or holding only what shows nothing, does not filter.
    everyone = user_ids(client, world.mgr_s1, s1)
    for blank in ("", " ", "\u3000", "\x95", "\u200b\t"):
        assert user_ids(client, world.mgr_s1, s1, q=blank) == everyone, repr(blank)
        assert user_ids(client, world.mgr_s1, s1, skill=blank) == everyone, repr(blank)


def test_open_tasks_count_offers_places_and_presence(app, client, world, loop, crew):
    wang = crew["wang"]
    offered = loop.submit(world.resident)["id"]
    loop.dispatch_assign(world.mgr_s1, offered, [wang.id, crew["li"].id])
    declined = loop.submit(world.resident)["id"]
    loop.dispatch_assign(world.mgr_s1, declined, [wang.id])
    loop.act(wang, loop.get(wang, declined)["my_assignment"]["id"], "decline", {"reason": "没空"})
    held = loop.submit(world.resident)["id"]
    loop.dispatch_grab(world.mgr_s1, held)
    loop.grab(wang, held)
    on_site = loop.submit(world.resident, **soon())["id"]
    loop.dispatch_grab(world.mgr_s1, on_site)
    assignment = loop.grab(wang, on_site)["id"]
    loop.act(wang, assignment, "check-in", {"lat": 30.2712, "lng": 120.1712})
    done = loop.submit(world.resident, **soon())["id"]
    loop.dispatch_grab(world.mgr_s1, done)
    finished = loop.grab(wang, done)["id"]
    loop.act(wang, finished, "check-in", {"lat": 30.2712, "lng": 120.1712})
    loop.act(wang, finished, "check-out", {"lat": 30.2712, "lng": 120.1712})
    tasks = {row["user_id"]: row["open_tasks"] for row in rows(client, world.mgr_s1, world.sites["S1"])}
    # wang: offered, held, checked in (the declined offer and the checked-out place are not open)
    assert tasks == {wang.id: 3, crew["li"].id: 1, world.vol_s1.id: 0}


def test_a_page_costs_the_same_statements_for_few_or_many(app, world, crew):
    def statements(site: str, limit: int) -> tuple[int, int]:
        with app.test_request_context():
            count = [0]

            def seen(*_args, **_kwargs):
                count[0] += 1

            engine = db.engine
            event.listen(engine, "before_cursor_execute", seen)
            try:
                page = as_caller(
                    app, world.mgr_c1, roster.volunteers, site_id=world.sites[site], limit=limit, cursor=None
                )
            finally:
                event.remove(engine, "before_cursor_execute", seen)
            return count[0], len(page["items"])

    for i in range(6):
        join_person = volunteer(app, world.sites["S1"], 80 + i, f"队员{i}", ["急救"])
        join(app, world, "T1", join_person)
    few, few_rows = statements("S2", 100)
    many, many_rows = statements("S1", 100)
    assert (few_rows, many_rows) == (1, 9)
    assert many == few, (few, many)


def test_the_walk_sees_everyone_once(app, client, world, crew):
    seen, cursor = [], None
    while True:
        query = urlencode({"limit": 1, **({"cursor": cursor} if cursor else {})})
        body = client.get(
            f"{API}/sites/{world.sites['I1']}/volunteers?{query}", headers=world.mgr_i1.headers
        ).get_json()
        seen += [row["user_id"] for row in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted({world.vol_s1.id, *(p.id for p in crew.values())})
