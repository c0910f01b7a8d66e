"""A user's notification settings (`/me/notification-settings`): the channels they turned off per kind
and their quiet hours; read by routing.py when notifications are written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from volunteer_app.accounts.models import User
from volunteer_app.errors import invalid
from volunteer_app.extensions import db
from volunteer_app.notifications import routing
from volunteer_app.notifications.messages import KINDS, SECURITY_KINDS
from volunteer_app.notifications.models import NotificationSetting

if TYPE_CHECKING:
    from volunteer_app.auth.tokens import Principal


def opt_out_channels(kind: str) -> list[str]:
    """The external channels the kind's route may use, which a user may turn off for it (none for a
    security kind)."""
    if kind in SECURITY_KINDS:
        return []
    return [c for c in routing.EXTERNAL if any(c in entry for entry in routing.route_of(kind))]


def choosable() -> dict[str, list[str]]:
    """kind → the channels a user may turn off for it, for every kind that has some."""
    return {kind: channels for kind in KINDS if (channels := opt_out_channels(kind))}


def _answer(user_id: int, setting: NotificationSetting | None) -> dict:
    start, end = routing.default_window()
    zone = routing.zones_of_users([user_id]).get(user_id, routing.default_zone())
    return {
        "opt_out": dict(setting.opt_out or {}) if setting else {},
        "quiet_hours": {
            "enabled": setting.quiet_hours if setting else True,
            "start": (setting and setting.quiet_start) or start,
            "end": (setting and setting.quiet_end) or end,
            "timezone": zone,
        },
        "kinds": [{"kind": kind, "channels": channels} for kind, channels in choosable().items()],
    }


def get_settings(*, who: Principal) -> dict:
    """My settings (the defaults until I change them), with the kinds and channels I may turn off."""
    return _answer(who.user_id, db.session.get(NotificationSetting, who.user_id))


def update_settings(*, who: Principal, opt_out: dict | None, quiet_hours: dict | None, replace: bool) -> dict:
    """Change my settings: `replace` (PUT) sets both whole; otherwise (PATCH) the kinds named in
    `opt_out` are set (an empty list turns all of a kind's channels back on) and `quiet_hours`, if
    given, is set. A channel a kind's route does not use, or a security kind, is 422. Commits."""
    allowed = choosable()
    for kind, channels in (opt_out or {}).items():
        wrong = sorted(set(channels) - set(allowed.get(kind, [])))
        if kind not in allowed or wrong:
            raise invalid("opt_out", f"{kind}: cannot turn off {wrong or channels}")
    # One change at a time per user (the row may not exist yet).
    db.session.execute(select(User.id).where(User.id == who.user_id).with_for_update())
    setting = db.session.get(NotificationSetting, who.user_id)
    if setting is None:
        setting = NotificationSetting(user_id=who.user_id, opt_out={}, quiet_hours=True)
        db.session.add(setting)
    if opt_out is not None:
        merged = {} if replace else dict(setting.opt_out or {})
        merged.update({kind: sorted(channels) for kind, channels in opt_out.items()})
        setting.opt_out = {kind: channels for kind, channels in sorted(merged.items()) if channels}
    if quiet_hours is not None:
        setting.quiet_hours = quiet_hours["enabled"]
        setting.quiet_start = quiet_hours.get("start")
        setting.quiet_end = quiet_hours.get("end")
    db.session.commit()
    return _answer(who.user_id, setting)
