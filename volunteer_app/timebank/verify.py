"""Ledger verification: recompute the hash chain, each transfer's entries, every balance and the zero sum.

Streams the transfers in id order (bounded memory at any size); the per-account and global sums are
single aggregate queries. Stops at the first broken link of the chain and names the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case, func, select

from volunteer_app.extensions import db
from volunteer_app.timebank.ledger import transfer_hash
from volunteer_app.timebank.models import GENESIS_HASH, Entry, LedgerHead, TimeAccount, Transfer


@dataclass
class Report:
    transfers: int = 0
    accounts: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(batch: int = 5000) -> Report:
    """Check everything; the report lists problems, the first chain break first."""
    report = Report()
    _check_chain(report, batch)
    _check_entries(report)
    _check_balances(report)
    return report


def _check_chain(report: Report, batch: int) -> None:
    expected_prev = GENESIS_HASH
    last_id = None
    for t in db.session.scalars(select(Transfer).order_by(Transfer.id).execution_options(yield_per=batch)):
        report.transfers += 1
        if t.prev_hash != expected_prev:
            report.problems.append(f"transfer {t.id}: prev_hash does not match transfer {last_id}'s hash")
            return
        if transfer_hash(t) != t.hash:
            report.problems.append(f"transfer {t.id}: contents do not match its hash (altered)")
            return
        expected_prev, last_id = t.hash, t.id
    head = db.session.get(LedgerHead, 1)
    if head is not None and (head.last_hash != expected_prev or head.last_transfer_id != last_id):
        report.problems.append(f"ledger head does not point at the last transfer {last_id} (rows removed?)")


def _check_entries(report: Report) -> None:
    """Each transfer has exactly its two entries: −minutes on the source, +minutes on the destination."""
    matching = func.sum(
        case(
            ((Entry.account_id == Transfer.from_account_id) & (Entry.amount == -Transfer.minutes), 1),
            ((Entry.account_id == Transfer.to_account_id) & (Entry.amount == Transfer.minutes), 1),
            else_=0,
        )
    )
    bad = db.session.scalar(
        select(Transfer.id)
        .outerjoin(Entry, Entry.transfer_id == Transfer.id)
        .group_by(Transfer.id)
        .having((func.count(Entry.id) != 2) | (func.coalesce(matching, 0) != 2))
        .order_by(Transfer.id)
        .limit(1)
    )
    if bad is not None:
        report.problems.append(f"transfer {bad}: its entries do not match it")


def _check_balances(report: Report) -> None:
    sums = (
        select(Entry.account_id, func.sum(Entry.amount).label("total")).group_by(Entry.account_id).subquery()
    )
    rows = db.session.execute(
        select(TimeAccount.id, TimeAccount.balance, func.coalesce(sums.c.total, 0))
        .outerjoin(sums, sums.c.account_id == TimeAccount.id)
        .order_by(TimeAccount.id)
    )
    for account_id, cached, summed in rows:
        report.accounts += 1
        if cached != summed:
            report.problems.append(
                f"account {account_id}: cached balance {cached} != sum of entries {summed}"
            )
    total = db.session.scalar(select(func.coalesce(func.sum(Entry.amount), 0)))
    if total != 0:
        report.problems.append(f"entries sum to {total}, not zero")
