"""Ledger verification: recompute everything the ledger stores twice and compare.

- the hash chain, streamed in id order (bounded memory at any size), up to the chain head;
- each transfer's two entries;
- each entry's `balance_after` (shown on statements): the running sum of its account's entries in id
  order, one window-function query;
- each account's cached `balance` (the sum of its entries) and the global zero sum;
- each account's cached `lifetime_minutes` (star levels), recomputed from the transfers by the rule of
  `ledger._lifetime_delta`, one aggregate query;
- the published checkpoints (`timebank.checkpoints`), if given: every published transfer is there with
  exactly its published hash, and the chain reaches the newest one. Without checkpoints, removing the
  newest transfers and rewinding the head leaves a consistent, shorter chain that nothing here can tell
  from the real one; with them, only transfers newer than the newest checkpoint can go unnoticed.

Every check is one statement (or the chain's one stream), so each sees one consistent state even while
the application keeps posting. Problems name the first bad row; the first chain break comes first.
`progress(done, total)`, if given, is told how far it got: transfers of the chain (the head's id is
the total, read once), then one step per later check (`flask timebank verify` draws its bar with it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import aliased

from volunteer_app.extensions import db
from volunteer_app.timebank import checkpoints as published
from volunteer_app.timebank.ledger import SERVICE_KINDS, transfer_hash
from volunteer_app.timebank.models import GENESIS_HASH, Entry, LedgerHead, TimeAccount, Transfer

# The head moved on while the chain was read (the application kept posting): read the new transfers
# at most this many times before calling it a mismatch.
HEAD_CATCH_UP = 5


@dataclass
class Report:
    transfers: int = 0
    accounts: int = 0
    checkpoints: int = 0
    # The end of the verified chain: what a checkpoint written after this run publishes.
    last_transfer_id: int | None = None
    last_hash: str = GENESIS_HASH
    chain_ok: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


Progress = Callable[[int, int], None]
LATER_CHECKS = 4  # entries, running balances, balances, lifetimes (and the checkpoints with the last)


def verify(
    batch: int = 5000, checkpoint_file: Path | None = None, progress: Progress | None = None
) -> Report:
    """Check everything; the report lists problems, the first chain break first. `checkpoint_file`:
    compare against the checkpoints published in it (a line that is not one is a problem)."""
    report = Report()
    head = db.session.scalar(select(LedgerHead.last_transfer_id).where(LedgerHead.id == 1)) or 0
    total = head + LATER_CHECKS
    tell = progress or (lambda done, total: None)
    _check_chain(report, batch, lambda read: tell(min(read, head), total))
    tell(head, total)
    for step, check in enumerate(
        (_check_entries, _check_running_balances, _check_balances, _check_lifetimes)
    ):
        check(report)
        if step == LATER_CHECKS - 1 and checkpoint_file is not None:
            found, problems = published.read(checkpoint_file)
            report.problems += problems
            _check_checkpoints(report, found)
        tell(head + step + 1, total)
    return report


def _check_chain(report: Report, batch: int, read_so_far: Callable[[int], None]) -> None:
    """The chain from genesis to the head. Transfers are read as plain rows (no ORM objects: the hash
    needs only the columns, and this stream is most of the time verify takes)."""
    columns = Transfer.__table__.c
    expected_prev, last_id = GENESIS_HASH, None
    for attempt in range(HEAD_CATCH_UP):
        stmt = select(*columns).order_by(columns.id)
        if last_id is not None:
            stmt = stmt.where(columns.id > last_id)
        read = 0
        for t in db.session.execute(stmt.execution_options(yield_per=batch)):
            read += 1
            report.transfers += 1
            if t.prev_hash != expected_prev:
                report.problems.append(f"transfer {t.id}: prev_hash does not match transfer {last_id}'s hash")
                return
            if transfer_hash(t) != t.hash:
                report.problems.append(f"transfer {t.id}: contents do not match its hash (altered)")
                return
            expected_prev, last_id = t.hash, t.id
            report.last_transfer_id, report.last_hash = last_id, expected_prev
            if read % batch == 0:
                read_so_far(report.transfers)
        head = db.session.execute(
            select(LedgerHead.last_transfer_id, LedgerHead.last_hash).where(LedgerHead.id == 1)
        ).first()
        at_head = tuple(head) == (last_id, expected_prev) if head is not None else last_id is None
        if at_head:
            report.chain_ok = True
            return
        if head is None:
            report.problems.append(f"ledger head is missing (the chain has {report.transfers} transfers)")
            return
        # The head is ahead of what was read: posted since the stream began (read on), or rows removed
        # from the end (nothing more to read).
        ahead = head[0] is not None and (last_id is None or head[0] > last_id)
        if not ahead or (attempt and not read):
            break
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


def _check_running_balances(report: Report) -> None:
    """Each entry's balance_after is the sum of its account's entries up to and including it, in id
    order (ids follow the chain: every posting holds the head lock). One pass of a window function."""
    running = func.sum(Entry.amount).over(partition_by=Entry.account_id, order_by=Entry.id, rows=(None, 0))
    lines = select(
        Entry.id, Entry.transfer_id, Entry.account_id, Entry.balance_after, running.label("running")
    ).subquery()
    bad = db.session.execute(
        select(lines, func.count().over().label("bad"))
        .where(lines.c.balance_after != lines.c.running)
        .order_by(lines.c.id)
        .limit(1)
    ).first()
    if bad is not None:
        more = f" (+{bad.bad - 1} more entries)" if bad.bad > 1 else ""
        report.problems.append(
            f"entry {bad.id} (transfer {bad.transfer_id}, account {bad.account_id}): balance_after "
            f"{bad.balance_after} != running sum of its account's entries {bad.running}{more}"
        )


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


def _lifetime_moves():
    """(account id, ± minutes) for every transfer that changes a book's lifetime minutes: audited
    service, and reversals of it, between an issuance account and a book (ledger._lifetime_delta).
    One scan of the transfers; a reversal's original is looked up by its key (a scalar subquery, so
    only reversals pay for it)."""
    source, destination = aliased(TimeAccount), aliased(TimeAccount)
    original = aliased(Transfer)
    original_kind = select(original.kind).where(original.id == Transfer.reverses_id).scalar_subquery()
    service = or_(
        Transfer.kind.in_(SERVICE_KINDS),
        and_(Transfer.kind == "reversal", original_kind.in_(SERVICE_KINDS)),
    )
    credited = source.kind == "issuance"
    return (
        select(
            case((credited, Transfer.to_account_id), else_=Transfer.from_account_id).label("account_id"),
            case((credited, Transfer.minutes), else_=-Transfer.minutes).label("delta"),
        )
        .select_from(Transfer)
        .join(source, source.id == Transfer.from_account_id)
        .join(destination, destination.id == Transfer.to_account_id)
        .where(
            service,
            or_(
                and_(source.kind == "issuance", destination.kind == "book"),
                and_(source.kind == "book", destination.kind == "issuance"),
            ),
        )
        .subquery()
    )


def _check_lifetimes(report: Report) -> None:
    """Each account's lifetime_minutes equals the sum of its lifetime moves (0 for all but books)."""
    moves = _lifetime_moves()
    sums = (
        select(moves.c.account_id, func.sum(moves.c.delta).label("total"))
        .group_by(moves.c.account_id)
        .subquery()
    )
    computed = func.coalesce(sums.c.total, literal(0))
    bad = db.session.execute(
        select(TimeAccount.id, TimeAccount.lifetime_minutes, computed.label("computed"), func.count().over())
        .outerjoin(sums, sums.c.account_id == TimeAccount.id)
        .where(TimeAccount.lifetime_minutes != computed)
        .order_by(TimeAccount.id)
        .limit(1)
    ).first()
    if bad is not None:
        account_id, cached, summed, count = bad
        more = f" (+{count - 1} more accounts)" if count > 1 else ""
        report.problems.append(
            f"account {account_id}: lifetime_minutes {cached} != {summed} recomputed from its audited "
            f"service transfers{more}"
        )


def _check_checkpoints(report: Report, found: list[published.Checkpoint]) -> None:
    """Every published transfer exists with its published hash; the chain reaches the newest one."""
    report.checkpoints = len(found)
    if not found:
        return
    by_id: dict[int, published.Checkpoint] = {}
    for checkpoint in found:
        first = by_id.setdefault(checkpoint.transfer_id, checkpoint)
        if first.hash != checkpoint.hash:
            report.problems.append(
                f"transfer {checkpoint.transfer_id}: {first.describe()} and {checkpoint.describe()} "
                "published different hashes for it"
            )
    stored: dict[int, str] = {}
    ids = iter(sorted(by_id))
    while chunk := list(islice(ids, 1000)):
        rows = db.session.execute(select(Transfer.id, Transfer.hash).where(Transfer.id.in_(chunk)))
        stored.update(rows.all())
    for transfer_id, checkpoint in sorted(by_id.items()):
        if transfer_id not in stored:
            report.problems.append(
                f"transfer {transfer_id}: missing, but {checkpoint.describe()} published it "
                "(removed, and the chain head rewound?)"
            )
        elif stored[transfer_id] != checkpoint.hash:
            report.problems.append(
                f"transfer {transfer_id}: its hash is not the one {checkpoint.describe()} published "
                "(the chain was rewritten)"
            )
    newest = max(found, key=lambda c: c.transfer_id)
    if report.chain_ok and (report.last_transfer_id or 0) < newest.transfer_id:
        report.problems.append(
            f"the chain ends at transfer {report.last_transfer_id}, before transfer {newest.transfer_id} "
            f"that {newest.describe()} published"
        )
