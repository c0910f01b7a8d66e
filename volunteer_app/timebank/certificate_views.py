"""HTTP endpoints of 志愿服务证明: issue, list, read, print (and a signed print link for a phone),
revoke, and the public verification by code. The pages for people are in certificate_pages."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.extensions import Blueprint
from volunteer_app.idempotency import idempotent
from volunteer_app.pagination import PageArgs, page_schema
from volunteer_app.timebank import certificate_pages as pages
from volunteer_app.timebank import certificate_schemas as s
from volunteer_app.timebank import certificates

blp = Blueprint(
    "certificates", __name__, url_prefix="/api/v1", description="Certificates of service (志愿服务证明)"
)

CertificatePage = page_schema(s.CertificateSummary, "CertificatePage")

# Public links (share_url, verify_url) come from the configured public base URL, never the Host.
_with_url = pages.with_urls


@blp.route("/me/certificates")
class MyCertificates(MethodView):
    @auth_required()
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, CertificatePage)
    def get(self, args):
        """My certificates, newest first (without their record lists)."""
        page = certificates.my_certificates(who=current_principal(), **args)
        return {**page, "items": [_with_url(item) for item in page["items"]]}

    @auth_required()
    @idempotent(user_scope)
    @blp.arguments(s.CertificateIn)
    @blp.response(201, s.CertificateOut)
    def post(self, data):
        """Issue myself a certificate of the audited service in a date range (at most five years)."""
        return _with_url(certificates.issue_mine(who=current_principal(), **data))


@blp.route("/volunteers/<int:user_id>/certificates")
class VolunteerCertificates(MethodView):
    @auth_required("manager", "admin")
    @idempotent(user_scope)
    @blp.arguments(s.CertificateIn)
    @blp.response(201, s.CertificateOut)
    def post(self, data, user_id):
        """Issue a certificate to a volunteer of a station in reach; the manager is its handler."""
        who = current_principal()
        return _with_url(certificates.issue_for(who=who, handler=who.user, user_id=user_id, **data))


@blp.route("/certificates/<int:certificate_id>")
class CertificateDetail(MethodView):
    @auth_required()
    @blp.response(200, s.CertificateOut)
    def get(self, certificate_id):
        """A certificate as issued: its owner's, or one issued by a station in reach."""
        who = current_principal()
        return _with_url(
            certificates.get_certificate(who=who, viewer_id=who.user_id, certificate_id=certificate_id)
        )


@blp.route("/certificates/<int:certificate_id>/print")
class PrintCertificate(MethodView):
    @auth_required()
    @blp.response(200, {"type": "string"}, content_type="text/html", description="A printable page")
    def get(self, certificate_id):
        """The certificate as a printable HTML page (A4)."""
        who = current_principal()
        certificate = _with_url(
            certificates.get_certificate(who=who, viewer_id=who.user_id, certificate_id=certificate_id)
        )
        return pages.page(pages.render_printed(certificate))


@blp.route("/certificates/<int:certificate_id>/print-link")
class CertificatePrintLink(MethodView):
    @auth_required()
    @blp.response(200, s.PrintLink)
    def post(self, certificate_id):
        """A short-lived signed link to the printed page, for a phone (opens without a login). Its
        owner's, or a manager's whose reach covers the issuing station; a revoked one says so."""
        who = current_principal()
        certificates.ensure_readable(who=who, viewer_id=who.user_id, certificate_id=certificate_id)
        return pages.print_link(certificate_id)


@blp.route("/certificates/<int:certificate_id>/revoke")
class RevokeCertificate(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.CertificateRevokeIn)
    @blp.response(200, s.CertificateOut)
    def post(self, data, certificate_id):
        """Revoke a certificate issued in error (a manager whose reach covers the issuing station). It
        stays readable, marked revoked, on every page and in the verification; twice is 409."""
        who = current_principal()
        return _with_url(
            certificates.revoke(who=who, handler=who.user, certificate_id=certificate_id, **data)
        )


@blp.route("/certificates/verify/<code>")
class VerifyCertificate(MethodView):
    decorators = [pages.verify_rate_limit]

    @blp.response(200, s.CertificateVerified)
    def get(self, code):
        """Confirm a certificate by its verification code (no login; nothing personal is shown)."""
        return certificates.verify(code)
