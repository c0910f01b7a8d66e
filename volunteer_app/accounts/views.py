"""HTTP endpoints of the accounts domain: me, volunteer applications, managers, team members."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.accounts import principal, privacy, service
from volunteer_app.accounts import schemas as s
from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.extensions import Blueprint, reads_only
from volunteer_app.fastdump import fast
from volunteer_app.idempotency import idempotent
from volunteer_app.pagination import PageArgs, page_schema

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Profiles, volunteers and roles")

ApplicationPage = page_schema(s.ApplicationOut, "ApplicationPage")
ReviewPage = page_schema(s.ApplicationReviewOut, "ApplicationReviewPage")
MemberPage = page_schema(s.TeamMemberOut, "TeamMemberPage")
ManagerPage = page_schema(s.ManagerOut, "ManagerPage")


@blp.route("/me")
class Me(MethodView):
    @reads_only
    @principal.riding(service.PROFILE_RIDER)  # the volunteer profile: one round trip with the caller's
    @auth_required()
    @blp.response(200, fast(s.MeOut))
    def get(self):
        """My profile, roles and the sites they apply to."""
        return service.profile(who=current_principal())

    @auth_required()
    @blp.arguments(s.MePatch, required=False)  # every field optional: an empty body changes nothing
    @blp.response(200, s.MeOut)
    def patch(self, data):
        """Change my display name, home station, or whether leaderboards show my name."""
        return service.update_me(who=current_principal(), changes=data)


@blp.route("/me/volunteer-application")
class MyApplication(MethodView):
    @auth_required()
    @idempotent(user_scope)
    @blp.arguments(s.ApplicationIn)
    @blp.response(201, s.ApplicationOut)
    def post(self, data):
        """Apply to volunteer at a station, with real name and ID number (masked in every response)."""
        return service.apply_as_volunteer(who=current_principal(), **data)


@blp.route("/me/volunteer-applications")
class MyApplications(MethodView):
    @auth_required()
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ApplicationPage)
    def get(self, args):
        """My volunteer applications, newest first, with their outcome."""
        return service.my_applications(who=current_principal(), **args)


@blp.route("/sites/<int:site_id>/volunteer-applications")
class SiteApplications(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.ApplicationListArgs, location="query")
    @blp.response(200, ReviewPage)
    def get(self, args, site_id):
        """Applications to this site and the sites below it (review queue, oldest first)."""
        return service.list_applications(who=current_principal(), site_id=site_id, **args)


@blp.route("/volunteer-applications/<int:application_id>/approve")
class ApproveApplication(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.ApplicationReviewOut)
    def post(self, application_id):
        """Approve: the applicant becomes a volunteer of the station."""
        who = current_principal()
        return service.approve_application(who=who, reviewer_id=who.user_id, application_id=application_id)


@blp.route("/volunteer-applications/<int:application_id>/reject")
class RejectApplication(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.RejectIn)
    @blp.response(200, s.ApplicationReviewOut)
    def post(self, data, application_id):
        """Reject, with a reason the applicant sees."""
        who = current_principal()
        return service.reject_application(
            who=who, reviewer_id=who.user_id, application_id=application_id, reason=data["reason"]
        )


@blp.route("/sites/<int:site_id>/managers")
class SiteManagers(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ManagerPage)
    def get(self, args, site_id):
        """Managers granted on this site."""
        return service.list_managers(who=current_principal(), site_id=site_id, **args)

    @auth_required("manager", "admin")
    @blp.arguments(s.ManagerIn)
    @blp.response(201, s.GrantOut)
    def post(self, data, site_id):
        """Appoint a manager (admins, or managers of a site above this one)."""
        who = current_principal()
        return service.grant_manager(who=who, granter_id=who.user_id, site_id=site_id, **data)


@blp.route("/sites/<int:site_id>/managers/<int:user_id>")
class SiteManager(MethodView):
    @auth_required("manager", "admin")
    @blp.response(204)
    def delete(self, site_id, user_id):
        """Remove a manager from this site."""
        service.revoke_manager(who=current_principal(), site_id=site_id, user_id=user_id)


@blp.route("/teams/<int:team_id>/members")
class TeamMembers(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, MemberPage)
    def get(self, args, team_id):
        """Members of a team."""
        return service.list_team_members(who=current_principal(), team_id=team_id, **args)

    @auth_required("manager", "admin")
    @blp.arguments(s.TeamMemberIn)
    @blp.response(201, s.TeamMemberCreated)
    def post(self, data, team_id):
        """Add a volunteer (from a station under the team's site); `leader` also grants team_leader."""
        who = current_principal()
        return service.add_team_member(who=who, granter_id=who.user_id, team_id=team_id, **data)


@blp.route("/teams/<int:team_id>/members/<int:user_id>")
class TeamMember(MethodView):
    @auth_required("manager", "admin")
    @blp.response(204)
    def delete(self, team_id, user_id):
        """Remove a member from a team."""
        service.remove_team_member(who=current_principal(), team_id=team_id, user_id=user_id)


# ---- personal information: unmasked ID numbers (accounts/privacy.py) ----------------------------------

AccessPage = page_schema(s.IdNumberAccessOut, "IdNumberAccessPage")
ViewerPage = page_schema(s.IdNumberViewerOut, "IdNumberViewerPage")


@blp.route("/volunteers/<int:user_id>/id-number")
class VolunteerIdNumber(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.IdNumberRevealIn)
    @blp.response(200, s.IdNumberRevealOut)
    def post(self, data, user_id):
        """The full ID number of a person in reach, for a stated reason. Needs the ID-number permission
        (admins; managers an admin granted it to); every look is logged (who, whose, when, why)."""
        return privacy.reveal_id_number(who=current_principal(), user_id=user_id, reason=data["reason"])


@blp.route("/id-number-access-log")
class IdNumberAccessLog(MethodView):
    @auth_required("admin")
    @blp.arguments(s.IdNumberAccessArgs, location="query")
    @blp.response(200, AccessPage)
    def get(self, args):
        """Every look at a full ID number, newest first (optionally of one person, or by one viewer)."""
        return privacy.access_log(**args)


@blp.route("/id-number-viewers")
class IdNumberViewers(MethodView):
    @auth_required("admin")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, ViewerPage)
    def get(self, args):
        """The managers allowed to see full ID numbers."""
        return privacy.list_viewers(**args)

    @auth_required("admin")
    @blp.arguments(s.IdNumberViewerIn)
    @blp.response(201, s.IdNumberViewerOut)
    def post(self, data):
        """Allow a manager to see full ID numbers of people in their reach."""
        return privacy.grant_viewer(who=current_principal(), **data)


@blp.route("/id-number-viewers/<int:user_id>")
class IdNumberViewer(MethodView):
    @auth_required("admin")
    @blp.response(204)
    def delete(self, user_id):
        """Take the permission away."""
        privacy.revoke_viewer(user_id=user_id)
