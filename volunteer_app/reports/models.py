"""The rollups: the figures' contributions (reports/counting.py) summed per site, local day and category
(`report_days`), the same per calendar month (`report_months`, the sum of its days, for long periods),
the people behind the distinct counts (`report_people`), and the refresh state (`report_state`).

They are caches of the raw rows, kept exact by `rollups.refresh` (from the change log,
volunteer_app/changes.py) and checked by `flask reports verify`. Only `rollups` writes them.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Date, Index, Integer, String, Table

from volunteer_app.db import UTCDateTime
from volunteer_app.extensions import db
from volunteer_app.reports.counting import METRICS


def _metrics() -> list[Column]:
    return [Column(name, BigInteger, nullable=False, server_default="0") for name in METRICS]


report_days = Table(
    "report_days",
    db.metadata,
    Column("site_id", BigInteger, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("category_id", BigInteger, primary_key=True),
    *_metrics(),
    # Reads pick days of many sites: a center's subtree over a period.
    Index("ix_report_days_day_site_id", "day", "site_id"),
)

report_months = Table(
    "report_months",
    db.metadata,
    Column("site_id", BigInteger, primary_key=True),
    Column("month", Date, primary_key=True),  # the first day of the month
    Column("category_id", BigInteger, primary_key=True),
    *_metrics(),
    Index("ix_report_months_month_site_id", "month", "site_id"),
)

report_people = Table(
    "report_people",
    db.metadata,
    Column("kind", String(8), primary_key=True),  # counting.SERVED | counting.ACTIVE
    Column("day", Date, primary_key=True),
    Column("site_id", BigInteger, primary_key=True),
    Column("person_id", BigInteger, primary_key=True),
    Column("minutes", BigInteger, nullable=False, server_default="0"),
    Column("sessions", Integer, nullable=False, server_default="0"),
    Index("ix_report_people_site_id_day", "site_id", "day"),
    # Distinct people over a long period: read in person order, no sort (reports/figures.py _people).
    Index("ix_report_people_kind_person_id", "kind", "person_id", "day", "site_id"),
)

report_state = Table(
    "report_state",
    db.metadata,
    Column("id", Integer, primary_key=True),  # one row, id 1: its row lock serialises rollup writers
    Column("refreshed_at", UTCDateTime),  # the figures include every change logged before this
    Column("rebuilt_at", UTCDateTime),
)
