"""HTTP endpoints of the 工作台 reads: a site's roster and what needs action today."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal
from volunteer_app.errors import language
from volunteer_app.extensions import Blueprint
from volunteer_app.pagination import page_schema
from volunteer_app.workbench import roster, today
from volunteer_app.workbench import schemas as s

blp = Blueprint("workbench", __name__, url_prefix="/api/v1", description="The managers' workbench (工作台)")

RosterPage = page_schema(s.RosterVolunteerOut, "RosterPage")


@blp.route("/sites/<int:site_id>/volunteers")
class SiteVolunteers(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.RosterArgs, location="query")
    @blp.response(200, RosterPage)
    def get(self, args, site_id):
        """The approved volunteers of a site's stations (花名册, the dispatch picker): search by name,
        phone tail, skill or team; each with hours, star level and open tasks."""
        return roster.volunteers(who=current_principal(), site_id=site_id, **args)


@blp.route("/sites/<int:site_id>/today")
class SiteToday(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.TodayOut)
    def get(self, site_id):
        """What needs action in a site's subtree now, each count with the list that shows it."""
        return today.counts(who=current_principal(), site_id=site_id, lang=language())


@blp.route("/volunteers/<int:user_id>")
class Volunteer(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.VolunteerDetailOut)
    def get(self, user_id):
        """One volunteer of a station in reach, as the roster shows them, with their latest
        assignments (the console's volunteer page)."""
        return roster.volunteer(who=current_principal(), user_id=user_id)
