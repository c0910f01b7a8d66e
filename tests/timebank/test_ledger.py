"""The ledger core: idempotent credit, the book, the statement, corrections, tamper evidence, races."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
import time_machine

from tests.race import race
from tests.support import credit
from tests.timebank.conftest import ledger_ok
from volunteer_app.accounts.models import User
from volunteer_app.extensions import db
from volunteer_app.timebank import ledger
from volunteer_app.timebank.models import Entry, TimeAccount, Transfer

API = "/api/v1"


def book(client, person):
    return client.get(f"{API}/me/timebook", headers=person.headers)


def adjust(client, manager, body):
    return client.post(f"{API}/timebank/adjustments", json=body, headers=manager.headers)


# ---- credit ------------------------------------------------------------------------------------


def test_credit_is_idempotent_by_record(app, client, world):
    first = credit(app, world.vol_s1, world.sites["S1"], 90, key="assignment:7")
    again = credit(app, world.vol_s1, world.sites["S1"], 90, key="assignment:7")
    assert first == again
    assert book(client, world.vol_s1).json["balance_minutes"] == 90
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Transfer)) == 1
    assert ledger_ok(app)


def test_concurrent_credits_of_one_record_credit_once(app, world):
    def audit(_client):
        credit(app, world.vol_s1, world.sites["S1"], 60, key="assignment:99")

    race(app, [audit] * 12)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Transfer)) == 1
        assert (
            db.session.scalar(sa.select(TimeAccount.balance).where(TimeAccount.user_id == world.vol_s1.id))
            == 60
        )
    assert ledger_ok(app)


def test_concurrent_credits_keep_the_chain_intact(app, world):
    calls = [lambda _c, i=i: credit(app, world.vol_s1, world.sites["S1"], 10 + i) for i in range(16)]
    race(app, calls)
    with app.app_context():
        assert db.session.scalar(
            sa.select(TimeAccount.balance).where(TimeAccount.user_id == world.vol_s1.id)
        ) == (sum(10 + i for i in range(16)))
    assert ledger_ok(app)


# ---- the book ----------------------------------------------------------------------------------


def test_book_shows_balance_lifetime_star_level_and_station(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 100 * 60 + 30)
    r = book(client, world.vol_s1)
    assert r.status_code == 200
    body = r.json
    assert body["balance_minutes"] == body["lifetime_minutes"] == 6030
    assert body["balance_hours"] == 100.5
    assert (body["star_level"], body["next_star_hours"]) == (1, 300)
    assert body["issuing_site"]["id"] == world.sites["S1"]
    assert body["book_no"].startswith("SJ")


def test_star_thresholds_follow_site_settings(app, client, world):
    r = client.patch(
        f"{API}/sites/{world.sites['S1']}/settings",
        json={"star_thresholds_hours": [1, 2, 3]},
        headers=world.mgr_s1.headers,
    )
    assert r.status_code == 200
    credit(app, world.vol_s1, world.sites["S1"], 150)
    assert (
        book(client, world.vol_s1).json["star_level"],
        book(client, world.vol_s1).json["next_star_hours"],
    ) == (
        2,
        3,
    )


def test_a_resident_without_a_book_sees_an_empty_one_and_nothing_is_written(app, client, world):
    with app.app_context():
        accounts_before = db.session.scalar(sa.select(sa.func.count()).select_from(TimeAccount))
    r = book(client, world.resident)
    assert r.status_code == 200
    assert r.json == {
        "book_no": None,
        "balance_minutes": 0,
        "balance_hours": 0.0,
        "lifetime_minutes": 0,
        "lifetime_hours": 0.0,
        "star_level": 0,
        "next_star_hours": 100,
        "issuing_site": None,
        "opened_at": None,
    }
    r = client.get(f"{API}/me/timebook/transfers?month=2026-01", headers=world.resident.headers)
    assert (r.status_code, r.json) == (200, {"items": [], "next_cursor": None, "checkpoint": None})
    r = client.get(f"{API}/me/timebook/transfers", headers=world.mgr_s1.headers)
    assert (r.status_code, r.json) == (200, {"items": [], "next_cursor": None, "checkpoint": None})
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(TimeAccount)) == accounts_before


def test_a_residents_book_opens_with_the_first_minutes(app, client, world):
    with app.app_context():
        user = db.session.get(User, world.resident.id)
        book_account = ledger.book_account(user.id, user.home_site_id)
        ledger.post(
            kind="adjustment",
            source=ledger.issuance_account(world.sites["S1"]),
            destination=book_account,
            minutes=45,
            memo="测试",
        )
        db.session.commit()
    body = book(client, world.resident).json
    assert (body["balance_minutes"], body["issuing_site"]["id"]) == (45, world.sites["S1"])
    assert body["book_no"].startswith("SJ")
    lines = client.get(f"{API}/me/timebook/transfers", headers=world.resident.headers).json["items"]
    assert [line["minutes"] for line in lines] == [45]


def test_a_new_volunteer_sees_an_empty_book(client, world):
    body = book(client, world.vol_s4).json
    assert (body["balance_minutes"], body["star_level"], body["issuing_site"]["id"]) == (
        0,
        0,
        world.sites["S4"],
    )


# ---- the statement ---------------------------------------------------------------------------------


def test_statement_lines_carry_the_running_balance_newest_first(app, client, world):
    for minutes in (30, 45, 60):
        credit(app, world.vol_s1, world.sites["S1"], minutes)
    adjust(client, world.mgr_s1, {"user_id": world.vol_s1.id, "minutes": -15, "reason": "多记"})
    r = client.get(f"{API}/me/timebook/transfers?limit=2", headers=world.vol_s1.headers)
    assert [(i["minutes"], i["balance_after_minutes"]) for i in r.json["items"]] == [(-15, 120), (60, 135)]
    r2 = client.get(
        f"{API}/me/timebook/transfers?limit=2&cursor={r.json['next_cursor']}", headers=world.vol_s1.headers
    )
    assert [(i["minutes"], i["balance_after_minutes"]) for i in r2.json["items"]] == [(45, 75), (30, 30)]
    assert r2.json["next_cursor"] is None


def test_statement_month_is_the_stations_calendar_month(app, client, world):
    # 2026-10-31 17:30 UTC is already 1 November in Asia/Shanghai.
    with time_machine.travel(datetime(2026, 10, 31, 17, 30, tzinfo=UTC), tick=False):
        credit(app, world.vol_s1, world.sites["S1"], 40)
    with time_machine.travel(datetime(2026, 10, 31, 15, 0, tzinfo=UTC), tick=False):
        credit(app, world.vol_s1, world.sites["S1"], 20)
    nov = client.get(f"{API}/me/timebook/transfers?month=2026-11", headers=world.vol_s1.headers).json["items"]
    oct_ = client.get(f"{API}/me/timebook/transfers?month=2026-10", headers=world.vol_s1.headers).json[
        "items"
    ]
    assert [i["minutes"] for i in nov] == [40]
    assert [i["minutes"] for i in oct_] == [20]


@pytest.mark.parametrize("month", ["2026-13", "26-01", "2026-1", "abcd-ef"])
def test_statement_rejects_bad_months(client, world, month):
    r = client.get(f"{API}/me/timebook/transfers?month={month}", headers=world.vol_s1.headers)
    assert r.status_code == 422 and "month" in r.json["errors"]["query"]


def test_nobody_reads_another_persons_book(app, client, world):
    credit(app, world.vol_s4, world.sites["S4"], 50)
    assert book(client, world.vol_s1).json["balance_minutes"] == 0
    lines = client.get(f"{API}/me/timebook/transfers", headers=world.vol_s1.headers).json["items"]
    assert lines == []


# ---- corrections -------------------------------------------------------------------------------------


def test_adjustments_move_hours_both_ways_within_reach(app, client, world):
    credit(app, world.vol_s1, world.sites["S1"], 60)
    up = adjust(client, world.mgr_i1, {"user_id": world.vol_s1.id, "minutes": 30, "reason": "补录"})
    assert up.status_code == 201 and up.json["kind"] == "adjustment"
    down = adjust(client, world.mgr_s1, {"user_id": world.vol_s1.id, "minutes": -90, "reason": "更正"})
    assert down.status_code == 201
    too_far = adjust(client, world.mgr_s1, {"user_id": world.vol_s1.id, "minutes": -1, "reason": "更正"})
    assert (too_far.status_code, too_far.json["error"]) == (409, "timebook.insufficient")
    assert book(client, world.vol_s1).json["balance_minutes"] == 0
    assert ledger_ok(app)


@pytest.mark.parametrize(
    ("manager", "target", "status"),
    [
        ("mgr_s4", "vol_s1", 404),
        ("mgr_s2", "vol_s1", 404),
        ("mgr_s1", "resident", 404),
        ("admin", "vol_s4", 201),
    ],
)
def test_adjustments_need_reach_over_the_book(client, world, manager, target, status):
    body = {"user_id": getattr(world, target).id, "minutes": 10, "reason": "补录"}
    assert adjust(client, getattr(world, manager), body).status_code == status


@pytest.mark.parametrize(
    "body",
    [
        {"user_id": 1, "minutes": 10},  # no reason
        {"user_id": 1, "minutes": 0, "reason": "x"},
        {"minutes": 10, "reason": "x"},
        {"user_id": 1, "minutes": 10, "reverse_transfer_id": 1, "reason": "x"},
        {"user_id": 1, "minutes": 10**9, "reason": "x"},
        {"user_id": 1, "minutes": 10, "reason": "x" * 201},
    ],
)
def test_adjustment_input_is_checked(client, world, body):
    r = adjust(client, world.mgr_s1, body)
    assert r.status_code == 422, r.json


def test_a_credit_is_reversed_once_and_a_reversal_never(app, client, world):
    t = credit(app, world.vol_s1, world.sites["S1"], 45)
    first = adjust(client, world.mgr_s1, {"reverse_transfer_id": t, "reason": "重复录入"})
    assert first.status_code == 201 and first.json["reverses_id"] == t
    again = adjust(client, world.mgr_s1, {"reverse_transfer_id": t, "reason": "重复录入"})
    assert (again.status_code, again.json["error"]) == (409, "timebook.already_reversed")
    back = adjust(client, world.mgr_s1, {"reverse_transfer_id": first.json["id"], "reason": "撤销冲正"})
    assert (back.status_code, back.json["error"]) == (409, "timebook.not_reversible")
    body = book(client, world.vol_s1).json
    assert body["balance_minutes"] == body["lifetime_minutes"] == 0
    assert ledger_ok(app)


def test_reversals_are_out_of_reach_for_other_stations(app, client, world):
    t = credit(app, world.vol_s1, world.sites["S1"], 45)
    r = adjust(client, world.mgr_s4, {"reverse_transfer_id": t, "reason": "x"})
    assert r.status_code == 404 and "45" not in r.get_data(as_text=True)


def test_concurrent_reversals_reverse_once(app, world):
    t = credit(app, world.vol_s1, world.sites["S1"], 45)
    body = {"reverse_transfer_id": t, "reason": "重复"}
    responses = race(app, [lambda c: adjust(c, world.mgr_s1, body)] * 10)
    assert sorted(r.status_code for r in responses) == [201] + [409] * 9
    assert ledger_ok(app)


# ---- tamper evidence -----------------------------------------------------------------------------------


def _tamper(app, statement: str) -> None:
    """Change ledger rows behind the application's back (on PostgreSQL past the append-only trigger)."""
    with app.app_context():
        postgres = db.engine.dialect.name == "postgresql"
        with db.engine.begin() as conn:
            if postgres:
                conn.exec_driver_sql("SET session_replication_role = replica")  # superuser: skip triggers
            conn.exec_driver_sql(statement)
            if postgres:
                conn.exec_driver_sql("SET session_replication_role = DEFAULT")


def test_verify_passes_on_an_honest_ledger(app, world):
    credit(app, world.vol_s1, world.sites["S1"], 30)
    result = app.test_cli_runner().invoke(args=["timebank", "verify"])
    assert result.exit_code == 0, result.output
    assert "ledger ok" in result.output


@pytest.mark.parametrize(
    ("statement", "complaint"),
    [
        ("UPDATE time_transfers SET minutes = 600 WHERE id = {second}", "transfer {second}: contents"),
        ("UPDATE time_transfers SET memo = 'edited' WHERE id = {first}", "transfer {first}: contents"),
        ("DELETE FROM time_entries WHERE transfer_id = {third}", "transfer {third}: its entries"),
        ("UPDATE time_accounts SET balance = balance + 5 WHERE kind = 'book'", "cached balance"),
    ],
)
def test_verify_names_the_first_bad_row(app, world, statement, complaint):
    ids = [credit(app, world.vol_s1, world.sites["S1"], m) for m in (10, 20, 30)]
    names = {"first": ids[0], "second": ids[1], "third": ids[2]}
    _tamper(app, statement.format(**names))
    result = app.test_cli_runner().invoke(args=["timebank", "verify"])
    assert result.exit_code == 1
    assert complaint.format(**names) in result.output


def test_verify_catches_a_removed_transfer(app, world):
    ids = [credit(app, world.vol_s1, world.sites["S1"], m) for m in (10, 20, 30)]
    _tamper(app, f"DELETE FROM time_entries WHERE transfer_id = {ids[1]}")
    _tamper(app, f"DELETE FROM time_transfers WHERE id = {ids[1]}")
    result = app.test_cli_runner().invoke(args=["timebank", "verify"])
    assert result.exit_code == 1
    assert f"transfer {ids[2]}: prev_hash" in result.output


def test_postgres_refuses_to_change_the_ledger(app, world):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("the append-only trigger is PostgreSQL's; SQLite relies on the code path alone")
    t = credit(app, world.vol_s1, world.sites["S1"], 10)
    with app.app_context():
        for statement in (
            sa.update(Transfer).where(Transfer.id == t).values(minutes=999),
            sa.delete(Entry).where(Entry.transfer_id == t),
            sa.delete(Transfer).where(Transfer.id == t),
        ):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                db.session.execute(statement)
            db.session.rollback()
    assert ledger_ok(app)


@pytest.mark.parametrize(
    ("minutes", "shown"),
    [(1, 0.02), (135, 2.25), (129, 2.15), (3, 0.05), (2, 0.03), (-135, -2.25), (6030, 100.5), (20, 0.33)],
)
def test_hours_are_shown_with_two_decimals_so_a_minute_is_never_zero(minutes, shown):
    from volunteer_app.timebank.service import hours

    assert hours(minutes) == shown


def test_hours_match_the_decimal_rounding_everywhere():
    """The integer arithmetic gives what Decimal's half-up quantize to hundredths gives, exactly."""
    from decimal import ROUND_HALF_UP, Decimal

    from volunteer_app.timebank.service import hours

    def reference(minutes: int) -> float:
        return float((Decimal(minutes) / 60).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))

    samples = [*range(-3000, 3001), *range(10**6 - 300, 10**6 + 300), 2**40 + 7, -(2**40) - 7]
    assert [hours(m) for m in samples] == [reference(m) for m in samples]
