"""HTTP endpoints of complaints (诉求): the resident raises, accepts, reopens or withdraws; managers in
reach of the dispatch site list, note and answer; a manager above it raises a 督办 item about one."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.extensions import Blueprint
from volunteer_app.idempotency import idempotent
from volunteer_app.pagination import page_schema
from volunteer_app.supervision import complaint_schemas as s
from volunteer_app.supervision import complaints

blp = Blueprint("complaints", __name__, url_prefix="/api/v1", description="Complaints (诉求)")

ComplaintPage = page_schema(s.ComplaintSummary, "ComplaintPage")


def _detail(complaint):
    return complaints.detail(complaint, current_principal())


@blp.route("/orders/<int:order_id>/complaints")
class OrderComplaints(MethodView):
    @auth_required()
    @idempotent(user_scope)
    @blp.arguments(s.ComplaintIn)
    @blp.response(201, s.ComplaintOut)
    def post(self, data, order_id):
        """诉求: complain about my own order once it is over, within the dispatch site's window."""
        return _detail(complaints.submit(who=current_principal(), order_id=order_id, **data))


@blp.route("/me/complaints")
class MyComplaints(MethodView):
    @auth_required()
    @blp.arguments(s.MyComplaintArgs, location="query")
    @blp.response(200, ComplaintPage)
    def get(self, args):
        """The complaints I raised, newest first."""
        return complaints.list_mine(who=current_principal(), **args)


@blp.route("/complaints/<int:complaint_id>")
class ComplaintOne(MethodView):
    @auth_required()
    @blp.response(200, s.ComplaintOut)
    def get(self, complaint_id):
        """One complaint and its timeline (its resident sees no staff names nor internal notes)."""
        return complaints.get(who=current_principal(), complaint_id=complaint_id)


@blp.route("/complaints/<int:complaint_id>/accept")
class ComplaintAccept(MethodView):
    @auth_required()
    @blp.response(200, s.ComplaintOut)
    def post(self, complaint_id):
        """The resident accepts the answer: the complaint closes."""
        return _detail(complaints.accept(who=current_principal(), complaint_id=complaint_id))


@blp.route("/complaints/<int:complaint_id>/reopen")
class ComplaintReopen(MethodView):
    @auth_required()
    @blp.arguments(s.ComplaintReopenIn)
    @blp.response(200, s.ComplaintOut)
    def post(self, data, complaint_id):
        """The resident is not satisfied with the answer: open again, due afresh."""
        return _detail(complaints.reopen(who=current_principal(), complaint_id=complaint_id, **data))


@blp.route("/complaints/<int:complaint_id>/withdraw")
class ComplaintWithdraw(MethodView):
    @auth_required()
    @blp.response(200, s.ComplaintOut)
    def post(self, complaint_id):
        """The resident takes back an open complaint."""
        return _detail(complaints.withdraw(who=current_principal(), complaint_id=complaint_id))


@blp.route("/sites/<int:site_id>/complaints")
class SiteComplaints(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.SiteComplaintArgs, location="query")
    @blp.response(200, ComplaintPage)
    def get(self, args, site_id):
        """The complaints of a site and the sites below it, newest first."""
        return complaints.list_for_site(who=current_principal(), site_id=site_id, **args)


@blp.route("/complaints/<int:complaint_id>/notes")
class ComplaintNotes(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.ComplaintNoteIn)
    @blp.response(200, s.ComplaintOut)
    def post(self, data, complaint_id):
        """A progress note on an open complaint (for the staff)."""
        return _detail(complaints.note(who=current_principal(), complaint_id=complaint_id, **data))


@blp.route("/complaints/<int:complaint_id>/answer")
class ComplaintAnswer(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.ComplaintAnswerIn)
    @blp.response(200, s.ComplaintOut)
    def post(self, data, complaint_id):
        """Answer an open complaint with a resolution; the resident is told."""
        return _detail(complaints.answer(who=current_principal(), complaint_id=complaint_id, **data))


@blp.route("/complaints/<int:complaint_id>/supervise")
class ComplaintSupervise(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.ComplaintSuperviseIn)
    @blp.response(200, s.ComplaintOut)
    def post(self, data, complaint_id):
        """督办: a manager above the complaint's site raises a supervision item about it, once."""
        return _detail(complaints.supervise(who=current_principal(), complaint_id=complaint_id, **data))
