"""Site tree, per-site settings, teams and the service catalogue: every state change of this domain."""

from __future__ import annotations

import functools
import math
from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import select

from volunteer_app import changes as changes_log
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, NotFound, Unprocessable, register_messages
from volunteer_app.extensions import db, read_rows
from volunteer_app.pagination import paginate
from volunteer_app.sites import cache
from volunteer_app.sites.models import CHILD_KIND, Category, Site, Team
from volunteer_app.sites.reach import Reacher, get_in_reach, in_reach, subtree_of

register_messages(
    {
        "site.bad_parent": ("上级站点类型不符：中心 → 所 → 站", "Wrong parent: center → institute → station"),
        "site.code_taken": ("站点编码已存在", "This site code is already used"),
        "site.not_station": ("请选择一个实践站", "Choose a practice station"),
        "site.none_nearby": ("附近没有实践站", "No station was found near these coordinates"),
        "team.bad_parent": (
            "上级队伍必须属于同一站点或其上级站点",
            "The parent team must belong to this site or above",
        ),
        "category.code_taken": ("服务类别编码已存在", "This category code is already used"),
    }
)

# 服务类别 seeded in every deployment (domain.md); admins add more.
DEFAULT_CATEGORIES = (
    ("civil_traffic", "文明交通", "Civil traffic"),
    ("theory_outreach", "理论宣讲", "Theory outreach"),
    ("education_support", "助学支教", "Tutoring and teaching"),
    ("elder_care", "关爱老人", "Elder care"),
    ("first_aid", "应急救护", "First aid"),
    ("repairs", "便民维修", "Household repairs"),
    ("free_clinic", "义诊义剪", "Free clinic and haircuts"),
    ("counselling", "心理辅导", "Counselling"),
    ("environment", "环境整治", "Environment clean-up"),
    ("legal_aid", "法律服务", "Legal aid"),
    ("financial_literacy", "金融知识", "Financial literacy"),
    ("science_outreach", "科普宣传", "Science outreach"),
)


# ---- sites -----------------------------------------------------------------------------------


def get_site(site_id: int) -> Site:
    """A site by id (public information), or 404."""
    site = db.session.get(Site, site_id)
    if site is None:
        raise NotFound()
    return site


def sites_by_id(ids) -> dict[int, Site]:
    """Sites by id, in one query (public information; ids of no site are left out)."""
    ids = {i for i in ids if i is not None}
    return {s.id: s for s in db.session.scalars(select(Site).where(Site.id.in_(ids)))} if ids else {}


def root_sites() -> list[Site]:
    """The centers at the top of the tree (a deployment has a few)."""
    return list(db.session.scalars(select(Site).where(Site.parent_id.is_(None)).order_by(Site.id)))


def list_sites(*, parent_id=None, kind=None, q=None, limit: int, cursor: str | None) -> dict:
    """Public, paged list of sites, filterable by parent, kind and a name fragment."""
    stmt = select(Site)
    if parent_id is not None:
        stmt = stmt.where(Site.parent_id == parent_id)
    if kind:
        stmt = stmt.where(Site.kind == kind)
    if q:
        stmt = stmt.where(Site.name.contains(q, autoescape=True))
    return paginate(stmt, [Site.id], limit=limit, cursor=cursor)


def create_site(*, kind: str, name: str, parent_id=None, code=None, address=None, lat=None, lng=None) -> Site:
    """Create a site under its parent (admins only; the view checks the role). Commits."""
    parent = db.session.get(Site, parent_id) if parent_id is not None else None
    if parent_id is not None and parent is None:
        # An unknown parent is bad input (422), not a foreign-key failure (500).
        raise Unprocessable("site.bad_parent", errors={"json": {"parent_id": ["no such site"]}})
    if (kind == "center") != (parent is None) or (parent and CHILD_KIND.get(parent.kind) != kind):
        raise Unprocessable("site.bad_parent", errors={"json": {"parent_id": ["wrong kind"]}})
    if code and db.session.scalar(select(Site.id).where(Site.code == code)):
        raise Conflict("site.code_taken", errors={"json": {"code": ["taken"]}})
    site = Site(kind=kind, name=name, parent_id=parent_id, code=code, address=address, lat=lat, lng=lng)
    db.session.add(site)
    db.session.flush()
    site.path = f"{parent.path if parent else '/'}{site.id}/"
    db.session.commit()
    return site


def get_station(site_id: int, field: str = "home_site_id") -> cache.CachedSite:
    """The station with this id (its id, kind, name, path and effective settings: `site_view`, from the
    cache where current), or 422 naming the form's `field` (where a form picks a station)."""
    site = site_view(site_id)
    if site is None or site.kind != "station":
        raise Unprocessable("site.not_station", errors={"json": {field: ["not a station"]}})
    return site


def nearest_station(lat: float, lng: float) -> cache.CachedSite:
    """The station nearest to a point (equirectangular distance, computed in SQL), as `get_station`."""
    k = math.cos(math.radians(lat))
    distance = (Site.lat - lat) * (Site.lat - lat) + (Site.lng - lng) * (Site.lng - lng) * k * k
    site_id = db.session.scalars(
        select(Site.id)
        .where(Site.kind == "station", Site.lat.is_not(None), Site.lng.is_not(None))
        .order_by(distance, Site.id)
        .limit(1)
    ).first()
    site = site_view(site_id) if site_id is not None else None
    if site is None:
        raise Unprocessable("site.none_nearby", errors={"json": {"lat": ["no station nearby"]}})
    return site


# ---- settings ----------------------------------------------------------------------------------


def effective_settings(site: Site | cache.CachedSite | None) -> dict:
    """Deployment defaults, overridden by each ancestor from the root down, then by the site itself
    (no site: the deployment defaults, e.g. for someone with no home station). A fresh dict the
    caller may change."""
    if site is None:
        return dict(current_app.config["SITE_DEFAULTS"])
    if isinstance(site, cache.CachedSite):
        return dict(site.settings)
    if site.id is None or site in db.session.new or site in db.session.dirty:
        return _merged(site, _sites_by_id(set(site.ancestor_ids())))
    return dict(settings_of({site.id})[site.id])


def settings_for(site_id: int | None) -> dict:
    """`effective_settings` by the site's id (None, or no such site: the deployment defaults), from the
    cache where current: read it, do not change it."""
    view = site_view(site_id) if site_id is not None else None
    return view.settings if view is not None else current_app.config["SITE_DEFAULTS"]


def site_view(site_id: int) -> cache.CachedSite | None:
    """A site's id, kind, name, path and effective settings, from this process's cache where the
    request knows it is current (sites/cache.py), else read; None for no such site."""
    return site_views({site_id}).get(site_id)


def settings_of(site_ids: set[int]) -> dict[int, dict]:
    """`effective_settings` for many sites: from the cache, the rest in two queries (the sites, then
    all their ancestors). The dicts are the cache's: read them, do not change them."""
    return {site_id: view.settings for site_id, view in site_views(site_ids).items()}


def site_views(site_ids: set[int]) -> dict[int, cache.CachedSite]:
    """`site_view` for many sites (those that exist), the uncached ones read in two queries."""
    known = cache.entries()
    found = {i: known[i] for i in site_ids if i in known} if known is not None else {}
    missing = set(site_ids) - found.keys()
    if missing:
        fresh = _read_views(missing)
        if known is not None:
            known.update(fresh)
        found.update(fresh)
    return found


def _read_views(site_ids: set[int]) -> dict[int, cache.CachedSite]:
    sites = list(db.session.scalars(select(Site).where(Site.id.in_(site_ids))))
    chain = _sites_by_id({ancestor for site in sites for ancestor in site.ancestor_ids()})
    return {
        site.id: cache.CachedSite(site.id, site.kind, site.name, site.path, _merged(site, chain))
        for site in sites
    }


def _sites_by_id(ids: set[int]) -> dict[int, Site]:
    return {s.id: s for s in db.session.scalars(select(Site).where(Site.id.in_(ids)))} if ids else {}


def _merged(site: Site, chain: dict[int, Site]) -> dict:
    """The deployment defaults overridden by each site of `site`'s path (found in `chain`), root first."""
    settings = dict(current_app.config["SITE_DEFAULTS"])
    for ancestor in site.ancestor_ids():
        if ancestor == site.id:
            settings.update(site.settings or {})  # the object as it is now, saved or not
        elif ancestor in chain:
            settings.update(chain[ancestor].settings or {})
    return settings


def zones_of(site_ids: set[int]) -> dict[int, str]:
    """Each site's time zone (its own setting or inherited)."""
    return {site_id: settings["timezone"] for site_id, settings in settings_of(site_ids).items()}


def local_time(site: Site, moment: datetime | None = None) -> datetime:
    """`moment` (default now) in the site's time zone: days and months are the site's, not UTC's."""
    return (moment or utcnow()).astimezone(ZoneInfo(effective_settings(site)["timezone"]))


def setting_sources(site: Site) -> dict[str, dict | None]:
    """Where each effective setting comes from: the site whose override gives it (the site itself or
    the nearest ancestor that sets it), or None for the deployment default."""
    ids = site.ancestor_ids()
    chain = {s.id: s for s in db.session.scalars(select(Site).where(Site.id.in_(ids)))}
    sources: dict[str, dict | None] = dict.fromkeys(current_app.config["SITE_DEFAULTS"])
    for ancestor_id in ids:
        ancestor = chain[ancestor_id]
        for key in ancestor.settings or {}:
            sources[key] = {"id": ancestor.id, "name": ancestor.name}
    return sources


def _settings_answer(site: Site) -> dict:
    return {
        "site_id": site.id,
        "overrides": dict(site.settings or {}),
        "effective": effective_settings(site),
        "sources": setting_sources(site),
    }


def get_settings(*, who: Reacher, site_id: int) -> dict:
    """A site's own overrides, effective settings and where each comes from, for a manager in reach."""
    site = get_in_reach(Site, site_id, Site.id, who)
    return _settings_answer(site)


def update_settings(*, who: Reacher, site_id: int, changes: dict, remove: list[str]) -> dict:
    """Set or remove overrides on a site in reach (validated by the schema). Commits."""
    site = get_in_reach(Site, site_id, Site.id, who, for_update=True)
    overrides = dict(site.settings or {})
    overrides.update(changes)
    for key in remove:
        overrides.pop(key, None)
    before = effective_settings(site)["timezone"]
    site.settings = overrides
    if effective_settings(site)["timezone"] != before or "timezone" in changes or "timezone" in remove:
        # Its days, and those of every site below, are other local days now: the statistics count
        # these sites again (volunteer_app/changes.py).
        below = db.session.scalars(select(Site.id).where(Site.path.startswith(site.path, autoescape=True)))
        changes_log.record("site", below)
    db.session.commit()
    return _settings_answer(site)


# ---- teams -------------------------------------------------------------------------------------


def create_team(*, who: Reacher, site_id: int, name: str, parent_id=None, description=None) -> Team:
    """Create a team owned by a site in reach; a parent team must belong to that site or above. Commits."""
    site = get_in_reach(Site, site_id, Site.id, who)
    if parent_id is not None:
        parent = db.session.get(Team, parent_id)
        parent_site = db.session.get(Site, parent.site_id) if parent else None
        if parent_site is None or not site.path.startswith(parent_site.path):
            raise Unprocessable("team.bad_parent", errors={"json": {"parent_id": ["not above this site"]}})
    team = Team(site_id=site.id, name=name, parent_id=parent_id, description=description)
    db.session.add(team)
    db.session.commit()
    return team


def list_teams(*, who: Reacher, site_id: int, subtree: bool = False, limit: int, cursor: str | None) -> dict:
    """Teams owned by a site in reach (`subtree`: by it and every site below it), by id."""
    site = get_in_reach(Site, site_id, Site.id, who)
    if subtree:
        stmt = select(Team).join(Site, Site.id == Team.site_id).where(subtree_of([site.path]))
    else:
        stmt = select(Team).where(Team.site_id == site.id)
    return paginate(stmt, [Team.id], limit=limit, cursor=cursor)


def get_team(*, who: Reacher, team_id: int, for_update: bool = False) -> Team:
    """A team whose site is in reach, or 404."""
    return get_in_reach(Team, team_id, Team.site_id, who, for_update=for_update)


def teams_in_reach(who: Reacher):
    """Select of teams in reach (for other domains' queries)."""
    return in_reach(select(Team), Team.site_id, who)


# ---- categories --------------------------------------------------------------------------------


def _catalogue(include_inactive: bool):
    stmt = select(Category)
    return stmt if include_inactive else stmt.where(Category.active.is_(True))


def list_categories(*, include_inactive: bool = False) -> list[Category]:
    """The service catalogue in display order."""
    return list(db.session.scalars(_catalogue(include_inactive).order_by(Category.sort, Category.id)))


def categories_page(*, include_inactive: bool = False, limit: int, cursor: str | None) -> dict:
    """The service catalogue in display order, one page at a time (admins may add categories)."""
    return paginate(_catalogue(include_inactive), [Category.sort, Category.id], limit=limit, cursor=cursor)


def create_category(*, code: str, name_zh: str, name_en: str, sort: int = 0) -> Category:
    """Add a category (admins). Commits."""
    if db.session.scalar(select(Category.id).where(Category.code == code)):
        raise Conflict("category.code_taken", errors={"json": {"code": ["taken"]}})
    category = Category(code=code, name_zh=name_zh, name_en=name_en, sort=sort)
    db.session.add(category)
    db.session.commit()
    return category


def update_category(*, category_id: int, changes: dict) -> Category:
    """Rename, reorder or (de)activate a category (admins). Commits."""
    category = db.session.get(Category, category_id)
    if category is None:
        raise NotFound()
    for key, value in changes.items():
        setattr(category, key, value)
    db.session.commit()
    return category


def active_category(category_id: int) -> None:
    """Check the catalogue entry a new order, activity or rule names: 422 on `category_id` unless it
    exists and is active (the active ids are in the site cache: a new order's hot path reads none)."""
    if category_id not in _active_category_ids():
        raise Unprocessable("validation.failed", errors={"json": {"category_id": ["unknown category"]}})


def existing_category_ids(ids: list[int]) -> set[int]:
    """Which of these ids name active categories."""
    return set(ids) & _active_category_ids() if ids else set()


def _active_category_ids() -> frozenset[int]:
    """The catalogue's active ids, from the site cache where current."""
    return cache.active_categories(_read_active_categories)


def _read_active_categories() -> frozenset[int]:
    return frozenset(row[0] for row in read_rows(_active_categories_query()))


@functools.cache
def _active_categories_query():
    return select(Category.id).where(Category.active.is_(True))


def ensure_catalogue() -> int:
    """Insert the default categories that are missing (idempotent). Commits; returns how many were added."""
    have = set(db.session.scalars(select(Category.code)))
    added = 0
    for sort, (code, zh, en) in enumerate(DEFAULT_CATEGORIES):
        if code not in have:
            db.session.add(Category(code=code, name_zh=zh, name_en=en, sort=sort))
            added += 1
    db.session.commit()
    return added
