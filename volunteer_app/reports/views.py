"""HTTP endpoints of the statistics."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal
from volunteer_app.reports import schemas as s
from volunteer_app.reports import service

blp = Blueprint("reports", __name__, url_prefix="/api/v1", description="Statistics and rankings (统计、考核)")


@blp.route("/sites/<int:site_id>/stats")
class SiteStats(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.StatsArgs, location="query")
    @blp.response(200, s.StatsOut)
    def get(self, args, site_id):
        """A site's figures for its whole subtree over a period, with one breakdown (docs/statistics.md)."""
        return service.site_stats(
            who=current_principal(),
            site_id=site_id,
            start=args["start"],
            end=args["end"],
            group=args["group"],
        )
