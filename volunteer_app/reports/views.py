"""HTTP endpoints of the statistics."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal
from volunteer_app.errors import language
from volunteer_app.extensions import Blueprint
from volunteer_app.reports import leaderboard, me, rankings, service
from volunteer_app.reports import schemas as s

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


@blp.route("/sites/<int:site_id>/rankings")
class SiteRankings(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.RankingArgs, location="query")
    @blp.response(200, s.RankingsOut)
    def get(self, args, site_id):
        """考核: the child sites one level down ranked by a weighted score (the site's `ranking_weights`),
        every component shown, and the 红黑榜 (`ranking_board_size`); docs/statistics.md."""
        return rankings.site_rankings(
            who=current_principal(), site_id=site_id, period=args["period"], lang=language()
        )


@blp.route("/sites/<int:site_id>/leaderboard")
class SiteLeaderboard(MethodView):
    @auth_required("manager", "admin", "volunteer")
    @blp.arguments(s.LeaderboardArgs, location="query")
    @blp.response(200, s.LeaderboardOut)
    def get(self, args, site_id):
        """Volunteers ranked by audited minutes over the site's subtree and a period; names masked unless
        opted in. Managers in reach; a volunteer reads their own home station's board."""
        return leaderboard.site_leaderboard(
            who=current_principal(), site_id=site_id, period=args["period"], limit=args["limit"]
        )


@blp.route("/me/stats")
class MyStats(MethodView):
    @auth_required("volunteer")
    @blp.arguments(s.MyStatsArgs, location="query")
    @blp.response(200, s.MyStatsOut)
    def get(self, args):
        """My audited hours and sessions by month of service, minutes credited by month of posting, totals,
        and my star level's progress."""
        return me.my_stats(who=current_principal(), months=args["months"])
