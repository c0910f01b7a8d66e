"""The inbox: one's own notifications, newest first, titled in the reader's language; marking them read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from volunteer_app.db import utcnow
from volunteer_app.errors import language
from volunteer_app.extensions import db
from volunteer_app.notifications.messages import render
from volunteer_app.notifications.models import Notification
from volunteer_app.pagination import paginate

if TYPE_CHECKING:
    from volunteer_app.auth.tokens import Principal


def list_notifications(*, who: Principal, unread: bool, limit: int, cursor: str | None) -> dict:
    """One's own notifications, newest first (only unread ones if asked), titled in the caller's language."""
    stmt = select(Notification).where(Notification.user_id == who.user_id)
    if unread:
        stmt = stmt.where(Notification.read_at.is_(None))
    page = paginate(stmt, [Notification.id], limit=limit, cursor=cursor, descending=True)
    lang = language()
    page["items"] = [_inbox_item(n, lang) for n in page["items"]]
    return page


def _inbox_item(notification: Notification, lang: str) -> dict[str, Any]:
    return {
        "id": notification.id,
        "kind": notification.kind,
        "title": render(notification.kind, notification.params, lang),
        "params": notification.params or {},
        "order_id": notification.order_id,
        "subject_type": notification.subject_type,
        "subject_id": notification.subject_id,
        "read_at": notification.read_at,
        "created_at": notification.created_at,
    }


def mark_read(*, who: Principal, ids: list[int] | None, everything: bool) -> int:
    """Mark one's own notifications read (the given ids, or all); others' ids match nothing. Commits;
    returns how many changed."""
    stmt = update(Notification).where(Notification.user_id == who.user_id, Notification.read_at.is_(None))
    if not everything:
        stmt = stmt.where(Notification.id.in_(ids or []))
    result = db.session.execute(
        stmt.values(read_at=utcnow()), execution_options={"synchronize_session": False}
    )
    db.session.commit()
    return result.rowcount
