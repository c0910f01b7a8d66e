"""The console's front page (Today: what waits on the managers of the site, each count a link to its
list) and its 404 for any other address under /console/."""

from __future__ import annotations

from urllib.parse import urlencode

from flask import make_response, redirect, request, url_for
from werkzeug.exceptions import NotFound

from volunteer_app.auth.tokens import current_principal
from volunteer_app.console import blp
from volunteer_app.console.i18n import register
from volunteer_app.console.pages import current_site, page, render, signed_in
from volunteer_app.console.security import add_headers
from volunteer_app.extensions import api
from volunteer_app.workbench import today as workbench

register({"Needs action": "待办", "Nothing waits on you here.": "暂无待办事项。", "As of": "截至"})

# Where each of the workbench's counts is listed in the console (the order counts: the queue). The link
# carries the API list's own filters (`need` and `status`, `status`, `when`), so the page lists exactly
# what was counted; the console's lists always take the site's subtree, as the counts do.
CONSOLE_LISTS = {
    "applications_pending": "/console/volunteers/applications",
    "family_links_pending": "/console/timebank/family-links",
    "redemptions_to_fulfil": "/console/timebank/fulfil",
    "activities_unaudited": "/console/activities",
}


# The supervision counts' API lists and the Supervision area's tab that shows each (an item list's tab
# is its side: acting or raised; appeals are listed on the deciding side there).
SUPERVISION_TABS = {"complaints": "complaints", "appeals": "appeals", "follow-ups": "follow_ups"}


def _link(item: dict, site_id: int) -> str | None:
    """The console page listing a count's items (None for a count the console has no list for: shown
    unlinked)."""
    query = {k: v for k, v in item["query"].items() if k not in ("site_id", "subtree")}
    collection = item["path"].rstrip("/").rsplit("/", 1)[-1]
    if item["key"] in CONSOLE_LISTS:
        path = CONSOLE_LISTS[item["key"]]
    elif item["key"] in workbench.ORDER_NEEDS:
        path = "/console/orders"
    elif collection == "supervision-items":
        path, query = "/console/supervision", {"tab": query.pop("side"), **query}
    elif collection in SUPERVISION_TABS:
        query.pop("side", None)
        path, query = "/console/supervision", {"tab": SUPERVISION_TABS[collection], **query}
    else:
        return None
    return f"{path}?{urlencode({'site': site_id, **query})}"


@blp.get("/")
@page
def today():
    site = current_site()
    found = workbench.counts(who=current_principal(), site_id=site.id)
    items = [{**item, "href": _link(item, site.id)} for item in found["counts"]]
    return render("console/today.html", site=site, items=items, as_of=found["as_of"])


@blp.get("/<path:rest>")
def unknown(rest: str):
    """Any other console address: the console's 404 page once signed in (before: the sign-in page, as
    for every console address, so a stranger learns nothing of which addresses exist)."""
    if not signed_in():
        return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")))
    return render("console/404.html"), 404


@blp.app_errorhandler(NotFound)
def _unrouted(error: NotFound):
    """A GET under /console/ that no route took, though one nearly did (a path id out of range: 0, or
    beyond 64 bits, which the `int` converter refuses): answered as `unknown` answers, in the console's
    layout and headers, not in the API's JSON. Any other 404 is the API's."""
    if (
        request.url_rule is None
        and request.method in ("GET", "HEAD")
        and request.path.startswith("/console/")
    ):
        return add_headers(make_response(unknown(request.path)))
    return api.handle_http_exception(error)
