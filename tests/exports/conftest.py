"""Helpers for export tests: orders, activities and sign-ups written directly (in any state, at any
time), asking for an export through the API, running the worker, downloading the file."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import openpyxl
from sqlalchemy import select

from tests.notifications.conftest import run_worker
from volunteer_app.accounts.models import User
from volunteer_app.activities.models import Activity
from volunteer_app.attendance.models import Assignment
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order, OrderEvent
from volunteer_app.sites.models import Category

API = "/api/v1"
BOM = b"\xef\xbb\xbf"


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def category_id() -> int:
    return db.session.scalar(select(Category.id).where(Category.code == "elder_care"))


def add_order(
    app,
    site_id: int,
    resident_id: int,
    *,
    created: datetime,
    status: str = "submitted",
    title: str = "陪独居老人就医",
    start: datetime | None = None,
    mode: str | None = None,
    needed: int = 1,
    taken: int = 0,
    stars: int | None = None,
    rating_state: str | None = None,
    escalated: bool = False,
    closed: datetime | None = None,
    audited: list[tuple[int, int]] = (),
) -> int:
    """An order written directly; `audited`: (volunteer id, minutes) of audited assignments."""
    start = start or created + timedelta(days=1)
    with app.app_context():
        order = Order(
            site_id=site_id,
            dispatch_site_id=site_id,
            resident_id=resident_id,
            category_id=category_id(),
            title=title,
            address="文晖街道 12 幢",
            lat=30.27,
            lng=120.17,
            window_start=start,
            window_end=start + timedelta(hours=2),
            volunteers_needed=needed,
            target_groups=[],
            status=status,
            mode=mode,
            capacity=needed if mode else 0,
            taken=taken,
            checkin_due_at=start + timedelta(minutes=30),
            checkout_due_at=start + timedelta(hours=3),
            rating_stars=stars,
            rating_state=rating_state,
            closed_at=closed,
            created_at=created,
        )
        db.session.add(order)
        db.session.flush()
        if escalated:
            db.session.add(
                OrderEvent(order_id=order.id, action="escalate", from_status=status, to_status=status)
            )
        for volunteer_id, minutes in audited:
            db.session.add(
                Assignment(
                    order_id=order.id,
                    site_id=site_id,
                    volunteer_id=volunteer_id,
                    kind="grab",
                    status="audited",
                    checkin_at=start,
                    checkout_at=start + timedelta(minutes=minutes),
                    minutes_computed=minutes,
                    minutes_confirmed=minutes,
                )
            )
        db.session.commit()
        return order.id


def add_activity(
    app,
    site_id: int,
    *,
    start: datetime,
    title: str = "社区清洁日",
    status: str = "open",
    signups: list[tuple[int, str, int | None]] = (),
) -> int:
    """An activity written directly; `signups`: (volunteer id, status, minutes confirmed)."""
    with app.app_context():
        activity = Activity(
            site_id=site_id,
            category_id=category_id(),
            title=title,
            address="宝石社区",
            lat=30.27,
            lng=120.17,
            start_at=start,
            end_at=start + timedelta(hours=3),
            slots=10,
            taken=0,
            waitlist_max=0,
            waiting=0,
            status=status,
        )
        db.session.add(activity)
        db.session.flush()
        for volunteer_id, signup_status, minutes in signups:
            db.session.add(
                Assignment(
                    activity_id=activity.id,
                    site_id=site_id,
                    volunteer_id=volunteer_id,
                    kind="signup",
                    status=signup_status,
                    checkin_at=start if minutes else None,
                    checkout_at=start + timedelta(minutes=minutes) if minutes else None,
                    minutes_confirmed=minutes,
                )
            )
        db.session.commit()
        return activity.id


def user(app, user_id: int) -> User:
    with app.app_context():
        row = db.session.get(User, user_id)
        db.session.expunge(row)
        return row


def ask(client, person, site_id: int | None, body: dict, *, lang: str | None = None, key: str | None = None):
    """POST an export (a site's, or my own statement when site_id is None)."""
    headers = dict(person.headers)
    if lang:
        headers["Accept-Language"] = lang
    if key:
        headers["Idempotency-Key"] = key
    url = f"{API}/sites/{site_id}/exports" if site_id is not None else f"{API}/me/timebook/exports"
    return client.post(url, json=body, headers=headers)


def export(app, client, person, site_id, body, **kwargs) -> dict:
    """Ask for an export (202), run the worker, and return the finished job."""
    response = ask(client, person, site_id, body, **kwargs)
    assert response.status_code == 202, response.get_json()
    job = response.get_json()
    assert response.headers["Location"] == f"{API}/jobs/{job['id']}"
    run_worker(app)
    done = client.get(f"{API}/jobs/{job['id']}", headers=person.headers).get_json()
    assert done["state"] == "done", done
    return done


def download(client, person, job: dict) -> bytes:
    response = client.get(job["result_url"], headers=person.headers)
    assert response.status_code == 200, response.get_data()[:300]
    return response.get_data()


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(BOM)
    return list(csv.reader(io.StringIO(data[len(BOM) :].decode("utf-8"), newline="")))


def read_xlsx(data: bytes) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(data), read_only=True)
