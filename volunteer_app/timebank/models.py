"""The time book: accounts, transfers with their two entries, and the head of the hash chain.

Amounts are integer minutes. A transfer moves minutes from one account to another and writes two
entries (−m on the source, +m on the destination) carrying each account's balance after it; rows are
never updated or deleted. Every transfer stores the hash of the one before it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db

ACCOUNT_KINDS = ("book", "issuance", "redemption", "donation")
TRANSFER_KINDS = ("credit", "adjustment", "reversal", "redeem", "refund", "gift", "donate", "demo")
GENESIS_HASH = "0" * 64


class TimeAccount(db.Model):
    """A book (one per person), a site's issuance account (source of credited hours), the redemption
    account, or a site's donation pool. Only issuance accounts may go below zero."""

    __tablename__ = "time_accounts"
    __table_args__ = (
        CheckConstraint("kind IN ('book', 'issuance', 'redemption', 'donation')", name="kind"),
        CheckConstraint("kind = 'issuance' OR balance >= 0", name="not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # "book:<user id>", "issuance:<site id>", "donation:<site id>" or "redemption": one account each.
    key: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    # Books: the issuing station. Issuance and donation accounts: their site.
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    book_no: Mapped[str | None] = mapped_column(String(24), unique=True)
    # Cached: always equals the sum of this account's entries (checked by `flask timebank verify`).
    balance: Mapped[int] = mapped_column(default=0)
    # Cached: audited minutes credited to this book over its life, net of reversals (star level).
    lifetime_minutes: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Transfer(db.Model):
    """One movement of minutes, hash-chained to the previous transfer. Append-only."""

    __tablename__ = "time_transfers"
    __table_args__ = (
        CheckConstraint("minutes > 0", name="positive"),
        CheckConstraint("from_account_id <> to_account_id", name="two_accounts"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    from_account_id: Mapped[int] = mapped_column(ForeignKey("time_accounts.id"))
    to_account_id: Mapped[int] = mapped_column(ForeignKey("time_accounts.id"))
    minutes: Mapped[int] = mapped_column()
    # What this transfer is for, unique: "service:<source>:<id>" makes crediting idempotent,
    # "reversal:<transfer id>" makes reversing a transfer possible only once.
    reference: Mapped[str | None] = mapped_column(String(80), unique=True)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("time_transfers.id"))
    memo: Mapped[str | None] = mapped_column(String(200))
    service_date: Mapped[date | None] = mapped_column(Date)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class Entry(db.Model):
    """One side of a transfer on one account, with that account's balance after it (the statement)."""

    __tablename__ = "time_entries"
    __table_args__ = (
        UniqueConstraint("transfer_id", "account_id"),
        Index("ix_time_entries_account_id_id", "account_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transfer_id: Mapped[int] = mapped_column(ForeignKey("time_transfers.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("time_accounts.id"))
    amount: Mapped[int] = mapped_column()
    balance_after: Mapped[int] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LedgerHead(db.Model):
    """The single row holding the last transfer's hash. Locking it serialises appends to the chain."""

    __tablename__ = "time_ledger_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    last_transfer_id: Mapped[int | None] = mapped_column()
    last_hash: Mapped[str] = mapped_column(String(64), default=GENESIS_HASH)
