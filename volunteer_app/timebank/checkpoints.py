"""Published chain heads: the ledger's anchor outside the database.

The hash chain shows that no transfer was changed or removed *before* the newest one, but whoever can
write to the database can also delete the newest transfers and set the head back: the shorter chain is
as consistent as the longer one. A checkpoint — the newest transfer's id and hash, and when it was
taken — written somewhere the database cannot rewrite (an append-only file on the application host, a
log line, the monthly statements people keep) pins the chain up to that transfer: `verify` finds every
published transfer with exactly its published hash, and a chain that reaches the newest checkpoint.

What it cannot do: transfers newer than the last checkpoint (at most a day's, with the daily job) can
still be removed with the head rewound and nothing will notice. Only publishing more often (the CLI
`flask timebank checkpoint` after each batch of audits, say) narrows that window.

The file holds one JSON object a line, {"at": …, "transfer_id": …, "hash": …}, appended with O_APPEND
and fsync'd; nothing here ever rewrites or truncates it. Path: `[app] ledger_checkpoint_file`, default
`<instance dir>/ledger_checkpoints.jsonl`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from volunteer_app.db import utcnow
from volunteer_app.extensions import db
from volunteer_app.timebank.ledger import transfer_hash
from volunteer_app.timebank.models import LedgerHead, Transfer

log = logging.getLogger(__name__)

DEFAULT_FILE = "ledger_checkpoints.jsonl"


@dataclass(frozen=True)
class Checkpoint:
    transfer_id: int
    hash: str
    at: datetime
    line: int = 0  # where it was read from (1-based), 0 if not read from a file

    def as_dict(self) -> dict:
        return {"transfer_id": self.transfer_id, "hash": self.hash, "created_at": self.at}

    def describe(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"the checkpoint of {self.at.isoformat(timespec='seconds')}{where}"


class CheckpointError(RuntimeError):
    """No checkpoint can be taken: the head does not match the newest transfer (run verify)."""


def configured_file() -> Path:
    """`[app] ledger_checkpoint_file`, or ledger_checkpoints.jsonl in the instance directory."""
    value = (current_app.config.get("APP") or {}).get("ledger_checkpoint_file") or ""
    return _file_named(value, current_app.config["INSTANCE_DIR"])


@functools.lru_cache(maxsize=16)
def _file_named(value: str, instance_dir: str) -> Path:
    """The path of the setting's value (made once: every statement page asks for it)."""
    return Path(value) if value else Path(instance_dir) / DEFAULT_FILE


def published_file() -> Path | None:
    """The configured checkpoint file if anything has been published to it (what verify compares
    against by default), else None."""
    path = configured_file()
    return path if path.is_file() else None


def current_head() -> Checkpoint | None:
    """The newest transfer as a checkpoint (None on an empty ledger), after checking that its hash
    recomputes from its contents and that the chain head points at it."""
    newest = db.session.scalars(select(Transfer).order_by(Transfer.id.desc()).limit(1)).first()
    if newest is None:
        return None
    if transfer_hash(newest) != newest.hash:
        raise CheckpointError(f"transfer {newest.id}: contents do not match its hash (altered)")
    head = db.session.execute(
        select(LedgerHead.last_transfer_id, LedgerHead.last_hash).where(LedgerHead.id == 1)
    ).first()
    if head is None or tuple(head) != (newest.id, newest.hash):
        raise CheckpointError(f"ledger head does not point at the newest transfer {newest.id}")
    return Checkpoint(newest.id, newest.hash, utcnow())


def publish(checkpoint: Checkpoint, path: Path | None = None) -> Checkpoint:
    """Append the checkpoint to the file (created if missing, never rewritten) and log it."""
    path = path or configured_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {
            "at": checkpoint.at.isoformat(timespec="microseconds"),
            "transfer_id": checkpoint.transfer_id,
            "hash": checkpoint.hash,
        },
        separators=(", ", ": "),
    )
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    log.info(
        "ledger checkpoint: transfer %d hash %s at %s (appended to %s)",
        checkpoint.transfer_id,
        checkpoint.hash,
        checkpoint.at.isoformat(timespec="seconds"),
        path,
    )
    return checkpoint


def read(path: Path) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints in the file, and a problem for each line that is not one (blank lines aside)."""
    found, problems = [], []
    with open(path, encoding="utf-8", errors="replace") as fh:
        for number, text in enumerate(fh, start=1):
            if not text.strip():
                continue
            try:
                found.append(_parse(text, number))
            except (ValueError, TypeError, KeyError):
                problems.append(f"checkpoint file {path} line {number}: not a checkpoint")
    return found, problems


def _parse(text: str, number: int) -> Checkpoint:
    data = json.loads(text)
    transfer_id, digest, at = data["transfer_id"], data["hash"], datetime.fromisoformat(data["at"])
    if isinstance(transfer_id, bool) or not isinstance(transfer_id, int) or transfer_id < 1:
        raise ValueError("transfer_id")
    if not isinstance(digest, str) or len(digest) != 64:
        raise ValueError("hash")
    if at.tzinfo is None:
        raise ValueError("at")
    return Checkpoint(transfer_id, digest, at, number)


_cache: dict[str, tuple[tuple, list[Checkpoint]]] = {}


def covering(end: datetime) -> Checkpoint | None:
    """The checkpoint to print on a statement ending at `end`: the first one published at or after
    the end (it pins every line of the statement: the daily one after a month's last day), or, while
    there is none yet (the current month), the newest. None without a readable file: web workers on
    another host than the scheduler see none. The file is parsed again only when it changed."""
    path = configured_file()
    try:
        stat = path.stat()
        key = (stat.st_size, stat.st_mtime_ns)
        cached = _cache.get(str(path))
        if cached is None or cached[0] != key:  # kept in order: a statement page does not sort a year
            cached = (key, sorted(read(path)[0], key=lambda c: (c.at, c.transfer_id)))
            _cache[str(path)] = cached
    except OSError:
        return None
    order = cached[1]
    return next((c for c in order if c.at >= end), order[-1] if order else None)
