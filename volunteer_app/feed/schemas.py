"""The feed's query and its entries."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.pagination import PageArgs, page_schema
from volunteer_app.schemas import (
    WGS84_OUT,
    Id,
    Positioned,
    QueryBoolean,
    QueryLat,
    QueryLng,
    SkillFilter,
    UniqueList,
)

MAX_CATEGORIES = 20


class TasksArgs(PageArgs, Positioned):
    lat = QueryLat(required=True)
    lng = QueryLng(required=True)
    radius_m = ma.fields.Integer(load_default=5000, validate=ma.validate.Range(100, 50_000))
    category_ids = UniqueList(
        Id(strict=False),
        data_key="category_id",
        load_default=list,
        validate=ma.validate.Length(max=MAX_CATEGORIES),
        metadata={"description": "repeatable (`category_id=3&category_id=5`): entries of any of them"},
    )
    skill = SkillFilter(
        load_default=None, metadata={"description": "entries asking for this skill (exactly, as listed)"}
    )
    matching = QueryBoolean(
        load_default=False,
        metadata={
            "description": "true: only what fits me: an entry of one of my categories (all, if I named "
            "none) that asks for no skill or for one of mine"
        },
    )


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
    skills = ma.fields.List(
        ma.fields.String(), required=True, metadata={"description": "skills asked for (one of them fits)"}
    )


TaskPage = page_schema(TaskOut, "TaskPage")
