"""`flask timebank verify` sees everything it could: each entry's balance after it, each book's lifetime
minutes, TRUNCATE (PostgreSQL), and — against published checkpoints — a removed newest transfer with
its head rewound or a chain rewritten from some point on. And what it cannot see, said plainly."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import credit
from tests.timebank.conftest import ledger_ok, rewind, tamper
from volunteer_app.extensions import db
from volunteer_app.timebank import checkpoints
from volunteer_app.timebank.ledger import transfer_hash
from volunteer_app.timebank.models import Entry, TimeAccount, Transfer

API = "/api/v1"


def verify(app, *args: str):
    return app.test_cli_runner().invoke(args=["timebank", "verify", *args])


def publish(app):
    result = app.test_cli_runner().invoke(args=["timebank", "checkpoint"])
    assert result.exit_code == 0, result.output
    return result


def checkpoint_file(app) -> Path:
    return Path(app.config["APP"]["ledger_checkpoint_file"])


def book_entry(app, transfer_id: int) -> tuple[int, int]:
    """(entry id, account id) of the book's side of a transfer."""
    with app.app_context():
        return tuple(
            db.session.execute(
                sa.select(Entry.id, Entry.account_id)
                .join(TimeAccount, TimeAccount.id == Entry.account_id)
                .where(Entry.transfer_id == transfer_id, TimeAccount.kind == "book")
            ).one()
        )


# ---- balance_after and lifetime_minutes ---------------------------------------------------------------


def test_verify_catches_an_altered_balance_after(app, world):
    ids = [credit(app, world.vol_s1, world.sites["S1"], m) for m in (10, 20, 30)]
    entry, account = book_entry(app, ids[1])
    tamper(app, f"UPDATE time_entries SET balance_after = balance_after + 600 WHERE id = {entry}")
    result = verify(app)
    assert result.exit_code == 1
    assert (
        f"entry {entry} (transfer {ids[1]}, account {account}): balance_after 630 != running sum of "
        "its account's entries 30" in result.output
    )


def test_verify_names_the_first_of_several_bad_balances_after(app, world):
    ids = [credit(app, world.vol_s1, world.sites["S1"], m) for m in (10, 20, 30)]
    with app.app_context():
        issuance_entries = db.session.scalars(
            sa.select(Entry.id).where(Entry.transfer_id.in_(ids), Entry.amount < 0).order_by(Entry.id)
        ).all()
    tamper(app, f"UPDATE time_entries SET balance_after = 0 WHERE id IN {tuple(issuance_entries[1:])}")
    result = verify(app)
    assert result.exit_code == 1
    assert f"entry {issuance_entries[1]} (transfer {ids[1]}" in result.output
    assert "balance_after 0 != running sum of its account's entries -30 (+1 more entries)" in result.output


@pytest.mark.parametrize(
    ("where", "cached", "computed"),
    [("kind = 'book'", 660, 60), ("kind = 'issuance'", 5, 0)],
)
def test_verify_catches_an_altered_lifetime(app, world, where, cached, computed):
    for minutes in (10, 20, 30):
        credit(app, world.vol_s1, world.sites["S1"], minutes)
    tamper(
        app,
        f"UPDATE time_accounts SET lifetime_minutes = lifetime_minutes + {cached - computed} WHERE {where}",
    )
    with app.app_context():
        account = db.session.scalar(sa.select(TimeAccount.id).where(sa.text(where)))
    result = verify(app)
    assert result.exit_code == 1
    assert (
        f"account {account}: lifetime_minutes {cached} != {computed} recomputed from its audited service "
        "transfers" in result.output
    )


def test_lifetime_follows_corrections_and_reversals_both_ways(app, client, world):
    """Reversing a negative correction gives the lifetime minutes back (it used to keep them off)."""

    def adjust(body):
        r = client.post(f"{API}/timebank/adjustments", json=body, headers=world.mgr_s1.headers)
        assert r.status_code == 201, r.json
        return r.json["id"]

    first = credit(app, world.vol_s1, world.sites["S1"], 120)
    credit(app, world.vol_s1, world.sites["S1"], 60)
    adjust({"user_id": world.vol_s1.id, "minutes": 30, "reason": "补录"})
    down = adjust({"user_id": world.vol_s1.id, "minutes": -50, "reason": "多记"})
    adjust({"reverse_transfer_id": first, "reason": "重复录入"})
    adjust({"reverse_transfer_id": down, "reason": "更正有误"})
    book = client.get(f"{API}/me/timebook", headers=world.vol_s1.headers).json
    assert book["balance_minutes"] == book["lifetime_minutes"] == 120 + 60 + 30 - 50 - 120 + 50
    assert ledger_ok(app)


# ---- TRUNCATE ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["time_transfers", "time_entries", "time_accounts", "time_ledger_head"])
def test_postgres_refuses_to_truncate_the_ledger(app, world, table):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            reason = "SQLite has no TRUNCATE (the guard is a PostgreSQL statement trigger)"
            print(f"skipped: {reason}")
            pytest.skip(reason)
    credit(app, world.vol_s1, world.sites["S1"], 10)
    with app.app_context():
        with pytest.raises(sa.exc.DBAPIError, match=f"append-only: TRUNCATE on {table} refused"):
            db.session.execute(sa.text(f"TRUNCATE {table} CASCADE"))
        db.session.rollback()
    assert ledger_ok(app)


# ---- checkpoints --------------------------------------------------------------------------------------


def test_rewinding_the_head_passes_without_a_checkpoint(app, world):
    """The blind spot the checkpoints close: the database alone cannot tell a shortened chain."""
    ids = [credit(app, world.vol_s1, world.sites["S1"], m) for m in (10, 20, 30)]
    rewind(app, ids[2])
    result = verify(app)
    assert result.exit_code == 0, result.output
    assert "no checkpoints given" in result.output


def test_rewinding_the_head_past_a_checkpoint_fails(app, world, tmp_path):
    ids = [credit(app, world.vol_s1, world.sites["S1"], m) for m in (10, 20, 30)]
    publish(app)
    rewind(app, ids[2])
    result = verify(app)  # the configured file, by default
    assert result.exit_code == 1
    assert f"transfer {ids[2]}: missing, but the checkpoint of" in result.output
    assert f"the chain ends at transfer {ids[1]}, before transfer {ids[2]}" in result.output
    # A copy kept elsewhere (a statement, a log) is as good: --checkpoints names it.
    kept = tmp_path / "kept.jsonl"
    kept.write_text(checkpoint_file(app).read_text())
    checkpoint_file(app).unlink()
    assert "no checkpoints given" in verify(app).output
    result = verify(app, "--checkpoints", str(kept))
    assert result.exit_code == 1 and f"transfer {ids[2]}: missing" in result.output


def test_a_removal_newer_than_the_last_checkpoint_cannot_be_seen(app, world):
    """Said plainly: only what a checkpoint covers is pinned; publish more often to narrow the window."""
    credit(app, world.vol_s1, world.sites["S1"], 10)
    credit(app, world.vol_s1, world.sites["S1"], 20)
    publish(app)
    newest = credit(app, world.vol_s1, world.sites["S1"], 30)
    rewind(app, newest)
    result = verify(app)
    assert result.exit_code == 0, result.output
    assert "against 1 checkpoints" in result.output


def test_a_rewritten_chain_does_not_match_its_checkpoint(app, world):
    """Alter an old transfer and recompute every hash after it and the head: a consistent chain, but
    not the one that was published."""
    ids = [credit(app, world.vol_s1, world.sites["S1"], m) for m in (10, 20, 30)]
    publish(app)
    with app.app_context():
        transfers = db.session.scalars(sa.select(Transfer).order_by(Transfer.id)).all()
        prev, statements = None, []
        for t in transfers:
            if t.id == ids[0]:
                t.memo = "改写的历史"
            if prev is not None:
                t.prev_hash = prev
            t.hash = prev = transfer_hash(t)
            statements.append(
                f"UPDATE time_transfers SET memo = '{t.memo}', prev_hash = '{t.prev_hash}', "
                f"hash = '{t.hash}' WHERE id = {t.id}"
            )
        db.session.rollback()
    tamper(app, *statements, f"UPDATE time_ledger_head SET last_hash = '{prev}' WHERE id = 1")
    assert verify(app, "--checkpoints", "/dev/null").exit_code == 0  # consistent in itself
    result = verify(app)
    assert result.exit_code == 1
    assert f"transfer {ids[2]}: its hash is not the one the checkpoint of" in result.output


def test_checkpoint_command_appends_the_head_and_logs_it(app, world, caplog):
    caplog.set_level(logging.INFO, logger="volunteer_app.timebank.checkpoints")
    empty = app.test_cli_runner().invoke(args=["timebank", "checkpoint"])
    assert empty.exit_code == 0 and "nothing to publish" in empty.output
    assert not checkpoint_file(app).exists()
    first = credit(app, world.vol_s1, world.sites["S1"], 10)
    publish(app)
    second = credit(app, world.vol_s1, world.sites["S1"], 20)
    result = publish(app)
    lines = [json.loads(line) for line in checkpoint_file(app).read_text().splitlines()]
    with app.app_context():
        hashes = dict(db.session.execute(sa.select(Transfer.id, Transfer.hash)).all())
    assert [(c["transfer_id"], c["hash"]) for c in lines] == [(t, hashes[t]) for t in (first, second)]
    assert all(datetime.fromisoformat(c["at"]).tzinfo is not None for c in lines)
    assert f"checkpoint: transfer {second} hash {hashes[second]}" in result.output
    assert f"ledger checkpoint: transfer {second} hash {hashes[second]}" in caplog.text
    assert verify(app).exit_code == 0


def test_checkpoint_command_refuses_a_head_that_does_not_match(app, world):
    credit(app, world.vol_s1, world.sites["S1"], 10)
    tamper(app, "UPDATE time_ledger_head SET last_hash = 'x' WHERE id = 1")
    result = app.test_cli_runner().invoke(args=["timebank", "checkpoint"])
    assert result.exit_code == 1 and "ledger head does not point" in result.output
    assert not checkpoint_file(app).exists()


def test_a_checkpoint_file_that_is_not_one_is_a_problem(app, world, tmp_path):
    t = credit(app, world.vol_s1, world.sites["S1"], 10)
    publish(app)
    with open(checkpoint_file(app), "a") as fh:
        fh.write('{"transfer_id": "1", "hash": "abc"}\n\nnot json\n')
    result = verify(app)
    assert result.exit_code == 1
    assert "line 2: not a checkpoint" in result.output and "line 4: not a checkpoint" in result.output
    assert verify(app, "--checkpoints", str(tmp_path / "missing.jsonl")).exit_code == 2  # usage error
    # Two checkpoints that disagree about one transfer cannot both be right.
    with open(tmp_path / "two.jsonl", "w") as fh:
        for digest in ("a" * 64, "b" * 64):
            fh.write(json.dumps({"at": "2026-11-01T00:00:00+00:00", "transfer_id": t, "hash": digest}) + "\n")
    result = verify(app, "--checkpoints", str(tmp_path / "two.jsonl"))
    assert result.exit_code == 1 and "published different hashes" in result.output


# ---- checkpoints on statements ------------------------------------------------------------------------


def test_the_statement_carries_the_checkpoint_that_covers_it(app, client, world):
    t = credit(app, world.vol_s1, world.sites["S1"], 10)
    with app.app_context():
        digest = db.session.get(Transfer, t).hash
        # 15:59:59 UTC on 31 October is still October in Shanghai; 16:00 is 1 November.
        for at in (
            datetime(2026, 10, 15, tzinfo=UTC),
            datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC),
            datetime(2026, 10, 31, 16, 0, tzinfo=UTC),
            datetime(2026, 11, 2, tzinfo=UTC),
        ):
            checkpoints.publish(checkpoints.Checkpoint(t, digest, at))

    def statement(query="", person=world.vol_s1):
        r = client.get(f"{API}/me/timebook/transfers{query}", headers=person.headers)
        assert r.status_code == 200, r.json
        return r.json["checkpoint"]

    # October's is the first published once October was over: it pins every line of it.
    october = statement("?month=2026-10")
    assert october == {"transfer_id": t, "hash": digest, "created_at": "2026-10-31T16:00:00+00:00"}
    assert statement("?month=2026-09")["created_at"] == "2026-10-15T00:00:00+00:00"
    # A month not over yet (and the whole book) gets the newest.
    assert (
        statement("?month=2026-11")["created_at"] == statement()["created_at"] == "2026-11-02T00:00:00+00:00"
    )
    # Another person's (empty) statement carries the same public anchor.
    assert statement("?month=2026-10", world.vol_s4) == october


def test_a_statement_without_published_checkpoints_says_null(client, world):
    r = client.get(f"{API}/me/timebook/transfers", headers=world.vol_s1.headers)
    assert r.status_code == 200 and r.json["checkpoint"] is None


def test_a_head_that_moves_on_during_the_check_is_followed(app, world, monkeypatch):
    """The nightly check reads the chain for minutes while the app keeps posting: a transfer committed
    after the chain was read is not a mismatch (it used to be reported as "rows removed?")."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            reason = "SQLite lets no writer commit while the check's transaction is open"
            print(f"skipped: {reason}")
            pytest.skip(reason)
    from volunteer_app.timebank import verify as verifying

    last = [credit(app, world.vol_s1, world.sites["S1"], m) for m in (10, 20)][-1]
    real, posted = verifying.transfer_hash, []

    def hash_then_post(t):
        if t.id == last and not posted:  # the stream has read its last row: someone posts now
            post = lambda: posted.append(credit(app, world.vol_s4, world.sites["S4"], 5))  # noqa: E731
            thread = threading.Thread(target=post)
            thread.start()
            thread.join()
        return real(t)

    monkeypatch.setattr(verifying, "transfer_hash", hash_then_post)
    with app.app_context():
        report = verifying.verify()
    assert report.ok, report.problems
    assert (report.transfers, report.last_transfer_id) == (3, posted[0])
