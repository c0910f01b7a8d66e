"""Hostile query strings and path ids on every console GET route, as a signed-in station manager and
anonymously: never a 500, a 4xx is a page in the console's layout, and nothing of another site's data.

The routes come from the app's url_map (every GET endpoint of the `console.` blueprint), and the query
names from a fixed list plus every name the route itself reads (recorded while it answers a plain
request), so a new route or a new filter is covered without editing this file.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from werkzeug.datastructures import ImmutableMultiDict

from tests.console.url_map import CONSOLE_GETS as GET_ROUTES
from tests.console.url_map import fill as _url
from tests.console.url_map import route_id as _id
from tests.orders.conftest import PLACE, category_id, iso, order_body
from tests.support import console_sign_in, credit, make_user
from volunteer_app.console.pages import load_query

PAGES = [rule for rule in GET_ROUTES if rule.endpoint != "console.static"]

# Names any console page might read, whether this one does or not.
NAMES = (
    "site", "site_id", "cursor", "past_cursor", "members_cursor", "events", "status", "from", "to",
    "period", "metric", "q", "skill", "team_id", "team", "pick", "limit", "page", "kind", "code",
    "certificate", "category_id", "escalated", "need", "overdue", "next", "when", "subtree", "format",
    "lang",
)  # fmt: skip
VALUES = (
    "",
    " ",
    str(2**70),
    str(2**63),
    "-1",
    "0",
    "\x00",
    "1\x002",
    "x" * 10_000,
    "9" * 5_000,
    "٣",
    "²",
    "中文✓😀\u202e\ufeff",
    "1e309",
    "NaN",
    "9999-12-31",
    "0000-00-00",
    "2026-Q9",
    "0001-01-01",
    "9999-12",
    "[]",
    "<script>alert(1)</script>",
    "%",
    "../../api/v1/me",
)
PATH_IDS = ("0", "-1", str(2**63 - 1), str(2**63), str(2**70), "999999999", "1.5", "%00", "x" * 10_000)
PATH_REST = ("x", "%00", "..%2F..%2Fapi%2Fv1%2Fme", "x" * 10_000, "中文", "orders/1/../../../api/v1/me")
# Text that only another site's data (S2, S3 and the other center's) would put on S1's manager's pages.
FOREIGN = (
    "站点S2",
    "站点S3",
    "站点I2",
    "站点S4",
    "站点I3",
    "站点C2",
    "外区队",
    "志愿者四",
    "外区订单",
    "外区活动",
)


# ---- recording the names a route reads -----------------------------------------------------------


class Recording(ImmutableMultiDict):
    """The request's args, noting every name asked for by name, and whether anything went through
    all of them (`iterated`: then any name may count).

    The console's load_query passes every arg to a schema that drops unknown keys: for it, the schema's
    own fields are what is read (its caller's frame says which schema)."""

    read: set[str] = set()
    iterated = False

    def __getitem__(self, key):
        Recording.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None, type=None):
        Recording.read.add(key)
        return super().get(key, default, type)

    def getlist(self, key, type=None):
        Recording.read.add(key)
        return super().getlist(key, type)

    def __contains__(self, key):
        Recording.read.add(key)
        return super().__contains__(key)

    def _all_read(self) -> None:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code is not load_query.__code__:
            frame = frame.f_back
        if frame is None:
            Recording.iterated = True
            return
        fields = frame.f_locals["schema"].load_fields.items()
        Recording.read.update(field.data_key or name for name, field in fields)

    def items(self, multi=False):
        self._all_read()
        return super().items(multi)

    def keys(self):
        self._all_read()
        return super().keys()

    def values(self):
        self._all_read()
        return super().values()

    def lists(self):
        self._all_read()
        return super().lists()

    def to_dict(self, flat=True):
        self._all_read()
        return super().to_dict(flat)

    def __iter__(self):
        self._all_read()
        return super().__iter__()


# ---- the world's objects -------------------------------------------------------------------------


@pytest.fixture
def objects(app, world) -> dict:
    """For each path argument: (an object of S1, the same kind of object of S4)."""
    client = app.test_client()
    resident_s4 = make_user(app, name="外区居民", home_site_id=world.sites["S4"])
    orders = []
    for person, title, place in (
        (world.resident, "本站订单", {}),
        (resident_s4, "外区订单", {"lat": 31.2502, "lng": 121.4902}),
    ):
        response = client.post(
            "/api/v1/orders", json=order_body(app, title=title, **place), headers=person.headers
        )
        assert response.status_code == 201, response.json
        orders.append(response.json["id"])
    activities = []
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=2)
    for site, manager, title in (("S1", world.mgr_s1, "本站活动"), ("S4", world.mgr_s4, "外区活动")):
        body = {
            "category_id": category_id(app),
            "title": title,
            "address": "广场",
            **PLACE,
            "start_at": iso(start),
            "end_at": iso(start + timedelta(hours=2)),
            "slots": 2,
            "waitlist_max": 1,
        }
        response = client.post(
            f"/api/v1/sites/{world.sites[site]}/activities", json=body, headers=manager.headers
        )
        assert response.status_code == 201, response.json
        activities.append(response.json["id"])
    from tests.api.endpoints import _complaint

    return {
        "order_id": tuple(orders),
        "activity_id": tuple(activities),
        "user_id": (world.vol_s1.id, world.vol_s4.id),
        # a supervision record's page: a complaint of each side's resident (the complaints tab)
        "tab_key": ("complaints", "no-such-tab"),  # a tab is no site's own: the other side's is unknown
        "record_id": (_complaint(app, world, "S1"), _complaint(app, world, "S4")),
    }


@pytest.fixture
def s4_certificate(app, world) -> int:
    """A certificate of S4's volunteer, for `?certificate=` on S1's volunteer's page."""
    yesterday = date.today() - timedelta(days=1)
    credit(app, world.vol_s4, world.sites["S4"], 90, day=yesterday)
    response = app.test_client().post(
        f"/api/v1/volunteers/{world.vol_s4.id}/certificates",
        json={"date_from": (yesterday - timedelta(days=30)).isoformat(), "date_to": yesterday.isoformat()},
        headers={**world.mgr_s4.headers, "Idempotency-Key": "hostile-certificate"},
    )
    assert response.status_code == 201, response.json
    return response.json["id"]


def _own_url(rule, objects: dict) -> str:
    """The route with S1's objects in its path (routes with an argument nobody here knows: skipped)."""
    missing = [name for name in rule.arguments if name not in objects and name != "rest"]
    if missing:
        pytest.skip(f"no S1 object known for {missing} of {rule.rule}: add one to the `objects` fixture")
    return _url(rule, {name: str(objects[name][0]) if name in objects else "x" for name in rule.arguments})


# ---- what every answer must be ---------------------------------------------------------------------


# What a page may name of another site: an order's page offers the dispatching station's siblings (and its
# parent) as the places to pass the order on to (转派 / 上报), so S1's order names S2.
NAMES_ALLOWED = {"console.order": ("站点S2",)}


def _check_signed_in(response, what, allowed: tuple[str, ...] = ()) -> None:
    assert response.status_code < 500, (what, response.status_code, response.get_data(as_text=True)[:500])
    if response.status_code in (301, 302, 303, 307, 308):
        assert response.headers["Location"].startswith("/console/"), (what, response.headers["Location"])
        return
    text = response.get_data(as_text=True)
    assert response.mimetype == "text/html", (what, response.status_code, text[:300])
    assert '<main class="with-nav">' in text, (what, response.status_code, text[:300])  # the layout
    assert response.headers.get("Content-Security-Policy"), what
    assert "<script>alert(1)" not in text, what  # what the query said is escaped
    leaked = [marker for marker in FOREIGN if marker in text and marker not in allowed]
    assert not leaked, (what, response.status_code, leaked)


def _check_anonymous(response, rule, what) -> None:
    assert response.status_code < 500, (what, response.status_code, response.get_data(as_text=True)[:500])
    if rule.endpoint == "console.sign_in":
        text = response.get_data(as_text=True)
        assert response.status_code == 200, what
        assert '<main class="bare">' in text, what
        for target in re.findall(r'data-api="[^"?]*\?next=([^"]*)"', text):
            assert target.startswith("/console/"), (what, target)
        return
    assert response.status_code == 302, (what, response.status_code)
    assert response.headers["Location"].startswith("/console/login?"), (what, response.headers["Location"])


def _one_by_one(world, names: set[str]):
    """Every value for each name on its own; the name twice (a good id then NULs, and the other way)."""
    s1 = world.sites["S1"]
    for name in sorted(names):
        for value in VALUES:
            yield f"{name}={value[:20]!r}", [(name, value)]
        yield f"{name} twice", [(name, str(s1)), (name, "\x00" * 3)]
        yield f"{name} twice, hostile first", [(name, str(2**70)), (name, str(s1))]


def _queries(world, read: set[str], certificate: int | None = None, *, unread: tuple[str, ...] = ()):
    """(description, query as a list of pairs) for every name read or listed, with every value; repeated
    keys; other sites' ids.

    Names in `unread` (listed, but the page read none of them: not by name, not through a schema, never
    all its args) go together: one query per value with every one of them set to it, not one query per
    name and value (the test sends them one by one after all if the page reads one after all)."""
    s1, s2, s4 = world.sites["S1"], world.sites["S2"], world.sites["S4"]
    yield from _one_by_one(world, (set(NAMES) | read) - set(unread))
    if unread:
        for value in VALUES:
            yield f"{len(unread)} unread names={value[:20]!r}", [(name, value) for name in unread]
        twice = [(name, str(s1)) for name in unread] + [(name, "\x00" * 3) for name in unread]
        yield "unread names twice", twice
        hostile_first = [(name, str(2**70)) for name in unread] + [(name, str(s1)) for name in unread]
        yield "unread names twice, hostile first", hostile_first
    for name in ("site_id", "team", "team_id", "certificate", "category_id"):
        yield f"{name} of S4", [(name, str(s4))]
    yield "team T4", [("team", str(world.teams["T4"])), ("team_id", str(world.teams["T4"]))]
    if certificate:
        yield "S4's certificate", [("certificate", str(certificate))]
    yield "site S1 then S4", [("site", str(s1)), ("site", str(s4))]
    yield "site_id of S2", [("site_id", str(s2))]
    yield "every name at once", [(name, value) for name in NAMES for value in ("-1", "\x00", str(2**70))]


# ---- the tests -------------------------------------------------------------------------------------


def test_the_routes_come_from_the_url_map():
    endpoints = {rule.endpoint for rule in GET_ROUTES}
    assert {
        "console.today",
        "console.orders",
        "console.order",
        "console.volunteer",
        "console.stats",
    } <= endpoints
    assert len(PAGES) >= 20


@pytest.mark.parametrize("rule", PAGES, ids=_id)
def test_hostile_query_strings_as_a_manager(app, world, objects, s4_certificate, rule, monkeypatch):
    client = app.test_client()
    console_sign_in(app, client, world.mgr_s1.id)
    url = _own_url(rule, objects)
    monkeypatch.setattr(app.request_class, "parameter_storage_class", Recording)
    Recording.read, Recording.iterated = set(), False
    plain = client.get(url)
    allowed = NAMES_ALLOWED.get(rule.endpoint, ())
    _check_signed_in(plain, url, allowed)
    read = set(Recording.read)
    # Each name the page reads gets every value on its own; the names it ignores get each value all at
    # once (a page that goes through all its args reads every name).
    unread = () if Recording.iterated else tuple(sorted(set(NAMES) - read))
    for what, query in _queries(world, read, s4_certificate, unread=unread):
        _check_signed_in(client.get(url, query_string=query), f"{url} {what}", allowed)
    # A name read only with some other value present, or a page that went through all its args after
    # all: those names one by one too.
    late = set(NAMES) if Recording.iterated else set(unread) & Recording.read
    for what, query in _one_by_one(world, late):
        _check_signed_in(client.get(url, query_string=query), f"{url} {what}", allowed)
    for other in (world.sites["S2"], world.sites["S4"]):
        response = client.get(url, query_string={"site": other})
        _check_signed_in(response, f"{url} site={other}", allowed)
        if "site" in read:
            # A page that reads `?site=`: another site's is the 404 page.
            assert response.status_code == 404, (url, other, response.status_code)


@pytest.mark.parametrize("rule", GET_ROUTES, ids=_id)
def test_hostile_query_strings_anonymously(app, world, rule):
    client = app.test_client()
    if rule.endpoint == "console.static":
        assert client.get("/console/static/console.css?site=%00&x=" + "y" * 10_000).status_code == 200
        return
    url = _url(rule, {name: "1" for name in rule.arguments})
    for what, query in _queries(world, set()):
        _check_anonymous(client.get(url, query_string=query), rule, f"{url} {what}")


@pytest.mark.parametrize("rule", [rule for rule in GET_ROUTES if rule.arguments], ids=_id)
def test_hostile_path_ids(app, world, objects, rule):
    """0, beyond 64 bits, missing, another site's: the console's 404 page, nothing of that site."""
    signed_in = app.test_client()
    console_sign_in(app, signed_in, world.mgr_s1.id)
    anonymous = app.test_client()
    for name in rule.arguments:
        if name in objects:
            values = (*PATH_IDS, str(objects[name][1]))
        else:
            values = PATH_REST if rule.endpoint != "console.static" else (*PATH_REST, "../__init__.py")
        for value in values:
            url = _url(
                rule, {n: value if n == name else str(objects.get(n, ("x",))[0]) for n in rule.arguments}
            )
            response = signed_in.get(url)
            if rule.endpoint == "console.static":
                assert response.status_code == 404, (url[:100], response.status_code)
                continue
            _check_signed_in(response, url[:200])
            assert response.status_code == 404, (url[:200], response.status_code)
            assert "404" in response.get_data(as_text=True)
            response = anonymous.get(url)
            assert response.status_code in (302, 404), (url[:200], response.status_code)
            if response.status_code == 302:
                assert response.headers["Location"].startswith("/console/login?"), url[:200]
