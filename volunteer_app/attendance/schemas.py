"""Request and response shapes shared by orders and activities: assignments, attendance, audit."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.attendance.models import AssignmentStatus
from volunteer_app.attendance.service import unnamed_error
from volunteer_app.schemas import Boolean, Id, Integer, Lat, Lng, Moment, Positioned, Text, UniqueList
from volunteer_app.timebank.service import hours

MAX_AUDITED = 500  # every checked-out assignment of an order or activity, named once


class ReasonIn(ma.Schema):
    reason = Text(500, required=True)


class OptionalReasonIn(ma.Schema):
    reason = Text(500, load_default=None)


class PositionIn(Positioned):
    lat = Lat(required=True)
    lng = Lng(required=True)


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
    checkout_at = ma.fields.AwareDateTime(allow_none=True)
    checkout_distance_m = ma.fields.Integer(allow_none=True)
    checkout_ok = ma.fields.Boolean(allow_none=True)
    close_reason = ma.fields.String(allow_none=True)
    minutes_computed = ma.fields.Integer(allow_none=True)
    minutes_confirmed = ma.fields.Integer(allow_none=True)
    hours_confirmed = ma.fields.Method("_hours", allow_none=True)
    transfer_id = ma.fields.Integer(allow_none=True)

    def _hours(self, obj):
        return None if obj.minutes_confirmed is None else hours(obj.minutes_confirmed)
