"""HTTP endpoints of the follow-ups (回访): a site's list, one task, its calls and giving up."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.extensions import Blueprint
from volunteer_app.idempotency import idempotent
from volunteer_app.pagination import page_schema
from volunteer_app.supervision import follow_up_schemas as s
from volunteer_app.supervision import follow_ups

blp = Blueprint("follow_ups", __name__, url_prefix="/api/v1", description="Follow-up visits (回访)")

FollowUpPage = page_schema(s.FollowUpOut, "FollowUpPage")


@blp.route("/sites/<int:site_id>/follow-ups")
class SiteFollowUps(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.FollowUpListArgs, location="query")
    @blp.response(200, FollowUpPage)
    def get(self, args, site_id):
        """The follow-ups of a site and the sites below it, soonest due first."""
        return follow_ups.list_for_site(who=current_principal(), site_id=site_id, **args)


@blp.route("/follow-ups/<int:follow_up_id>")
class FollowUpOne(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.FollowUpDetail)
    def get(self, follow_up_id):
        """One follow-up with its order, the resident (as the order shows them) and its timeline."""
        return follow_ups.show(who=current_principal(), follow_up_id=follow_up_id)


@blp.route("/follow-ups/<int:follow_up_id>/calls")
class FollowUpCalls(MethodView):
    @auth_required("manager", "admin")
    @idempotent(user_scope)
    @blp.arguments(s.FollowUpCallIn)
    @blp.response(200, s.FollowUpDetail)
    def post(self, data, follow_up_id):
        """A call: reached → done with the satisfaction (1–5); not reached → still pending, one more
        attempt. With an Idempotency-Key a retried call is counted once."""
        return follow_ups.record_call(who=current_principal(), follow_up_id=follow_up_id, **data)


@blp.route("/follow-ups/<int:follow_up_id>/give-up")
class FollowUpGiveUp(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.FollowUpGiveUpIn)
    @blp.response(200, s.FollowUpDetail)
    def post(self, data, follow_up_id):
        """Unreachable: after at least one call that did not reach (409 `follow_up.not_tried` before)."""
        return follow_ups.give_up(who=current_principal(), follow_up_id=follow_up_id, **data)
