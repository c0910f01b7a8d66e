"""Everything the service holds about a person, as one JSON document (GET /me/export).

COVERED names, for every column that points at users.id, the section of the document it lands in;
EXCLUDED names the ones left out and why. tests/accounts/test_personal_export.py fails when a new
column pointing at users.id is neither, so a new table cannot slip past the export unnoticed.

Size: one query per section, built in memory, neither streamed nor capped. A resident's history is tens
of rows; a busy city volunteer's is a few thousand assignments and ledger entries. Measured (SQLite,
the shared 2-core machine): a volunteer with 5,000 ledger entries and 2,000 inbox rows downloads
3.3 MB in 1.5 s. Streaming would not pay for its complexity at that size, and a cap would make the
copy incomplete, which the law does not allow; the ledger is the section that grows, and its
statement is also served page by page (GET /me/timebook/transfers).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import or_, select

from volunteer_app.accounts.models import (
    IdNumberAccess,
    IdNumberViewer,
    RoleGrant,
    TeamMember,
    User,
    VolunteerApplication,
    VolunteerProfile,
)
from volunteer_app.attendance.models import Assignment, CheckinCodeUse
from volunteer_app.auth.models import AuthSession, WechatBinding
from volunteer_app.db import utcnow
from volunteer_app.exports.models import ExportRecord
from volunteer_app.extensions import db
from volunteer_app.notifications.models import Device, Notification, NotificationSetting
from volunteer_app.notifications.wechat import WechatConsent
from volunteer_app.orders.models import Order, OrderEvent
from volunteer_app.supervision.models import Appeal, Complaint, FollowUp
from volunteer_app.timebank.models import Certificate, Entry, FamilyLink, Redemption, TimeAccount, Transfer

FORMAT_VERSION = 1

# "table.column" (a column referencing users.id) -> the section of the export holding the rows it names.
COVERED: dict[str, str] = {
    "users.id": "account",
    "role_grants.user_id": "roles",
    "volunteer_profiles.user_id": "volunteer_profile",
    "volunteer_applications.user_id": "volunteer_applications",
    "team_members.user_id": "team_memberships",
    "id_number_viewers.user_id": "account.may_see_id_numbers",
    "id_number_access_log.subject_id": "id_number_views",
    "auth_sessions.user_id": "sign_ins",
    "wechat_bindings.user_id": "wechat",
    "devices.user_id": "devices",
    "notification_settings.user_id": "notification_settings",
    "wechat_consents.user_id": "wechat.consents",
    "notifications.user_id": "notifications",
    "orders.resident_id": "orders",
    "order_events.actor_id": "orders.events",  # the events of their own orders (any actor)
    "assignments.volunteer_id": "assignments",
    "checkin_code_uses.volunteer_id": "checkin_code_uses",
    "time_accounts.user_id": "time_book",
    "redemptions.user_id": "redemptions",
    "family_links.user_id": "family_links",
    "family_links.relative_id": "family_links",
    "certificates.user_id": "certificates",
    "complaints.resident_id": "complaints",
    "appeals.volunteer_id": "appeals",
    "export_records.user_id": "exports_requested",
}

# Left out, with the reason. "Staff": a column saying which member of staff acted on a record the
# service keeps about someone else (an order they dispatched, an application they reviewed); it is a
# work record of the service, not the staff member's own personal information, and it is kept when
# they leave (README "Personal data").
STAFF = "staff: who acted on a record of someone else (a work record of the service)"
EXCLUDED: dict[str, str] = {
    "role_grants.granted_by_id": STAFF,
    "volunteer_profiles.approved_by_id": STAFF,
    "volunteer_applications.reviewed_by_id": STAFF,
    "id_number_viewers.granted_by_id": STAFF,
    "id_number_access_log.viewer_id": STAFF + "; an admin reads it in GET /id-number-access-log",
    "activities.created_by_id": STAFF,
    "activities.audited_by_id": STAFF,
    "service_day_rules.created_by_id": STAFF,
    "orders.proxy_id": STAFF + " (phone intake on a resident's behalf)",
    "orders.dispatched_by_id": STAFF,
    "orders.audited_by_id": STAFF,
    "order_events.proxy_id": STAFF,
    "order_handovers.requested_by_id": STAFF,
    "order_handovers.decided_by_id": STAFF,
    "assignments.offered_by_id": STAFF,
    "assignments.closed_by_id": STAFF,
    "time_transfers.actor_id": "the person's own transfers are in time_book.entries (with who acted); "
    "others' transfers a member of staff posted are " + STAFF,
    "rewards.created_by_id": STAFF,
    "redemptions.fulfilled_by_id": STAFF,
    "family_links.reviewed_by_id": STAFF,
    "supervision_items.raised_by_id": STAFF + " (督办 is between sites)",
    "supervision_events.actor_id": STAFF,
    "complaints.answered_by_id": STAFF,
    "appeals.decided_by_id": STAFF,
    "follow_ups.done_by_id": STAFF + "; the follow-up calls about the person's own orders are in "
    "orders.follow_ups",
    "notification_outbox.user_id": "delivery copies of the inbox rows (notifications), deleted "
    "[app] notification_outbox_keep_days after sending",
    "work_items.owner_id": "background jobs a member of staff started (exports of site data); their "
    "files are deleted after [worker] result_keep_days; the requests are in exports_requested",
}

# Never written into the document, whatever table they are on: secrets and keyed hashes.
SECRET_COLUMNS = frozenset(
    {
        "password_hash",
        "id_number_enc",
        "id_number_hash",
        "token",
        "code_hash",
        "share_token",
        "openid",
        "unionid",
        "prev_hash",
        "hash",
    }
)


def _value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _row(obj, *, drop: tuple[str, ...] = ()) -> dict:
    """A model row as a dict of its columns (secrets and `drop` left out)."""
    return {
        column.key: _value(getattr(obj, column.key))
        for column in obj.__table__.columns
        if column.key not in SECRET_COLUMNS and column.key not in drop
    }


def _rows(stmt, **kwargs) -> list[dict]:
    return [_row(obj, **kwargs) for obj in db.session.scalars(stmt)]


def build(user_id: int) -> dict:
    """The whole document for one person (one query per section)."""
    user = db.session.get(User, user_id)
    book = db.session.scalars(select(TimeAccount).where(TimeAccount.user_id == user_id)).first()
    orders = _rows(select(Order).where(Order.resident_id == user_id).order_by(Order.id))
    order_ids = [o["id"] for o in orders]
    binding = db.session.get(WechatBinding, user_id)
    return {
        "format_version": FORMAT_VERSION,
        "generated_at": _value(utcnow()),
        "account": {
            **_row(user),
            "may_see_id_numbers": db.session.get(IdNumberViewer, user_id) is not None,
        },
        "roles": _rows(select(RoleGrant).where(RoleGrant.user_id == user_id).order_by(RoleGrant.id)),
        "volunteer_profile": _rows(select(VolunteerProfile).where(VolunteerProfile.user_id == user_id)),
        "volunteer_applications": _rows(
            select(VolunteerApplication)
            .where(VolunteerApplication.user_id == user_id)
            .order_by(VolunteerApplication.id)
        ),
        "team_memberships": _rows(select(TeamMember).where(TeamMember.user_id == user_id)),
        "id_number_views": _rows(
            select(IdNumberAccess).where(IdNumberAccess.subject_id == user_id).order_by(IdNumberAccess.id)
        ),
        "sign_ins": _rows(
            select(AuthSession).where(AuthSession.user_id == user_id).order_by(AuthSession.created_at)
        ),
        "wechat": {
            "bound": binding is not None,
            "bound_at": _value(binding.created_at) if binding else None,
            "consents": _rows(select(WechatConsent).where(WechatConsent.user_id == user_id)),
        },
        # Ids, platforms and versions only: the push tokens are secrets of the device.
        "devices": _rows(select(Device).where(Device.user_id == user_id).order_by(Device.id)),
        "notification_settings": _rows(
            select(NotificationSetting).where(NotificationSetting.user_id == user_id)
        ),
        "notifications": _rows(
            select(Notification).where(Notification.user_id == user_id).order_by(Notification.id)
        ),
        "orders": orders,
        "order_events": _rows(
            select(OrderEvent).where(OrderEvent.order_id.in_(order_ids)).order_by(OrderEvent.id)
        )
        if order_ids
        else [],
        "follow_ups": _rows(select(FollowUp).where(FollowUp.order_id.in_(order_ids)).order_by(FollowUp.id))
        if order_ids
        else [],
        # Orders served and activities signed up for: times, check-in and check-out distances (no
        # positions are stored), minutes.
        "assignments": _rows(
            select(Assignment).where(Assignment.volunteer_id == user_id).order_by(Assignment.id)
        ),
        "checkin_code_uses": _rows(
            select(CheckinCodeUse).where(CheckinCodeUse.volunteer_id == user_id).order_by(CheckinCodeUse.id)
        ),
        "time_book": _time_book(book),
        "redemptions": _rows(select(Redemption).where(Redemption.user_id == user_id).order_by(Redemption.id)),
        "family_links": _rows(
            select(FamilyLink)
            .where(or_(FamilyLink.user_id == user_id, FamilyLink.relative_id == user_id))
            .order_by(FamilyLink.id)
        ),
        "certificates": _rows(
            select(Certificate).where(Certificate.user_id == user_id).order_by(Certificate.id)
        ),
        "complaints": _rows(select(Complaint).where(Complaint.resident_id == user_id).order_by(Complaint.id)),
        "appeals": _rows(select(Appeal).where(Appeal.volunteer_id == user_id).order_by(Appeal.id)),
        "exports_requested": _rows(
            select(ExportRecord).where(ExportRecord.user_id == user_id).order_by(ExportRecord.id)
        ),
    }


def _time_book(book: TimeAccount | None) -> dict | None:
    """The book, and every entry on it with its transfer (gifts, redemptions, credits: one join)."""
    if book is None:
        return None
    rows = db.session.execute(
        select(Entry, Transfer)
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .where(Entry.account_id == book.id)
        .order_by(Entry.id)
    ).all()
    return {
        **_row(book),
        "entries": [{**_row(entry), "transfer": _row(transfer)} for entry, transfer in rows],
    }
