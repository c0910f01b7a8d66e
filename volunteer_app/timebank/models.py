"""The time book: accounts, transfers with their two entries, and the head of the hash chain.

Amounts are integer minutes. A transfer moves minutes from one account to another and writes two
entries (−m on the source, +m on the destination) carrying each account's balance after it; rows are
never updated or deleted. Every transfer stores the hash of the one before it.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.db import BigId, UTCDateTime, utcnow
from volunteer_app.extensions import db

ACCOUNT_KINDS = ("book", "issuance", "redemption", "donation")
TRANSFER_KINDS = ("credit", "adjustment", "reversal", "redeem", "refund", "gift", "donate", "demo", "appeal")
GENESIS_HASH = "0" * 64


class TimeAccount(db.Model):
    """A book (one per person), a site's issuance account (source of credited hours), the redemption
    account, or a site's donation pool. Only issuance accounts may go below zero."""

    __tablename__ = "time_accounts"
    # Statistics count books issued (changes.py; ledger.account records the ones it inserts).
    __changes__ = staticmethod(lambda account: ("book", account.id) if account.kind == "book" else None)
    __table_args__ = (
        CheckConstraint("kind IN ('book', 'issuance', 'redemption', 'donation')", name="kind"),
        CheckConstraint("kind = 'issuance' OR balance >= 0", name="not_negative"),
        Index("ix_time_accounts_site_id_created_at", "site_id", "created_at"),  # books issued (statistics)
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
    # Books: the star level last stored by the daily job (timebank.jobs.update_star_levels).
    star_level: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Transfer(db.Model):
    """One movement of minutes, hash-chained to the previous transfer. Append-only."""

    __tablename__ = "time_transfers"
    __changes__ = staticmethod(lambda transfer: ("transfer", transfer.id))  # statistics (changes.py)
    __table_args__ = (
        CheckConstraint("minutes > 0", name="positive"),
        CheckConstraint("from_account_id <> to_account_id", name="two_accounts"),
        # The statistics count a site's posting days again.
        Index("ix_time_transfers_site_id_created_at", "site_id", "created_at"),
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


# ---- 回报: rewards, redemptions, family links, certificates ---------------------------------------

REWARD_KINDS = ("service", "goods")


class RedemptionStatus(enum.StrEnum):
    """A redemption code: issued, then fulfilled (核销) or expired (refunded)."""

    ISSUED = "issued"
    FULFILLED = "fulfilled"
    EXPIRED = "expired"


FAMILY_RELATIONS = ("parent", "child", "spouse", "sibling", "grandparent", "grandchild", "other")


class LinkStatus(enum.StrEnum):
    """A family link: asked for, then approved or rejected by the home station."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Reward(db.Model):
    """An item of a site's reward catalogue, priced in minutes, with stock (never negative)."""

    __tablename__ = "rewards"
    __table_args__ = (
        CheckConstraint("kind IN ('service', 'goods')", name="kind"),
        CheckConstraint("price_minutes > 0", name="price_positive"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(String(500))
    price_minutes: Mapped[int] = mapped_column()
    stock: Mapped[int] = mapped_column()
    # Eligibility: the redeeming person's minimum age (from the ID number), e.g. elder-care services.
    min_age: Mapped[int | None] = mapped_column()
    active: Mapped[bool] = mapped_column(default=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Redemption(db.Model):
    """A redeemed reward: the book was debited and a short code issued for the station to fulfil (核销);
    unfulfilled codes expire and are refunded."""

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint("status IN ('issued', 'fulfilled', 'expired')", name="status"),
        Index("ix_redemptions_status_expires_at", "status", "expires_at"),
        # A site's list, by state, oldest first (GET /sites/{id}/redemptions?status=issued).
        Index("ix_redemptions_site_id_status_id", "site_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    minutes: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="issued")
    debit_transfer_id: Mapped[int] = mapped_column(ForeignKey("time_transfers.id"))
    refund_transfer_id: Mapped[int | None] = mapped_column(ForeignKey("time_transfers.id"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    fulfilled_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FamilyLink(db.Model):
    """A volunteer's family member, approved by a manager in reach; gifts of minutes go only to these."""

    __tablename__ = "family_links"
    __table_args__ = (
        UniqueConstraint("user_id", "relative_id"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
        CheckConstraint("user_id <> relative_id", name="not_self"),
        Index("ix_family_links_site_id_status_id", "site_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    relative_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    relation: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    # The requester's home station: whose managers may approve.
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    reason: Mapped[str | None] = mapped_column(String(500))
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Certificate(db.Model):
    """A numbered 志愿服务证明: stored as issued (never regenerated), verifiable by its code."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    verification_code: Mapped[str] = mapped_column(String(24), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    real_name: Mapped[str] = mapped_column(String(40))
    id_number_masked: Mapped[str] = mapped_column(String(18))
    volunteer_no: Mapped[str] = mapped_column(String(24))
    date_from: Mapped[date] = mapped_column(Date)
    date_to: Mapped[date] = mapped_column(Date)
    total_minutes: Mapped[int] = mapped_column()
    # [{"transfer_id", "date", "content", "minutes"}] exactly as certified.
    records: Mapped[list] = mapped_column(JSON)
    handler: Mapped[str] = mapped_column(String(40))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The public link's secret (128 random bits, URL-safe): it shows only what the JSON verification
    # shows, so it is kept as it is (the owner is shown the link again on every read).
    share_token: Mapped[str] = mapped_column(String(32), unique=True)
    # Withdrawn by a manager in reach (issued in error): both pages and the verification say so.
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(40), nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
