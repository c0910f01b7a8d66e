"""Pages of 志愿服务证明 for people, not programs: the share link's public verification page and the
printed page opened from a signed, short-lived print link (a phone has no bearer header to send).

- `/c/<token>`: the share link (128-bit random token per certificate, on the printed page as a QR
  code). Shows only non-personal fields; an unknown token is a 404 page. Rate limited per address
  together with the JSON verification by code (one budget: `[app] certificate_verify_limit`).
- `/c/print/<signed>`: the printed page. The link is signed with the app's secret (itsdangerous) and
  expires after `[app] certificate_print_link_minutes`; an expired link is a 410 page, a tampered or
  unknown one a 404 page. Handed out by `POST /api/v1/certificates/<id>/print-link` to whoever may
  read the certificate.

Every page is server-rendered Chinese HTML with no script, its styles from this blueprint's static
stylesheet (a CSP as strict as the console's), never cached, and sends no referrer (the URL is the
capability). Links are built on `[app] public_base_url`, never on the request's Host.
"""

from __future__ import annotations

from datetime import timedelta

import segno
from flask import Blueprint, current_app, render_template
from itsdangerous import BadData, SignatureExpired, URLSafeTimedSerializer
from markupsafe import Markup

from volunteer_app.extensions import api, limiter
from volunteer_app.links import public_url
from volunteer_app.timebank import certificates

bp = Blueprint("certificate_pages", __name__, url_prefix="/c", static_folder="static")

CSP = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # A revocation shows at once; the printed page carries a name and a masked ID number.
    "Cache-Control": "private, no-store",
}
PRINT_SALT = "volunteer_app.certificate-print"
EXPIRED = "为保护个人信息，打印链接只在短时间内有效。请在 App 中重新获取打印链接。"
MAX_SIGNED_LENGTH = 200  # a signed id is ~40 characters; longer is not one of ours


def verify_limit() -> str:
    return current_app.config["APP"]["certificate_verify_limit"]


# One budget per address for guessing at certificates, by code (JSON) or by share token (page).
verify_rate_limit = limiter.shared_limit(verify_limit, scope="certificate-verify")


# ---- links ------------------------------------------------------------------------------------------


def share_url(token: str) -> str:
    """The certificate's public page: the configured public base URL, never the request's Host."""
    return public_url("certificate_pages.shared", token=token)


def verify_url(code: str) -> str:
    """The JSON verification by code (printed under the code)."""
    return public_url("certificates.VerifyCertificate", code=code)


def with_urls(certificate: dict) -> dict:
    """A certificate view with its public links: `share_url` always, `verify_url` when it has a code."""
    urls = {"share_url": share_url(certificate["share_token"])}
    if "verification_code" in certificate:
        urls["verify_url"] = verify_url(certificate["verification_code"])
    return {**certificate, **urls}


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=PRINT_SALT)


def _print_minutes() -> int:
    return int(current_app.config["APP"]["certificate_print_link_minutes"])


def print_link(certificate_id: int) -> dict:
    """A signed link to the printed page of a certificate, and when it stops working. The caller has
    already been found to be allowed to read it."""
    serializer = _serializer()
    token = serializer.dumps(certificate_id)
    _payload, signed_at = serializer.loads(token, return_timestamp=True)
    return {
        "url": public_url("certificate_pages.printed", token=token),
        "expires_at": signed_at + timedelta(minutes=_print_minutes()),
    }


def qr_svg(url: str) -> Markup:
    """The QR code of `url` as inline SVG (segno writes only path data and attributes: no style)."""
    svg = segno.make(url, error="m").svg_inline(scale=4, svgclass="qr", lineclass="qr-line")
    return Markup(svg)


def render_printed(certificate: dict) -> str:
    """The printed page of a certificate view (with its verify_url and share_url)."""
    return render_template("certificate.html", c=certificate, qr=qr_svg(certificate["share_url"]))


# ---- pages ------------------------------------------------------------------------------------------


def page(html: str, status: int = 200, headers: dict | None = None):
    return current_app.response_class(
        html, status=status, mimetype="text/html", headers={**HEADERS, **(headers or {})}
    )


def notice(status: int, title: str, explanation: str, headers: dict | None = None):
    """A page saying why the certificate cannot be shown."""
    return page(
        render_template("certificate_notice.html", title=title, explanation=explanation), status, headers
    )


def not_found():
    return notice(404, "未找到该证明", "链接无效或已失效。请核对链接，或向证明持有人索取新的链接。")


@bp.get("/<token>")
@verify_rate_limit
def shared(token: str):
    """The share link's page: whether the certificate stands, and only what identifies it."""
    found = certificates.shared(token)
    if found is None:
        return not_found()
    return page(render_template("certificate_share.html", c=found, url=share_url(found["share_token"])))


@bp.get("/<path:anything>")
@verify_rate_limit
def elsewhere(anything: str):
    """Any other address under the pages: the same 404 page (not the API's JSON)."""
    return not_found()


@bp.get("/print/<token>")
def printed(token: str):
    """The printed page, opened from a signed print link (no login)."""
    if len(token) > MAX_SIGNED_LENGTH:
        return not_found()
    try:
        certificate_id = _serializer().loads(token, max_age=_print_minutes() * 60)
    except SignatureExpired:
        return notice(410, "打印链接已过期", EXPIRED)
    except BadData:
        return not_found()
    if not isinstance(certificate_id, int) or isinstance(certificate_id, bool):
        return not_found()
    certificate = certificates.certificate_for_print(certificate_id)
    if certificate is None:
        return not_found()
    return page(render_printed(with_urls(certificate)))


@bp.errorhandler(429)
def rate_limited(error):
    """Too many tries from one address: a page, with the Retry-After the API would send."""
    _body, status, headers = api.handle_http_exception(error)
    return notice(status, "查询过于频繁", "请稍后再试。", headers)
