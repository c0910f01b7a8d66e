"""The managers' console (管理后台): server-rendered pages under /console/ for station, institute and
center managers.

Reads are Jinja pages that call the domain's query functions as the caller (`pages.py`); every change is
a form that `static/console.js` sends as JSON to the JSON API (`/api/v1/…`) with the console's cookie,
its CSRF value and an Idempotency-Key, showing the API's errors next to the fields. The console adds no
business logic: a rule lives once, in its service.
"""

from __future__ import annotations

from flask import Blueprint

blp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)


def init_app(app) -> None:
    """Import the console's page modules (each adds its routes to `blp`) and register the blueprint."""
    from volunteer_app.console import (  # noqa: F401  (routes, headers)
        activities,
        home,
        labels,
        orders,
        security,
        settings,
        sign_in,
        stats,
        supervision,
        timebank,
        volunteers,
    )

    app.register_blueprint(blp)
