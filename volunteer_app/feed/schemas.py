"""The feed's query and its entries."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.pagination import PageArgs, page_schema
from volunteer_app.schemas import WGS84_OUT, Id, Positioned, QueryLat, QueryLng


class TasksArgs(PageArgs, Positioned):
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
    lat = ma.fields.Float(required=True, metadata=WGS84_OUT)
    lng = ma.fields.Float(required=True, metadata=WGS84_OUT)
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
