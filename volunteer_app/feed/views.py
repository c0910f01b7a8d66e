"""HTTP endpoint of the feed: `GET /tasks/available`."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal
from volunteer_app.extensions import Blueprint, reads_only
from volunteer_app.fastdump import fast
from volunteer_app.feed import service
from volunteer_app.feed.schemas import TaskPage, TasksArgs

blp = Blueprint("tasks", __name__, url_prefix="/api/v1", description="Tasks: the volunteers' feed")


@blp.route("/tasks/available")
class TasksAvailable(MethodView):
    @blp.etag
    @reads_only
    @auth_required("volunteer")
    @blp.arguments(TasksArgs, location="query")
    @blp.response(200, fast(TaskPage))
    def get(self, args):
        """Open orders I may grab and activities I may sign up for, nearest first within a radius (m)."""
        return service.available_tasks(who=current_principal(), **args)
