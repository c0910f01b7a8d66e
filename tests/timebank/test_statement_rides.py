"""The statement page rides on the authentication's query (timebank.service.statement_rider): a plain
page (`limit`, `cursor`) is one statement with the principal's, and answers exactly what the page read
alone answers, for every caller, on every page, and for every argument the view reads otherwise."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from sqlalchemy import event, select
from werkzeug.datastructures import MultiDict

from tests.support import credit, grant, make_user
from volunteer_app.extensions import db

API = "/api/v1"
STATEMENT = f"{API}/me/timebook/transfers"


@pytest.fixture
def statements(app):
    """The statements each request sends (SQLite's explicit BEGIN left out)."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def on_execute(_conn, _cursor, statement, *_args):
        if statement != "BEGIN":
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", on_execute)
    yield seen
    event.remove(engine, "before_cursor_execute", on_execute)


def _alone(client, url, headers):
    """The same request with nothing riding on the principal's query (the page read on its own)."""
    from volunteer_app.accounts import principal

    rider, principal.ride = principal.ride, lambda *_: None
    try:
        return client.get(url, headers=headers)
    finally:
        principal.ride = rider


@pytest.fixture
def many_grants(app, world):
    """A manager of three stations who also keeps a book with five lines: the principal's rows (one per
    grant) each carry the page's lines."""
    person = make_user(app, name="多站点管理员", home_site_id=world.sites["S1"])
    for code in ("S1", "S2", "S3"):
        grant(app, person, "manager", world.sites[code])
    for minutes in (30, 45, 60, 75, 90):
        credit(app, person, world.sites["S1"], minutes)
    return person


def test_a_statement_page_is_one_statement(app, client, world, statements):
    for minutes in (30, 60, 90):
        credit(app, world.vol_s1, world.sites["S1"], minutes)
    headers = world.vol_s1.headers
    assert client.get(f"{API}/me/timebook", headers=headers).status_code == 200  # the site cache, warm
    statements.clear()
    first = client.get(f"{STATEMENT}?limit=2", headers=headers)
    assert first.status_code == 200 and len(first.json["items"]) == 2 and first.json["next_cursor"]
    assert len(statements) == 1 and "time_entries" in statements[0], statements
    statements.clear()
    after = urlencode({"limit": 2, "cursor": first.json["next_cursor"]})
    second = client.get(f"{STATEMENT}?{after}", headers=headers)
    assert second.status_code == 200 and len(second.json["items"]) == 1 and second.json["next_cursor"] is None
    assert len(statements) == 1, statements
    statements.clear()
    # A month's page finds its bounds in the issuing station's time zone: the book first, then the page.
    month = client.get(f"{STATEMENT}?month=2026-10", headers=headers)
    assert month.status_code == 200
    assert len(statements) == 2, statements


def test_each_page_riding_is_the_page_read_alone(app, client, world, many_grants):
    """Walked to the end with limits 1, 2, the default and the largest: the same items and cursors,
    for a volunteer with lines, a manager of three stations with lines, a volunteer whose book is not
    opened yet and a resident with no book."""
    for minutes in (10, 20, 30, 40, 50, 60, 70):
        credit(app, world.vol_s1, world.sites["S1"], minutes)
    for who in (world.vol_s1, many_grants, world.vol_s4, world.resident):
        for limit in (1, 2, None, 100):
            cursor, pages, seen = None, 0, []
            while True:
                query = {key: value for key, value in (("limit", limit), ("cursor", cursor)) if value}
                url = f"{STATEMENT}?{urlencode(query)}" if query else STATEMENT
                ridden = client.get(url, headers=who.headers)
                alone = _alone(client, url, who.headers)
                assert ridden.status_code == alone.status_code == 200, (ridden.json, alone.json)
                assert ridden.json == alone.json, url
                seen += [item["transfer_id"] for item in ridden.json["items"]]
                pages += 1
                cursor = ridden.json["next_cursor"]
                if cursor is None:
                    break
            expected = {world.vol_s1.id: 7, many_grants.id: 5}.get(who.id, 0)
            assert len(seen) == len(set(seen)) == expected, (who, limit)
            assert pages == max(1, -(-expected // (limit or 20))), (who, limit)


@pytest.mark.parametrize(
    "query",
    [
        "limit=abc",
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=%2B2",  # "+2"
        "limit=%D9%A3",  # an Arabic-Indic three
        "limit=2&limit=3",
        "cursor=not-a-cursor",
        "cursor=",
        "cursor=WzFd&cursor=WzJd",
        "limit=2&month=2026-10",
        "month=2026-13",
        "unknown=1&limit=2",
        "limit=" + "9" * 40,
    ],
)
def test_odd_arguments_are_answered_as_the_page_read_alone(app, client, world, query):
    """Whatever the arguments, riding changes nothing the caller sees: a refusal is the same refusal,
    a page the same page."""
    for minutes in (15, 25, 35):
        credit(app, world.vol_s1, world.sites["S1"], minutes)
    url = f"{STATEMENT}?{query}"
    ridden = client.get(url, headers=world.vol_s1.headers)
    alone = _alone(client, url, world.vol_s1.headers)
    assert ridden.status_code < 500
    assert (ridden.status_code, ridden.json) == (alone.status_code, alone.json)


def test_a_revoked_session_reads_no_statement(app, client, world, statements):
    """The page rides only on a live session's row: a revoked token is 401, and its lines never left
    the database."""
    credit(app, world.vol_s1, world.sites["S1"], 30)
    person = make_user(app, name="注销测试")
    credit(app, person, world.sites["S1"], 30)
    assert client.post(f"{API}/auth/logout", headers=person.headers).status_code in (200, 204)
    statements.clear()
    refused = client.get(f"{STATEMENT}?limit=5", headers=person.headers)
    assert refused.status_code == 401 and refused.json["code"] == 401
    assert "items" not in refused.json


def test_the_principal_riding_with_a_page_keeps_its_grants(app, world, many_grants):
    """The principal built from the page's rows (each grant's repeated for every line) has each grant
    once, in the order given, as the principal read with nothing riding."""
    from flask import g

    from volunteer_app.accounts import principal
    from volunteer_app.auth.models import AuthSession
    from volunteer_app.timebank import service

    with app.test_request_context():
        session_id = db.session.scalars(
            select(AuthSession.id).where(AuthSession.user_id == many_grants.id)
        ).first()
    loaded = {}
    for name, args in (("alone", None), ("page", {"limit": "2"}), ("all", {"limit": "100"})):
        with app.test_request_context():
            g.user_snapshot = True
            if args is not None:
                rider, bound = service.statement_rider(MultiDict(args))
                assert rider is not service.BOOK_RIDER
                principal.ride(rider, bound)
            who = principal.load_principal(many_grants.id, session_id)
            loaded[name] = (who.user, who.grants)
            if args is not None:
                rode, (book, lines, _bound) = principal.rider_row(rider)
                assert rode and book is not None and len(lines) == min(int(args["limit"]) + 1, 5)
    assert loaded["page"] == loaded["alone"] == loaded["all"]
    managed = [grant.site_id for grant in loaded["alone"][1] if grant.role == "manager"]
    assert managed == [world.sites[code] for code in ("S1", "S2", "S3")]


def test_only_a_plain_page_rides(app):
    """A month, repeated or unknown arguments, a limit or cursor the view will refuse: the book alone
    rides, and the view reads (or refuses) the page as ever."""
    from volunteer_app.timebank import service

    with app.test_request_context():
        for args in (
            {"month": "2026-10"},
            {"limit": "x"},
            {"limit": "0"},
            {"cursor": "%%%"},
            {"other": "1"},
        ):
            assert service.statement_rider(MultiDict(args)) == (service.BOOK_RIDER, None), args
        assert service.statement_rider(MultiDict([("limit", "2"), ("limit", "3")]))[0] is service.BOOK_RIDER
        rider, bound = service.statement_rider(MultiDict({}))
        assert rider is not service.BOOK_RIDER and bound == {"page_limit": 21}
