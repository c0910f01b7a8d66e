"""Every list in the OpenAPI document, walked to its end through its own `next_cursor` (issue 11).

Each GET whose 200 answer is a page ({items, next_cursor}) has an entry in LISTS that makes at least
three pages' worth of rows (at `limit=1`, through services or the API) and names who reads them. The
walk fails on any non-2xx answer, on an item seen twice, on a walk shorter than three pages and on a
walk that ends before every row made is seen. A page-returning operation without an entry fails
test_every_list_is_walked: a new list cannot be forgotten. (Page 2 of the activity lists was a 500
on both databases, and no test walked past page 1.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from tests.api.endpoints import (
    CREDITED_ON,
    ORDER_PLACE,
    _activity,
    _activity_body,
    _appeal_on,
    _complaint,
    _follow_up,
    _job,
    _order,
    _rule_body,
    _step,
)
from tests.support import (
    ADMIN_VIEW,
    Person,
    World,
    caller,
    credit,
    grant,
    id_number,
    make_user,
    make_volunteer,
    many_volunteers,
)
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import User
from volunteer_app.demo.world import principal
from volunteer_app.extensions import db
from volunteer_app.notifications import service as notifications
from volunteer_app.notifications.models import Notification
from volunteer_app.sites import service as sites
from volunteer_app.timebank import certificates, gifts, rewards

API = "/api/v1"
ROWS = 3  # rows made for each list: three pages at limit=1
LIMIT = 1


@dataclass
class Walk:
    url: str  # under /api/v1, with any query the list needs
    reader: Person | None  # None: anonymous
    made: set | None  # keys (see `key`) of the rows made, each of which the walk must see


def key(item: dict) -> tuple:
    """What identifies an item: its id, or the transfer or user it is about; a task also by its kind
    (an order and an activity may share an id)."""
    if "distance_m" in item:
        return (item["kind"], item["id"])
    for field in ("id", "transfer_id", "user_id"):
        if field in item:
            return (item[field],)
    raise AssertionError(f"no identifying field in {sorted(item)}")


def _ids(values) -> set:
    return {(v,) for v in values}


# ---- how each list gets its rows ------------------------------------------------------------------


def _my_applications(app, w: World) -> Walk:
    """Applied, rejected, applied again … (one pending at a time)."""
    made = []
    with app.test_request_context():
        for i in range(ROWS):
            application = accounts.apply_as_volunteer(
                who=caller(w.resident.id),
                real_name="居民",
                id_number=id_number(30),
                site_id=w.sites["S1"],
                skills=[],
                category_ids=[],
            )
            made.append(application.id)
            if i < ROWS - 1:
                accounts.reject_application(
                    who=ADMIN_VIEW, reviewer_id=w.admin.id, application_id=application.id, reason="资料不全"
                )
    return Walk("/me/volunteer-applications", w.resident, _ids(made))


def _site_applications(app, w: World) -> Walk:
    made = []
    for i in range(ROWS):
        person = make_user(app, name=f"申请人{i}", home_site_id=w.sites["S1"])
        with app.test_request_context():
            made.append(
                accounts.apply_as_volunteer(
                    who=caller(person.id),
                    real_name=f"申请人{i}",
                    id_number=id_number(40 + i),
                    site_id=w.sites["S1"],
                    skills=[],
                    category_ids=[],
                ).id
            )
    return Walk(f"/sites/{w.sites['S1']}/volunteer-applications", w.mgr_s1, _ids(made))


def _managers(app, w: World) -> Walk:
    made = []
    for i in range(ROWS):
        person = make_user(app, name=f"站长{i}")
        grant(app, person, "manager", w.sites["S1"])
        made.append(person.id)
    return Walk(f"/sites/{w.sites['S1']}/managers", w.mgr_i1, _ids(made))


def _team_members(app, w: World) -> Walk:
    made = []
    for i in range(ROWS):
        volunteer = make_volunteer(app, w.sites["S1"], 50 + i, f"队员{i}")
        with app.app_context():
            accounts.add_team_member(
                who=ADMIN_VIEW,
                granter_id=w.admin.id,
                team_id=w.teams["T1"],
                user_id=volunteer.id,
                leader=False,
            )
        made.append(volunteer.id)
    return Walk(f"/teams/{w.teams['T1']}/members", w.mgr_s1, _ids(made))


def _sites(app, w: World) -> Walk:
    made = [
        _step(
            app,
            w.admin,
            "POST",
            "/sites",
            {"kind": "station", "name": f"新站{i}", "parent_id": w.sites["I1"]},
        )["id"]
        for i in range(ROWS)
    ]
    return Walk("/sites", None, _ids(made))


def _teams(app, w: World) -> Walk:
    made = [
        _step(app, w.mgr_s1, "POST", f"/sites/{w.sites['S1']}/teams", {"name": f"新队{i}"})["id"]
        for i in range(ROWS)
    ]
    return Walk(f"/sites/{w.sites['S1']}/teams", w.mgr_s1, _ids(made))


def _categories(app, w: World) -> Walk:
    made = []
    with app.app_context():
        for i in range(ROWS):
            made.append(sites.create_category(code=f"walk_{i}", name_zh=f"新服务{i}", name_en=f"New {i}").id)
    return Walk("/categories", None, _ids(made))


def _transfers(app, w: World) -> Walk:
    made = [credit(app, w.vol_s1, w.sites["S1"], 90, day=CREDITED_ON) for _ in range(ROWS)]
    return Walk("/me/timebook/transfers", w.vol_s1, _ids(made))


def _reward(app, w: World, i: int) -> int:
    with app.app_context():
        return rewards.create_reward(
            who=ADMIN_VIEW,
            actor_id=w.admin.id,
            site_id=w.sites["S1"],
            kind="service",
            title=f"义剪{i}",
            price_minutes=30,
            stock=10,
        ).id


def _rewards(app, w: World) -> Walk:
    return Walk("/rewards", w.vol_s1, _ids(_reward(app, w, i) for i in range(ROWS)))


def _redemptions(app, w: World) -> Walk:
    reward_id = _reward(app, w, 0)
    credit(app, w.vol_s1, w.sites["S1"], 30 * ROWS, day=CREDITED_ON)
    made = []
    with app.app_context():
        for _ in range(ROWS):
            made.append(rewards.redeem(who=caller(w.vol_s1.id), reward_id=reward_id)["id"])
    return Walk("/me/redemptions", w.vol_s1, _ids(made))


def _site_redemptions(app, w: World) -> Walk:
    made = _redemptions(app, w).made
    return Walk(f"/sites/{w.sites['I1']}/redemptions?status=issued", w.mgr_i1, made)


def _links(app, w: World) -> set:
    """vol_s1 asks S1 to approve three relatives."""
    made = []
    for i in range(ROWS):
        relative = make_user(app, name=f"家人{i}")
        with app.app_context():
            made.append(
                gifts.request_link(who=caller(w.vol_s1.id), relative_phone=relative.phone, relation="parent")[
                    "id"
                ]
            )
    return _ids(made)


def _my_links(app, w: World) -> Walk:
    return Walk("/me/family-links", w.vol_s1, _links(app, w))


def _site_links(app, w: World) -> Walk:
    return Walk(f"/sites/{w.sites['S1']}/family-links", w.mgr_s1, _links(app, w))


def _certificates(app, w: World) -> Walk:
    credit(app, w.vol_s1, w.sites["S1"], 90, day=CREDITED_ON)
    made = []
    with app.app_context():
        for _ in range(ROWS):
            made.append(
                certificates.issue_mine(
                    who=principal(db.session.get(User, w.vol_s1.id)),
                    date_from=date.today() - timedelta(days=30),
                    date_to=date.today() - timedelta(days=1),
                )["id"]
            )
    return Walk("/me/certificates", w.vol_s1, _ids(made))


def _notifications(app, w: World) -> Walk:
    with app.app_context():
        for i in range(ROWS):
            notifications.notify(
                [w.resident.id], "order.filled", params={"title": f"助老{i}"}, subject=("order", "1")
            )
        db.session.commit()
    return Walk("/me/notifications", w.resident, None)


def _deliveries(app, w: World) -> Walk:
    """A console row per notice to the resident (no route reaches them outside the inbox for these)."""
    _notifications(app, w)
    return Walk(f"/admin/notifications/deliveries?user_id={w.resident.id}", w.admin, None)


def _notification_deliveries(app, w: World) -> Walk:
    """One notice to a volunteer with three phones: three push deliveries."""
    from volunteer_app.notifications import devices

    with app.app_context():
        for i in range(ROWS):
            devices.register_device(
                who=caller(w.vol_s1.id), platform="android", token=f"tok-{i}", app_version=None
            )
        notifications.notify([w.vol_s1.id], "order.filled", params={"title": "助老"}, subject=("order", "1"))
        db.session.commit()
        notice = db.session.scalar(select(func.max(Notification.id)))
    return Walk(f"/admin/notifications/{notice}/deliveries", w.admin, None)


def _orders(app, w: World) -> Walk:
    made = [_order(app, w, "S1", "submitted")[0] for _ in range(ROWS)]
    return Walk("/orders", w.resident, _ids(made))


def _events(app, w: World) -> Walk:
    order_id, _ = _order(app, w, "S1", "held")  # submitted, dispatched, grabbed: three events
    return Walk(f"/orders/{order_id}/events", w.mgr_s1, None)


def _site_activities(app, w: World) -> Walk:
    made = [_activity(app, w, "S1") for _ in range(ROWS)]
    return Walk(f"/sites/{w.sites['S1']}/activities", w.vol_s1, _ids(made))


def _my_activities(app, w: World) -> Walk:
    made = [_activity(app, w, "S1", signed_up=True) for _ in range(ROWS)]
    return Walk("/me/activities", w.vol_s1, _ids(made))


def _signups(app, w: World) -> Walk:
    body = {**_activity_body(app, "S1"), "slots": ROWS}
    activity_id = _step(app, w.mgr_s1, "POST", f"/sites/{w.sites['S1']}/activities", body)["id"]
    made = [
        _step(app, volunteer, "POST", f"/activities/{activity_id}/signup")["id"]
        for volunteer in many_volunteers(app, w.sites["S1"], ROWS)
    ]
    return Walk(f"/activities/{activity_id}/signups", w.mgr_s1, _ids(made))


def _rules(app, w: World) -> Walk:
    made = [
        _step(
            app,
            w.mgr_s1,
            "POST",
            f"/sites/{w.sites['S1']}/service-day-rules",
            {**_rule_body(app, "S1"), "title": f"服务日{i}"},
        )["id"]
        for i in range(ROWS)
    ]
    return Walk(f"/sites/{w.sites['S1']}/service-day-rules", w.mgr_s1, _ids(made))


def _follow_ups(app, w: World) -> Walk:
    return Walk(
        f"/sites/{w.sites['S1']}/follow-ups", w.mgr_s1, _ids(_follow_up(app, w, "S1") for _ in range(ROWS))
    )


def _tasks(app, w: World) -> Walk:
    made = {("order", _order(app, w, "S1", "pool")[0]) for _ in range(ROWS)}
    place = ORDER_PLACE["S1"]
    return Walk(f"/tasks/available?lat={place['lat']}&lng={place['lng']}&radius_m=2000", w.vol_s1, made)


# OpenAPI path -> how its rows are made. A list whose rows' ids are not known when made says None:
# then the rows in the database after the walk are what it must have seen (see test_walk).
def _my_jobs(app, w: World) -> Walk:
    return Walk("/me/jobs", w.vol_s1, _ids(_job(app, w, "S1") for _ in range(ROWS)))


def _site_exports(app, w: World) -> Walk:
    """Exports asked at S1 and at S2 by their managers: the institute's manager sees them all."""
    made = set()
    for person, site in ((w.mgr_s1, "S1"), (w.mgr_s2, "S2"), (w.mgr_s1, "S1")):
        body = {"kind": "orders", "format": "csv", "from": "2026-11-01", "to": "2026-11-30"}
        job = _step(app, person, "POST", f"/sites/{w.sites[site]}/exports", body)
        with app.app_context():
            from volunteer_app.exports.models import ExportRecord

            made.add((db.session.scalar(select(ExportRecord.id).where(ExportRecord.job_id == job["id"])),))
    return Walk(f"/sites/{w.sites['I1']}/exports", w.mgr_i1, made)


def _supervision_items(app, w: World) -> Walk:
    """督办 items the institute raised against S1 and S2 and the center against I1: the center's list
    of what its subtree must act on has them all."""
    body = {"subject": "订单审核不及时", "description": "请核查整改", "level": "yellow"}
    made = set()
    for person, site in ((w.mgr_i1, "S1"), (w.mgr_i1, "S2"), (w.mgr_c1, "I1"), (w.mgr_i1, "S1")):
        made.add((_step(app, person, "POST", f"/sites/{w.sites[site]}/supervision-items", body)["id"],))
    return Walk(f"/sites/{w.sites['C1']}/supervision-items?side=acting", w.mgr_c1, made)


def _site_handovers(app, w: World) -> Walk:
    """Three of S1's orders referred up to I1 (at once): the institute's incoming handovers."""
    made = set()
    for _ in range(ROWS):
        order_id, _ = _order(app, w, "S1", "submitted")
        body = {"to_site_id": w.sites["I1"], "reason": "本站人手不足"}
        made.add((_step(app, w.mgr_s1, "POST", f"/orders/{order_id}/handovers", body)["id"],))
    return Walk(f"/sites/{w.sites['I1']}/handovers?direction=incoming", w.mgr_i1, made)


def _my_sessions(app, w: World) -> Walk:
    """The reader's sign-ins: the world's own and three more devices (ids are the session uuids)."""
    from tests.support import fresh_session
    from volunteer_app.auth.models import AuthSession

    for _ in range(ROWS):
        fresh_session(app, w.mgr_s2.id)
    with app.app_context():
        made = {
            (sid,)
            for sid in db.session.scalars(select(AuthSession.id).where(AuthSession.user_id == w.mgr_s2.id))
        }
    return Walk("/auth/sessions", w.mgr_s2, made)


def _site_volunteers(app, w: World) -> Walk:
    """Three more volunteers at S1, one at S2: the institute's roster has them all."""
    made = [p.id for p in many_volunteers(app, w.sites["S1"], ROWS)]
    made += [p.id for p in many_volunteers(app, w.sites["S2"], 1)]
    return Walk(f"/sites/{w.sites['I1']}/volunteers", w.mgr_i1, _ids([*made, w.vol_s1.id]))


def _complaints(app, w: World) -> list[int]:
    """Three complaints of the resident, one per cancelled order of S1."""
    return [_complaint(app, w, "S1") for _ in range(ROWS)]


def _my_complaints(app, w: World) -> Walk:
    return Walk("/me/complaints", w.resident, _ids(_complaints(app, w)))


def _site_complaints(app, w: World) -> Walk:
    return Walk(f"/sites/{w.sites['I1']}/complaints", w.mgr_i1, _ids(_complaints(app, w)))


def _my_appeals(app, w: World) -> Walk:
    return Walk("/me/appeals", w.vol_s1, _ids(_appeal_on(app, w, "S1") for _ in range(ROWS)))


def _site_appeals(app, w: World) -> Walk:
    """Appeals of S1's no-show marks, decided by its institute: I1's list of those it decides."""
    made = _ids(_appeal_on(app, w, "S1") for _ in range(ROWS))
    return Walk(f"/sites/{w.sites['I1']}/appeals?side=deciding", w.mgr_i1, made)


def _id_number_viewers(app, w: World) -> Walk:
    """Three managers an admin allowed to see unmasked ID numbers."""
    from volunteer_app.accounts import privacy

    managers = (w.mgr_c1, w.mgr_i1, w.mgr_s1)
    with app.app_context():
        for manager in managers:
            privacy.grant_viewer(who=caller(w.admin.id), user_id=manager.id)
    return Walk("/id-number-viewers", w.admin, {(m.id,) for m in managers})


def _id_number_access_log(app, w: World) -> Walk:
    """Three looks at a volunteer's full ID number, each logged (the admin reads the log)."""
    from types import SimpleNamespace

    from volunteer_app.accounts import privacy

    admin = SimpleNamespace(user_id=w.admin.id, is_admin=True, manager_paths=())
    with app.app_context():
        for i in range(ROWS):
            privacy.reveal_id_number(who=admin, user_id=w.vol_s1.id, reason=f"办理保险 {i}")
    return Walk(f"/id-number-access-log?subject_id={w.vol_s1.id}", w.admin, None)


LISTS: dict[str, Callable[..., Walk]] = {
    "/api/v1/id-number-viewers": _id_number_viewers,
    "/api/v1/id-number-access-log": _id_number_access_log,
    "/api/v1/me/complaints": _my_complaints,
    "/api/v1/sites/{site_id}/complaints": _site_complaints,
    "/api/v1/me/appeals": _my_appeals,
    "/api/v1/sites/{site_id}/appeals": _site_appeals,
    "/api/v1/auth/sessions": _my_sessions,
    "/api/v1/sites/{site_id}/volunteers": _site_volunteers,
    "/api/v1/me/jobs": _my_jobs,
    "/api/v1/sites/{site_id}/exports": _site_exports,
    "/api/v1/sites/{site_id}/supervision-items": _supervision_items,
    "/api/v1/sites/{site_id}/handovers": _site_handovers,
    "/api/v1/me/volunteer-applications": _my_applications,
    "/api/v1/sites/{site_id}/volunteer-applications": _site_applications,
    "/api/v1/sites/{site_id}/managers": _managers,
    "/api/v1/teams/{team_id}/members": _team_members,
    "/api/v1/sites": _sites,
    "/api/v1/sites/{site_id}/teams": _teams,
    "/api/v1/categories": _categories,
    "/api/v1/me/timebook/transfers": _transfers,
    "/api/v1/rewards": _rewards,
    "/api/v1/me/redemptions": _redemptions,
    "/api/v1/sites/{site_id}/redemptions": _site_redemptions,
    "/api/v1/me/family-links": _my_links,
    "/api/v1/sites/{site_id}/family-links": _site_links,
    "/api/v1/me/certificates": _certificates,
    "/api/v1/me/notifications": _notifications,
    "/api/v1/admin/notifications/deliveries": _deliveries,
    "/api/v1/admin/notifications/{notification_id}/deliveries": _notification_deliveries,
    "/api/v1/orders": _orders,
    "/api/v1/orders/{order_id}/events": _events,
    "/api/v1/sites/{site_id}/activities": _site_activities,
    "/api/v1/me/activities": _my_activities,
    "/api/v1/activities/{activity_id}/signups": _signups,
    "/api/v1/sites/{site_id}/service-day-rules": _rules,
    "/api/v1/tasks/available": _tasks,
    "/api/v1/sites/{site_id}/follow-ups": _follow_ups,
}


# ---- the document: which operations answer a page ---------------------------------------------------


def _resolve(document: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _json_schema(document: dict, response: dict) -> dict | None:
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    return None if schema is None else _resolve(document, schema)


def page_operations(document: dict) -> set[str]:
    """The paths whose GET answers 200 with a page: {items: [..], next_cursor}."""
    found = set()
    for path, operations in document["paths"].items():
        ok = operations.get("get", {}).get("responses", {}).get("200")
        schema = ok and _json_schema(document, ok)
        if schema and {"items", "next_cursor"} <= set(schema.get("properties", {})):
            found.add(path)
    return found


def test_every_list_is_walked(document):
    """A page-returning operation not in LISTS fails here: give it rows and a reader in LISTS."""
    pages = page_operations(document)
    assert len(pages) >= 20, sorted(pages)
    assert not pages - set(LISTS), f"lists not walked (add them to LISTS): {sorted(pages - set(LISTS))}"
    assert not set(LISTS) - pages, f"LISTS names no page operation: {sorted(set(LISTS) - pages)}"


# A page may carry documented fields about the whole list beside its items (never instead of them):
# the statement names the ledger checkpoint that covers it.
PAGE_EXTRAS = {"/api/v1/me/timebook/transfers": {"checkpoint"}}
PAGE_KEYS = {"items", "next_cursor"}


def test_no_list_is_a_bare_array(document):
    """Every list answers {items, next_cursor} and nothing else: no 2xx answer is a bare JSON array."""
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method not in ("get", "put", "post", "patch", "delete"):
                continue
            for status, response in operation.get("responses", {}).items():
                schema = status.startswith("2") and _json_schema(document, response)
                if not schema:
                    continue
                assert schema.get("type") != "array", f"{method.upper()} {path} {status} is a bare array"
                if "items" in schema.get("properties", {}):
                    extras = PAGE_EXTRAS.get(path, set())
                    assert set(schema["properties"]) == PAGE_KEYS | extras, (method, path)
                    assert PAGE_KEYS <= set(schema.get("required", [])) <= PAGE_KEYS | extras, (method, path)


# ---- the walk --------------------------------------------------------------------------------------


def _headers(reader: Person | None) -> dict:
    return reader.headers if reader else {}


def walk(client, url: str, reader: Person | None) -> tuple[list[tuple], int]:
    """Follow next_cursor from the first page to the last; returns the keys seen and the page count."""
    seen: list[tuple] = []
    cursor, pages = None, 0
    while True:
        query = f"limit={LIMIT}" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(f"{API}{url}{'&' if '?' in url else '?'}{query}", headers=_headers(reader))
        pages += 1
        assert 200 <= response.status_code < 300, (
            f"page {pages} of {url}: {response.status_code} {response.get_data(as_text=True)[:300]}"
        )
        body = response.get_json()
        assert set(body) == PAGE_KEYS | PAGE_EXTRAS.get(f"{API}{url.split('?')[0]}", set()), sorted(body)
        assert len(body["items"]) <= LIMIT
        for item in body["items"]:
            assert key(item) not in seen, f"{url}: {key(item)} seen twice (page {pages})"
            seen.append(key(item))
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages
        assert pages < 500, f"{url}: the walk does not end"


def _all_rows(client, url: str, reader: Person | None) -> set:
    """Every item of the list in one page (at most 100): what a walk must see when its rows' ids are
    not known in advance."""
    response = client.get(f"{API}{url}{'&' if '?' in url else '?'}limit=100", headers=_headers(reader))
    assert response.status_code == 200
    return {key(item) for item in response.get_json()["items"]}


@pytest.mark.parametrize("path", sorted(LISTS))
def test_walk(app, client, world, path):
    made = LISTS[path](app, world)
    expected = made.made if made.made is not None else _all_rows(client, made.url, made.reader)
    assert len(expected) >= ROWS, (path, expected)
    seen, pages = walk(client, made.url, made.reader)
    assert pages >= ROWS, f"{path}: {pages} pages for {len(expected)} rows at limit={LIMIT}"
    missing = expected - set(seen)
    assert not missing, f"{path}: the walk ended before {sorted(missing)} (saw {seen})"
