"""Request and response shapes of orders, assignments and the volunteers' task feed."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.attendance.schemas import AssignmentOut
from volunteer_app.orders.models import TARGET_GROUPS, HandoverKind, HandoverStatus, OrderMode, OrderStatus
from volunteer_app.orders.queries import NEEDS, POOL_WARN_HOURS
from volunteer_app.pagination import PageArgs
from volunteer_app.schemas import (
    MAX_WORK_SKILLS,
    WGS84_OUT,
    YEAR_OUT_OF_RANGE,
    Date,
    Id,
    Integer,
    Lat,
    Lng,
    Moment,
    Phone,
    Positioned,
    QueryBoolean,
    Skills,
    Str,
    Text,
    UniqueList,
)

MAX_VOLUNTEERS = 50
PLAUSIBLE_DATE = "^(2[01][0-9]{2}|2200)-[0-9]{2}-[0-9]{2}$"  # the years taken (as the statistics')


def _plausible(value) -> None:
    if not 2000 <= value.year <= 2200:
        raise ma.ValidationError(YEAR_OUT_OF_RANGE)


class OrderIn(Positioned):
    """点单. Station staff taking a phone order add `resident_phone`, `resident_name` and optionally
    `site_id` (a station they manage); the order is recorded as theirs by proxy."""

    category_id = Id(required=True)
    title = Text(60, required=True)
    description = Text(1000, load_default=None)
    address = Text(200, required=True)
    lat = Lat(required=True)
    lng = Lng(required=True)
    # The service window, named as an activity's (stored as the order's window_start/window_end).
    start_at = Moment(required=True, attribute="window_start")
    end_at = Moment(required=True, attribute="window_end")
    volunteers_needed = Integer(load_default=1, validate=ma.validate.Range(1, MAX_VOLUNTEERS))
    target_groups = UniqueList(
        Str(validate=ma.validate.OneOf(list(TARGET_GROUPS))),
        load_default=list,
        validate=ma.validate.Length(max=len(TARGET_GROUPS)),
        metadata={"description": ", ".join(f"{k} {v[0]}" for k, v in TARGET_GROUPS.items())},
    )
    skills = Skills(
        MAX_WORK_SKILLS,
        metadata={"description": "skills the service needs (a volunteer with one fits); none: anyone"},
    )
    resident_phone = Phone()
    resident_name = Text(40)
    site_id = Id()


class OrderListArgs(PageArgs):
    scope = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(["mine", "assigned", "managed"]),
        metadata={"description": "mine: I ordered; assigned: I serve; managed: my sites (default for staff)"},
    )
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(list(OrderStatus)))
    start = Date(
        data_key="from",
        load_default=None,
        validate=_plausible,
        metadata={
            "description": "service starting on or after this local day (the clock of `site_id`, "
            "else the deployment's time zone); years 2000–2200",
            "pattern": PLAUSIBLE_DATE,
        },
    )
    end = Date(
        data_key="to",
        load_default=None,
        validate=_plausible,
        metadata={"description": "service starting on or before this local day", "pattern": PLAUSIBLE_DATE},
    )
    category_id = Id(strict=False, load_default=None)
    site_id = Id(
        strict=False,
        load_default=None,
        metadata={"description": "a site in reach: the orders of its stations (404 out of reach)"},
    )
    escalated = QueryBoolean(
        load_default=None,
        metadata={"description": "true: escalated in their present state (late); false: not escalated"},
    )
    need = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(NEEDS),
        metadata={
            "description": "what waits on a manager (the counts of GET /sites/{id}/today): review, "
            "dispatch (offers all declined), pool_not_filling (free places, deadline within "
            f"{POOL_WARN_HOURS} h), checkout_overdue, audit_overdue, escalated_to_me"
        },
    )


class DispatchIn(ma.Schema):
    """派单: mode `assign` offers it to `volunteer_ids` or a team's members; mode `grab` opens it."""

    mode = Str(required=True, validate=ma.validate.OneOf(list(OrderMode)))
    capacity = Integer(validate=ma.validate.Range(1, MAX_VOLUNTEERS))
    deadline = Moment(metadata={"description": "Offers/pool close; default: grab window or the start"})
    volunteer_ids = UniqueList(Id(), validate=ma.validate.Length(min=1, max=MAX_VOLUNTEERS))
    team_id = Id()
    note = Text(500)

    @ma.validates_schema
    def _whom(self, data, **_):
        if data["mode"] == "assign" and bool(data.get("volunteer_ids")) == bool(data.get("team_id")):
            raise ma.ValidationError(
                "mode assign needs volunteer_ids or team_id (one of them)", "volunteer_ids"
            )


class OfferIn(ma.Schema):
    volunteer_ids = UniqueList(Id(), validate=ma.validate.Length(min=1, max=MAX_VOLUNTEERS))
    team_id = Id()

    @ma.validates_schema
    def _whom(self, data, **_):
        if bool(data.get("volunteer_ids")) == bool(data.get("team_id")):
            raise ma.ValidationError("volunteer_ids or team_id (one of them)", "volunteer_ids")


class RatingIn(ma.Schema):
    stars = Integer(required=True, validate=ma.validate.Range(1, 5))
    comment = Text(500, load_default=None)


class AssignmentLine(ma.Schema):
    assignment = ma.fields.Nested(AssignmentOut, required=True)
    volunteer_name = ma.fields.String(allow_none=True)


class ResidentOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    phone = ma.fields.String(required=True, metadata={"description": "Masked unless yours or you manage"})


class RatingOut(ma.Schema):
    state = ma.fields.String(allow_none=True, attribute="rating_state")
    stars = ma.fields.Integer(allow_none=True, attribute="rating_stars")
    comment = ma.fields.String(allow_none=True, attribute="rating_comment")
    rated_at = ma.fields.AwareDateTime(allow_none=True)
    due_at = ma.fields.AwareDateTime(allow_none=True, attribute="rating_due_at")


_RATING = RatingOut()  # one instance for every order's dump (a schema keeps no state between dumps)


class OrderSummary(ma.Schema):
    id = ma.fields.Integer(required=True)
    site_id = ma.fields.Integer(required=True)
    dispatch_site_id = ma.fields.Integer(required=True)
    category_id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    address = ma.fields.String(required=True)
    lat = ma.fields.Float(required=True, metadata=WGS84_OUT)
    lng = ma.fields.Float(required=True, metadata=WGS84_OUT)
    start_at = ma.fields.AwareDateTime(required=True, attribute="window_start")
    end_at = ma.fields.AwareDateTime(required=True, attribute="window_end")
    volunteers_needed = ma.fields.Integer(required=True)
    target_groups = ma.fields.List(ma.fields.String(), required=True)
    skills = ma.fields.List(ma.fields.String(), required=True, metadata={"description": "skills it needs"})
    status = ma.fields.String(required=True, metadata={"enum": list(OrderStatus)})
    mode = ma.fields.String(allow_none=True)
    capacity = ma.fields.Integer(required=True)
    taken = ma.fields.Integer(required=True)
    created_at = ma.fields.AwareDateTime(required=True)


class OrderOut(OrderSummary):
    description = ma.fields.String(allow_none=True)
    proxy_id = ma.fields.Integer(allow_none=True)
    reason = ma.fields.String(allow_none=True)
    dispatch_due_at = ma.fields.AwareDateTime(allow_none=True)
    fill_due_at = ma.fields.AwareDateTime(allow_none=True)
    checkin_due_at = ma.fields.AwareDateTime(allow_none=True)
    checkout_due_at = ma.fields.AwareDateTime(allow_none=True)
    audit_due_at = ma.fields.AwareDateTime(allow_none=True)
    escalated_at = ma.fields.AwareDateTime(allow_none=True)
    completed_at = ma.fields.AwareDateTime(allow_none=True)
    closed_at = ma.fields.AwareDateTime(allow_none=True)
    audit_note = ma.fields.String(allow_none=True)
    rating = ma.fields.Function(lambda o: _RATING.dump(o), required=True)  # o: an Order or a dict


class HandoverOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    order_id = ma.fields.Integer(required=True)
    from_site_id = ma.fields.Integer(required=True)
    to_site_id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"enum": list(HandoverKind)})
    status = ma.fields.String(required=True, metadata={"enum": list(HandoverStatus)})
    reason = ma.fields.String(required=True)
    requested_by_id = ma.fields.Integer(required=True)
    decided_by_id = ma.fields.Integer(allow_none=True)
    decision_note = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    decided_at = ma.fields.AwareDateTime(allow_none=True)


class OrderDetail(OrderOut):
    """An order with who ordered it and its assignments: its own fields at the top level, as an
    activity's detail (one style for both)."""

    resident = ma.fields.Nested(ResidentOut, required=True)
    my_assignment = ma.fields.Nested(AssignmentOut, allow_none=True)
    assignments = ma.fields.List(ma.fields.Nested(AssignmentLine), required=True)
    handovers = ma.fields.List(
        ma.fields.Nested(HandoverOut),
        required=True,
        metadata={"description": "转派/上报, oldest first: for the managers who read it (others: empty)"},
    )


class EventOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    action = ma.fields.String(required=True)
    from_status = ma.fields.String(allow_none=True, data_key="from")
    to_status = ma.fields.String(required=True, data_key="to")
    actor_id = ma.fields.Integer(allow_none=True)
    proxy_id = ma.fields.Integer(allow_none=True)
    assignment_id = ma.fields.Integer(allow_none=True)
    note = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True, attribute="at")


class HandoverIn(ma.Schema):
    to_site_id = Id(
        required=True,
        metadata={"description": "a sibling station under the same parent (转派), or the parent site (上报)"},
    )
    reason = Text(500, required=True)


class HandoverListArgs(PageArgs):
    direction = ma.fields.String(
        load_default="incoming",
        validate=ma.validate.OneOf(["incoming", "outgoing"]),
        metadata={"description": "incoming: asked of the site or referred up to it; outgoing: its own"},
    )
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(list(HandoverStatus)))
