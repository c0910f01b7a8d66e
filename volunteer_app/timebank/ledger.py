"""The posting core of the time book: accounts, one `post()` for every movement of minutes, the hash chain.

Every function here only flushes: the service command that calls it owns the transaction, so a
movement of hours and whatever caused it (an audit, a redemption) commit or roll back together.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from functools import cache

from sqlalchemy import bindparam, or_, select, update

from volunteer_app import changes
from volunteer_app.accounts.models import VolunteerProfile
from volunteer_app.db import dialect_insert, utcnow
from volunteer_app.errors import Conflict, NotFound, register_messages
from volunteer_app.extensions import db, read_rows
from volunteer_app.timebank.models import GENESIS_HASH, Entry, LedgerHead, TimeAccount, Transfer

register_messages(
    {
        "timebook.insufficient": ("时间存折余额不足", "Not enough minutes in the time book"),
        "timebook.not_volunteer": (
            "只有注册志愿者拥有时间存折",
            "Only registered volunteers have a time book",
        ),
    }
)

# Transfers that move audited service time between a site's issuance account and a book: they change
# the book's lifetime (star-level) minutes, spending or giving hours does not; and only they can be
# reversed (service.reverse).
SERVICE_KINDS = ("credit", "adjustment", "demo", "appeal")


def _insert_ignoring_conflict(table, values: dict) -> None:
    """INSERT … ON CONFLICT DO NOTHING on either database (get-or-create without a race)."""
    dialect = db.session.get_bind().dialect.name
    insert = dialect_insert(dialect)
    db.session.execute(insert(table).values(**values).on_conflict_do_nothing())


def account(key: str, *, kind: str, site_id: int | None = None, user_id: int | None = None, book_no=None):
    """The account with this key, created if missing. Flushes only."""
    found = db.session.scalars(select(TimeAccount).where(TimeAccount.key == key)).first()
    if found is not None:
        return found
    _insert_ignoring_conflict(
        TimeAccount.__table__,
        {
            "key": key,
            "kind": kind,
            "site_id": site_id,
            "user_id": user_id,
            "book_no": book_no,
            "balance": 0,
            "lifetime_minutes": 0,
            "created_at": utcnow(),
        },
    )
    created = db.session.scalars(select(TimeAccount).where(TimeAccount.key == key)).one()
    if kind == "book":
        changes.record("book", [created.id])  # statistics: books issued (the ORM did not see the INSERT)
    return created


def issuance_account(site_id: int) -> TimeAccount:
    return account(f"issuance:{site_id}", kind="issuance", site_id=site_id)


def donation_account(site_id: int) -> TimeAccount:
    return account(f"donation:{site_id}", kind="donation", site_id=site_id)


def redemption_account() -> TimeAccount:
    return account("redemption", kind="redemption")


def book_no(user_id: int, site_id: int) -> str:
    """The book number: issuing station and person, fixed when the book is opened."""
    return f"SJ{site_id:06d}{user_id:010d}"


def book_account(user_id: int, site_id: int) -> TimeAccount:
    """A person's time book, issued by `site_id` the first time it is needed. Flushes only."""
    return account(
        f"book:{user_id}", kind="book", user_id=user_id, site_id=site_id, book_no=book_no(user_id, site_id)
    )


def unopened_book(user_id: int, site_id: int) -> TimeAccount:
    """What a volunteer's book will be before its first movement (not saved: reads never write)."""
    return TimeAccount(
        key=f"book:{user_id}",
        kind="book",
        user_id=user_id,
        site_id=site_id,
        book_no=book_no(user_id, site_id),
        balance=0,
        lifetime_minutes=0,
        created_at=None,
    )


@cache
def _book_query():
    """A book by its key, built once per process (read on every time-book request)."""
    return select(TimeAccount).where(TimeAccount.key == bindparam("key"))


def existing_book(user_id: int) -> TimeAccount | None:
    return db.session.scalars(_book_query(), {"key": f"book:{user_id}"}).first()


@cache
def _book_row_query():
    return select(*TimeAccount.__table__.c).where(TimeAccount.key == bindparam("key"))


def book_snapshot(user_id: int):
    """`existing_book` for reading only: its columns as a plain row, past the ORM (the time book's and
    the statement's read), or None."""
    return read_rows(_book_row_query(), {"key": f"book:{user_id}"}).first()


def paying_book(user_id: int) -> TimeAccount:
    """The book a user spends or gives from: 409 timebook.insufficient for a volunteer whose book never
    moved (nothing in it), 404 timebook.not_volunteer for someone who has no book at all."""
    book = existing_book(user_id)
    if book is not None:
        return book
    if db.session.get(VolunteerProfile, user_id) is not None:
        raise Conflict("timebook.insufficient")
    raise NotFound("timebook.not_volunteer")


def lock_head() -> LedgerHead:
    """Lock the chain head (creating it once). Every append holds it: ids follow chain order, and all
    balance updates queue behind it, so concurrent postings can neither fork the chain nor deadlock.
    Callers that must check something before posting (a reference not used yet) lock it first.
    Rows outside the time book may be locked before it, never after it while it is held: a reward's
    stock (redeeming takes its unit first, so the losers of the last unit never queue here)."""
    head = db.session.scalars(select(LedgerHead).where(LedgerHead.id == 1).with_for_update()).first()
    if head is None:
        _insert_ignoring_conflict(LedgerHead.__table__, {"id": 1, "last_hash": GENESIS_HASH})
        head = db.session.scalars(select(LedgerHead).where(LedgerHead.id == 1).with_for_update()).one()
    return head


def transfer_hash(t: Transfer) -> str:
    """SHA-256 over the previous hash and every field that gives the transfer its meaning."""
    payload = {
        "prev": t.prev_hash,
        "kind": t.kind,
        "from": t.from_account_id,
        "to": t.to_account_id,
        "minutes": t.minutes,
        "reference": t.reference,
        "reverses": t.reverses_id,
        "memo": t.memo,
        "service_date": t.service_date.isoformat() if t.service_date else None,
        "site": t.site_id,
        "actor": t.actor_id,
        "at": t.created_at.isoformat(timespec="microseconds"),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _move(account_id: int, delta: int, *, may_go_negative: bool) -> int:
    """Add `delta` to an account's cached balance unless a personal balance would go negative."""
    stmt = update(TimeAccount).where(TimeAccount.id == account_id)
    if delta < 0 and not may_go_negative:
        stmt = stmt.where(or_(TimeAccount.kind == "issuance", TimeAccount.balance >= -delta))
    row = db.session.execute(
        stmt.values(balance=TimeAccount.balance + delta)
        .returning(TimeAccount.balance)
        .execution_options(synchronize_session=False)
    ).first()
    if row is None:
        raise Conflict("timebook.insufficient")
    return row[0]


def post(
    *,
    kind: str,
    source: TimeAccount,
    destination: TimeAccount,
    minutes: int,
    reference: str | None = None,
    reverses_id: int | None = None,
    memo: str | None = None,
    service_date: date | None = None,
    site_id: int | None = None,
    actor_id: int | None = None,
) -> Transfer:
    """Move `minutes` from `source` to `destination`: one transfer, two entries, both cached balances,
    chained to the previous transfer. Raises 409 timebook.insufficient (nothing written). Flushes only."""
    if minutes <= 0:
        raise ValueError("minutes must be positive")
    head = lock_head()
    source_after = _move(source.id, -minutes, may_go_negative=source.kind == "issuance")
    destination_after = _move(destination.id, minutes, may_go_negative=True)
    lifetime = _lifetime_delta(kind, source, destination, minutes, reverses_id)
    if lifetime:
        _add_lifetime(destination if lifetime > 0 else source, lifetime)
    transfer = Transfer(
        kind=kind,
        from_account_id=source.id,
        to_account_id=destination.id,
        minutes=minutes,
        reference=reference,
        reverses_id=reverses_id,
        memo=memo,
        service_date=service_date,
        site_id=site_id,
        actor_id=actor_id,
        created_at=utcnow(),
        prev_hash=head.last_hash,
    )
    transfer.hash = transfer_hash(transfer)
    db.session.add(transfer)
    db.session.flush()
    db.session.add_all(
        [
            _entry(transfer, source.id, -minutes, source_after),
            _entry(transfer, destination.id, minutes, destination_after),
        ]
    )
    head.last_transfer_id = transfer.id
    head.last_hash = transfer.hash
    db.session.flush()
    db.session.expire(source)
    db.session.expire(destination)
    return transfer


def _add_lifetime(book: TimeAccount, minutes: int) -> None:
    db.session.execute(
        update(TimeAccount)
        .where(TimeAccount.id == book.id)
        .values(lifetime_minutes=TimeAccount.lifetime_minutes + minutes)
        .execution_options(synchronize_session=False)
    )


def _entry(transfer: Transfer, account_id: int, amount: int, balance_after: int) -> Entry:
    """One side of a transfer: the account's movement and its balance after it."""
    return Entry(
        transfer_id=transfer.id,
        account_id=account_id,
        amount=amount,
        balance_after=balance_after,
        created_at=transfer.created_at,
    )


def _lifetime_delta(kind, source, destination, minutes, reverses_id) -> int:
    """The change to a book's lifetime minutes (star level): audited service moves them, spending or
    giving does not. A reversal of a service transfer undoes it, so it counts like one; since it runs
    the other way round the same rule applies: issuance → book adds, book → issuance takes away
    (reversing a negative correction gives the minutes back). `verify._check_lifetimes` recomputes
    exactly this in SQL: change both together."""
    if kind == "reversal":
        original = db.session.get(Transfer, reverses_id)
        if original is None or original.kind not in SERVICE_KINDS:
            return 0
    elif kind not in SERVICE_KINDS:
        return 0
    if destination.kind == "book" and source.kind == "issuance":
        return minutes
    if source.kind == "book" and destination.kind == "issuance":
        return -minutes
    return 0
