"""HTTP endpoints of background jobs: a job's progress and its result file, for its owner only."""

from __future__ import annotations

from urllib.parse import quote

from flask import current_app, stream_with_context
from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal
from volunteer_app.extensions import Blueprint
from volunteer_app.pagination import PageArgs, page_schema
from volunteer_app.worker import schemas as s
from volunteer_app.worker import status

blp = Blueprint("jobs", __name__, url_prefix="/api/v1", description="Background jobs and their results")

JobPage = page_schema(s.JobOut, "JobPage")


@blp.route("/me/jobs")
class MyJobs(MethodView):
    @auth_required()
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, JobPage)
    def get(self, args):
        """My background jobs (exports …), newest first, with their state and progress."""
        return status.list_jobs(who=current_principal(), **args)


@blp.route("/jobs/<int:job_id>")
class Job(MethodView):
    @auth_required()
    @blp.response(200, s.JobOut)
    def get(self, job_id):
        """One of my jobs: its state, progress (done of total), times, last error, and result link."""
        return status.get_job(who=current_principal(), job_id=job_id)


@blp.route("/jobs/<int:job_id>/result")
class JobResult(MethodView):
    @auth_required()
    @blp.response(
        200,
        {"type": "string", "format": "binary"},
        content_type="application/octet-stream",
        description="The file",
    )
    def get(self, job_id):
        """The file one of my jobs made (an export), once it is done; 404 before, 410 once it expired
        (kept `result_keep_days`, 7 by default). Streamed from the database a chunk at a time."""
        name, content_type, size, pieces = status.get_result(who=current_principal(), job_id=job_id)
        headers = {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}"}
        if size is not None:
            headers["Content-Length"] = str(size)
        return current_app.response_class(
            stream_with_context(pieces), mimetype=content_type, headers=headers, direct_passthrough=True
        )
