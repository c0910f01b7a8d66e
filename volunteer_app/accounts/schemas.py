"""Request and response shapes of the accounts domain."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.accounts.models import ApplicationStatus
from volunteer_app.pagination import PageArgs
from volunteer_app.schemas import (
    MAX_PROFILE_SKILLS,
    Boolean,
    Id,
    PatchSchema,
    Phone,
    Skills,
    Str,
    Text,
    UniqueList,
)


class SiteRef(ma.Schema):
    id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)


class RoleOut(ma.Schema):
    role = ma.fields.String(required=True)
    site_id = ma.fields.Integer(allow_none=True)
    site_name = ma.fields.String(allow_none=True)
    team_id = ma.fields.Integer(allow_none=True)


class VolunteerOut(ma.Schema):
    volunteer_no = ma.fields.String(required=True)
    site_id = ma.fields.Integer(required=True)
    skills = ma.fields.List(ma.fields.String(), required=True)
    category_ids = ma.fields.List(ma.fields.Integer(), required=True)
    approved_at = ma.fields.AwareDateTime(required=True)


class MeOut(ma.Schema):
    """One's own profile: the phone is shown in full to its owner; the ID number is always masked."""

    id = ma.fields.Integer(attribute="user.id", required=True)
    phone = ma.fields.String(attribute="user.phone", required=True)
    name = ma.fields.String(attribute="user.name", required=True)
    real_name = ma.fields.String(attribute="user.real_name", allow_none=True)
    id_number_masked = ma.fields.String(attribute="user.id_number_masked", allow_none=True)
    home_site = ma.fields.Nested(SiteRef, allow_none=True)
    volunteer = ma.fields.Nested(VolunteerOut, allow_none=True)
    roles = ma.fields.List(ma.fields.Nested(RoleOut), required=True)
    show_name_on_leaderboard = ma.fields.Boolean(
        attribute="user.show_name_on_leaderboard",
        required=True,
        metadata={"description": "volunteer leaderboards show my name in full (else masked: 张*)"},
    )
    created_at = ma.fields.AwareDateTime(attribute="user.created_at", required=True)


class MePatch(PatchSchema):
    name = Text(40)
    home_site_id = Id()
    show_name_on_leaderboard = Boolean(
        metadata={"description": "show my name in full on volunteer leaderboards (default false: masked)"}
    )


class ApplicationIn(ma.Schema):
    real_name = Text(40, min_length=2, required=True)
    id_number = Str(required=True, validate=ma.validate.Length(equal=18))
    site_id = Id(required=True, metadata={"description": "The home station applied to"})
    skills = Skills(MAX_PROFILE_SKILLS)
    category_ids = UniqueList(Id(), load_default=list, validate=ma.validate.Length(max=20))


class ApplicationOut(ma.Schema):
    """An application as its applicant sees it."""

    id = ma.fields.Integer(required=True)
    site_id = ma.fields.Integer(required=True)
    real_name = ma.fields.String(required=True)
    id_number_masked = ma.fields.String(required=True)
    skills = ma.fields.List(ma.fields.String(), required=True)
    category_ids = ma.fields.List(ma.fields.Integer(), required=True)
    status = ma.fields.String(required=True)
    reason = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    reviewed_at = ma.fields.AwareDateTime(allow_none=True)


class ApplicationReviewOut(ApplicationOut):
    """An application as a manager in reach sees it (phone in full: managers in reach may see it)."""

    user_id = ma.fields.Integer(required=True)
    applicant_name = ma.fields.String(attribute="applicant.name", required=True)
    phone = ma.fields.String(attribute="applicant.phone", required=True)


class ApplicationListArgs(PageArgs):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(list(ApplicationStatus)))


class RejectIn(ma.Schema):
    reason = Text(500, required=True)


class ManagerIn(ma.Schema):
    user_id = Id(load_default=None)
    phone = Phone(load_default=None)

    @ma.validates_schema
    def _one_of(self, data, **_kwargs):
        if data.get("user_id") is None and not data.get("phone"):
            raise ma.ValidationError("give user_id or phone", field_name="user_id")


class ManagerOut(ma.Schema):
    user_id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    phone = ma.fields.String(required=True)
    site_id = ma.fields.Integer(required=True)
    granted_at = ma.fields.AwareDateTime(required=True)


class GrantOut(ma.Schema):
    user_id = ma.fields.Integer(required=True)
    role = ma.fields.String(required=True)
    site_id = ma.fields.Integer(allow_none=True)
    team_id = ma.fields.Integer(allow_none=True)
    granted_at = ma.fields.AwareDateTime(attribute="created_at", required=True)


class TeamMemberIn(ma.Schema):
    user_id = Id(required=True)
    leader = Boolean(load_default=False)


class TeamMemberOut(ma.Schema):
    user_id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    volunteer_no = ma.fields.String(required=True)
    is_leader = ma.fields.Boolean(required=True)
    joined_at = ma.fields.AwareDateTime(required=True)


class TeamMemberCreated(ma.Schema):
    team_id = ma.fields.Integer(required=True)
    user_id = ma.fields.Integer(required=True)
    is_leader = ma.fields.Boolean(required=True)
    joined_at = ma.fields.AwareDateTime(attribute="created_at", required=True)


# ---- personal information: unmasked ID numbers ---------------------------------------------------


class IdNumberRevealIn(ma.Schema):
    # Why the number is needed (insurance enrolment, a police check…): written to the access log.
    reason = Text(200, min_length=4, required=True)


class IdNumberRevealOut(ma.Schema):
    user_id = ma.fields.Integer(required=True)
    real_name = ma.fields.String(allow_none=True)
    id_number = ma.fields.String(required=True)
    logged_at = ma.fields.AwareDateTime(required=True)


class IdNumberAccessOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
    viewer_id = ma.fields.Integer(required=True)
    viewer_name = ma.fields.String(required=True)
    subject_id = ma.fields.Integer(required=True)
    subject_name = ma.fields.String(required=True)
    reason = ma.fields.String(required=True)


class IdNumberAccessArgs(PageArgs):
    subject_id = Id(strict=False, load_default=None)
    viewer_id = Id(strict=False, load_default=None)


class IdNumberViewerIn(ma.Schema):
    user_id = Id(required=True)


class IdNumberViewerOut(ma.Schema):
    user_id = ma.fields.Integer(required=True)
    name = ma.fields.String(required=True)
    granted_by_id = ma.fields.Integer(allow_none=True)
    granted_at = ma.fields.AwareDateTime(required=True)
