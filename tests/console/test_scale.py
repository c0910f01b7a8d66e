"""Pages whose work does not grow with the rows they show or the size of the subtree: a site name or
a category per row is one batched query, and a filter offers a site's children, not its whole subtree."""

from __future__ import annotations

import re
from contextlib import contextmanager
from html import unescape

from sqlalchemy import event

from tests.console.test_activities import publish, signed_in
from tests.support import ADMIN_VIEW, console_sign_in
from volunteer_app.console import activities as console_activities
from volunteer_app.console import orders as console_orders
from volunteer_app.extensions import db
from volunteer_app.sites import service as sites


@contextmanager
def statements(app):
    """The SQL statements run inside the block (a list filled as they run)."""
    seen: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_activities_list_names_its_sites_in_one_query(app, world):
    client, _ = signed_in(app, world, "mgr_c1")
    path = f"/console/activities?site={world.sites['C1']}"
    publish(app, world, site="S1", title="一站")
    client.get(path)  # warm: the first request loads what every later one has cached
    with statements(app) as one_site:
        assert "一站" in client.get(path).text
    publish(app, world, site="S2", manager="mgr_s2", title="二站")
    publish(app, world, site="S3", manager="mgr_c1", title="三站")
    with statements(app) as three_sites:
        text = client.get(path).text
    assert all(name in text for name in ("站点S1", "站点S2", "站点S3"))
    assert len(three_sites) == len(one_site), three_sites


def _station_options(html: str) -> list[tuple[str, bool]]:
    """The order queue's station filter: (site name, selected) of each option but "All stations"."""
    select = re.search(r'<select name="site_id".*?</select>', html, re.S).group(0)
    return [
        (unescape(name).lstrip("· "), bool(selected))
        for value, selected, name in re.findall(
            r'<option value="(\d+)" ?(selected)?>([^<]*)</option>', select
        )
    ]


def test_the_order_queues_station_filter_offers_the_children_and_a_way_down(app, client, world, monkeypatch):
    console_sign_in(app, client, world.mgr_c1.id)
    c1, i1, s3 = world.sites["C1"], world.sites["I1"], world.sites["S3"]
    # At the center: its institutes, not every station under them.
    assert _station_options(client.get(f"/console/orders?site={c1}").text) == [
        ("站点I1", False),
        ("站点I2", False),
    ]
    # An institute chosen (the queue is its subtree): the way down to it, then its stations.
    page = client.get(f"/console/orders?site={c1}&site_id={i1}").text
    assert _station_options(page) == [("站点I1", True), ("站点S1", False), ("站点S2", False)]
    # A station chosen: the way down; a station has nothing below it.
    page = client.get(f"/console/orders?site={c1}&site_id={s3}").text
    assert _station_options(page) == [("站点I2", False), ("站点S3", True)]
    # A search finds a site anywhere below the chosen one, by a fragment of its name.
    page = client.get(f"/console/orders?site={c1}&station_q=S3").text
    assert _station_options(page) == [("站点S3", False)]
    page = client.get(f"/console/orders?site={c1}&site_id={i1}&station_q=S3").text
    assert _station_options(page) == [("站点I1", True)]
    bad = client.get(f"/console/orders?site={c1}&station_q=%00")
    assert bad.status_code == 422 and re.search(r'name="station_q"[^>]*class="invalid"', bad.text)

    # Never more than STATION_CHOICES below, however many stations an institute has.
    with app.app_context():
        for n in range(4):
            sites.create_site(kind="station", name=f"新站{n}", parent_id=i1)
    monkeypatch.setattr(console_orders, "STATION_CHOICES", 3)
    page = client.get(f"/console/orders?site={c1}&site_id={i1}").text
    assert [name for name, _ in _station_options(page)] == ["站点I1", "站点S1", "站点S2", "新站0"]
    assert "下级站点较多" in page


def test_the_activities_sites_below_continue_behind_more(app, world, monkeypatch):
    """A site with more sites below it than a page lists: the rest behind "More", none silently lost."""
    monkeypatch.setattr(console_activities, "SITES_PAGE", 1)
    client, _ = signed_in(app, world, "mgr_i1")
    text = client.get(f"/console/activities?site={world.sites['I1']}").text
    below = text[text.index('class="site-tree"') : text.index("</p>", text.index('class="site-tree"'))]
    assert f"site={world.sites['S1']}" in below and f"site={world.sites['S2']}" not in below
    more = unescape(re.search(r'<a href="([^"]+)" rel="next">更多</a>', below).group(1))
    text = client.get(more).text
    below = text[text.index('class="site-tree"') : text.index("</p>", text.index('class="site-tree"'))]
    assert f"site={world.sites['S2']}" in below and f"site={world.sites['S1']}" not in below
    assert 'rel="next"' not in below


def test_the_rosters_team_filter_offers_the_teams_around_the_site_not_the_whole_subtree(app, world):
    """At a center: its own teams and those of the sites just below it; a station's team is one site
    down (or already chosen), never one option among every team of the subtree."""
    with app.app_context():
        at_i1 = sites.create_team(who=ADMIN_VIEW, site_id=world.sites["I1"], name="所级队").id
        at_c1 = sites.create_team(who=ADMIN_VIEW, site_id=world.sites["C1"], name="中心队").id
    t1, c1 = world.teams["T1"], world.sites["C1"]
    client, _ = signed_in(app, world, "mgr_c1")

    def offered(query: str, site: int = c1) -> list[str]:
        page = client.get(f"/console/volunteers?site={site}{query}").text
        select = re.search(r'<select name="team_id".*?</select>', page, re.S).group(0)
        return re.findall(r'<option value="(\d+)"', select)

    assert offered("") == [str(at_i1), str(at_c1)]
    assert offered(f"&team_id={t1}") == [str(at_i1), str(at_c1), str(t1)]
    client, _ = signed_in(app, world, "mgr_s1")  # at a station: its teams and those above it in reach
    assert offered("", world.sites["S1"]) == [str(t1)]
