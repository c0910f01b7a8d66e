"""HTTP endpoints of the assignment actions (`POST /assignments/{id}/…`): each finds the assignment's
owner (`owners.owner_kind`) and calls that owner's service through OWNERS. Above orders and activities
(it imports both; neither imports it)."""

from __future__ import annotations

import marshmallow as ma
from flask.views import MethodView

from volunteer_app import apidoc
from volunteer_app.activities import attendance as activities
from volunteer_app.attendance import codes
from volunteer_app.attendance import schemas as s
from volunteer_app.attendance.owners import AssignmentOwner, OwnerKind, owner_kind
from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.errors import NotFound
from volunteer_app.extensions import Blueprint
from volunteer_app.idempotency import idempotent
from volunteer_app.orders import onsite, taking

blp = Blueprint(
    "assignments",
    __name__,
    url_prefix="/api/v1",
    description="Assignments: answer an offer, withdraw, check in and out (by position or by a place's "
    "rotating check-in code), close, record a no-show",
)

OWNERS: dict[OwnerKind, AssignmentOwner] = {
    "order": AssignmentOwner(
        accept=taking.accept,
        decline=taking.decline,
        withdraw=taking.withdraw,
        check_in=onsite.check_in,
        check_out=onsite.check_out,
        close_attendance=onsite.close_attendance,
        mark_no_show=onsite.mark_no_show,
    ),
    "activity": AssignmentOwner(
        withdraw=activities.withdraw,
        check_in=activities.check_in,
        check_out=activities.check_out,
        close_attendance=activities.close_attendance,
        mark_no_show=activities.mark_no_show,
    ),
}
# What each action may call, for the document's error codes (apidoc cannot follow the map).
ORDER, ACTIVITY = OWNERS["order"], OWNERS["activity"]


def _owner(assignment_id: int) -> AssignmentOwner:
    """The service owning this assignment; 404 if there is no such assignment. Who may act on it is
    decided by that service, in its queries."""
    return OWNERS[owner_kind(assignment_id)]


class _Empty(ma.Schema):
    pass


@blp.route("/assignments/<int:assignment_id>/accept")
class AssignmentAccept(MethodView):
    @auth_required()
    @blp.arguments(_Empty)
    @blp.response(200, s.AssignmentOut)
    @apidoc.calls(ORDER.accept)
    def post(self, data, assignment_id):
        """接单: accept an offer (409 `order.full` if the places went)."""
        accept = _owner(assignment_id).accept
        if accept is None:
            raise NotFound()
        return accept(who=current_principal(), assignment_id=assignment_id, **data)


@blp.route("/assignments/<int:assignment_id>/decline")
class AssignmentDecline(MethodView):
    @auth_required()
    @blp.arguments(s.OptionalReasonIn)
    @blp.response(200, s.AssignmentOut)
    @apidoc.calls(ORDER.decline)
    def post(self, data, assignment_id):
        """Decline an offer."""
        decline = _owner(assignment_id).decline
        if decline is None:
            raise NotFound()
        return decline(who=current_principal(), assignment_id=assignment_id, **data)


@blp.route("/assignments/<int:assignment_id>/withdraw")
class AssignmentWithdraw(MethodView):
    @auth_required()
    @blp.arguments(s.OptionalReasonIn)
    @blp.response(200, s.AssignmentOut)
    @apidoc.calls(ORDER.withdraw, ACTIVITY.withdraw)
    def post(self, data, assignment_id):
        """Give back my place before checking in (on an activity: cancel my sign-up)."""
        owner = _owner(assignment_id)
        return owner.withdraw(who=current_principal(), assignment_id=assignment_id, **data)


@blp.route("/assignments/<int:assignment_id>/check-in")
class AssignmentCheckIn(MethodView):
    @auth_required()
    @idempotent(user_scope)
    @blp.arguments(s.PositionIn)
    @blp.response(200, s.AssignmentOut)
    @apidoc.calls(ORDER.check_in, ACTIVITY.check_in)
    def post(self, data, assignment_id):
        """签到 with my position, within the site's check-in radius (422 `attendance.too_far` with the distance and the radius otherwise: nothing is recorded, try again on site). The distance is kept, not the position."""  # noqa: E501 (one line: the summary)
        owner = _owner(assignment_id)
        return owner.check_in(who=current_principal(), assignment_id=assignment_id, **data)


@blp.route("/assignments/<int:assignment_id>/check-out")
class AssignmentCheckOut(MethodView):
    @auth_required()
    @blp.arguments(s.PositionIn)
    @blp.response(200, s.AssignmentOut)
    @apidoc.calls(ORDER.check_out, ACTIVITY.check_out)
    def post(self, data, assignment_id):
        """签退 with my position, within the check-in radius (422 `attendance.too_far` otherwise; a manager can close a check-out missed on site); minutes are computed."""  # noqa: E501 (one line: the summary)
        owner = _owner(assignment_id)
        return owner.check_out(who=current_principal(), assignment_id=assignment_id, **data)


@blp.route("/assignments/<int:assignment_id>/close")
class AssignmentClose(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.CloseIn)
    @blp.response(200, s.AssignmentOut)
    @apidoc.calls(ORDER.close_attendance, ACTIVITY.close_attendance)
    def post(self, data, assignment_id):
        """Close a missed check-out (manager, with a reason)."""
        owner = _owner(assignment_id)
        return owner.close_attendance(who=current_principal(), assignment_id=assignment_id, **data)


@blp.route("/assignments/<int:assignment_id>/no-show")
class AssignmentNoShow(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.ReasonIn)
    @blp.response(200, s.AssignmentOut)
    @apidoc.calls(ORDER.mark_no_show, ACTIVITY.mark_no_show)
    def post(self, data, assignment_id):
        """Record a no-show (manager, with a reason)."""
        owner = _owner(assignment_id)
        return owner.mark_no_show(who=current_principal(), assignment_id=assignment_id, **data)


CODE_HELP = (
    "Show it as a QR symbol on site and fetch the next one at `refresh_after` (every 30 s by default); "
    "a volunteer's phone scans it and sends it as `qr_code` with the check-in or check-out, until "
    "`expires_at` (90 s by default), once per volunteer."
)


@blp.route("/sites/<int:site_id>/checkin-code")
class SiteCheckinCode(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.CheckinCodeOut)
    def get(self, site_id):
        """A station's rotating check-in code (manager in reach). It counts for every task whose place is within that task's check-in radius of the station: activities held there, not orders at residents' homes."""  # noqa: E501 (one line: the summary)
        return codes.site_checkin_code(who=current_principal(), site_id=site_id)

    get.__doc__ += "\n\n" + CODE_HELP


@blp.route("/activities/<int:activity_id>/checkin-code")
class ActivityCheckinCode(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.CheckinCodeOut)
    def get(self, activity_id):
        """An activity's rotating check-in code (manager in reach); it counts for that activity's sign-ups only."""  # noqa: E501 (one line: the summary)
        return activities.checkin_code(who=current_principal(), activity_id=activity_id)

    get.__doc__ += "\n\n" + CODE_HELP
