"""Time-book commands and reads: crediting audited service, the book and its statement, corrections."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import String, bindparam, cast, literal, select

from volunteer_app.accounts import principal
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import User, VolunteerProfile
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, NotFound, Unprocessable, register_messages
from volunteer_app.extensions import db
from volunteer_app.pagination import check_cursor, paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.reach import Reacher, reach_condition
from volunteer_app.timebank import checkpoints, ledger
from volunteer_app.timebank.models import Entry, TimeAccount, Transfer

if TYPE_CHECKING:
    from volunteer_app.auth.tokens import Principal

register_messages(
    {
        "timebook.already_reversed": ("该笔记录已冲正", "This transfer has already been reversed"),
        "timebook.not_reversible": ("该笔记录不能冲正", "This transfer cannot be reversed"),
        "timebook.bad_month": ("月份格式应为 YYYY-MM", "Month must look like YYYY-MM"),
    }
)


def hours(minutes: int) -> float:
    """Hours for display, to two decimals (a minute is 0.02, never 0.0), halves rounded away from zero;
    minutes stay the exact figure. In integers (a statement page shows two per line): the hundredths
    are floor(|minutes| × 100/60 + 1/2), and an int divided by 100 is the double nearest the exact
    value, as float() of the two-decimal Decimal is."""
    hundredths = (abs(minutes) * 10 + 3) // 6
    return (hundredths if minutes >= 0 else -hundredths) / 100


# ---- crediting ----------------------------------------------------------------------------------


def credit_service(
    *,
    record_key: str,
    user_id: int,
    site_id: int,
    minutes: int,
    memo: str,
    service_date: date,
    actor_id: int | None,
    kind: str = "credit",
) -> Transfer:
    """Credit audited service minutes to a volunteer's book from the auditing site's issuance account.

    Idempotent by `record_key` (e.g. "assignment:42"): a second call returns the first transfer and
    credits nothing. Flushes only: the caller (the audit) owns the transaction.
    """
    reference = f"service:{record_key}"
    ledger.lock_head()  # so a concurrent audit of the same record waits here, then sees ours
    existing = db.session.scalars(select(Transfer).where(Transfer.reference == reference)).first()
    if existing is not None:
        return existing
    book = ledger.existing_book(user_id) or ledger.book_account(user_id, _issuing_site(user_id, site_id))
    return ledger.post(
        kind=kind,
        source=ledger.issuance_account(site_id),
        destination=book,
        minutes=minutes,
        reference=reference,
        memo=memo,
        service_date=service_date,
        site_id=site_id,
        actor_id=actor_id,
    )


def _issuing_site(user_id: int, fallback_site_id: int) -> int:
    """A book is issued by the volunteer's home station (the one that approved them)."""
    profile = db.session.get(VolunteerProfile, user_id)
    return profile.site_id if profile else fallback_site_id


# ---- reading --------------------------------------------------------------------------------------


# The caller's book read with the principal (one round trip for both) by the time book's two pages.
BOOK_RIDER = principal.Rider(
    "book",
    TimeAccount.__table__,
    join=lambda user_id: TimeAccount.key == literal("book:", String) + cast(user_id, String),
)


def _book_of(user: User) -> TimeAccount | None:
    """The caller's book, to read (a plain row: as it rode on the principal's query, BOOK_RIDER, or
    ledger.book_snapshot); a volunteer whose book has no movement yet sees it unopened (id None); None
    for anyone else without one yet (a resident before a relative's first gift: no station has issued
    it)."""
    rode, book = principal.rider_row(BOOK_RIDER)
    if not rode:
        book = ledger.book_snapshot(user.id)
    if book is not None:
        return book
    profile = accounts.volunteer_profile(user.id)  # its approving station issues the book
    if profile is None:
        return None
    return ledger.unopened_book(user.id, profile.site_id)


def star_level(lifetime_minutes: int, thresholds_hours: list[int]) -> tuple[int, int | None]:
    """(level 0–len, hours needed for the next level or None at the top)."""
    lifetime_hours = lifetime_minutes / 60
    level = sum(1 for t in thresholds_hours if lifetime_hours >= t)
    nxt = thresholds_hours[level] if level < len(thresholds_hours) else None
    return level, nxt


def timebook(*, who: Principal) -> dict:
    """The caller's balance, lifetime audited time, star level, book number and issuing station — no
    ledger scan."""
    user = who.user
    book = _book_of(user)
    if book is None:
        return _empty_book(user)
    site = sites.site_view(book.site_id)  # its name and settings, cached while sites do not change
    level, next_hours = star_level(book.lifetime_minutes, site.settings["star_thresholds_hours"])
    return {
        "book_no": book.book_no,
        "balance_minutes": book.balance,
        "balance_hours": hours(book.balance),
        "lifetime_minutes": book.lifetime_minutes,
        "lifetime_hours": hours(book.lifetime_minutes),
        "star_level": level,
        "next_star_hours": next_hours,
        "issuing_site": site,
        "opened_at": book.created_at,
    }


def _empty_book(user: User) -> dict:
    """The book of someone who has none yet: empty, with no number and no issuing station (both are
    fixed only when minutes first arrive, by the station that issues it). Synthesized, not saved: a read
    never writes. Star thresholds are those of the home station, if any."""
    level, next_hours = star_level(0, sites.settings_for(user.home_site_id)["star_thresholds_hours"])
    return {
        "book_no": None,
        "balance_minutes": 0,
        "balance_hours": hours(0),
        "lifetime_minutes": 0,
        "lifetime_hours": hours(0),
        "star_level": level,
        "next_star_hours": next_hours,
        "issuing_site": None,
        "opened_at": None,
    }


def _month_range(month: str, tz: str) -> tuple[datetime, datetime]:
    try:
        year, mon = (int(part) for part in month.split("-"))
        start = datetime.combine(date(year, mon, 1), time(), ZoneInfo(tz))
    except ValueError as exc:
        raise Unprocessable("timebook.bad_month", errors={"query": {"month": ["YYYY-MM"]}}) from exc
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def statement(*, who: Principal, month: str | None, limit: int, cursor: str | None) -> dict:
    """The caller's book's entries, newest first, each with the balance after it (keyset-paged by entry
    id), and the ledger checkpoint that covers it (checkpoints.covering: the first published after its
    end)."""
    book = _book_of(who.user)
    end = utcnow()
    if month:  # checked even for an empty book: a bad month is 422 for everyone
        tz = sites.settings_for(book.site_id if book is not None else None)["timezone"]
        start, end = _month_range(month, tz)
    # A published chain head covering the statement: the reader's own copy of the ledger's anchor.
    published = checkpoints.covering(end)
    checkpoint = published.as_dict() if published else None
    if book is None or book.id is None:  # no book, or no movement yet: an empty page
        check_cursor(cursor, [Entry.id])
        return {"items": [], "next_cursor": None, "checkpoint": checkpoint}
    bound = {"account_id": book.id, **({"start": start, "end": end} if month else {})}
    page = paginate(
        _statement_query(bool(month)),
        [Entry.id],
        limit=limit,
        cursor=cursor,
        descending=True,
        rows=True,
        params=bound,
        prebuilt=True,
    )
    page["items"] = [_statement_line(row) for row in page["items"]]
    page["checkpoint"] = checkpoint
    return page


@cache
def _statement_query(month: bool):
    """A book's entries with their transfers in one query, as plain rows (the hottest page of the
    book), built once per process over a bound account id (with `month`, bound `start` and `end`)."""
    stmt = (
        select(
            Entry.id,
            Entry.amount,
            Entry.balance_after,
            Transfer.id.label("transfer_id"),
            Transfer.kind,
            Transfer.memo,
            Transfer.service_date,
            Transfer.reverses_id,
            Transfer.created_at,
        )
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .where(Entry.account_id == bindparam("account_id"))
    )
    if month:
        start, end = (bindparam(name, type_=Entry.created_at.type) for name in ("start", "end"))
        stmt = stmt.where(Entry.created_at >= start, Entry.created_at < end)
    return stmt


def _statement_line(row) -> dict:
    return {
        "transfer_id": row.transfer_id,
        "kind": row.kind,
        "minutes": row.amount,
        "hours": hours(row.amount),
        "balance_after_minutes": row.balance_after,
        "balance_after_hours": hours(row.balance_after),
        "memo": row.memo,
        "service_date": row.service_date,
        "reverses_id": row.reverses_id,
        "created_at": row.created_at,
    }


# ---- corrections -----------------------------------------------------------------------------------


def _book_in_reach(user_id: int, who: Reacher) -> TimeAccount:
    """A volunteer's book whose issuing station the manager reaches (404 otherwise)."""
    book = db.session.scalars(
        select(TimeAccount).where(
            TimeAccount.key == f"book:{user_id}", reach_condition(TimeAccount.site_id, who)
        )
    ).first()
    if book is None:
        profile = db.session.scalars(
            select(VolunteerProfile).where(
                VolunteerProfile.user_id == user_id, reach_condition(VolunteerProfile.site_id, who)
            )
        ).first()
        if profile is None:
            raise NotFound("timebook.not_volunteer")
        book = ledger.book_account(user_id, profile.site_id)
    return book


def adjust(*, who: Reacher, actor_id: int, user_id: int, minutes: int, reason: str) -> Transfer:
    """A manager's correction of a volunteer's audited time: + from the station's issuance account,
    − back to it (never below zero). Commits."""
    ledger.lock_head()  # first, like every time-book writer: one lock order, no deadlocks
    book = _book_in_reach(user_id, who)
    issuance = ledger.issuance_account(book.site_id)
    source, destination = (issuance, book) if minutes > 0 else (book, issuance)
    transfer = ledger.post(
        kind="adjustment",
        source=source,
        destination=destination,
        minutes=abs(minutes),
        memo=reason,
        site_id=book.site_id,
        actor_id=actor_id,
    )
    db.session.commit()
    return transfer


def reverse(*, who: Reacher, actor_id: int, transfer_id: int, reason: str) -> Transfer:
    """Reverse a credit or adjustment in reach, once; a reversal itself cannot be reversed. Commits."""
    original = db.session.scalars(
        select(Transfer).where(Transfer.id == transfer_id, reach_condition(Transfer.site_id, who))
    ).first()
    if original is None:
        raise NotFound()
    if original.kind not in ledger.SERVICE_KINDS:
        raise Conflict("timebook.not_reversible")
    reference = f"reversal:{original.id}"
    ledger.lock_head()
    if db.session.scalar(select(Transfer.id).where(Transfer.reference == reference)) is not None:
        raise Conflict("timebook.already_reversed")
    transfer = ledger.post(
        kind="reversal",
        source=db.session.get(TimeAccount, original.to_account_id),
        destination=db.session.get(TimeAccount, original.from_account_id),
        minutes=original.minutes,
        reference=reference,
        reverses_id=original.id,
        memo=reason,
        service_date=original.service_date,
        site_id=original.site_id,
        actor_id=actor_id,
    )
    db.session.commit()
    return transfer
