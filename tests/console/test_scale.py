"""Pages whose work does not grow with the rows they show or the size of the subtree: a site name or
a category per row is one batched query, and a filter offers a site's children, not its whole subtree."""

from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import event

from tests.console.test_activities import publish, signed_in
from volunteer_app.extensions import db


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
