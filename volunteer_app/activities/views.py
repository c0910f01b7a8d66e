"""HTTP endpoints of activities (活动, 报名) and service-day rules (志愿服务日)."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.activities import attendance, service, service_days, signups
from volunteer_app.activities import schemas as s
from volunteer_app.attendance.schemas import AssignmentOut, AuditIn, ReasonIn
from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.extensions import Blueprint
from volunteer_app.idempotency import idempotent
from volunteer_app.pagination import PageArgs, page_schema

blp = Blueprint(
    "activities",
    __name__,
    url_prefix="/api/v1",
    description="Activities (活动, 报名) and service days (志愿服务日)",
)

ActivityPage = page_schema(s.ActivityOut, "ActivityPage")
MyActivityPage = page_schema(s.ActivityDetail, "MyActivityPage")
SignupPage = page_schema(s.SignupOut, "SignupPage")
RulePage = page_schema(s.RuleOut, "ServiceDayRulePage")


def _detail(activity):
    return service.detail(activity, current_principal())


@blp.route("/sites/<int:site_id>/activities")
class SiteActivities(MethodView):
    @auth_required()
    @blp.arguments(s.SiteActivityArgs, location="query")
    @blp.response(200, ActivityPage)
    def get(self, args, site_id):
        """A site's activities (`subtree`: and its sub-sites'), cancelled ones included, marked: those
        that have not ended yet by start, or with `when=past` those that have, the latest first, or
        with `when=to_audit` those waiting for their audit (ended, still open), the oldest first. The
        past, the audits and the subtree are for the site's managers (else 404)."""
        return service.list_for_site(who=current_principal(), site_id=site_id, **args)

    @auth_required("manager", "admin")
    @idempotent(user_scope)
    @blp.arguments(s.ActivityIn)
    @blp.response(201, s.ActivityDetail)
    def post(self, data, site_id):
        """Publish an activity at a site in my reach."""
        return _detail(service.create(who=current_principal(), site_id=site_id, data=data))


@blp.route("/activities/<int:activity_id>")
class ActivityOne(MethodView):
    @blp.etag
    @auth_required()
    @blp.response(200, s.ActivityDetail)
    def get(self, activity_id):
        """An activity, its places left and my sign-up."""
        return _detail(service.get(activity_id))


@blp.route("/me/activities")
class MyActivities(MethodView):
    @blp.etag
    @auth_required("volunteer")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, MyActivityPage)
    def get(self, args):
        """My sign-ups, upcoming or ended within a day, by start, each with `my_assignment` (its id is the
        assignment to check in and out with)."""
        return service.mine(who=current_principal(), **args)


@blp.route("/activities/<int:activity_id>/signup")
class ActivitySignup(MethodView):
    @auth_required("volunteer")
    @idempotent(user_scope)
    @blp.response(201, AssignmentOut)
    def post(self, activity_id):
        """报名: a place, or a place on the waitlist when full (status `waitlisted`); 409 `activity.full`."""
        return signups.signup(who=current_principal(), activity_id=activity_id)

    @auth_required("volunteer")
    @blp.response(204)
    def delete(self, activity_id):
        """Cancel my sign-up before the start; my place goes to the oldest on the waitlist."""
        signups.cancel_signup(who=current_principal(), activity_id=activity_id)


@blp.route("/activities/<int:activity_id>/signups")
class ActivitySignups(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.SignupArgs, location="query")
    @blp.response(200, SignupPage)
    def get(self, args, activity_id):
        """Who signed up (manager in reach), with their names and attendance, in sign-up order; with
        `waitlist=true` the waitlist in the order it moves up."""
        return service.signups(who=current_principal(), activity_id=activity_id, **args)


@blp.route("/activities/<int:activity_id>/cancel")
class ActivityCancel(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(ReasonIn)
    @blp.response(200, s.ActivityDetail)
    def post(self, data, activity_id):
        """Cancel before the start, with a reason; everyone signed up is told."""
        return _detail(service.cancel(who=current_principal(), activity_id=activity_id, **data))


@blp.route("/activities/<int:activity_id>/audit")
class ActivityAudit(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(AuditIn)
    @blp.response(200, s.ActivityDetail)
    def post(self, data, activity_id):
        """审核 after the end: confirm minutes per sign-up (list only changes); hours are credited once."""
        activity = attendance.audit(
            who=current_principal(),
            activity_id=activity_id,
            items=data["assignments"],
            note=data["note"],
            confirm_computed=data["confirm_computed"],
        )
        return _detail(activity)


@blp.route("/sites/<int:site_id>/service-day-rules")
class SiteRules(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, RulePage)
    def get(self, args, site_id):
        """A site's service-day rules, each read back in words with its next occurrences."""
        return service_days.list_rules(who=current_principal(), site_id=site_id, **args)

    @auth_required("manager", "admin")
    @idempotent(user_scope)
    @blp.arguments(s.RuleIn)
    @blp.response(201, s.RuleOut)
    def post(self, data, site_id):
        """Save a rule; its activities for the rest of this month and next month are generated now."""
        rule = service_days.create_rule(who=current_principal(), site_id=site_id, data=data)
        return service_days.rule_out(rule)


@blp.route("/sites/<int:site_id>/service-day-rules/preview")
class SiteRulePreview(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.PreviewArgs, location="query")
    @blp.response(200, s.PreviewOut)
    def get(self, args, site_id):
        """Check a rule before saving it: its text and next occurrences in the site's time zone."""
        count = args.pop("count")
        spec = {key: value for key, value in args.items() if value is not None}
        return service_days.preview(who=current_principal(), site_id=site_id, spec=spec, count=count)


@blp.route("/service-day-rules/<int:rule_id>")
class RuleOne(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.RuleOut)
    def get(self, rule_id):
        """One rule with its next occurrences."""
        return service_days.rule_out(service_days.get_rule(who=current_principal(), rule_id=rule_id), 5)

    @auth_required("manager", "admin")
    @blp.arguments(s.RulePatch)
    @blp.response(200, s.RuleOut)
    def patch(self, data, rule_id):
        """Pause (`active: false`) or resume a rule."""
        rule = service_days.set_active(who=current_principal(), rule_id=rule_id, active=data["active"])
        return service_days.rule_out(rule)
