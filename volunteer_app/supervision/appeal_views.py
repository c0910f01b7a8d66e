"""HTTP endpoints of volunteers' appeals (申诉) of an audit cut or a no-show mark (supervision/appeals.py)."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.extensions import Blueprint
from volunteer_app.idempotency import idempotent
from volunteer_app.pagination import PageArgs
from volunteer_app.supervision import appeal_schemas as s
from volunteer_app.supervision import appeals

blp = Blueprint(
    "appeals",
    __name__,
    url_prefix="/api/v1",
    description="Appeals (申诉): a volunteer appeals an audit that cut their minutes or a no-show mark, "
    "once; the site one level up decides; an upheld appeal credits the difference to the time book",
)


@blp.route("/assignments/<int:assignment_id>/appeal")
class AssignmentAppeal(MethodView):
    @auth_required()
    @idempotent(user_scope)
    @blp.arguments(s.AppealIn)
    @blp.response(201, s.AppealOut)
    def post(self, data, assignment_id):
        """Appeal my assignment's audit cut or no-show mark (once, within the site's appeal window)."""
        return appeals.submit(who=current_principal(), assignment_id=assignment_id, **data)


@blp.route("/me/appeals")
class MyAppeals(MethodView):
    @auth_required()
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, s.AppealPage)
    def get(self, args):
        """My appeals, newest first."""
        return appeals.my_appeals(who=current_principal(), **args)


@blp.route("/appeals/<int:appeal_id>")
class AppealDetail(MethodView):
    @auth_required()
    @blp.response(200, s.AppealDetail)
    def get(self, appeal_id):
        """An appeal with its timeline: its volunteer's, or of a site in reach (audited or deciding)."""
        return appeals.read(who=current_principal(), appeal_id=appeal_id)


@blp.route("/sites/<int:site_id>/appeals")
class SiteAppeals(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.AppealListArgs, location="query")
    @blp.response(200, s.AppealPage)
    def get(self, args, site_id):
        """The appeals a site in reach decides (side=deciding) or whose audits it made (side=audited)."""
        return appeals.list_for_site(who=current_principal(), site_id=site_id, **args)


@blp.route("/appeals/<int:appeal_id>/uphold")
class AppealUphold(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.AppealUpholdIn)
    @blp.response(200, s.AppealOut)
    def post(self, data, appeal_id):
        """Uphold (in whole or in part): the new total is granted and the difference credited, once."""
        return appeals.uphold(who=current_principal(), appeal_id=appeal_id, **data)


@blp.route("/appeals/<int:appeal_id>/reject")
class AppealReject(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.AppealRejectIn)
    @blp.response(200, s.AppealOut)
    def post(self, data, appeal_id):
        """Reject: the audit or the mark stands."""
        return appeals.reject(who=current_principal(), appeal_id=appeal_id, **data)


@blp.route("/appeals/<int:appeal_id>/withdraw")
class AppealWithdraw(MethodView):
    @auth_required()
    @blp.arguments(s.AppealWithdrawIn)
    @blp.response(200, s.AppealOut)
    def post(self, data, appeal_id):
        """The volunteer takes a pending appeal back."""
        return appeals.withdraw(who=current_principal(), appeal_id=appeal_id, **data)
