"""GET /tasks/available filtered: by category (repeatable), by a skill asked for, and `matching=true`
(what fits the caller's profile, orders/matching.py); every filter walked page by page to its end,
hostile values refused in the one format, and a feed page still one query."""

from __future__ import annotations

import contextlib
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select, update

from tests.api.helpers import assert_error
from tests.orders.conftest import PLACE, iso
from tests.support import make_volunteer
from volunteer_app.accounts.models import VolunteerProfile
from volunteer_app.extensions import db
from volunteer_app.feed import service as feed_service
from volunteer_app.orders import matching
from volunteer_app.orders.models import Order
from volunteer_app.sites.models import Category

HERE = f"lat={PLACE['lat']}&lng={PLACE['lng']}"


def three_categories(app) -> list[int]:
    with app.app_context():
        ids = list(
            db.session.scalars(select(Category.id).where(Category.active.is_(True)).order_by(Category.id))
        )
    assert len(ids) >= 3
    return ids[:3]


def set_profile(app, person, *, category_ids: list[int], skills: list[str]) -> None:
    with app.app_context():
        db.session.execute(
            update(VolunteerProfile)
            .where(VolunteerProfile.user_id == person.id)
            .values(category_ids=category_ids, skills=skills)
        )
        db.session.commit()


def pool(world, loop, n: int, category: int, skills: list[str]) -> int:
    """A grab pool of S1 `n` hundred metres north of PLACE (distinct distances: a known order)."""
    place = {"lat": round(PLACE["lat"] + 0.001 * n, 6), "lng": PLACE["lng"]}
    order = loop.submit(world.resident, category_id=category, skills=skills, **place)
    assert order["skills"] == skills
    loop.dispatch_grab(world.mgr_s1, order["id"], capacity=2)
    return order["id"]


def activity(world, loop, n: int, category: int, skills: list[str]) -> int:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    body = {
        "category_id": category,
        "title": "社区清洁日",
        "address": "文晖街道文化广场",
        "lat": round(PLACE["lat"] + 0.001 * n, 6),
        "lng": PLACE["lng"],
        "start_at": iso(start),
        "end_at": iso(start + timedelta(hours=3)),
        "slots": 2,
        "skills": skills,
    }
    made = loop.call("POST", f"/sites/{world.sites['S1']}/activities", world.mgr_s1, body, 201)
    assert made["skills"] == skills
    return made["id"]


def pages(loop, person, query: str, limit: int) -> list[dict]:
    """Every page of the feed (its items and cursor), following next_cursor to the end."""
    found, cursor = [], None
    for _ in range(60):
        page = loop.call(
            "GET",
            f"/tasks/available?{HERE}&limit={limit}{query}" + (f"&cursor={cursor}" if cursor else ""),
            person,
        )
        assert len(page["items"]) <= limit
        found.append(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return found
    raise AssertionError("the feed did not end")


def walk(loop, person, query: str, limit: int = 2) -> list[tuple[str, int]]:
    """Every entry of the filtered feed, following next_cursor to the end."""
    return [(t["kind"], t["id"]) for page in pages(loop, person, query, limit) for t in page["items"]]


@pytest.fixture
def setting(app, world, loop):
    """Three volunteers with different profiles and six entries (four pools, two activities), each
    asking for categories A/B/C and skills as named."""
    a, b, c = three_categories(app)
    people = {
        "any": make_volunteer(app, world.sites["S1"], 31, "志愿者甲"),  # named nothing
        "medic": make_volunteer(app, world.sites["S1"], 32, "志愿者乙"),
        "cook": make_volunteer(app, world.sites["S1"], 33, "志愿者丙"),
    }
    set_profile(app, people["any"], category_ids=[], skills=[])
    set_profile(app, people["medic"], category_ids=[a], skills=["急救"])
    set_profile(app, people["cook"], category_ids=[b, c], skills=["做饭", "助老"])
    entries = {
        "o1": ("order", pool(world, loop, 1, a, [])),
        "o2": ("order", pool(world, loop, 2, a, ["陪诊", "急救"])),
        "a1": ("activity", activity(world, loop, 3, b, [])),
        "o3": ("order", pool(world, loop, 4, b, ["助老"])),
        "a2": ("activity", activity(world, loop, 5, a, ["急救"])),
        "o4": ("order", pool(world, loop, 6, c, ["电工"])),
    }
    shapes = {
        "o1": (a, []),
        "o2": (a, ["陪诊", "急救"]),
        "a1": (b, []),
        "o3": (b, ["助老"]),
        "a2": (a, ["急救"]),
        "o4": (c, ["电工"]),
    }
    return {"cats": (a, b, c), "people": people, "entries": entries, "shapes": shapes}


def names(setting, seen) -> list[str]:
    back = {v: k for k, v in setting["entries"].items()}
    return [back[e] for e in seen if e in back]


def test_each_filter_and_their_combinations_walked_to_the_end(app, world, loop, setting):
    a, b, c = setting["cats"]
    medic, cook, anyone = (setting["people"][k] for k in ("medic", "cook", "any"))
    everything = ["o1", "o2", "a1", "o3", "a2", "o4"]
    assert names(setting, walk(loop, medic, "")) == everything
    # The entries carry the skills they ask for (none: an empty list).
    page = loop.call("GET", f"/tasks/available?{HERE}&limit=100", medic)["items"]
    assert {(t["kind"], t["id"]): t["skills"] for t in page}[setting["entries"]["o2"]] == ["陪诊", "急救"]
    assert {(t["kind"], t["id"]): t["skills"] for t in page}[setting["entries"]["a1"]] == []

    cases = {
        f"&category_id={a}": ["o1", "o2", "a2"],
        f"&category_id={a}&category_id={c}": ["o1", "o2", "a2", "o4"],
        f"&category_id={b}&category_id={a}&category_id={c}": everything,
        "&skill=急救": ["o2", "a2"],
        "&skill=%20助老%20": ["o3"],  # stripped like every text
        "&skill=陪": [],  # exact, not a substring
        # A search left empty, or of what shows nothing (a zero-width space alone), does not filter.
        "&skill=": everything,
        "&skill=%20%20": everything,
        "&skill=%E2%80%8B": everything,
        f"&skill=急救&category_id={b}": [],
        f"&skill=电工&category_id={c}": ["o4"],
        "&category_id=987654321": [],  # no such category: nothing, like GET /orders?category_id
    }
    for query, expected in cases.items():
        for limit in (1, 2, 100):
            assert names(setting, walk(loop, medic, query, limit)) == expected, (query, limit)

    mine = {  # matching=true, by the rule of orders/matching.py
        "medic": ["o1", "o2", "a2"],  # category A; no skill asked, or 急救
        "cook": ["a1", "o3"],  # B or C; o4 asks 电工, which they lack
        "any": ["o1", "a1"],  # every category; only what asks for no skill
    }
    for who, expected in mine.items():
        for limit in (1, 2):
            assert names(setting, walk(loop, setting["people"][who], "&matching=true", limit)) == expected
        assert names(setting, walk(loop, setting["people"][who], "&matching=false")) == everything
    assert names(setting, walk(loop, cook, f"&matching=1&category_id={b}")) == ["a1", "o3"]
    assert names(setting, walk(loop, cook, "&matching=true&skill=助老")) == ["o3"]
    assert names(setting, walk(loop, anyone, f"&matching=true&category_id={a}&skill=急救")) == []
    assert names(setting, walk(loop, medic, f"&matching=true&category_id={a}&skill=急救", 1)) == ["o2", "a2"]

    # What one has grabbed leaves the matching feed too; a pool filled leaves everyone's.
    loop.grab(medic, setting["entries"]["o2"][1])
    assert names(setting, walk(loop, medic, "&matching=true")) == ["o1", "a2"]


def test_the_sql_rule_and_the_python_rule_agree(app, world, loop, setting):
    """orders.matching.fits (SQL, on both databases) and matching.matches (Python) on every pair of a
    volunteer and an order, including stored JSON null and odd lists."""
    a, b, c = setting["cats"]
    profiles = [([], []), ([a], ["急救"]), ([b, c], ["做饭", "助老"]), (None, None), ([c], [])]
    vol = setting["people"]["any"]
    orders = {name: oid for name, (kind, oid) in setting["entries"].items() if kind == "order"}
    for category_ids, skills in profiles:
        with app.app_context():
            db.session.execute(
                update(VolunteerProfile)
                .where(VolunteerProfile.user_id == vol.id)
                .values(category_ids=category_ids or [], skills=skills or [])
            )
            if category_ids is None:  # a JSON null stored by hand: holds nothing
                db.session.execute(
                    update(VolunteerProfile.__table__)
                    .where(VolunteerProfile.user_id == vol.id)
                    .values(category_ids=None, skills=None)
                )
            dialect = db.engine.dialect.name
            got = set(
                db.session.scalars(
                    select(Order.id)
                    .join(VolunteerProfile, VolunteerProfile.user_id == vol.id)
                    .where(Order.id.in_(orders.values()), matching.profile_matches_order(dialect=dialect))
                )
            )
            db.session.commit()
        for name, oid in orders.items():
            category, wanted = setting["shapes"][name]
            expected = matching.matches(
                category_ids=category_ids, skills=skills, category_id=category, wanted=wanted
            )["fits"]
            assert (oid in got) == expected, (category_ids, skills, name)


HOSTILE = [
    "&category_id=0",
    "&category_id=-3",
    "&category_id=abc",
    "&category_id=1.5",
    "&category_id=",
    "&category_id=99999999999999999999",
    "&category_id=3&category_id=3",  # a repeat
    "".join(f"&category_id={i}" for i in range(1, 22)),  # 21: more than 20
    "&skill=" + "长" * 31,
    "&skill=%00",
    "&matching=maybe",
    "&matching=2",
    "&matching=",
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_filter_values_are_422_in_the_one_format(app, client, world, query):
    response = client.get(f"/api/v1/tasks/available?{HERE}{query}", headers=world.vol_s1.headers)
    body = assert_error(response, 422)
    assert set(body["errors"]["query"]) <= {"category_id", "skill", "matching"}, body


def test_quotes_and_wildcards_in_a_skill_are_plain_text(app, loop, world, setting):
    for skill in ("'", '"', "%", "_", "急救' OR '1'='1", "急救%", '["急救"]', "\\"):
        assert walk(loop, setting["people"]["medic"], f"&skill={skill.replace('%', '%25')}") == []


@contextlib.contextmanager
def statements(app):
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if statement.strip().upper() != "BEGIN":  # SQLite's deferred BEGIN of a GET
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_a_feed_page_is_the_same_statements_with_any_filter(app, client, world, setting, monkeypatch):
    """The feed stays one query over both tables, whatever its filters (they are conditions of each
    branch, over bound parameters), and the caller's profile is read inside it, not before it. Its
    shapes are built once per process: many requests, a handful of cached statements. (The whole
    circle at once: the smaller circle read first, when it does not fill the page, is the same
    statement once more, test_feed_first_look.py.)"""
    monkeypatch.setattr(feed_service, "FIRST_LOOK", None)
    a, b, _ = setting["cats"]
    medic = setting["people"]["medic"]
    queries = [
        "",
        f"&category_id={a}",
        f"&category_id={a}&category_id={b}",
        "&skill=急救",
        f"&skill=急救&category_id={a}",  # the shape the values below vary (so none is built there)
        "&matching=true",
        f"&matching=true&skill=急救&category_id={a}&category_id={b}",
    ]
    counts = {}
    for query in queries:
        client.get(f"/api/v1/tasks/available?{HERE}&limit=2{query}", headers=medic.headers)  # warm
        with statements(app) as seen:
            response = client.get(f"/api/v1/tasks/available?{HERE}&limit=2{query}", headers=medic.headers)
        assert response.status_code == 200
        feed = [s for s in seen if "FROM orders" in s and "FROM activities" in s]
        assert len(feed) == 1, seen
        counts[query] = len(seen)
    # The principal's one query and the feed's one (as before the filters: measured on the parent).
    assert set(counts.values()) == {2}, (counts, seen)
    before = feed_service._candidates.cache_info().currsize
    for skill, cat in itertools.product(("急救", "助老", "x"), (a, b)):
        client.get(f"/api/v1/tasks/available?{HERE}&skill={skill}&category_id={cat}", headers=medic.headers)
    assert feed_service._candidates.cache_info().currsize == before
