"""Exports end to end: asked through the API, made by the worker, downloaded by the requester; reach,
masking, CSV and XLSX contents, the sheet split, the record, expiry and bad input."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import func, select

from tests.api.helpers import assert_error
from tests.exports.conftest import (
    API,
    add_activity,
    add_order,
    ask,
    download,
    export,
    read_csv,
    read_xlsx,
    user,
    utc,
)
from tests.notifications.conftest import run_worker
from tests.support import credit, headers_now, make_volunteer
from volunteer_app import jobs
from volunteer_app.accounts.models import VolunteerProfile
from volunteer_app.db import utcnow
from volunteer_app.exports import writers
from volunteer_app.exports.models import ExportRecord
from volunteer_app.extensions import db
from volunteer_app.worker import queue
from volunteer_app.worker.models import WorkItem, WorkResultChunk

NOVEMBER = {"from": "2026-11-01", "to": "2026-11-30"}


def _world_orders(app, world):
    """S1: an audited, rated, escalated grab order just inside November in UTC+8 (31 Oct 16:30 UTC);
    an unrated closed one; a submitted one. Outside the period (1 Dec 00:30 UTC+8) and at S4: one each."""
    s, resident = world.sites, world.resident.id
    audited = add_order(
        app,
        s["S1"],
        resident,
        created=utc(2026, 10, 31, 16, 30),
        start=utc(2026, 11, 2, 1, 0),
        status="closed",
        mode="grab",
        needed=2,
        taken=2,
        stars=5,
        rating_state="rated",
        escalated=True,
        closed=utc(2026, 11, 3, 2, 0),
        audited=[(world.vol_s1.id, 90), (world.mgr_s1.id, 30)],
    )
    unrated = add_order(
        app,
        s["S2"],
        resident,
        created=utc(2026, 11, 10, 2, 0),
        status="closed",
        mode="assign",
        taken=1,
        rating_state="unrated",
        closed=utc(2026, 11, 12, 2, 0),
        audited=[(world.vol_s1.id, 45)],
        title="=HYPERLINK(1)",
    )
    submitted = add_order(app, s["S1"], resident, created=utc(2026, 11, 20, 2, 0))
    add_order(app, s["S1"], resident, created=utc(2026, 11, 30, 16, 30), title="十二月的单")
    add_order(app, s["S4"], world.applicant_s4.id, created=utc(2026, 11, 5, 2, 0), title="外区的单")
    return audited, unrated, submitted


def test_orders_csv_round_trips_with_chinese_text_masked_people_and_only_the_subtree(app, client, world):
    audited, unrated, submitted = _world_orders(app, world)
    job = export(
        app, client, world.mgr_i1, world.sites["I1"], {"kind": "orders", "format": "csv", **NOVEMBER}
    )
    assert job["result"]["rows"] == 3 and (job["done"], job["total"]) == (3, 3)
    data = download(client, world.mgr_i1, job)
    rows = read_csv(data)
    assert rows[0][:4] == ["订单编号", "实践站", "服务类别", "标题"]
    assert rows[0][-2:] == ["居民", "居民电话"]
    by_id = {int(r[0]): r for r in rows[1:]}
    assert set(by_id) == {audited, unrated, submitted}  # not December's, not S4's
    resident = user(app, world.resident.id)
    first = by_id[audited]
    assert first[1:4] == ["站点S1", "关爱老人", "陪独居老人就医"]
    assert first[4] == "2026-11-01 00:30"  # submitted, in the station's time zone
    assert first[5:9] == ["2026-11-02 09:00", "2026-11-02 11:00", "已审核结单", "抢单"]
    assert first[9:13] == ["2", "2", "是", "2026-11-03 10:00"]
    assert first[13:16] == ["120", "5", "已评价"]
    assert first[16] == "居*"
    assert first[17] == f"{resident.phone[3:6]}****{resident.phone[-4:]}"
    assert resident.phone[-8:] not in data.decode("utf-8")
    second = by_id[unrated]
    assert second[3] == "'=HYPERLINK(1)"  # a spreadsheet never reads user text as a formula
    assert (second[11], second[13], second[14], second[15]) == ("否", "45", "", "未评价")
    third = by_id[submitted]
    assert (third[7], third[8], third[12], third[13], third[14]) == ("已提交", "", "", "0", "")
    name = job["result_url"]
    disposition = client.get(name, headers=world.mgr_i1.headers).headers["Content-Disposition"]
    assert "filename*=UTF-8''" in disposition
    from urllib.parse import unquote

    assert unquote(disposition.split("''", 1)[1]) == "站点I1_订单_2026-11-01_2026-11-30.csv"


def test_orders_xlsx_in_english_reopened_with_openpyxl(app, client, world):
    audited, _unrated, _submitted = _world_orders(app, world)
    job = export(
        app,
        client,
        world.mgr_s1,
        world.sites["S1"],
        {"kind": "orders", "format": "xlsx", **NOVEMBER},
        lang="en",
    )
    assert job["result"] == {
        "export_id": job["result"]["export_id"],
        "kind": "orders",
        "format": "xlsx",
        "rows": 2,
        "sheets": ["Orders"],
        "split": False,
        "note": None,
    }
    book = read_xlsx(download(client, world.mgr_s1, job))
    assert book.sheetnames == ["Orders"]
    rows = list(book["Orders"].iter_rows(values_only=True))
    assert len(rows) == 3
    assert rows[0][:3] == ("Order", "Station", "Category") and rows[0][-1] == "Resident phone"
    first = next(r for r in rows[1:] if r[0] == audited)
    assert first[2] == "Elder care"
    assert first[4] == datetime(2026, 11, 1, 0, 30)  # a real date cell
    assert first[7:9] == ("Audited and closed", "Open to grab")
    assert (first[11], first[13], first[14], first[15]) == ("Yes", 120, 5, "Rated")


def test_a_full_xlsx_sheet_continues_on_a_new_one_and_the_summary_says_so(app, client, world, monkeypatch):
    for day in range(1, 6):
        add_order(app, world.sites["S1"], world.resident.id, created=utc(2026, 11, day, 2, 0))
    monkeypatch.setattr(writers, "XLSX_MAX_ROWS", 3)  # the header and two rows a sheet
    job = export(
        app, client, world.mgr_s1, world.sites["S1"], {"kind": "orders", "format": "xlsx", **NOVEMBER}
    )
    result = job["result"]
    assert result["sheets"] == ["订单", "订单 (2)", "订单 (3)"] and result["split"] is True
    assert "3 个工作表" in result["note"]
    book = read_xlsx(download(client, world.mgr_s1, job))
    assert book.sheetnames == ["订单", "订单 (2)", "订单 (3)"]
    counts = [len(list(book[name].iter_rows(values_only=True))) for name in book.sheetnames]
    assert counts == [3, 3, 2]  # each sheet has its header
    ids = [row[0] for name in book.sheetnames for row in list(book[name].iter_rows(values_only=True))[1:]]
    assert ids == sorted(ids) and len(ids) == 5


def test_activities_one_row_per_signup_and_one_for_an_activity_without(app, client, world):
    s = world.sites
    busy = add_activity(
        app,
        s["S1"],
        start=utc(2026, 11, 7, 1, 0),
        status="closed",
        signups=[(world.vol_s1.id, "audited", 170), (world.mgr_s1.id, "no_show", None)],
    )
    empty = add_activity(app, s["S1"], start=utc(2026, 11, 8, 1, 0), title="无人报名")
    add_activity(app, s["S4"], start=utc(2026, 11, 8, 1, 0), signups=[(world.vol_s4.id, "held", None)])
    job = export(app, client, world.mgr_s1, s["S1"], {"kind": "activities", "format": "csv", **NOVEMBER})
    rows = read_csv(download(client, world.mgr_s1, job))
    assert rows[0][0] == "活动编号" and len(rows) == 4 and job["result"]["rows"] == 3
    first, second, third = rows[1:]
    assert [int(first[0]), int(second[0]), int(third[0])] == [busy, busy, empty]
    assert first[3:6] == ["2026-11-07 09:00", "2026-11-07 12:00", "已审核"]
    with app.app_context():
        number = db.session.get(VolunteerProfile, world.vol_s1.id).volunteer_no
    assert (first[6], first[7]) == ("志***", number)  # the masked name, the volunteer number
    assert (first[8], first[11]) == ("已审核", "170")
    assert second[8] == "缺席" and second[11] == ""
    assert third[2] == "无人报名" and third[6:] == ["", "", "", "", "", ""]


def test_hours_by_month_in_the_stations_time_zone(app, client, world):
    s = world.sites
    # 31 Oct 17:00 UTC is 1 Nov 01:00 in UTC+8: November's; 30 Nov 16:30 UTC is December's.
    add_order(app, s["S1"], world.resident.id, created=utc(2026, 10, 20), start=utc(2026, 10, 31, 17, 0),
              status="closed", audited=[(world.vol_s1.id, 90)])  # fmt: skip
    add_order(app, s["S1"], world.resident.id, created=utc(2026, 10, 20), start=utc(2026, 11, 30, 16, 30),
              status="closed", audited=[(world.vol_s1.id, 60)])  # fmt: skip
    add_order(
        app,
        s["S1"],
        world.resident.id,
        created=utc(2026, 10, 20),
        start=utc(2026, 10, 31, 15, 0),
        status="closed",
        audited=[(world.vol_s1.id, 600)],
    )  # fmt: skip  (31 Oct 23:00 local)
    add_activity(app, s["S1"], start=utc(2026, 12, 5, 1, 0), status="closed",
                 signups=[(world.vol_s1.id, "audited", 33)])  # fmt: skip
    other = make_volunteer(app, s["S2"], 21, "张三丰")
    body = {"kind": "hours", "format": "csv", "from": "2026-11-01", "to": "2026-12-31"}
    job = export(app, client, world.mgr_i1, s["I1"], body)
    rows = read_csv(download(client, world.mgr_i1, job))
    assert rows[0] == ["志愿者编号", "姓名", "实践站", "2026年11月", "2026年12月", "合计（小时）"]
    by_name = {r[1]: r for r in rows[1:]}
    assert set(by_name) == {"志***", "张**"}  # vol_s4 is not in I1
    assert by_name["志***"][2:] == ["站点S1", "1.5", "1.6", "3.1"]  # 90 | 60 + 33 = 93 | 183 minutes
    assert by_name["张**"][2:] == ["站点S2", "0.0", "0.0", "0.0"]
    assert other.id != world.vol_s1.id


def test_my_own_statement_and_a_managers_statement_of_a_volunteer_in_reach(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 90, at=utc(2026, 11, 3, 2, 0), memo="关爱老人：上门陪伴")
    credit(app, world.vol_s1, world.sites["S1"], 30, at=utc(2026, 11, 4, 2, 0))
    job = export(app, client, world.vol_s1, None, {"format": "csv"})
    rows = read_csv(download(client, world.vol_s1, job))
    assert rows[0] == ["流水号", "记账时间", "类型", "变动（分钟）", "余额（分钟）", "摘要", "服务日期"]
    assert [r[2:5] for r in rows[1:]] == [["服务入账", "90", "90"], ["服务入账", "30", "120"]]
    assert (
        rows[1][1] == "2026-11-03 10:00" and rows[1][5] == "关爱老人：上门陪伴" and rows[1][6] == "2026-10-05"
    )
    body = {"kind": "statement", "format": "xlsx", "volunteer_id": world.vol_s1.id, "from": "2026-11-04"}
    job = export(app, client, world.mgr_s1, world.sites["S1"], body, lang="en")
    sheet = read_xlsx(download(client, world.mgr_s1, job))["Statement"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][2] == "Kind" and [r[2:5] for r in rows[1:]] == [("Service credited", 30, 120)]
    assert job["result"]["rows"] == 1
    # Someone with no book gets an empty statement, not an error.
    job = export(app, client, world.resident, None, {"format": "csv"})
    assert read_csv(download(client, world.resident, job)) == [rows_header_zh()]


def rows_header_zh():
    return ["流水号", "记账时间", "类型", "变动（分钟）", "余额（分钟）", "摘要", "服务日期"]


def test_reach_a_sibling_or_the_other_center_is_404_and_a_volunteer_403(app, client, world):
    body = {"kind": "orders", "format": "csv", **NOVEMBER}
    s = world.sites
    assert_error(ask(client, world.mgr_s2, s["S1"], body), 404, "not_found")
    assert_error(ask(client, world.mgr_s1, s["I1"], body), 404, "not_found")  # never up the tree
    assert_error(ask(client, world.mgr_s4, s["S1"], body), 404, "not_found")
    assert_error(ask(client, world.vol_s1, s["S1"], body), 403, "auth.forbidden")
    assert_error(ask(client, world.resident, s["S1"], body), 403, "auth.forbidden")
    statement = {"kind": "statement", "format": "csv", "volunteer_id": world.vol_s1.id}
    assert_error(ask(client, world.mgr_s2, s["S2"], statement), 404, "timebook.not_volunteer")
    assert_error(ask(client, world.mgr_s4, s["S4"], statement), 404, "timebook.not_volunteer")
    assert ask(client, world.mgr_c1, s["C1"], statement).status_code == 202
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ExportRecord)) == 1
    # Someone else's job is not theirs to see or download.
    job = ask(client, world.mgr_s1, s["S1"], body).get_json()
    run_worker(app)
    assert_error(client.get(f"{API}/jobs/{job['id']}/result", headers=world.mgr_i1.headers), 404, "not_found")


def test_reach_is_checked_again_when_the_export_runs(app, client, world):
    from volunteer_app.accounts.models import RoleGrant

    job = ask(client, world.mgr_s1, world.sites["S1"], {"kind": "orders", "format": "csv", **NOVEMBER})
    with app.app_context():
        db.session.execute(RoleGrant.__table__.delete().where(RoleGrant.user_id == world.mgr_s1.id))
        db.session.commit()
    run_worker(app)
    with app.app_context():
        item = db.session.get(WorkItem, job.get_json()["id"])
        assert item.state == "failed" and "reach" in item.last_error and item.result_name is None


def _orders(**period) -> dict:
    return {"kind": "orders", "format": "csv", **period}


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        ({"kind": "everything", "format": "csv", **NOVEMBER}, "export.unknown_kind", "kind"),
        ({"kind": "orders", "format": "pdf", **NOVEMBER}, "validation.failed", "format"),
        (_orders(**{"from": "2026-11-30", "to": "2026-11-01"}), "export.bad_period", "to"),
        (_orders(**{"from": "2026-01-01", "to": "2027-01-02"}), "export.period_too_long", "to"),
        ({"kind": "hours", "format": "csv", "to": "2026-11-01"}, "export.period_required", "from"),
        (_orders(**{"from": "2026-11-31", "to": "2026-12-01"}), "validation.failed", "from"),
        (_orders(volunteer_id=1, **NOVEMBER), "validation.failed", "volunteer_id"),
        ({"kind": "statement", "format": "csv"}, "validation.failed", "volunteer_id"),
        (_orders(extra=1, **NOVEMBER), "validation.failed", "extra"),
    ],
)
def test_bad_input_is_a_422_in_the_one_format_and_queues_nothing(app, client, world, body, error, field):
    error_body = assert_error(ask(client, world.mgr_s1, world.sites["S1"], body), 422, error)
    assert field in error_body["errors"]["json"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WorkItem)) == 0
        assert db.session.scalar(select(func.count()).select_from(ExportRecord)) == 0


def test_a_year_is_allowed_and_english_errors_on_request(app, client, world):
    leap = {"kind": "orders", "format": "csv", "from": "2028-01-01", "to": "2028-12-31"}  # 366 days
    assert ask(client, world.mgr_s1, world.sites["S1"], leap).status_code == 202
    body = {"kind": "orders", "format": "csv", "from": "2026-11-30", "to": "2026-11-01"}
    error = assert_error(
        ask(client, world.mgr_s1, world.sites["S1"], body, lang="en"), 422, "export.bad_period"
    )
    assert error["message"] == "The period starts after it ends"


def test_every_export_is_recorded_and_listed_for_the_sites_managers(app, client, world):
    _world_orders(app, world)
    s = world.sites
    body = {"kind": "orders", "format": "xlsx", **NOVEMBER}
    response = ask(client, world.mgr_s1, s["S1"], body)
    listed = client.get(f"{API}/sites/{s['S1']}/exports", headers=world.mgr_s1.headers).get_json()["items"]
    assert [(r["status"], r["rows"], r["job_id"]) for r in listed] == [
        ("requested", None, response.get_json()["id"])
    ]
    run_worker(app)
    listed = client.get(f"{API}/sites/{s['I1']}/exports", headers=world.mgr_i1.headers).get_json()["items"]
    (record,) = listed
    assert record["user"] == {"id": world.mgr_s1.id, "name": "站长S1"}
    assert record["site"] == {"id": s["S1"], "name": "站点S1"}
    assert (record["kind"], record["format"], record["status"], record["rows"]) == (
        "orders",
        "xlsx",
        "done",
        2,
    )
    assert record["params"]["from"] == "2026-11-01" and record["params"]["lang"] == "zh"
    assert record["file_name"] == "站点S1_订单_2026-11-01_2026-11-30.xlsx"
    assert record["finished_at"] >= record["requested_at"]
    assert (
        client.get(f"{API}/sites/{s['S2']}/exports", headers=world.mgr_i1.headers).get_json()["items"] == []
    )
    assert_error(client.get(f"{API}/sites/{s['S1']}/exports", headers=world.mgr_s2.headers), 404, "not_found")
    assert_error(
        client.get(f"{API}/sites/{s['S1']}/exports", headers=world.vol_s1.headers), 403, "auth.forbidden"
    )


def test_a_large_result_is_stored_in_chunks_streamed_back_and_expires(app, client, world, monkeypatch):
    for day in range(1, 21):
        add_order(app, world.sites["S1"], world.resident.id, created=utc(2026, 11, day, 2, 0))
    monkeypatch.setattr(queue, "CHUNK", 500)
    job = export(
        app, client, world.mgr_s1, world.sites["S1"], {"kind": "orders", "format": "csv", **NOVEMBER}
    )
    with app.app_context():
        item = db.session.get(WorkItem, job["id"])
        chunks = db.session.scalar(select(func.count()).where(WorkResultChunk.item_id == job["id"]))
        assert item.result_bytes is None and item.result_chunks == chunks > 2
    data = download(client, world.mgr_s1, job)
    assert len(data) == job["result_size"] and len(read_csv(data)) == 21
    expires = datetime.fromisoformat(job["result_expires_at"])
    assert expires - utcnow() > timedelta(days=6, hours=23)
    with time_machine.travel(expires + timedelta(minutes=1), tick=False):
        headers = headers_now(app, world.mgr_s1.id)
        assert_error(client.get(job["result_url"], headers=headers), 410, "job.result_expired")
        again = client.get(f"{API}/jobs/{job['id']}", headers=headers).get_json()
        assert again["result_url"] is None and again["result"]["rows"] == 20
        with app.app_context():
            assert jobs.purge(utcnow())["job_results"] == 1
            assert db.session.scalar(select(func.count()).where(WorkResultChunk.item_id == job["id"])) == 0
            assert jobs.purge(utcnow())["job_results"] == 0
        assert_error(client.get(job["result_url"], headers=headers), 410, "job.result_expired")


def test_an_idempotency_key_queues_once(app, client, world):
    body = {"kind": "orders", "format": "csv", **NOVEMBER}
    first = ask(client, world.mgr_s1, world.sites["S1"], body, key="export-1")
    second = ask(client, world.mgr_s1, world.sites["S1"], body, key="export-1")
    assert first.status_code == second.status_code == 202
    assert (
        second.headers["Idempotent-Replayed"] == "true" and second.get_json()["id"] == first.get_json()["id"]
    )
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ExportRecord)) == 1


def test_progress_is_visible_while_it_runs(app, client, world, monkeypatch):
    from volunteer_app.exports import service

    for day in range(1, 8):
        add_order(app, world.sites["S1"], world.resident.id, created=utc(2026, 11, day, 2, 0))
    monkeypatch.setattr(service, "PROGRESS_ROWS", 2)
    seen = []
    real = queue.Context.progress

    def watch(self, done, total=None, *, force=False):
        seen.append((done, total))
        return real(self, done, total, force=force)

    monkeypatch.setattr(queue.Context, "progress", watch)
    job = export(
        app, client, world.mgr_s1, world.sites["S1"], {"kind": "orders", "format": "csv", **NOVEMBER}
    )
    assert seen[0] == (0, 7) and (2, 7) in seen and seen[-1] == (7, 7)
    assert (job["done"], job["total"]) == (7, 7)
    assert date.fromisoformat(job["finished_at"][:10])
