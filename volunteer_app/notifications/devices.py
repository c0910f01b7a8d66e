"""Devices: the push tokens a user's phones registered (each token belongs to one user at a time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from volunteer_app.accounts.models import User
from volunteer_app.db import utcnow
from volunteer_app.errors import NotFound
from volunteer_app.extensions import db
from volunteer_app.notifications.models import MAX_DEVICES, Device

if TYPE_CHECKING:
    from volunteer_app.auth.tokens import Principal


def register_device(*, who: Principal, platform: str, token: str, app_version: str | None) -> Device:
    """Register a push token for the caller, or take it over (a phone handed to someone else moves to
    them); keeps the caller's newest MAX_DEVICES devices. Commits."""
    user_id, now = who.user_id, utcnow()
    # One registration per user at a time, so two at once cannot both keep an eleventh device.
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update())
    by_token = select(Device).where(Device.token == token).with_for_update()
    device = db.session.scalars(by_token).first()
    if device is None:
        device = Device(user_id=user_id, platform=platform, token=token, created_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(device)
        except IntegrityError:  # registered at the same moment by another request: take that row
            device = db.session.scalars(by_token).one()
    device.user_id = user_id
    device.platform = platform
    device.app_version = app_version
    device.last_seen_at = now
    db.session.flush()
    stale = list(
        db.session.scalars(
            select(Device.id)
            .where(Device.user_id == user_id)
            .order_by(Device.last_seen_at.desc(), Device.id.desc())
            .offset(MAX_DEVICES)
        )
    )
    if stale:
        db.session.execute(delete(Device).where(Device.id.in_(stale)))
    db.session.commit()
    return device


def remove_device(*, who: Principal, device_id: int) -> None:
    """Forget one of the caller's devices (404 when it is not theirs). Commits."""
    result = db.session.execute(delete(Device).where(Device.id == device_id, Device.user_id == who.user_id))
    if result.rowcount != 1:
        db.session.rollback()
        raise NotFound()
    db.session.commit()
