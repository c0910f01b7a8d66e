"""督办 items: raising one (the core every path shares: the API, a complaint that triggers one, the demo).

The rest of the item's life (notes, report, 销号, send back, withdraw, lists) joins this module.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from volunteer_app.db import utcnow
from volunteer_app.errors import Forbidden, register_messages
from volunteer_app.extensions import db
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, get_in_reach
from volunteer_app.supervision import states
from volunteer_app.supervision.models import SupervisionItem

register_messages(
    {
        "supervision.not_above": (
            "只能对本级管理范围内的下级站点督办",
            "Supervision items are raised by the managers of a site above the one that must act",
        ),
    }
)


def raising_site_id(site: Site, who: Reacher) -> int:
    """The site on whose behalf the caller raises an item against `site`: the nearest site strictly above
    it that the caller manages (an admin: its parent). 403 `supervision.not_above` when there is none
    (a station's own managers do not supervise themselves; nobody is above a center)."""
    above = site.ancestor_ids()[:-1]
    if who.is_admin and above:
        return above[-1]
    paths = set(who.manager_paths)
    for depth in range(len(above), 0, -1):
        if "/" + "/".join(str(i) for i in above[:depth]) + "/" in paths:
            return above[depth - 1]
    raise Forbidden("supervision.not_above")


def raise_item(
    *,
    who: Reacher,
    actor_id: int,
    site_id: int,
    subject: str,
    description: str,
    level: str,
    due_at: datetime | None = None,
    about_kind: str | None = None,
    about_id: int | None = None,
    about_ref: str | None = None,
    note: str | None = None,
    now: datetime | None = None,
) -> SupervisionItem:
    """Raise an item against `site_id` (in the caller's reach, or 404) on behalf of the caller's site
    above it. Without `due_at`, it is due after the level's `supervision_due_days` of the raising site.
    Does not check what `about_*` names (the caller does). Flushes only; the calling service commits."""
    site = get_in_reach(Site, site_id, Site.id, who)
    raised_site_id = raising_site_id(site, who)
    now = now or utcnow()
    if due_at is None:
        days = sites.effective_settings(db.session.get(Site, raised_site_id))["supervision_due_days"][level]
        due_at = now + timedelta(days=int(days))
    item = SupervisionItem(
        raised_site_id=raised_site_id,
        site_id=site.id,
        raised_by_id=actor_id,
        subject=subject,
        description=description,
        level=level,
        due_at=due_at,
        about_kind=about_kind,
        about_id=about_id,
        about_ref=about_ref,
        reopened=0,
        created_at=now,
        updated_at=now,
    )
    states.transition(states.ITEMS, item, "raise", by=states.RAISER, actor_id=actor_id, note=note, at=now)
    return item
