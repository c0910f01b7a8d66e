"""Rotating check-in codes (QR) for indoor places, where GPS drifts: a station or an activity shows a
short-lived signed code, a volunteer's phone scans it and sends it with the check-in or check-out.

A code names what it was issued for, a site ("site", id) or an activity ("activity", id), and the start
of its rotation window (`issued_at`, a multiple of `rotate_seconds`), signed with HMAC (itsdangerous,
the app's SECRET_KEY, a salt of its own). Every screen in the same window shows the same code; the
next window brings a new one, and a code is accepted until `valid_seconds` after its window began.

What a code covers (`accept`):
- an activity's code: check-in and check-out of that activity's sign-ups, and nothing else;
- a site's code: any task (an activity or an order) whose service place lies within that task's
  check-in radius of the site's position, i.e. exactly the tasks a GPS check-in standing at the site
  would pass. So activities held at the station are covered, and orders at residents' homes (a
  station's code says nothing about being at someone's door) are not. A site without a position
  issues no code.

A code is one sighting: each volunteer may use a given code once (a check-in or a check-out, on one
assignment), recorded in `checkin_code_uses` under a unique key, so two requests racing with one code
get exactly one success. A displayed code is scanned by everyone in the room, so "used" cannot be
global. What remains possible: a photo of the code forwarded to someone elsewhere and used within its
validity (at most `valid_seconds`); the check-in records the method (`qr`) for the manager's audit.

Core of the attendance domain: imports sites only.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import segno
from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy.exc import IntegrityError

from volunteer_app.attendance.models import CheckinCodeUse
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, Unprocessable, register_messages
from volunteer_app.extensions import db
from volunteer_app.field_messages import register_field_messages
from volunteer_app.geo import distance_m
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import get_in_reach

register_messages(
    {
        "attendance.qr_invalid": ("签到码无效", "This check-in code is not valid"),
        "attendance.qr_expired": (
            "签到码已过期，请扫描现场最新的签到码",
            "This check-in code has expired; scan the current one",
        ),
        "attendance.qr_wrong_place": (
            "该签到码不属于本次服务的地点",
            "This check-in code is for another place than this service",
        ),
        "attendance.qr_replayed": (
            "该签到码您已使用过，请扫描现场最新的签到码",
            "You have already used this check-in code; scan the current one",
        ),
        "checkin_code.no_position": (
            "该站点未设置位置，不能生成签到码",
            "This site has no position, so it cannot show a check-in code",
        ),
    }
)

register_field_messages(
    {
        "not a check-in code": "不是有效的签到码",
        "expired": "已过期",
        "for another place": "属于其他地点",
        "already used": "已使用过",
    }
)

SALT = "volunteer_app.attendance.checkin-code"
KINDS = {"s": "site", "a": "activity"}
LETTER = {kind: letter for letter, kind in KINDS.items()}
MAX_CODE_LENGTH = 200


@dataclass(frozen=True)
class Code:
    """A code as a screen shows it: the text, its place, and when to fetch the next one."""

    code: str
    place_kind: str
    place_id: int
    issued_at: datetime
    refresh_after: datetime
    expires_at: datetime

    @property
    def qr_svg(self) -> str:
        """The code as a QR symbol, an SVG document (segno; error correction M, quiet zone included)."""
        out = io.BytesIO()
        segno.make(self.code, error="m", micro=False).save(out, kind="svg", scale=8, xmldecl=False)
        return out.getvalue().decode()


def _settings() -> tuple[int, int]:
    cfg = current_app.config["CHECKIN_CODE"]
    return cfg["rotate_seconds"], cfg["valid_seconds"]


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def issue(place_kind: str, place_id: int, now: datetime) -> Code:
    """The code of this place for the rotation window holding `now` (the same for every caller in the
    window)."""
    rotate, valid = _settings()
    start = math.floor(now.timestamp() / rotate) * rotate
    issued_at = datetime.fromtimestamp(start, UTC)
    text = _serializer().dumps([LETTER[place_kind], place_id, start])
    return Code(
        code=text,
        place_kind=place_kind,
        place_id=place_id,
        issued_at=issued_at,
        refresh_after=issued_at + timedelta(seconds=rotate),
        expires_at=issued_at + timedelta(seconds=valid),
    )


def site_code(site: Site, now: datetime) -> Code:
    """A site's code (409 `checkin_code.no_position` for a site without a position: it could cover
    nothing)."""
    if site.lat is None or site.lng is None:
        raise Conflict("checkin_code.no_position")
    return issue("site", site.id, now)


def _invalid() -> Unprocessable:
    return Unprocessable("attendance.qr_invalid", errors={"json": {"qr_code": ["not a check-in code"]}})


def site_checkin_code(*, who, site_id: int) -> Code:
    """`GET /sites/{id}/checkin-code`: the current code of a site in the manager's reach (404
    otherwise; 409 `checkin_code.no_position` if it has no position)."""
    site = get_in_reach(Site, site_id, Site.id, who)
    return site_code(site, utcnow())


def read(text: str, now: datetime) -> tuple[str, int, datetime]:
    """(place kind, place id, issued_at) of a code we signed, still valid at `now`: 422
    `attendance.qr_invalid` for anything else we did not sign (forged, altered, truncated, another
    salt's token), `attendance.qr_expired` past its validity."""
    rotate, valid = _settings()
    try:
        letter, place_id, start = _serializer().loads(text)
    except (BadData, ValueError, TypeError):
        raise _invalid() from None
    if letter not in KINDS or not isinstance(place_id, int) or not isinstance(start, int):
        raise _invalid()
    if start > now.timestamp() + rotate:  # signed by us for the future: a clock gone wrong
        raise _invalid()
    if now.timestamp() > start + valid:
        raise Unprocessable("attendance.qr_expired", errors={"json": {"qr_code": ["expired"]}})
    return KINDS[letter], place_id, datetime.fromtimestamp(start, UTC)


def covers(
    place_kind: str, place_id: int, *, lat: float, lng: float, radius_m: int, activity_id: int | None
) -> bool:
    """Whether a code of this place stands for being at a task's place (lat, lng within radius_m);
    `activity_id`: the task's activity (None for an order)."""
    if place_kind == "activity":
        return activity_id is not None and place_id == activity_id
    site = db.session.get(Site, place_id)
    if site is None or site.lat is None or site.lng is None:
        return False
    return distance_m(site.lat, site.lng, lat, lng) <= radius_m


def accept(
    text: str,
    *,
    volunteer_id: int,
    assignment_id: int,
    action: str,
    lat: float,
    lng: float,
    radius_m: int,
    activity_id: int | None,
    now: datetime,
) -> None:
    """Take a scanned code as presence at a task's place for `action` (check_in | check_out), once
    per volunteer: 422 qr_invalid / qr_expired / qr_wrong_place, 409 `attendance.qr_replayed` if this
    volunteer used it before (also by a request racing this one: the unique key decides). Flushes
    the use inside a savepoint; the caller's transaction keeps it."""
    place_kind, place_id, issued_at = read(text, now)
    if not covers(place_kind, place_id, lat=lat, lng=lng, radius_m=radius_m, activity_id=activity_id):
        raise Unprocessable("attendance.qr_wrong_place", errors={"json": {"qr_code": ["for another place"]}})
    use = CheckinCodeUse(
        volunteer_id=volunteer_id,
        place_kind=place_kind,
        place_id=place_id,
        issued_at=issued_at,
        assignment_id=assignment_id,
        action=action,
        used_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(use)
    except IntegrityError:
        raise Conflict("attendance.qr_replayed", errors={"json": {"qr_code": ["already used"]}}) from None
