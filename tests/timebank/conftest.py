"""Helpers for time-book tests: credit minutes directly, read balances, verify the ledger."""

from __future__ import annotations

import itertools
from datetime import date

from volunteer_app.extensions import db
from volunteer_app.timebank import service
from volunteer_app.timebank.verify import verify

_records = itertools.count(1)


def credit(
    app,
    person,
    site_id: int,
    minutes: int,
    *,
    key: str | None = None,
    day: date | None = None,
    memo: str = "关爱老人：上门陪伴",
) -> int:
    """Credit audited minutes to a person's book as an audit would; returns the transfer id."""
    with app.app_context():
        transfer = service.credit_service(
            record_key=key or f"test:{next(_records)}",
            user_id=person.id,
            site_id=site_id,
            minutes=minutes,
            memo=memo,
            service_date=day or date(2026, 10, 5),
            actor_id=None,
        )
        db.session.commit()
        return transfer.id


def ledger_ok(app) -> bool:
    with app.app_context():
        report = verify()
        assert report.ok, report.problems
        return True
