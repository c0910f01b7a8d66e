"""Exports: asking for one (checked in the request, recorded, queued as background work), making it
in the worker (rows streamed from the database into a temporary file, stored in the database in
chunks by the queue), and the list of what was exported from a site."""

from __future__ import annotations

import logging
import os
import re
import tempfile
from datetime import date
from types import SimpleNamespace

from sqlalchemy import select

from volunteer_app.accounts.models import User, VolunteerProfile
from volunteer_app.accounts.principal import load_grants
from volunteer_app.auth.tokens import Principal
from volunteer_app.db import utcnow
from volunteer_app.errors import Unprocessable, invalid, register_messages
from volunteer_app.exports import kinds, statistics, tables, writers  # noqa: F401  (statistics registers its tables)
from volunteer_app.exports.models import ExportRecord, ExportStatus
from volunteer_app.extensions import db
from volunteer_app.field_messages import register_field_messages
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, get_in_reach, path_in_reach
from volunteer_app.worker import queue, status
from volunteer_app.worker.queue import ResultFile

log = logging.getLogger(__name__)

register_messages(
    {
        "export.unknown_kind": ("不支持的导出类型", "There is no such kind of export"),
        "export.period_required": ("请给出导出的起止日期", "Give the period: from and to"),
        "export.bad_period": ("开始日期不能晚于结束日期", "The period starts after it ends"),
        "export.period_too_long": (
            "导出区间不能超过 {days} 天",
            "The period cannot be longer than {days} days",
        ),
    }
)

register_field_messages(
    {
        "before from": "早于开始日期",
        re.compile(r"at most (\d+) days"): "最多 {0} 天",
        re.compile(r"one of (.*)"): "须为以下之一：{0}",
        "only for a statement": "仅用于时间存折对账单（statement）",
        "required for a statement": "导出对账单时必填",
    }
)

WORK_KIND = "exports.export"
PROGRESS_ROWS = 2000  # progress is offered every this many rows (written at most twice a second)
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')


# ---- asking -------------------------------------------------------------------------------------------


def _period(table: tables.Table, data: dict) -> dict:
    start, end = data.get("from"), data.get("to")
    if table.period == "none":
        return {}
    if table.period == "required" and (start is None or end is None):
        missing = "from" if start is None else "to"
        raise Unprocessable("export.period_required", errors={"json": {missing: ["required"]}})
    if start is not None and end is not None:
        if start > end:
            raise Unprocessable("export.bad_period", errors={"json": {"to": ["before from"]}})
        days = (end - start).days + 1
        if table.max_days is not None and days > table.max_days:
            raise Unprocessable(
                "export.period_too_long",
                errors={"json": {"to": [f"at most {table.max_days} days"]}},
                params={"days": table.max_days},
            )
    period = {}
    if start is not None:
        period["from"] = start.isoformat()
    if end is not None:
        period["to"] = end.isoformat()
    return period


def _table(kind: str, scope: str) -> tables.Table:
    table = tables.get(kind)
    if table is None or scope not in table.scopes:
        raise Unprocessable(
            "export.unknown_kind", errors={"json": {"kind": [f"one of {tables.names(scope)}"]}}
        )
    return table


def request_export(*, who: Reacher, site_id: int, data: dict, lang: str) -> dict:
    """Check and queue an export of a site in the caller's reach (404 otherwise): the kind, the period
    (in the site's time zone; at most the kind's max_days), the kind's own check. Records it and
    queues the work in one transaction. Returns the job as GET /jobs/{id} shows it. Commits."""
    site = get_in_reach(Site, site_id, Site.id, who)
    table = _table(data["kind"], "site")
    if data.get("volunteer_id") is not None and table.name != "statement":
        raise invalid("volunteer_id", "only for a statement")
    args = {
        **_period(table, data),
        "lang": lang,
        "tz": sites.effective_settings(site)["timezone"],
        "scope": "site",
    }
    if data.get("volunteer_id") is not None:
        args["volunteer_id"] = data["volunteer_id"]
    if table.check is not None:
        table.check(who, site, args)
    return _queue(who, site, table, data["format"], args)


def request_own_statement(*, who: Principal, data: dict, lang: str) -> dict:
    """Queue the caller's own book's statement (an empty one when the book has no movement yet); the
    period is optional. Commits."""
    table = _table("statement", "me")
    book = kinds.book_of(who.user_id, None)
    site_id = book.site_id if book is not None else who.user.home_site_id
    site = db.session.get(Site, site_id) if site_id is not None else None
    args = {
        **_period(table, data),
        "lang": lang,
        "tz": sites.effective_settings(site)["timezone"],
        "scope": "me",
    }
    return _queue(who, site, table, data["format"], args)


def _queue(who, site: Site | None, table: tables.Table, fmt: str, args: dict) -> dict:
    record = ExportRecord(
        user_id=who.user_id,
        site_id=site.id if site is not None else None,
        kind=table.name,
        format=fmt,
        params=args,
        status=ExportStatus.REQUESTED,
        requested_at=utcnow(),
    )
    db.session.add(record)
    db.session.flush()
    record.job_id = queue.enqueue(WORK_KIND, {"record_id": record.id}, owner_id=who.user_id)
    db.session.commit()
    return status.get_job(who=who, job_id=record.job_id)


# ---- the records --------------------------------------------------------------------------------------


def list_records(*, who: Reacher, site_id: int, limit: int, cursor: str | None) -> dict:
    """What was exported from a site in the caller's reach and the sites below it, newest first."""
    site = get_in_reach(Site, site_id, Site.id, who)
    subtree = select(Site.id).where(Site.path.startswith(site.path, autoescape=True))
    stmt = select(ExportRecord).where(ExportRecord.site_id.in_(subtree))
    page = paginate(stmt, [ExportRecord.id], limit=limit, cursor=cursor, descending=True)
    records = page["items"]
    user_ids = {r.user_id for r in records}
    site_ids = {r.site_id for r in records if r.site_id is not None}
    users = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(user_ids))).all())
    names = dict(db.session.execute(select(Site.id, Site.name).where(Site.id.in_(site_ids))).all())
    page["items"] = [
        {
            "record": r,
            "user": {"id": r.user_id, "name": users.get(r.user_id)},
            "site": {"id": r.site_id, "name": names.get(r.site_id)} if r.site_id is not None else None,
        }
        for r in records
    ]
    return page


# ---- making it (the worker) ---------------------------------------------------------------------------


def _owner(user_id: int) -> Principal | None:
    """The requester as a principal of plain values (nothing the session could expire and reload while
    rows stream), with the role grants they hold now: reach is checked again when the export runs."""
    user = db.session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    plain = SimpleNamespace(id=user.id, name=user.name, home_site_id=user.home_site_id)
    return Principal(user=plain, session_id="", grants=load_grants(user_id))


def file_name(table: tables.Table, site: Site | None, args: dict, ext: str) -> str:
    """`东湖站_订单_2026-11-01_2026-11-30.xlsx`: the site, the kind, the volunteer (a statement), the
    period (or the day it was made, when the period is open)."""
    lang = args.get("lang", "zh")
    parts = [site.name if site is not None else "", table.title_in(lang)]
    if args.get("volunteer_id") is not None:
        number = db.session.scalar(
            select(VolunteerProfile.volunteer_no).where(VolunteerProfile.user_id == args["volunteer_id"])
        )
        parts.append(number or str(args["volunteer_id"]))
    if args.get("from") or args.get("to"):
        parts += [args.get("from") or "", args.get("to") or ""]
    else:
        parts.append(date.today().isoformat())
    stem = "_".join(_UNSAFE.sub(" ", part).strip() for part in parts if part)
    return f"{stem[:180]}.{ext}"


def split_note(sheets: list[str], lang: str) -> str | None:
    if len(sheets) <= 1:
        return None
    if lang == "en":
        return f"More rows than one sheet holds: continued on {len(sheets)} sheets ({', '.join(sheets)})"
    return f"行数超过单个工作表上限，已分 {len(sheets)} 个工作表续写：{'、'.join(sheets)}"


def run_export(ctx, record_id: int) -> ResultFile:
    """Make the file of an export record: the rows streamed into a temporary file (the queue stores it
    in the database in chunks and deletes it), progress by rows, the record completed with the rows
    written (in the job's completing transaction). An export whose site left the requester's reach
    fails (PermissionError) and makes nothing."""
    record = db.session.get(ExportRecord, record_id)
    if record is None:
        raise LookupError(f"export record {record_id} does not exist")
    args = dict(record.params or {})
    table = tables.get(record.kind)
    if table is None:
        raise LookupError(f"export kind {record.kind!r} is not registered in this worker")
    who = _owner(record.user_id)
    site = db.session.get(Site, record.site_id) if record.site_id is not None else None
    if who is None or (args.get("scope", "site") == "site" and not path_in_reach(site.path, who)):
        raise PermissionError("the site is no longer in the requester's reach")
    lang = args.get("lang", "zh")
    content_type, ext = writers.FORMATS[record.format]
    name = file_name(table, site, args, ext)
    header = table.header_row(args)
    total = table.count(who, site, args) if table.count is not None else None
    fmt = record.format
    db.session.rollback()  # end the reads: the rows stream on a connection of their own
    ctx.progress(0, total, force=True)
    fd, path = tempfile.mkstemp(prefix="export-", suffix=f".{ext}")
    os.close(fd)
    try:
        writer = writers.open_writer(fmt, path, table.title_in(lang), header)
        done = 0
        try:
            for row in table.rows(who, site, args):
                writer.row(row)
                done += 1
                if done % PROGRESS_ROWS == 0:
                    ctx.progress(done, max(total or 0, done))
        finally:
            written = writer.close()
        db.session.rollback()
        ctx.progress(done, done, force=True)
    except BaseException:
        os.unlink(path)
        raise
    record = db.session.get(ExportRecord, record_id)
    record.status, record.rows, record.file_name = ExportStatus.DONE, done, name
    record.finished_at = utcnow()
    summary = {
        "export_id": record_id,
        "kind": table.name,
        "format": fmt,
        "rows": done,
        "sheets": written["sheets"],
        "split": len(written["sheets"]) > 1,
        "note": split_note(written["sheets"], lang),
    }
    log.info("export %s (%s, %s): %d rows", record_id, table.name, fmt, done)
    return ResultFile(name, content_type, summary=summary, path=path)
