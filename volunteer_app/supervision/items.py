"""督办 items: raising one (the core every path shares: the API, a complaint that triggers one, the demo),
and the rest of an item's life through the API: notes, the acting site's report, the raising site's
销号, send back and withdrawal, the lists of a site's items and one item with its timeline.

Who is who on an item: the RAISER is a manager reaching the raising site (`raised_site_id`, which lies
above the acting site, so they reach the item too); the ACTOR a manager reaching the acting site but
not the raising one. An admin is both. Every command locks the item's row before it moves it, so two
requests on one item take turns and the second sees the first's state (409 if it no longer fits).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import inspect, or_, select

from volunteer_app.accounts import service as accounts
from volunteer_app.activities.models import Activity
from volunteer_app.db import utcnow
from volunteer_app.errors import Forbidden, Unprocessable, register_messages
from volunteer_app.extensions import db
from volunteer_app.field_messages import register_field_messages
from volunteer_app.notifications import service as notifications
from volunteer_app.orders.models import Order
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, get_in_reach, reach_condition, subtree_of
from volunteer_app.supervision import states
from volunteer_app.supervision.common import clip, filtered, in_subtree, is_overdue, reaches
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
        due_at = _default_due(raised_site_id, level, now)
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


# ---- the API's commands and reads ------------------------------------------------------------------

ABOUT_NOT_IN_SITE = "not found among the acting site's orders or activities"
DUE_NOT_FUTURE = "must be in the future"
register_field_messages(
    {
        ABOUT_NOT_IN_SITE: "在被督办站点及其下级的订单或活动中未找到",
        DUE_NOT_FUTURE: "必须晚于当前时间",
    }
)
register_messages(
    {
        "supervision.bad_about": (
            "督办所涉对象不属于被督办站点",
            "What the item is about does not belong to the site that must act",
        ),
        "supervision.due_past": ("办结期限必须晚于当前时间", "The deadline must be in the future"),
        "supervision.not_actor": (
            "只有承办站点的管理员可以报告办结",
            "Only the managers of the site that must act report an item done",
        ),
        "supervision.not_raiser": (
            "只有发起督办的站点的管理员可以销号、退回或撤回",
            "Only the managers of the site that raised an item close, send back or withdraw it",
        ),
    }
)


def require_future(due_at: datetime | None, now: datetime, field: str) -> None:
    if due_at is not None and due_at <= now:
        raise Unprocessable("supervision.due_past", errors={"json": {field: [DUE_NOT_FUTURE]}})


def _check_about(site: Site, kind: str, about_id: int) -> None:
    """An order (served or dispatched) or an activity of the acting site's subtree, or 422 on about.id
    (the same whether it does not exist or lies elsewhere: nothing leaks)."""
    subtree = select(Site.id).where(subtree_of([site.path]))
    if kind == "order":
        stmt = select(Order.id).where(
            Order.id == about_id, or_(Order.site_id.in_(subtree), Order.dispatch_site_id.in_(subtree))
        )
    else:
        stmt = select(Activity.id).where(Activity.id == about_id, Activity.site_id.in_(subtree))
    if db.session.scalar(stmt) is None:
        raise Unprocessable("supervision.bad_about", errors={"json": {"about": {"id": [ABOUT_NOT_IN_SITE]}}})


def create(*, who, site_id: int, data: dict, now: datetime | None = None) -> SupervisionItem:
    """Raise an item against `site_id` (POST /sites/{id}/supervision-items): checks the deadline and
    what it is about, raises it (raise_item), tells the acting site's managers. Commits."""
    now = now or utcnow()
    require_future(data.get("due_at"), now, "due_at")
    about = data.get("about") or {}
    site = get_in_reach(Site, site_id, Site.id, who)
    raising_site_id(site, who)  # 403 before anything is said about `about`
    if about.get("kind") in ("order", "activity"):
        _check_about(site, about["kind"], about["id"])
    item = raise_item(
        who=who,
        actor_id=who.user_id,
        site_id=site_id,
        subject=data["subject"],
        description=data["description"],
        level=data["level"],
        due_at=data.get("due_at"),
        about_kind=about.get("kind"),
        about_id=about.get("id"),
        about_ref=about.get("ref"),
        now=now,
    )
    _tell(item, "supervision.raised", item.site_id)
    db.session.commit()
    return item


def _tell(item: SupervisionItem, kind: str, site_id: int, **params) -> None:
    notifications.notify(
        notifications.managers_of(site_id),
        kind,
        subject=("supervision_item", item.id),
        params={"title": item.subject, **params},
    )


def get_item(*, who, item_id: int, for_update: bool = False) -> SupervisionItem:
    """An item whose acting site the caller reaches (the raising site's managers reach it too), or 404."""
    return get_in_reach(SupervisionItem, item_id, SupervisionItem.site_id, who, for_update=for_update)


def _is_raiser(item: SupervisionItem, who) -> bool:
    return reaches(who, item.raised_site_id)


def _as_raiser(item: SupervisionItem, who) -> None:
    if not _is_raiser(item, who):
        raise Forbidden("supervision.not_raiser")


def add_note(*, who, item_id: int, note: str, now: datetime | None = None) -> SupervisionItem:
    """A progress note (the acting site) or a word from the raising site; the state stays. Commits."""
    item = get_item(who=who, item_id=item_id, for_update=True)
    by = states.RAISER if _is_raiser(item, who) else states.ACTOR
    _move(item, "note", by, who, note, now)
    db.session.commit()
    return item


def report(*, who, item_id: int, result: str, now: datetime | None = None) -> SupervisionItem:
    """The acting site reports it done with what was done; the raising site's managers are told.
    Only a manager reaching the acting site but not the raising one (or an admin). Commits."""
    item = get_item(who=who, item_id=item_id, for_update=True)
    if not who.is_admin and _is_raiser(item, who):
        raise Forbidden("supervision.not_actor")
    now = now or utcnow()
    _move(item, "report", states.ACTOR, who, clip(result), now, result=result, reported_at=now)
    _tell(item, "supervision.reported", item.raised_site_id)
    db.session.commit()
    return item


def close(*, who, item_id: int, note: str | None = None, now: datetime | None = None) -> SupervisionItem:
    """销号: the raising site confirms a reported item; the acting site's managers are told. Commits."""
    item = get_item(who=who, item_id=item_id, for_update=True)
    _as_raiser(item, who)
    now = now or utcnow()
    _move(item, "close", states.RAISER, who, note, now, closed_at=now)
    _tell(item, "supervision.closed", item.site_id)
    db.session.commit()
    return item


def send_back(
    *, who, item_id: int, reason: str, due_at: datetime | None = None, now: datetime | None = None
) -> SupervisionItem:
    """Not done: the raising site sends a reported item back with a reason and a new deadline (by
    default the level's `supervision_due_days` of the raising site from now); the acting site's
    managers are told. Commits."""
    now = now or utcnow()
    require_future(due_at, now, "due_at")
    item = get_item(who=who, item_id=item_id, for_update=True)
    _as_raiser(item, who)
    if due_at is None:
        due_at = _default_due(item.raised_site_id, item.level, now)
    _move(item, "send_back", states.RAISER, who, reason, now, due_at=due_at, reopened=item.reopened + 1)
    _tell(item, "supervision.sent_back", item.site_id, reason=reason)
    db.session.commit()
    return item


def withdraw(*, who, item_id: int, reason: str, now: datetime | None = None) -> SupervisionItem:
    """The raising site takes an open or reported item back, with a reason. Commits."""
    item = get_item(who=who, item_id=item_id, for_update=True)
    _as_raiser(item, who)
    _move(item, "withdraw", states.RAISER, who, reason, now)
    db.session.commit()
    return item


def _move(item, action: str, by: str, who, note, now: datetime | None, **values) -> None:
    now = now or utcnow()
    states.transition(
        states.ITEMS, item, action, by=by, actor_id=who.user_id, note=note, at=now, updated_at=now, **values
    )


def _default_due(raised_site_id: int, level: str, now: datetime) -> datetime:
    days = sites.effective_settings(db.session.get(Site, raised_site_id))["supervision_due_days"][level]
    return now + timedelta(days=int(days))


SIDES = ("acting", "raised")


def list_items(
    *,
    who,
    site_id: int,
    side: str = "acting",
    level: str | None = None,
    status: str | None = None,
    overdue: bool | None = None,
    limit: int,
    cursor: str | None,
    now: datetime | None = None,
) -> dict:
    """The items of `site_id` (in reach, or 404), newest first: `acting`, those its subtree must act on;
    `raised`, those its subtree raised. Filtered by level, state and overdue (open past the deadline)."""
    column = SupervisionItem.site_id if side == "acting" else SupervisionItem.raised_site_id
    stmt = select(SupervisionItem).where(
        in_subtree(column, who, site_id), reach_condition(SupervisionItem.site_id, who)
    )
    stmt = filtered(stmt, states.ITEMS, level=level, status=status, overdue=overdue, now=now)
    page = paginate(stmt, [SupervisionItem.id], limit=limit, cursor=cursor, descending=True)
    return {"items": summaries(page["items"], now), "next_cursor": page["next_cursor"]}


def summaries(items: list[SupervisionItem], now: datetime | None = None) -> list[dict]:
    """Items as lists show them: their fields, the two sites' names, whether overdue."""
    now = now or utcnow()
    found = sites.sites_by_id({i.site_id for i in items} | {i.raised_site_id for i in items})
    names = {site_id: site.name for site_id, site in found.items()}
    return [
        {
            **{column.key: getattr(item, column.key) for column in inspect(SupervisionItem).column_attrs},
            "about": _about(item),
            "site_name": names.get(item.site_id),
            "raised_site_name": names.get(item.raised_site_id),
            "overdue": is_overdue(states.ITEMS, item, now),
        }
        for item in items
    ]


def _about(item: SupervisionItem) -> dict | None:
    if item.about_kind is None:
        return None
    return {"kind": item.about_kind, "id": item.about_id, "ref": item.about_ref}


def detail(item: SupervisionItem, now: datetime | None = None) -> dict:
    """One item with its timeline (each event with its actor's name) and whether it is overdue."""
    events = states.timeline(states.ITEMS, item.id)
    people = {e.actor_id for e in events if e.actor_id is not None} | {item.raised_by_id}
    names = {user_id: user.name for user_id, user in accounts.users_by_id(people).items()}
    return {
        **summaries([item], now)[0],
        "raised_by_name": names.get(item.raised_by_id),
        "events": [
            {
                "action": e.action,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "actor_id": e.actor_id,
                "actor_name": names.get(e.actor_id),
                "note": e.note,
                "created_at": e.at,
            }
            for e in events
        ],
    }
