"""HTTP endpoints of exports: ask for one (202 with the job that makes it), and the list of exports
made from a site (the trace of personal data leaving the system)."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.errors import language
from volunteer_app.exports import schemas as s
from volunteer_app.exports import service
from volunteer_app.extensions import Blueprint
from volunteer_app.idempotency import idempotent
from volunteer_app.pagination import PageArgs, page_schema
from volunteer_app.worker.schemas import JobOut

blp = Blueprint(
    "exports",
    __name__,
    url_prefix="/api/v1",
    description="Exports (导出): CSV and XLSX files made in the background, and their records",
)

RecordPage = page_schema(s.ExportRecordOut, "ExportRecordPage")
LOCATION = {"Location": {"description": "The job: GET it for progress", "schema": {"type": "string"}}}


def _lang() -> str:
    """The file's language, decided now: Chinese unless the request asks for English."""
    return "en" if language() == "en" else "zh"


def _accepted(job: dict):
    return job, 202, {"Location": f"/api/v1/jobs/{job['id']}"}


@blp.route("/sites/<int:site_id>/exports")
class SiteExports(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, RecordPage)
    def get(self, args, site_id):
        """Exports made from a site in my reach and the sites below it, newest first: who, what, the
        parameters, when, how many rows."""
        return service.list_records(who=current_principal(), site_id=site_id, **args)

    @auth_required("manager", "admin")
    @idempotent(user_scope)
    @blp.arguments(s.ExportIn)
    @blp.response(202, JobOut, headers=LOCATION)
    def post(self, data, site_id):
        """Export a site's (and its subtree's) orders, activities with sign-ups, volunteers' hours by
        month, or a volunteer's statement, as CSV (UTF-8 with BOM) or XLSX; headers in Chinese, English
        with `Accept-Language: en`; personal data masked. Made in the background: follow the job
        (`Location`) and download `result_url` when done."""
        who = current_principal()
        data["from"] = data.pop("from_", None)
        return _accepted(service.request_export(who=who, site_id=site_id, data=data, lang=_lang()))


@blp.route("/me/timebook/exports")
class MyStatementExport(MethodView):
    @auth_required()
    @idempotent(user_scope)
    @blp.arguments(s.OwnStatementIn)
    @blp.response(202, JobOut, headers=LOCATION)
    def post(self, data):
        """Export my time book's statement (each line with the balance after it) as CSV or XLSX, for a
        period or whole. Made in the background: follow the job (`Location`)."""
        data["from"] = data.pop("from_", None)
        return _accepted(service.request_own_statement(who=current_principal(), data=data, lang=_lang()))
