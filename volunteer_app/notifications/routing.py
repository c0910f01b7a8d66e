"""Routing: which outbox rows a notification gets, decided in the notifying transaction, a few
statements per chunk of inbox rows whatever the number of users (never a query per user).

1. The route: `[notifications.routes]` gives each kind a list of entries; an entry is one channel, or
   alternatives "wechat|sms" (the first channel whose reacher reaches the user). A kind not named takes
   `default`.
2. Opt-outs: a user who turned a channel off for a kind (`NotificationSetting.opt_out`) is not reached
   by it; in alternatives the next channel is tried. Security kinds ignore opt-outs.
3. Reach: each channel's reacher (channels.REACHERS) answers which of the users it reaches and where.
   "push" (the user's app devices), "sms" (active users with a phone) and "console" (everyone: the
   inbox alone) are here; "wechat" is registered by the WeChat module. A channel without a reacher
   reaches nobody.
4. The daily cap: at most `daily_cap` notifications a user's local day go out by an external channel
   (push, sms, wechat); the rows of those beyond it are written "skipped" with last_error "cap", so an
   admin sees why nothing came. Security kinds are never capped (nor counted).
5. Quiet hours: external rows of a kind that is not urgent (messages.URGENT_KINDS), written inside the
   user's quiet window (their setting, else the deployment's; in their home site's time zone), wait
   until the window ends (`next_try_at`); nothing is dropped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import func, select

from volunteer_app.accounts.models import User
from volunteer_app.extensions import db
from volunteer_app.notifications.channels import REACHERS, RELEASERS, reacher
from volunteer_app.notifications.messages import SECURITY_KINDS, URGENT_KINDS
from volunteer_app.notifications.models import (
    PUSH_PLATFORMS,
    Device,
    NotificationSetting,
    OutboxMessage,
    OutboxStatus,
)
from volunteer_app.sites import service as sites

EXTERNAL = ("push", "sms", "wechat")  # channels that leave the app (capped, quiet, opted out of)
CAP_ERROR = "cap"

Route = list[tuple[str, ...]]


# ---- the reachers of push, sms and console ---------------------------------------------------------------


@reacher("push")
def reach_push(user_ids: Sequence[int], kind: str) -> dict[int, list[str | None]]:
    """The users' app devices (iOS, Android, HarmonyOS; JPush serves them all), by token. A "web"
    device is not reached: a browser reads its inbox."""
    found: dict[int, list[str | None]] = {}
    for user_id, token in db.session.execute(
        select(Device.user_id, Device.token)
        .where(Device.user_id.in_(user_ids), Device.platform.in_(PUSH_PLATFORMS))
        .order_by(Device.id)
    ):
        found.setdefault(user_id, []).append(token)
    return found


@reacher("sms")
def reach_sms(user_ids: Sequence[int], kind: str) -> dict[int, list[str | None]]:
    """Every active user with a phone: no target is stored (the number is read when the row is sent)."""
    return {
        user_id: [None]
        for user_id in db.session.scalars(
            select(User.id).where(User.id.in_(user_ids), User.is_active.is_(True), User.phone != "")
        )
    }


@reacher("console")
def reach_console(user_ids: Sequence[int], kind: str) -> dict[int, list[str | None]]:
    """Everyone: a console row says the inbox holds the message (the console sender logs it)."""
    return {user_id: [None] for user_id in user_ids}


# ---- configuration ---------------------------------------------------------------------------------------


def route_of(kind: str) -> Route:
    """The kind's entries, each a tuple of alternative channels."""
    routes = current_app.config["NOTIFICATIONS"]["routes"]
    return routes.get(kind) or routes["default"]


def default_window() -> tuple[str, str]:
    cfg = current_app.config["NOTIFICATIONS"]
    return cfg["quiet_start"], cfg["quiet_end"]


def default_zone() -> str:
    return current_app.config["SITE_DEFAULTS"]["timezone"]


def opted_out(setting: NotificationSetting | None, kind: str, channel: str) -> bool:
    if setting is None or kind in SECURITY_KINDS or channel not in EXTERNAL:
        return False
    return channel in ((setting.opt_out or {}).get(kind) or ())


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def quiet_until(now: datetime, zone: str, start: str, end: str) -> datetime | None:
    """When the quiet window [start, end) (local times; it may cross midnight) that `now` falls in ends,
    in UTC; None outside it (or for an empty window, start == end)."""
    if start == end:
        return None
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    s, e, t = _clock(start), _clock(end), local.time()
    if s < e:
        inside, days = s <= t < e, 0
    else:
        inside, days = t >= s or t < e, (1 if t >= s else 0)
    if not inside:
        return None
    day = local.date() + timedelta(days=days)
    return datetime.combine(day, e, tzinfo=tz).astimezone(now.tzinfo)


def local_midnight(now: datetime, zone: str) -> datetime:
    """The start of `now`'s local day in `zone`, in UTC."""
    tz = ZoneInfo(zone)
    return datetime.combine(now.astimezone(tz).date(), time(0), tzinfo=tz).astimezone(now.tzinfo)


# ---- routing a chunk -------------------------------------------------------------------------------------


def settings_of(user_ids: Iterable[int]) -> dict[int, NotificationSetting]:
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    return {
        s.user_id: s
        for s in db.session.scalars(select(NotificationSetting).where(NotificationSetting.user_id.in_(ids)))
    }


def zones_of_users(user_ids: Iterable[int]) -> dict[int, str]:
    """Each user's time zone: their home site's effective `timezone`, else the deployment's (3 queries)."""
    ids = sorted(set(user_ids))
    homes = dict(db.session.execute(select(User.id, User.home_site_id).where(User.id.in_(ids))).all())
    zones = sites.zones_of({site for site in homes.values() if site is not None})
    fallback = default_zone()
    return {user_id: zones.get(homes.get(user_id), fallback) for user_id in ids}


def _reach(kind: str, users: list[int], settings: dict[int, NotificationSetting]) -> dict[int, list]:
    """user → [(channel, target), …] for one kind, entry by entry (alternatives in order)."""
    reached: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
    for entry in route_of(kind):
        left = list(users)
        for channel in entry:
            candidates = [u for u in left if not opted_out(settings.get(u), kind, channel)]
            reach = REACHERS.get(channel)
            if not candidates or reach is None:
                continue
            found = {u: targets for u, targets in reach(candidates, kind).items() if targets}
            for user_id in candidates:
                for target in found.get(user_id, ()):
                    if (channel, target) not in reached[user_id]:
                        reached[user_id].append((channel, target))
            left = [u for u in left if u not in found]
            if not left:
                break
    return reached


def _sent_today(user_zones: dict[int, str], now: datetime) -> dict[int, int]:
    """How many notifications went (or will go) out by an external channel to each user since their
    local midnight: one count per time zone among them."""
    by_zone: dict[str, list[int]] = defaultdict(list)
    for user_id, zone in user_zones.items():
        by_zone[zone].append(user_id)
    counts: dict[int, int] = {}
    for zone, ids in by_zone.items():
        counts.update(
            db.session.execute(
                select(OutboxMessage.user_id, func.count(func.distinct(OutboxMessage.notification_id)))
                .where(
                    OutboxMessage.user_id.in_(ids),
                    OutboxMessage.created_at >= local_midnight(now, zone),
                    OutboxMessage.channel.in_(EXTERNAL),
                    OutboxMessage.status != OutboxStatus.SKIPPED,
                )
                .group_by(OutboxMessage.user_id)
            ).all()
        )
    return counts


def outbox_rows(written: Sequence[tuple[int, int, str]], now: datetime) -> list[dict]:
    """The outbox rows of inbox rows `written` ((notification id, user id, kind), one chunk): the
    route's channels per user, with opt-outs, the daily cap and quiet hours applied. Writes only what
    the reachers reserve (a WeChat consent), given back for the rows skipped over the cap."""
    by_kind: dict[str, set[int]] = defaultdict(set)
    for _nid, user_id, kind in written:
        by_kind[kind].add(user_id)
    external_kinds = {k for k in by_kind if any(c in EXTERNAL for entry in route_of(k) for c in entry)}
    settings = settings_of(u for k in external_kinds for u in by_kind[k])
    reached = {kind: _reach(kind, sorted(users), settings) for kind, users in by_kind.items()}
    outside = {
        user_id
        for by_user in reached.values()
        for user_id, targets in by_user.items()
        if any(channel in EXTERNAL for channel, _ in targets)
    }
    cap = current_app.config["NOTIFICATIONS"]["daily_cap"]
    zones = zones_of_users(outside) if outside else {}
    counts = _sent_today(zones, now) if outside and cap else {}
    window = default_window()
    quiet: dict[int, datetime | None] = {}
    for user_id in outside:
        setting = settings.get(user_id)
        if setting is not None and not setting.quiet_hours:
            quiet[user_id] = None
        else:
            start = (setting and setting.quiet_start) or window[0]
            end = (setting and setting.quiet_end) or window[1]
            quiet[user_id] = quiet_until(now, zones[user_id], start, end)
    rows = []
    unspent: dict[tuple[str, str], list[int]] = defaultdict(list)  # (channel, kind) -> a user per row
    for notification_id, user_id, kind in sorted(written):
        targets = reached[kind].get(user_id, [])
        status, error, later = OutboxStatus.PENDING, None, None
        if any(channel in EXTERNAL for channel, _ in targets):
            if cap and kind not in SECURITY_KINDS:
                if counts.get(user_id, 0) >= cap:
                    status, error = OutboxStatus.SKIPPED, CAP_ERROR
                else:
                    counts[user_id] = counts.get(user_id, 0) + 1
            if kind not in URGENT_KINDS:
                later = quiet[user_id]
        for channel, target in targets:
            external = channel in EXTERNAL
            if external and status == OutboxStatus.SKIPPED and channel in RELEASERS:
                unspent[(channel, kind)].append(user_id)
            rows.append(
                {
                    "notification_id": notification_id,
                    "user_id": user_id,
                    "channel": channel,
                    "target": target,
                    "status": status if external else OutboxStatus.PENDING,
                    "last_error": error if external else None,
                    "attempts": 0,
                    "next_try_at": (later or now) if external else now,
                    "created_at": now,
                }
            )
    for (channel, kind), user_ids in unspent.items():
        RELEASERS[channel](user_ids, kind)
    return rows
