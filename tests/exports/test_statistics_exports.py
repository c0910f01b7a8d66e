"""The statistics' and the ranking's tables as exports: the same figures as the API, as a file."""

from __future__ import annotations

from tests.exports.conftest import download, export, read_csv, read_xlsx
from tests.exports.test_exports import NOVEMBER, _world_orders
from tests.reports import supervision_world
from tests.support import fresh_session
from volunteer_app.exports.statistics import STATS_HEADERS, SUPERVISION_HEADERS


def test_the_stats_table_has_a_row_per_child_and_the_total_as_the_api_shows_them(app, client, world):
    _world_orders(app, world)
    job = export(app, client, world.mgr_i1, world.sites["I1"], {"kind": "stats", "format": "csv", **NOVEMBER})
    rows = read_csv(download(client, world.mgr_i1, job))
    assert rows[0] == STATS_HEADERS["zh"]
    api = client.get(
        f"/api/v1/sites/{world.sites['I1']}/stats?from=2026-11-01&to=2026-11-30&group=child",
        headers=world.mgr_i1.headers,
    ).get_json()
    assert [r[0] for r in rows[1:-1]] == [g["label"] for g in api["groups"]]
    total = rows[-1]
    assert total[0].startswith("合计")
    column = {name: i for i, name in enumerate(rows[0])}
    figures = api["figures"]
    assert int(total[column["场次"]]) == figures["sessions"]["total"] == 2  # the audited and the unrated
    assert int(total[column["提交点单"]]) == figures["orders"]["submitted"] == 3
    assert int(total[column["上报"]]) == figures["orders"]["escalated"] == 1
    assert float(total[column["服务时长（小时）"]]) == figures["service_hours"]


def test_the_ranking_table_in_english_xlsx_lists_every_child_with_its_components(app, client, world):
    _world_orders(app, world)
    site, manager = world.sites["C1"], world.mgr_c1  # ranks the institutes I1 and I2
    job = export(app, client, manager, site, {"kind": "rankings", "format": "xlsx", **NOVEMBER}, lang="en")
    sheet = read_xlsx(download(client, manager, job)).worksheets[0]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("Rank", "Site", "Score")
    assert len(rows[0]) == 3 + 2 * 10
    assert len(rows) == 3  # the two institutes
    assert rows[1][0] == 1 and rows[1][2] > rows[2][2]  # I1 has November's sessions, I2 none


def test_the_supervision_table_has_a_row_per_child_itself_and_the_total(app, client):
    """The world of tests/reports/supervision_world.py: November at I1 (figures counted there by hand)."""
    town = supervision_world.build(app)
    manager = fresh_session(app, town.people["mgr_i1"])
    job = export(
        app, client, manager, town.sites["I1"], {"kind": "supervision", "format": "xlsx", **NOVEMBER}
    )
    rows = list(read_xlsx(download(client, manager, job)).worksheets[0].iter_rows(values_only=True))
    assert list(rows[0]) == SUPERVISION_HEADERS["zh"]
    column = {name: i for i, name in enumerate(rows[0])}
    assert [r[0] for r in rows[1:]] == ["站点S1", "站点S2", "本级", "合计（站点I1）"]
    read = {r[0]: r for r in rows[1:]}
    raised = column["督办下发"]
    assert [read[k][raised] for k in ("站点S1", "站点S2", "本级", "合计（站点I1）")] == [3, 1, 1, 5]
    total = read["合计（站点I1）"]
    assert (total[column["销号"]], total[column["按期销号"]], total[column["退回重办"]]) == (2, 1, 1)
    assert (total[column["申诉支持"]], total[column["申诉补记时长（分钟）"]]) == (2, 90)
    assert (total[column["回访率"]], total[column["回访平均满意度"]]) == (0.5, 4.5)
    assert read["站点S1"][column["回访率"]] == 1.0
