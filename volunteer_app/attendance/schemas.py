"""Request and response shapes shared by orders and activities: assignments, attendance, audit."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.attendance.codes import MAX_CODE_LENGTH
from volunteer_app.attendance.models import CHECK_METHODS, AssignmentStatus
from volunteer_app.attendance.service import unnamed_error
from volunteer_app.field_messages import register_field_messages
from volunteer_app.schemas import (
    Boolean,
    Id,
    Integer,
    Lat,
    Lng,
    Moment,
    Positioned,
    Str,
    Text,
    UniqueList,
    storable,
)
from volunteer_app.timebank.service import hours

MAX_AUDITED = 500  # every checked-out assignment of an order or activity, named once


class ReasonIn(ma.Schema):
    reason = Text(500, required=True)


class OptionalReasonIn(ma.Schema):
    reason = Text(500, load_default=None)


POSITION_OR_CODE = "give lat and lng, or qr_code"
register_field_messages({POSITION_OR_CODE: "请提供 lat 和 lng，或 qr_code"})


class PositionIn(Positioned):
    """Where I am: my position (`lat`, `lng`, in `coord_system`), or the station's or activity's
    rotating check-in code scanned on site (`qr_code`), or both (then the code decides and the
    position is only measured: indoors it drifts)."""

    lat = Lat(load_default=None)
    lng = Lng(load_default=None)
    qr_code = Str(
        load_default=None,
        validate=[ma.validate.Length(min=1, max=MAX_CODE_LENGTH), storable],
        metadata={
            "description": "The check-in code shown at the place (GET /sites/{id}/checkin-code, "
            "GET /activities/{id}/checkin-code), as scanned from its QR symbol"
        },
    )

    @ma.validates_schema
    def _position_or_code(self, data, **_):
        # (Half a point is refused by Positioned.)
        if data.get("lat") is None and data.get("lng") is None and data.get("qr_code") is None:
            raise ma.ValidationError(POSITION_OR_CODE, "_schema")


class CheckinCodeOut(ma.Schema):
    """A place's current check-in code: show it (as `qr_svg`) and fetch the next one at
    `refresh_after`; a phone that scanned it may send it until `expires_at`."""

    code = ma.fields.String(required=True, metadata={"description": "What the QR symbol holds"})
    place_kind = ma.fields.String(required=True, metadata={"enum": ["site", "activity"]})
    place_id = ma.fields.Integer(required=True)
    issued_at = ma.fields.AwareDateTime(required=True)
    refresh_after = ma.fields.AwareDateTime(required=True)
    expires_at = ma.fields.AwareDateTime(required=True)
    qr_svg = ma.fields.String(required=True, metadata={"description": "The QR symbol, an SVG document"})


class CloseIn(ma.Schema):
    reason = Text(500, required=True)
    checkout_at = Moment(load_default=None, metadata={"description": "Default: the window's end (or now)"})


class AuditItem(ma.Schema):
    assignment_id = Id(required=True)
    minutes = Integer(load_default=None, validate=ma.validate.Range(0, 24 * 60))
    reason = Text(500, load_default=None)


class AuditIn(ma.Schema):
    """审核 confirms every checked-out assignment, each named in `assignments` (with `minutes` and a
    `reason` where the computed figure is changed), or, with `confirm_computed: true`, those not named
    at their computed minutes. Nothing named and no `confirm_computed`: 422 `audit.unnamed` (an empty
    body never closes an order)."""

    assignments = UniqueList(
        ma.fields.Nested(AuditItem), load_default=list, validate=ma.validate.Length(max=MAX_AUDITED)
    )
    confirm_computed = Boolean(
        load_default=False,
        metadata={"description": "Confirm every checked-out assignment not named at its computed minutes"},
    )
    note = Text(500, load_default=None)

    @ma.validates_schema
    def _once(self, data, **_):
        ids = [item["assignment_id"] for item in data["assignments"]]
        if len(ids) != len(set(ids)):
            raise ma.ValidationError("each assignment at most once", "assignments")
        if not ids and not data["confirm_computed"]:
            raise unnamed_error()


class AssignmentOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    order_id = ma.fields.Integer(allow_none=True)
    activity_id = ma.fields.Integer(allow_none=True)
    volunteer_id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"enum": [s.value for s in AssignmentStatus]})
    held_at = ma.fields.AwareDateTime(allow_none=True)
    queued_at = ma.fields.AwareDateTime(allow_none=True, metadata={"description": "Joined the waitlist"})
    checkin_at = ma.fields.AwareDateTime(allow_none=True)
    checkin_distance_m = ma.fields.Integer(allow_none=True)
    checkin_ok = ma.fields.Boolean(allow_none=True)
    checkin_method = ma.fields.String(
        allow_none=True,
        metadata={
            "enum": list(CHECK_METHODS),
            "description": "gps: by position; qr: by the place's check-in code",
        },
    )
    checkout_at = ma.fields.AwareDateTime(allow_none=True)
    checkout_distance_m = ma.fields.Integer(allow_none=True)
    checkout_ok = ma.fields.Boolean(allow_none=True)
    checkout_method = ma.fields.String(
        allow_none=True,
        metadata={"enum": list(CHECK_METHODS), "description": "null when a manager closed the check-out"},
    )
    close_reason = ma.fields.String(allow_none=True)
    minutes_computed = ma.fields.Integer(allow_none=True)
    minutes_confirmed = ma.fields.Integer(allow_none=True)
    hours_confirmed = ma.fields.Method("_hours", allow_none=True)
    transfer_id = ma.fields.Integer(allow_none=True)

    def _hours(self, obj):
        return None if obj.minutes_confirmed is None else hours(obj.minutes_confirmed)
