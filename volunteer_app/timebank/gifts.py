"""转赠: family links a station approves, and gifts of minutes to them or to a site's donation pool.

A gift is bounded per gift and per calendar month (in the giver's station time zone). The monthly sum
is read after the chain head is locked, and every posting queues behind that lock, so two gifts sent
at once cannot both pass the limit.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from volunteer_app import phones
from volunteer_app.accounts.models import User, VolunteerProfile
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, DomainError, NotFound, Unprocessable, register_messages
from volunteer_app.extensions import db
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, get_in_reach, subtree_of
from volunteer_app.timebank import ledger
from volunteer_app.timebank.models import Entry, FamilyLink, LinkStatus, TimeAccount, Transfer
from volunteer_app.timebank.service import hours

if TYPE_CHECKING:
    from volunteer_app.auth.tokens import Principal

register_messages(
    {
        "family.relative_unknown": (
            "该手机号尚未注册，请家人先注册",
            "No one is registered with this phone number; ask your relative to register first",
        ),
        "family.self": ("不能添加自己为家庭成员", "You cannot link yourself"),
        "family.link_exists": ("已添加过该家庭成员", "This family member is already linked"),
        "family.not_pending": ("该申请已处理", "This family link has already been reviewed"),
        "family.no_home_station": ("请先选择所属实践站", "Choose your home station first"),
        "gift.link_not_approved": (
            "该家庭成员关系尚未通过审核",
            "This family link has not been approved",
        ),
        "gift.over_limit": (
            "超出转赠限额（上限 {limit} 分钟）",
            "Over the gift limit (at most {limit} minutes)",
        ),
        "gift.bad_pool": ("捐赠池站点不存在", "No such site for the donation pool"),
    }
)

GIFT_KINDS = ("gift", "donate")


# ---- family links ---------------------------------------------------------------------------------


def _home_station_id(user: User) -> int | None:
    """The user's home station (chosen at registration, or the station that approved them)."""
    if user.home_site_id is not None:
        return user.home_site_id
    return db.session.scalar(select(VolunteerProfile.site_id).where(VolunteerProfile.user_id == user.id))


def request_link(*, who: Principal, relative_phone: str, relation: str) -> FamilyLink:
    """Ask the home station to approve a registered relative as a family member. Commits."""
    user = db.session.get(User, who.user_id)
    phone = phones.normalize_phone(relative_phone)
    if phone is None:
        raise Unprocessable("phone.invalid", errors={"json": {"relative_phone": ["invalid"]}})
    relative = db.session.scalars(select(User).where(User.phone == phone)).first()
    if relative is None:
        raise Unprocessable("family.relative_unknown", errors={"json": {"relative_phone": ["unknown"]}})
    if relative.id == user.id:
        raise Unprocessable("family.self", errors={"json": {"relative_phone": ["yourself"]}})
    station_id = _home_station_id(user)
    if station_id is None:
        raise Conflict("family.no_home_station")
    link = FamilyLink(user_id=user.id, relative_id=relative.id, relation=relation, site_id=station_id)
    db.session.add(link)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("family.link_exists") from None
    return link_view(link)


def link_view(link: FamilyLink, requester: User | None = None, relative: User | None = None) -> dict:
    """A family link with both people named; the relative's phone is masked."""
    requester = requester or db.session.get(User, link.user_id)
    relative = relative or db.session.get(User, link.relative_id)
    return {
        "id": link.id,
        "user_id": link.user_id,
        "requester_name": requester.name,
        "requester_phone": requester.phone,
        "relative_id": link.relative_id,
        "relative_name": relative.name,
        "relative_phone_masked": phones.mask_phone(relative.phone),
        "relation": link.relation,
        "status": link.status,
        "site_id": link.site_id,
        "reason": link.reason,
        "created_at": link.created_at,
        "reviewed_at": link.reviewed_at,
    }


def _page_of_links(stmt, *, limit: int, cursor: str | None, descending: bool) -> dict:
    page = paginate(stmt, [FamilyLink.id], limit=limit, cursor=cursor, descending=descending)
    ids = {link.user_id for link in page["items"]} | {link.relative_id for link in page["items"]}
    people = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
    page["items"] = [
        link_view(link, people[link.user_id], people[link.relative_id]) for link in page["items"]
    ]
    return page


def my_links(*, who: Principal, status: str | None, limit: int, cursor: str | None) -> dict:
    """The family links the caller has asked for, newest first."""
    stmt = select(FamilyLink).where(FamilyLink.user_id == who.user_id)
    if status:
        stmt = stmt.where(FamilyLink.status == status)
    return _page_of_links(stmt, limit=limit, cursor=cursor, descending=True)


def list_links(*, who: Reacher, site_id: int, status: str | None, limit: int, cursor: str | None) -> dict:
    """Family links asked of a site in reach and the sites below it, oldest first (a review queue)."""
    site = get_in_reach(Site, site_id, Site.id, who)
    stmt = select(FamilyLink).join(Site, Site.id == FamilyLink.site_id).where(subtree_of([site.path]))
    if status:
        stmt = stmt.where(FamilyLink.status == status)
    return _page_of_links(stmt, limit=limit, cursor=cursor, descending=False)


def review_link(*, who: Reacher, reviewer_id: int, link_id: int, approve: bool, reason: str | None) -> dict:
    """Approve or reject a pending link of a station in reach, exactly once. Commits."""
    link = get_in_reach(FamilyLink, link_id, FamilyLink.site_id, who)
    result = db.session.execute(
        update(FamilyLink)
        .where(FamilyLink.id == link.id, FamilyLink.status == LinkStatus.PENDING)
        .values(
            status=LinkStatus.APPROVED if approve else LinkStatus.REJECTED,
            reason=reason,
            reviewed_by_id=reviewer_id,
            reviewed_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise Conflict("family.not_pending")
    db.session.commit()
    db.session.refresh(link)
    return link_view(link)


# ---- gifts ----------------------------------------------------------------------------------------


def _approved_link(user: User, link_id: int) -> FamilyLink:
    link = db.session.scalars(
        select(FamilyLink).where(FamilyLink.id == link_id, FamilyLink.user_id == user.id)
    ).first()
    if link is None:
        raise NotFound()
    if link.status != LinkStatus.APPROVED:
        raise Conflict("gift.link_not_approved")
    return link


def _pool_site(site_id: int) -> Site:
    site = db.session.get(Site, site_id)
    if site is None:
        raise Unprocessable("gift.bad_pool", errors={"json": {"pool_site_id": ["no such site"]}})
    return site


def _month_start(now: datetime, tz: str) -> datetime:
    """The start of the calendar month containing `now`, in the time zone `tz`."""
    local = now.astimezone(ZoneInfo(tz))
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def given_this_month(book: TimeAccount, tz: str, now: datetime) -> int:
    """Minutes this book gave or donated since the start of the month (in `tz`)."""
    return db.session.scalar(
        select(func.coalesce(func.sum(Transfer.minutes), 0))
        .select_from(Entry)
        .join(Transfer, Transfer.id == Entry.transfer_id)
        .where(
            Entry.account_id == book.id,
            Entry.amount < 0,
            Entry.created_at >= _month_start(now, tz),
            Transfer.kind.in_(GIFT_KINDS),
        )
    )


def _check_month(book: TimeAccount, minutes: int, settings: dict) -> None:
    """The monthly limit; the caller holds the chain head, so no concurrent gift is counted twice."""
    limit = settings["gift_month_max_minutes"]
    given = given_this_month(book, settings["timezone"], utcnow())
    if given + minutes > limit:
        raise Conflict(
            "gift.over_limit",
            params={"limit": limit},
            errors={"json": {"minutes": [f"{max(limit - given, 0)} minutes left this month"]}},
        )


def _destination(giver_station: int, link: FamilyLink | None, pool_site_id: int | None) -> tuple:
    """(kind, destination, memo, pool site id) of a gift; may open the relative's book. Flushes only."""
    if link is not None:
        relative = db.session.get(User, link.relative_id)
        book = ledger.existing_book(relative.id) or ledger.book_account(
            relative.id, relative.home_site_id or giver_station
        )
        return "gift", book, f"转赠家人：{relative.name}", None
    site = _pool_site(pool_site_id or giver_station)
    return "donate", ledger.donation_account(site.id), f"捐赠：{site.name}", site.id


def give(
    *, who: Principal, minutes: int, family_link_id: int | None = None, pool_site_id: int | None = None
) -> dict:
    """Give minutes to an approved family member or a site's donation pool, within the limits. Commits."""
    user = db.session.get(User, who.user_id)
    book = ledger.paying_book(user.id)
    giver_station = _home_station_id(user) or book.site_id
    settings = sites.effective_settings(db.session.get(Site, giver_station))
    if minutes > settings["gift_max_minutes"]:
        limit = settings["gift_max_minutes"]
        raise Unprocessable(
            "gift.over_limit", params={"limit": limit}, errors={"json": {"minutes": [f"at most {limit}"]}}
        )
    link = _approved_link(user, family_link_id) if family_link_id is not None else None
    ledger.lock_head()  # first: the monthly sum below must see every earlier gift, and block later ones
    try:
        kind, destination, memo, pool_id = _destination(giver_station, link, pool_site_id)
        _check_month(book, minutes, settings)
        transfer = ledger.post(
            kind=kind,
            source=book,
            destination=destination,
            minutes=minutes,
            memo=memo,
            site_id=giver_station,
            actor_id=user.id,
        )
    except DomainError:
        db.session.rollback()  # nothing half-written: not even the relative's new book
        raise
    db.session.commit()
    balance = db.session.scalar(select(TimeAccount.balance).where(TimeAccount.id == book.id))
    return {
        "transfer_id": transfer.id,
        "kind": kind,
        "minutes": minutes,
        "hours": hours(minutes),
        "family_link_id": family_link_id,
        "pool_site_id": pool_id,
        "balance_minutes": balance,
        "balance_hours": hours(balance),
        "created_at": transfer.created_at,
    }
