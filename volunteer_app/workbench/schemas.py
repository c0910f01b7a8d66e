"""Query arguments and answers of the 工作台 reads: the roster and today's counts."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.pagination import PageArgs
from volunteer_app.schemas import Id, SearchText, SkillFilter
from volunteer_app.workbench.today import LABELS


class RosterArgs(PageArgs):
    q = SearchText(
        40,
        load_default=None,
        metadata={
            "description": "4 digits: the phone's last four; a whole phone number: that phone; "
            "else part of the name or real name, or the volunteer number"
        },
    )
    skill = SkillFilter(load_default=None, metadata={"description": "one of the volunteer's skills, exactly"})
    team_id = Id(strict=False, load_default=None, metadata={"description": "members of this team"})
    for_order = Id(
        strict=False,
        load_default=None,
        metadata={
            "description": "an order in reach (else 404): who fits it first (named its category, then "
            "named none, then others; then the most of its skills), each with `matches`"
        },
    )


class RosterStationOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)


class RosterTeamOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    is_leader = ma.fields.Boolean(required=True)


class RosterMatchOut(ma.Schema):
    category = ma.fields.Boolean(
        required=True, metadata={"description": "the order's category is among theirs, or they named none"}
    )
    skills = ma.fields.List(
        ma.fields.String(), required=True, metadata={"description": "the order's skills they have"}
    )
    fits = ma.fields.Boolean(
        required=True,
        metadata={
            "description": "category, and one of the order's skills (if it names any): as the feed's matching"
        },
    )


class RosterVolunteerOut(ma.Schema):
    user_id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    real_name = ma.fields.String(allow_none=True, required=True)
    phone = ma.fields.String(required=True, metadata={"description": "masked: +86137****0001"})
    volunteer_no = ma.fields.String(required=True)
    station = ma.fields.Nested(RosterStationOut, required=True)
    skills = ma.fields.List(ma.fields.String(), required=True)
    teams = ma.fields.List(ma.fields.Nested(RosterTeamOut), required=True)
    star_level = ma.fields.Integer(required=True)
    lifetime_minutes = ma.fields.Integer(required=True, metadata={"description": "audited service, net"})
    lifetime_hours = ma.fields.Float(required=True)
    balance_minutes = ma.fields.Integer(required=True)
    balance_hours = ma.fields.Float(required=True)
    open_tasks = ma.fields.Integer(
        required=True,
        metadata={"description": "assignments offered, held or checked in (orders and activities)"},
    )
    matches = ma.fields.Nested(
        RosterMatchOut,
        allow_none=True,
        metadata={"description": "how they fit `for_order` (null without it)"},
    )


class TodayCountOut(ma.Schema):
    key = ma.fields.String(required=True, metadata={"enum": list(LABELS)})
    label = ma.fields.String(required=True, metadata={"description": "in the caller's language"})
    count = ma.fields.Integer(required=True)
    path = ma.fields.String(required=True, metadata={"description": "the API list showing exactly them"})
    query = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.String(),
        required=True,
        metadata={"description": 'its query arguments, e.g. {"site_id": "4", "need": "review"}'},
    )


class TodayOut(ma.Schema):
    site_id = ma.fields.Integer(required=True)
    as_of = ma.fields.AwareDateTime(required=True)
    counts = ma.fields.List(ma.fields.Nested(TodayCountOut), required=True)


class RecentAssignmentOut(ma.Schema):
    assignment_id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"enum": ["order", "activity"]})
    order_id = ma.fields.Integer(allow_none=True, required=True)
    activity_id = ma.fields.Integer(allow_none=True, required=True)
    site_id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    start_at = ma.fields.AwareDateTime(required=True)
    status = ma.fields.String(required=True)
    minutes_confirmed = ma.fields.Integer(allow_none=True, required=True)


class VolunteerDetailOut(RosterVolunteerOut):
    """A volunteer as the roster shows them, with their latest assignments at sites in reach."""

    recent = ma.fields.List(
        ma.fields.Nested(RecentAssignmentOut),
        required=True,
        metadata={"description": "the 10 assignments at sites in reach that start latest, latest first"},
    )
