"""The console's front page (Today) and its 404 for any other address under /console/."""

from __future__ import annotations

from flask import redirect, request, url_for

from volunteer_app.console import blp
from volunteer_app.console.pages import current_site, page, render, signed_in


@blp.get("/")
@page
def today():
    site = current_site()
    return render("console/today.html", site=site)


@blp.get("/<path:rest>")
def unknown(rest: str):
    """Any other console address: the console's 404 page once signed in (before: the sign-in page, as
    for every console address, so a stranger learns nothing of which addresses exist)."""
    if not signed_in():
        return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")))
    return render("console/404.html"), 404
