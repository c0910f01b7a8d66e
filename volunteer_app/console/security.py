"""Headers on every console response: a strict Content-Security-Policy (scripts, styles and images
only from this app; no inline script or style), no framing, no sniffing, no referrer beyond the app."""

from __future__ import annotations

from volunteer_app.console import blp

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@blp.after_request
def add_headers(response):
    """The console's headers (also put on the console's 404 for an address no route took, which the
    blueprint's hooks do not see)."""
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        # Pages show the caller's data: never from a shared cache, never from the back button after
        # signing out.
        response.headers["Cache-Control"] = "no-store"
    return response
