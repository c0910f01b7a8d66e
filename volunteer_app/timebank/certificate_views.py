"""HTTP endpoints of 志愿服务证明: issue, list, read, print, and the public verification by code."""

from __future__ import annotations

from flask import current_app, render_template
from flask.views import MethodView
from flask_smorest import Blueprint

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.extensions import limiter
from volunteer_app.idempotency import idempotent
from volunteer_app.links import public_url
from volunteer_app.pagination import PageArgs, page_schema
from volunteer_app.timebank import certificate_schemas as s
from volunteer_app.timebank import certificates

blp = Blueprint(
    "certificates", __name__, url_prefix="/api/v1", description="Certificates of service (志愿服务证明)"
)

CertificatePage = page_schema(s.CertificateSummary, "CertificatePage")

# The printed page is self-contained: no scripts, no outside resources, and never cached on the way
# (it carries a name and a masked ID number).
PRINT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-store",
}


def _verify_limit() -> str:
    return current_app.config["APP"]["certificate_verify_limit"]


def _verify_url(code: str) -> str:
    """The printed verification link: the configured public base URL, never the request's Host."""
    return public_url("certificates.VerifyCertificate", code=code)


def _with_url(certificate: dict) -> dict:
    return {**certificate, "verify_url": _verify_url(certificate["verification_code"])}


@blp.route("/me/certificates")
class MyCertificates(MethodView):
    @auth_required()
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, CertificatePage)
    def get(self, args):
        """My certificates, newest first (without their record lists)."""
        return certificates.my_certificates(who=current_principal(), **args)

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
        html = render_template("certificate.html", c=certificate)
        return current_app.response_class(html, mimetype="text/html", headers=PRINT_HEADERS)


@blp.route("/certificates/verify/<code>")
class VerifyCertificate(MethodView):
    decorators = [limiter.limit(_verify_limit)]

    @blp.response(200, s.CertificateVerified)
    def get(self, code):
        """Confirm a certificate by its verification code (no login; nothing personal is shown)."""
        return certificates.verify(code)
