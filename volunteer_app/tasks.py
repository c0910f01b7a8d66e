"""What a volunteer does, across orders and activities: the task feed (`GET /tasks/available`) and
the assignment actions (`POST /assignments/{id}/…`), which send each assignment to its owner's service.

This module sits above the order and activity domains (it imports both; neither imports it), so the
two stay independent and share attendance through `volunteer_app.attendance`.
"""

from __future__ import annotations

import functools

import marshmallow as ma
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select, union_all

from volunteer_app import apidoc
from volunteer_app.activities import service as activities
from volunteer_app.attendance import schemas as att
from volunteer_app.attendance import service as attendance
from volunteer_app.attendance.models import Assignment
from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.db import utcnow
from volunteer_app.errors import NotFound
from volunteer_app.extensions import db
from volunteer_app.idempotency import idempotent
from volunteer_app.orders import onsite, queries, taking
from volunteer_app.pagination import PageArgs, page_schema, paginate_rows
from volunteer_app.schemas import Id, QueryLat, QueryLng

blp = Blueprint("tasks", __name__, url_prefix="/api/v1", description="Tasks: the feed and assignments")


class TasksArgs(PageArgs):
    lat = QueryLat(required=True)
    lng = QueryLng(required=True)
    radius_m = ma.fields.Integer(load_default=5000, validate=ma.validate.Range(100, 50_000))
    category_id = Id(strict=False, load_default=None)


class TaskOut(ma.Schema):
    kind = ma.fields.String(required=True, metadata={"enum": ["order", "activity"]})
    id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    theme = ma.fields.String(allow_none=True, metadata={"description": "service day theme (activities)"})
    category_id = ma.fields.Integer(required=True)
    site_id = ma.fields.Integer(required=True)
    address = ma.fields.String(required=True)
    lat = ma.fields.Float(required=True)
    lng = ma.fields.Float(required=True)
    distance_m = ma.fields.Integer(required=True)
    start_at = ma.fields.AwareDateTime(required=True)
    end_at = ma.fields.AwareDateTime(required=True)
    slots_left = ma.fields.Integer(required=True)
    waitlist_left = ma.fields.Integer(
        allow_none=True, metadata={"description": "activities: waitlist places left (sign up when 0 slots)"}
    )
    deadline = ma.fields.AwareDateTime(allow_none=True, metadata={"description": "sign-up / grab closes"})
    target_groups = ma.fields.List(ma.fields.String(), required=True)


TaskPage = page_schema(TaskOut, "TaskPage")
FEEDS = (queries, activities)  # the first one's column types read every row (UNION)


@functools.cache
def _candidates(with_category: bool):
    """The feed's UNION ALL of each domain's candidates, built once per process over bound parameters
    (`attendance.Near`, `who_id`, `now`, `category_id`): only its values change between requests."""
    return union_all(*[feed.feed_candidates(with_category=with_category) for feed in FEEDS]).subquery(
        "candidates"
    )


def available_tasks(
    *, who, lat: float, lng: float, radius_m: int, category_id: int | None, limit: int, cursor: str | None
) -> dict:
    """Open pools and activities open for sign-up near a point, nearest first, that the caller has
    not taken. One SQL query: each domain's entries (a bounding box on its partial index of open
    rows, then the circle) UNION ALL, ordered and paged on (distance, kind, id)."""
    union = _candidates(category_id is not None)
    params = {**attendance.Near(lat, lng, radius_m).params(), "who_id": who.user_id, "now": utcnow()}
    if category_id is not None:
        params["category_id"] = category_id
    keys = [union.c.d2, union.c.kind, union.c.id]
    rows, next_cursor = paginate_rows(select(union), keys, limit=limit, cursor=cursor, params=params)
    items = []
    for row in rows:
        item = row._asdict()
        item["distance_m"] = attendance.distance_m(lat, lng, item["lat"], item["lng"])
        item["target_groups"] = item["target_groups"] or []
        items.append(item)
    return {"items": items, "next_cursor": next_cursor}


@blp.route("/tasks/available")
class TasksAvailable(MethodView):
    @blp.etag
    @auth_required("volunteer")
    @blp.arguments(TasksArgs, location="query")
    @blp.response(200, TaskPage)
    def get(self, args):
        """Open orders I may grab and activities I may sign up for, nearest first within a radius (m)."""
        return available_tasks(who=current_principal(), **args)


# ---- /assignments/{id}/… : to the order's or the activity's service ----------------------------------


def _of_order(assignment_id: int) -> bool:
    """Whether this assignment is an order's (else an activity's); 404 if there is no such assignment.
    Who may act on it is decided by its owner's service, in its queries."""
    row = db.session.execute(
        select(Assignment.order_id, Assignment.activity_id).where(Assignment.id == assignment_id)
    ).first()
    if row is None:
        raise NotFound()
    return row.order_id is not None


def _assignment_action(
    name: str, schema, summary: str, roles: tuple[str, ...], on_order, on_activity=None, *, retry_safe=False
):
    """One POST /assignments/{id}/<name> endpoint: `on_order` or `on_activity` by the assignment's owner
    (accept and decline exist for orders only: on a sign-up they are 404)."""

    def post(self, data, assignment_id):
        action = on_order if _of_order(assignment_id) else on_activity
        if action is None:
            raise NotFound()
        return action(who=current_principal(), assignment_id=assignment_id, **data)

    post.__doc__ = summary
    post = apidoc.calls(*(f for f in (on_order, on_activity) if f is not None))(post)
    post = blp.response(200, att.AssignmentOut)(post)
    post = blp.arguments(schema)(post)
    if retry_safe:
        post = idempotent(user_scope)(post)
    post = auth_required(*roles)(post)

    action = type(f"Assignment{name.title().replace('-', '')}", (MethodView,), {"post": post})
    blp.route(f"/assignments/<int:assignment_id>/{name}")(action)


class _Empty(ma.Schema):
    pass


_assignment_action(
    "accept", _Empty, "接单: accept an offer (409 `order.full` if the places went).", (), taking.accept
)
_assignment_action("decline", att.OptionalReasonIn, "Decline an offer.", (), taking.decline)
_assignment_action(
    "withdraw",
    att.OptionalReasonIn,
    "Give back my place before checking in (on an activity: cancel my sign-up).",
    (),
    taking.withdraw,
    activities.withdraw,
)
_assignment_action(
    "check-in",
    att.PositionIn,
    "签到 with my position, within the site's check-in radius (422 `attendance.too_far` with the "
    "distance and the radius otherwise: nothing is recorded, try again on site). The distance is kept, "
    "not the position.",
    (),
    onsite.check_in,
    activities.check_in,
    retry_safe=True,
)
_assignment_action(
    "check-out",
    att.PositionIn,
    "签退 with my position, within the check-in radius (422 `attendance.too_far` otherwise; a manager "
    "can close a check-out missed on site); minutes are computed.",
    (),
    onsite.check_out,
    activities.check_out,
)
_assignment_action(
    "close",
    att.CloseIn,
    "Close a missed check-out (manager, with a reason).",
    ("manager", "admin"),
    onsite.close_attendance,
    activities.close_attendance,
)
_assignment_action(
    "no-show",
    att.ReasonIn,
    "Record a no-show (manager, with a reason).",
    ("manager", "admin"),
    onsite.mark_no_show,
    activities.mark_no_show,
)
