"""Kinds of export, each a table registered by name: the writers (writers.py) and the job (service.py)
know only this contract, so a new table (statistics, rankings) is one `register` call.

The registration contract::

    from volunteer_app.exports import tables

    tables.register(
        "stats",                                   # the request's "kind"
        title={"zh": "统计", "en": "Statistics"},  # sheet and file names
        headers={"zh": [...], "en": [...]},        # or a callable(args) -> such a dict
        rows=stats_rows,                           # callable(who, site, args) -> iterable of tuples
        check=check_stats,                         # optional: callable(who, site, args) -> None
        count=None,                                # optional: callable(who, site, args) -> int (progress)
        period="required",                         # "required", "optional" or "none"
        max_days=366,                              # the longest period accepted (None: any)
    )

- `who` is the caller (a Principal: `user_id`, `is_admin`, `manager_paths`); `site` the requested site
  (`sites.models.Site`), already checked to be in the caller's reach (404 otherwise) when the export is
  requested and again when it runs; for a book's statement asked on /me, `site` is the book's station
  or None.
- `args` is a JSON dict: `from` and `to` (ISO dates, inclusive, in the site's time zone; absent when
  the table's period is "none" or an optional one was not given), `lang` ("zh" or "en", from the
  request's Accept-Language), `tz` (the site's time zone name), and the request's extra fields
  (`volunteer_id`). `period_bounds(args)` turns the period into UTC bounds, `local(moment, args)` a
  stored UTC time into the local naive time the writers print.
- `check` runs in the request, before anything is queued: raise a DomainError (422 in the one error
  format) for what the schema cannot see; it must not write.
- `rows` runs in the worker and yields tuples as long as the headers, of str, int, float, Decimal,
  date, naive datetime (local), or None (an empty cell); words in `args["lang"]`, personal data masked
  (`mask_name`, `mask_phone`). Read a large table with `stream(select)`: a server-side cursor on a
  read-only connection of its own, so memory stays flat and SQLite's write lock stays free.
- Only rows in the caller's reach: `rows` restricts its query to `site`'s subtree (`in_subtree`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, Select, func, select

from volunteer_app import phones
from volunteer_app.accounts.identity import mask_name  # noqa: F401  (tables use it: the one name mask)
from volunteer_app.extensions import db
from volunteer_app.sites.models import Site

PERIODS = ("required", "optional", "none")
STREAM_BATCH = 5000  # rows fetched from the server-side cursor at a time


@dataclass(frozen=True, kw_only=True)
class Table:
    """A kind of export (see the module's docstring for the contract)."""

    name: str
    title: dict[str, str]
    headers: dict[str, list[str]] | Callable[[dict], dict[str, list[str]]]
    rows: Callable[[Any, Site | None, dict], Iterable[tuple]]
    check: Callable[[Any, Site | None, dict], None] | None = None
    count: Callable[[Any, Site | None, dict], int | None] | None = None
    period: str = "required"
    max_days: int | None = 366
    # Where it may be asked: "site" (POST /sites/{id}/exports), "me" (POST /me/timebook/exports).
    scopes: tuple[str, ...] = ("site",)

    def header_row(self, args: dict) -> list[str]:
        headers = self.headers(args) if callable(self.headers) else self.headers
        return list(headers[args.get("lang", "zh")])

    def title_in(self, lang: str) -> str:
        return self.title[lang]


_TABLES: dict[str, Table] = {}


def register(
    name: str,
    *,
    title: dict[str, str],
    headers,
    rows,
    check=None,
    count=None,
    period: str = "required",
    max_days: int | None = 366,
    scopes: tuple[str, ...] = ("site",),
) -> Table:
    """Register a kind of export (module import time). A name registered twice is a programming error."""
    if name in _TABLES:
        raise ValueError(f"export kind {name!r} is registered twice")
    if period not in PERIODS:
        raise ValueError(f"period must be one of {PERIODS}")
    if not callable(headers) and len(headers["zh"]) != len(headers["en"]):
        raise ValueError(f"{name}: zh and en headers differ in length")
    table = Table(
        name=name,
        title=title,
        headers=headers,
        rows=rows,
        check=check,
        count=count,
        period=period,
        max_days=max_days,
        scopes=scopes,
    )
    _TABLES[name] = table
    return table


def get(name: str) -> Table | None:
    return _TABLES.get(name)


def names(scope: str = "site") -> list[str]:
    return sorted(name for name, table in _TABLES.items() if scope in table.scopes)


# ---- helpers for tables -----------------------------------------------------------------------------


def stream(stmt: Select, batch: int = STREAM_BATCH) -> Iterator[Any]:
    """The rows of `stmt`, fetched `batch` at a time through a server-side cursor, on a connection of
    its own: flat memory. On PostgreSQL a thread fetches the next batch while the caller writes this
    one (at most two batches wait); SQLite's connection begins deferred (`read_only`), so the long read
    never holds the write lock."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        with engine.connect().execution_options(read_only=True, stream_results=True, yield_per=batch) as conn:
            yield from conn.execute(stmt)
        return
    parts: queue.Queue = queue.Queue(maxsize=2)
    stop = threading.Event()

    def offer(item) -> bool:
        while not stop.is_set():
            try:
                parts.put(item, timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def fetch() -> None:
        try:
            with engine.connect().execution_options(stream_results=True, yield_per=batch) as conn:
                for part in conn.execute(stmt).partitions(batch):
                    if not offer(part):
                        return
            offer(_END)
        except BaseException as exc:  # handed to the reader, raised there
            offer(exc)

    fetcher = threading.Thread(target=fetch, name="export-fetch", daemon=True)
    fetcher.start()
    try:
        while True:
            part = parts.get()
            if part is _END:
                return
            if isinstance(part, BaseException):
                raise part
            yield from part
    finally:
        stop.set()
        fetcher.join()


_END = object()


def local_column(column, args: dict):
    """`column` (a UTC time) as the local wall time to the minute, computed by PostgreSQL (the rows
    arrive ready to write); elsewhere the column itself, for `local` to convert."""
    if db.engine.dialect.name == "postgresql":
        return func.date_trunc("minute", func.timezone(zone(args).key, column), type_=DateTime())
    return column


def in_subtree(site_column, site: Site):
    """Condition: `site_column` names `site` or a site below it."""
    return site_column.in_(select(Site.id).where(Site.path.startswith(site.path, autoescape=True)))


def zone(args: dict) -> ZoneInfo:
    return ZoneInfo(args.get("tz") or "Asia/Shanghai")


def period_bounds(args: dict) -> tuple[datetime | None, datetime | None]:
    """[start, end) in UTC of the inclusive local dates `from`..`to` (either may be absent: None)."""
    tz = zone(args)
    start = end = None
    if args.get("from"):
        start = datetime.combine(date.fromisoformat(args["from"]), time(), tz)
    if args.get("to"):
        end = datetime.combine(date.fromisoformat(args["to"]) + timedelta(days=1), time(), tz)
    return start, end


def local(moment: datetime | None, args: dict) -> datetime | None:
    """A stored (UTC) time as the local wall time the file shows, to the minute, without a zone; a
    naive time is returned as it is (`local_column` made it local in the database)."""
    if moment is None or moment.tzinfo is None:  # naive: local already (`local_column`)
        return moment
    return moment.astimezone(zone(args)).replace(tzinfo=None, second=0, microsecond=0)


def mask_phone(phone: str | None) -> str:
    """The API's masked phone, written as a mainland number is read (+86138****5678 → 138****5678)."""
    if not phone:
        return ""
    masked = phones.mask_phone(phone)
    return masked.removeprefix("+86")


def word(words: dict[str, tuple[str, str]], value: str | None, lang: str) -> str:
    """A stored code in the reader's language (the code itself if it has no word)."""
    if value is None:
        return ""
    pair = words.get(value)
    if pair is None:
        return value
    return pair[1] if lang == "en" else pair[0]
