"""What every console page shares: who may open it, which site it is about, and how it is rendered.

`@page` lets in a signed-in manager or admin (the console's cookie, checked like a bearer token: a
revoked session is refused at once); anyone else is sent to the sign-in page, or shown the console's
403 page when signed in without a manager's grant. A page about a site takes `?site=ID` (default: the
caller's first managed site), checked against reach: out of reach is the console's 404 page.
"""

from __future__ import annotations

from datetime import datetime
from functools import wraps
from zoneinfo import ZoneInfo

import marshmallow as ma
from flask import current_app, redirect, render_template, request, url_for
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt import PyJWTError

from volunteer_app.auth.tokens import csrf_token, current_principal, verify_request
from volunteer_app.console import blp
from volunteer_app.console.i18n import gettext, lang
from volunteer_app.errors import DomainError, NotFound, handle_domain_error
from volunteer_app.field_messages import translate_errors
from volunteer_app.schemas import MAX_ID
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import get_in_reach

CONSOLE_ROLES = ("manager", "admin")


def signed_in() -> bool:
    """Check the console's cookie; True when it names a live session."""
    try:
        verify_request(locations=["cookies"])
    except (JWTExtendedException, PyJWTError):
        return False
    return True


def page(fn):
    """A console page: signed in (else to the sign-in page) as a manager or an admin (else 403)."""

    @wraps(fn)
    def wrapper(*args, **kwargs):
        if not signed_in():
            return redirect(url_for("console.sign_in", next=request.full_path.rstrip("?")))
        if not current_principal().has_any(CONSOLE_ROLES):
            return render("console/403.html"), 403
        return fn(*args, **kwargs)

    return wrapper


def my_sites() -> list[Site]:
    """The sites the caller manages (an admin: the root centers), shallowest first."""
    who = current_principal()
    found = sites.root_sites() if who.is_admin else sites.sites_by_id(who.manager_site_ids).values()
    return sorted(found, key=lambda s: (s.path.count("/"), s.path))


def current_site() -> Site:
    """The site the page is about: `?site=ID` within reach (else 404), or the caller's first."""
    wanted = request.args.get("site", type=int)
    if wanted is None:
        mine = my_sites()
        if not mine:
            raise NotFound()
        return mine[0]
    if not 0 < wanted <= MAX_ID:  # never a database error
        raise NotFound()
    return get_in_reach(Site, wanted, Site.id, current_principal())


def site_zone(site: Site) -> ZoneInfo:
    return ZoneInfo(sites.effective_settings(site)["timezone"])


def category_names(*, include_inactive: bool = True) -> dict[int, str]:
    """The service catalogue's names in the page's language, by id, in display order (withdrawn
    categories too unless `include_inactive` is false: a form offers only the active ones)."""
    english = lang() == "en"
    return {
        c.id: (c.name_en if english else c.name_zh)
        for c in sites.list_categories(include_inactive=include_inactive)
    }


def site_names(ids) -> dict[int, str]:
    """Sites' names by id, in one query (the rows of a page name their sites)."""
    return {site_id: site.name for site_id, site in sites.sites_by_id(ids).items()}


def field_errors(messages: dict) -> dict[str, str]:
    """Field messages (marshmallow's, or an API error's `errors.query`) as a page shows them beside
    its fields: {field: every message of it in the caller's language, as one line}."""
    return {name: " ".join(_flat(value)) for name, value in translate_errors(messages, lang()).items()}


def _flat(messages) -> list[str]:
    if isinstance(messages, dict):
        return [m for value in messages.values() for m in _flat(value)]
    if isinstance(messages, list | tuple):
        return [m for value in messages for m in _flat(value)]
    return [str(messages)]


def load_query(schema: ma.Schema, raw: dict | None = None) -> tuple[dict, dict[str, str]]:
    """A page's query string (default: request.args without its empty fields) loaded by `schema`, the
    API's own where there is one (other keys, such as `site`, ignored): (values, {}), or ({}, the
    field errors as field_errors words them)."""
    if raw is None:
        raw = {key: value for key, value in request.args.items() if value.strip()}
    try:
        return schema.load(raw, unknown=ma.EXCLUDE), {}
    except ma.ValidationError as error:
        return {}, field_errors(error.messages)


def utc_offset(zone: ZoneInfo, moment: datetime | None = None) -> str:
    """The zone's UTC offset at `moment` (default: now) as a datetime-local field's `data-offset`
    wants it: "+08:00". A page gives the moment its form is about (an order's start, an activity's
    end); console.js prefers the offset at the moment typed, from the field's `data-zone`, and falls
    back to this one only where the browser cannot work it out."""
    raw = (moment.astimezone(zone) if moment else datetime.now(zone)).strftime("%z")
    return f"{raw[:3]}:{raw[3:]}"


def default_zone() -> ZoneInfo:
    """The deployment's default clock (SITE_DEFAULTS' time zone): times that belong to no site, such
    as the caller's own sign-ins."""
    return ZoneInfo(current_app.config["SITE_DEFAULTS"]["timezone"])


def render(template: str, **context):
    """Render a console page with what the layout needs: the caller, the CSRF value, the sites."""
    who = current_principal() if signed_in_already() else None
    return render_template(
        template,
        who=who,
        csrf=csrf_token() if who else None,
        my_sites=my_sites() if who else [],
        **context,
    )


def signed_in_already() -> bool:
    try:
        return current_principal() is not None
    except AttributeError:
        return False


@blp.app_template_global("_")
def _translate(text: str, **params) -> str:
    return gettext(text, **params)


@blp.app_template_global("console_lang")
def _lang() -> str:
    return "en" if lang() == "en" else "zh-CN"


@blp.app_template_filter("local")
def _local(moment: datetime | None, zone: ZoneInfo | str | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time on the site's clock (`zone`; none given: the deployment's default), or '—'."""
    if moment is None:
        return "—"
    if isinstance(zone, str):
        zone = ZoneInfo(zone)
    return moment.astimezone(zone or default_zone()).strftime(fmt)


@blp.app_template_filter("hours")
def _hours(minutes: int | None) -> str:
    """Minutes as hours with two decimals (the API's display rule)."""
    return "—" if minutes is None else f"{minutes / 60:.2f}"


@blp.errorhandler(DomainError)
def _domain_error(error: DomainError):
    """A page's error as a page (404 out of reach, exactly like missing); the console's own JSON
    endpoints (sign-in) answer in the one error format."""
    if request.method != "GET":
        return handle_domain_error(error)
    if isinstance(error, NotFound):
        return render("console/404.html"), 404
    return render("console/error.html", error=error, message=handle_domain_error(error)[0]["message"]), (
        error.status
    )
