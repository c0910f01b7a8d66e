"""回报: each site's reward catalogue, redeeming minutes for a code, fulfilling it (核销), and expiry.

Redeeming is one transaction: one conditional UPDATE takes a unit of stock, then the book is debited
into the redemption account (the posting locks the chain head) and a short code is issued. The unit is
taken before the chain head, so the losers of a reward's last units wait at most for that reward's row
and get their 409 without queuing behind every posting of the time book; a debit refused afterwards
rolls the unit back with it.

Lock order: a reward's row before the chain head, never the other way round. Expiry keeps it: it moves
a batch of codes to `expired`, gives their stock back (rewards in id order), then locks the head and
refunds them. A code not fulfilled before it expires is refunded exactly once.
"""

from __future__ import annotations

import re
import secrets
from collections import Counter
from datetime import date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, and_, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError

from volunteer_app import phones
from volunteer_app.accounts import identity
from volunteer_app.accounts.models import User, VolunteerProfile
from volunteer_app.accounts.principal import caller_rider
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, NotFound, ServiceUnavailable, register_messages
from volunteer_app.extensions import db, first_look, writes_begin
from volunteer_app.idempotency import key_rider
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, get_in_reach, reach_condition, subtree_of
from volunteer_app.timebank import ledger
from volunteer_app.timebank.models import Redemption, RedemptionStatus, Reward
from volunteer_app.timebank.service import hours

if TYPE_CHECKING:
    from volunteer_app.auth.tokens import Principal

register_messages(
    {
        "reward.out_of_stock": ("该回报已兑完", "This reward is out of stock"),
        "reward.unavailable": ("该回报已下架", "This reward is no longer offered"),
        "reward.not_eligible": (
            "不符合兑换条件：该回报仅限年满 {min_age} 岁的实名用户",
            "Not eligible: this reward is for real-name users aged {min_age} or over",
        ),
        "redemption.not_issued": (
            "该兑换码已核销或已失效",
            "This code has already been fulfilled or has expired",
        ),
        "redemption.expired": ("该兑换码已过期", "This code has expired"),
        "redemption.code_exhausted": ("暂时无法生成兑换码，请重试", "Could not issue a code, please retry"),
    }
)

# Read aloud or typed from a phone screen: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8  # 31**8 ≈ 8.5e11: collisions are rare, and retried
_CODE_SHAPE = re.compile(rf"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
CODE_ATTEMPTS = 5


def new_code() -> str:
    """A fresh redemption code (uniqueness is checked by the database on insert)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normal_code(raw: str) -> str | None:
    """The code as stored, or None if it cannot be one (so a junk path segment never reaches SQL)."""
    code = (raw or "").strip().upper()
    return code if _CODE_SHAPE.fullmatch(code) else None


# ---- a code's state ---------------------------------------------------------------------------------


def waiting(now: datetime) -> ColumnElement[bool]:
    """A code waiting to be fulfilled: issued and not past its time. One past its time is expired
    already (fulfilling it is refused) even before the expiry job moves it and refunds it."""
    return and_(Redemption.status == RedemptionStatus.ISSUED, Redemption.expires_at > now)


def to_refund(now: datetime) -> ColumnElement[bool]:
    """A code issued and past its time: expired, its refund still to come (what the expiry job takes)."""
    return and_(Redemption.status == RedemptionStatus.ISSUED, Redemption.expires_at <= now)


def lapsed(now: datetime) -> ColumnElement[bool]:
    """A code expired: moved by the expiry job (refunded), or past its time with the refund to come."""
    return or_(Redemption.status == RedemptionStatus.EXPIRED, to_refund(now))


def in_status(status: str, now: datetime) -> ColumnElement[bool]:
    """The codes a status filter means: `issued` those waiting, `expired` those lapsed (see `state`)."""
    if status == RedemptionStatus.ISSUED:
        return waiting(now)
    if status == RedemptionStatus.EXPIRED:
        return lapsed(now)
    return Redemption.status == status


def state(redemption: Redemption, now: datetime) -> str:
    """The state a code is in, as lists show it and filter it: an issued code past its time is
    `expired` (the stored status follows when the expiry job refunds it)."""
    if redemption.status == RedemptionStatus.ISSUED and redemption.expires_at <= now:
        return RedemptionStatus.EXPIRED
    return redemption.status


# ---- the catalogue --------------------------------------------------------------------------------


def create_reward(*, who: Reacher, actor_id: int, site_id: int, **fields) -> Reward:
    """Add a reward to the catalogue of a site in reach. Commits."""
    site = get_in_reach(Site, site_id, Site.id, who)
    reward = Reward(site_id=site.id, created_by_id=actor_id, **fields)
    db.session.add(reward)
    db.session.commit()
    return reward


def update_reward(*, who: Reacher, reward_id: int, changes: dict) -> Reward:
    """Change a reward of a site in reach: price, stock (set absolutely), title, active. Commits."""
    reward = get_in_reach(Reward, reward_id, Reward.site_id, who, for_update=True)
    for key, value in changes.items():
        setattr(reward, key, value)
    db.session.commit()
    return reward


def _catalogue_sites(user: User) -> list[int]:
    """The user's home station and the sites above it (whose catalogues apply to them)."""
    home_id = user.home_site_id or db.session.scalar(
        select(VolunteerProfile.site_id).where(VolunteerProfile.user_id == user.id)
    )
    home = db.session.get(Site, home_id) if home_id else None
    return home.ancestor_ids() if home else []


def list_rewards(
    *,
    who: Reacher,
    user: User,
    site_id: int | None,
    kind: str | None,
    include_inactive: bool,
    limit: int,
    cursor: str | None,
) -> dict:
    """Active rewards of one site or of my home station and those above (managers: also withdrawn ones)."""
    stmt = select(Reward)
    if site_id is not None:
        stmt = stmt.where(Reward.site_id == site_id)
    else:
        stmt = stmt.where(Reward.site_id.in_(_catalogue_sites(user)))
    if kind:
        stmt = stmt.where(Reward.kind == kind)
    if include_inactive:
        stmt = stmt.where(or_(Reward.active.is_(True), reach_condition(Reward.site_id, who)))
    else:
        stmt = stmt.where(Reward.active.is_(True))
    return paginate(stmt, [Reward.id], limit=limit, cursor=cursor)


# ---- redeeming ------------------------------------------------------------------------------------


def _age_on(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _check_eligible(user: User, reward: Reward) -> None:
    """A minimum age is checked against the birth date in the user's ID number (real name needed), on
    the day it is at the reward's site."""
    if reward.min_age is None:
        return
    params = {"min_age": reward.min_age}
    if user.id_number_enc is None:
        raise Conflict("reward.not_eligible", params=params)
    number = identity.decrypt_id_number(user.id_number_enc)
    born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    today = sites.local_time(db.session.get(Site, reward.site_id)).date()
    if _age_on(born, today) < reward.min_age:
        raise Conflict("reward.not_eligible", params=params)


@cache
def _stock_query():
    """Whether a reward can be had, by id, built once per process: every loser of a storm reads it."""
    return select(Reward.active, Reward.stock).where(Reward.id == bindparam("reward_id"))


def _check_available(reward) -> None:
    """404 for no such reward (None), 409 for one withdrawn or out of stock (a row or the Reward)."""
    if reward is None:
        raise NotFound()
    if not reward.active:
        raise Conflict("reward.unavailable")
    if reward.stock <= 0:
        raise Conflict("reward.out_of_stock")


def _take_stock(reward: Reward) -> None:
    """One conditional UPDATE: however many redeem at once, stock never goes below zero. Taken before
    the chain head (see the module's lock order). Flushes only (on 409 it rolls back first, like every
    refusal here)."""
    reward_id = reward.id
    result = db.session.execute(
        update(Reward)
        .where(Reward.id == reward_id, Reward.stock > 0, Reward.active.is_(True))
        .values(stock=Reward.stock - 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise Conflict("reward.out_of_stock")


def _issue(**fields) -> Redemption:
    """Insert a redemption under a fresh code, retrying the rare collision. Flushes only."""
    for _ in range(CODE_ATTEMPTS):
        redemption = Redemption(code=new_code(), **fields)
        try:
            with db.session.begin_nested():
                db.session.add(redemption)
        except IntegrityError:
            continue  # the savepoint is undone; everything before it stands
        return redemption
    db.session.rollback()
    raise ServiceUnavailable("redemption.code_exhausted")


def redeem(*, who: Principal, reward_id: int) -> Redemption:
    """Spend minutes on a reward: stock, eligibility, debit and code, all or nothing. Commits. The
    caller's account is the principal's, as authentication read it (a snapshot under `user_snapshot`:
    an Idempotency-Key's transaction, which starts after that read, need not read it again).

    A first look, without a lock: the last unit's losers stop here (under the view's reads_first, in
    autocommit: no transaction at all). A deferred caller (the view's `defer=looking_first`) is
    checked by the look itself, and so is an Idempotency-Key's record: a loser sends that one
    statement. One who passes it is read then, before anything is written."""
    _check_available(first_look(_stock_query(), {"reward_id": reward_id}, caller_rider(who), key_rider()))
    user = who.user
    writes_begin()
    reward = db.session.get(Reward, reward_id)
    _check_available(reward)  # (as the request's transaction reads it; _take_stock decides)
    _check_eligible(user, reward)
    book = ledger.paying_book(user.id)
    _take_stock(reward)  # before the chain head, which the debit locks
    site = db.session.get(Site, reward.site_id)  # read by winners only, and not under the chain head
    try:
        debit = ledger.post(
            kind="redeem",
            source=book,
            destination=ledger.redemption_account(),
            minutes=reward.price_minutes,
            memo=f"回报：{reward.title}",
            site_id=reward.site_id,
            actor_id=user.id,
        )
    except Conflict:
        db.session.rollback()  # the unit of stock goes back with the refused debit
        raise
    ttl = sites.effective_settings(site)["redemption_ttl_hours"]
    now = utcnow()
    redemption = _issue(
        user_id=user.id,
        reward_id=reward.id,
        site_id=reward.site_id,
        minutes=reward.price_minutes,
        status=RedemptionStatus.ISSUED,
        debit_transfer_id=debit.id,
        expires_at=now + timedelta(hours=ttl),
        created_at=now,
    )
    db.session.commit()
    return view(redemption, user=user)


# ---- reading ---------------------------------------------------------------------------------------


def holder(user: User) -> dict:
    """Who redeemed, as the fulfilling station checks it against the person in front of it: the name
    and the phone masked (张**, +86138****5678)."""
    return {
        "holder_name_masked": identity.mask_name(user.name),
        "holder_phone_masked": phones.mask_phone(user.phone),
    }


def view(
    redemption: Redemption,
    reward: Reward | None = None,
    user: User | None = None,
    now: datetime | None = None,
) -> dict:
    """What a redemption shows: its code and state (`state`, at `now`), with the reward's title and
    kind, and its holder masked."""
    reward = reward or db.session.get(Reward, redemption.reward_id)
    user = user or db.session.get(User, redemption.user_id)
    return {
        "id": redemption.id,
        "code": redemption.code,
        "status": state(redemption, now or utcnow()),
        "reward": reward,
        "site_id": redemption.site_id,
        "user_id": redemption.user_id,
        **holder(user),
        "minutes": redemption.minutes,
        "hours": hours(redemption.minutes),
        "expires_at": redemption.expires_at,
        "fulfilled_at": redemption.fulfilled_at,
        "created_at": redemption.created_at,
    }


def my_redemptions(*, who: Principal, status: str | None, limit: int, cursor: str | None) -> dict:
    """The caller's own redemptions, newest first."""
    now = utcnow()
    stmt = select(Redemption).where(Redemption.user_id == who.user_id)
    if status:
        stmt = stmt.where(in_status(status, now))
    page = paginate(stmt, [Redemption.id], limit=limit, cursor=cursor, descending=True)
    ids = {r.reward_id for r in page["items"]}
    rewards = {r.id: r for r in db.session.scalars(select(Reward).where(Reward.id.in_(ids)))}
    me = db.session.get(User, who.user_id)
    page["items"] = [view(r, rewards[r.reward_id], me, now) for r in page["items"]]
    return page


CODE_HINT_LENGTH = 3


def site_redemptions(
    *, who: Reacher, site_id: int, status: str | None, limit: int, cursor: str | None
) -> dict:
    """Redemptions at a site in reach and the sites below it, oldest first, in a state (`in_status`:
    with `status=issued` the codes waiting to be fulfilled, what Today counts). The codes themselves
    are not listed, only their last characters: a code is the holder's proof at the counter, so it is
    fulfilled by scanning or typing it."""
    site = get_in_reach(Site, site_id, Site.id, who)
    now = utcnow()
    stmt = select(Redemption).join(Site, Site.id == Redemption.site_id).where(subtree_of([site.path]))
    if status:
        stmt = stmt.where(in_status(status, now))
    page = paginate(stmt, [Redemption.id], limit=limit, cursor=cursor)
    items = page["items"]
    rewards = {
        r.id: r for r in db.session.scalars(select(Reward).where(Reward.id.in_({i.reward_id for i in items})))
    }
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({i.user_id for i in items})))}
    names = dict(
        db.session.execute(select(Site.id, Site.name).where(Site.id.in_({i.site_id for i in items}))).all()
    )
    page["items"] = [
        {
            **{k: v for k, v in view(r, rewards[r.reward_id], users[r.user_id], now).items() if k != "code"},
            "code_hint": r.code[-CODE_HINT_LENGTH:],
            "site_name": names[r.site_id],
        }
        for r in items
    ]
    return page


def _visible(code: str, who: Reacher, viewer_id: int) -> Redemption:
    """A redemption by code: the owner's, or one at a site in the manager's reach (else 404)."""
    normal = normal_code(code)
    if normal is None:
        raise NotFound()
    redemption = db.session.scalars(
        select(Redemption).where(
            Redemption.code == normal,
            or_(Redemption.user_id == viewer_id, reach_condition(Redemption.site_id, who)),
        )
    ).first()
    if redemption is None:
        raise NotFound()
    return redemption


def get_redemption(*, who: Reacher, viewer_id: int, code: str) -> dict:
    """A redemption for its owner or a manager in reach of the reward's site."""
    return view(_visible(code, who, viewer_id))


# ---- fulfilling (核销) -----------------------------------------------------------------------------


def fulfil(*, who: Reacher, actor_id: int, code: str) -> dict:
    """Mark an issued, unexpired code fulfilled at a site in reach, exactly once. Commits."""
    normal = normal_code(code)
    if normal is None:
        raise NotFound()
    redemption = db.session.scalars(
        select(Redemption).where(Redemption.code == normal, reach_condition(Redemption.site_id, who))
    ).first()
    if redemption is None:
        raise NotFound()
    now = utcnow()
    result = db.session.execute(
        update(Redemption)
        .where(Redemption.id == redemption.id, waiting(now))
        .values(status=RedemptionStatus.FULFILLED, fulfilled_at=now, fulfilled_by_id=actor_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        current = db.session.get(Redemption, redemption.id)
        expired = state(current, now) == RedemptionStatus.EXPIRED
        raise Conflict("redemption.expired" if expired else "redemption.not_issued")
    db.session.commit()
    db.session.refresh(redemption)
    return view(redemption)


# ---- expiry ---------------------------------------------------------------------------------------


def _mark_expired(redemption_id: int, now: datetime):
    """Move one issued, expired code to `expired` (a conditional UPDATE: exactly one run moves it).
    Returns (id, user_id, reward_id, minutes, site_id), or None if it was fulfilled in the meantime or
    another run got it first. Flushes only."""
    return db.session.execute(
        update(Redemption)
        .where(Redemption.id == redemption_id, to_refund(now))
        .values(status=RedemptionStatus.EXPIRED)
        .returning(
            Redemption.id, Redemption.user_id, Redemption.reward_id, Redemption.minutes, Redemption.site_id
        )
        .execution_options(synchronize_session=False)
    ).first()


def _give_stock_back(reward_ids: list[int]) -> None:
    """A unit back for each expired code, rewards in id order (before the chain head). Flushes only."""
    for reward_id, units in sorted(Counter(reward_ids).items()):
        db.session.execute(
            update(Reward)
            .where(Reward.id == reward_id)
            .values(stock=Reward.stock + units)
            .execution_options(synchronize_session=False)
        )


def _refund(redemption_id: int, user_id: int, minutes: int, site_id: int) -> None:
    """Refund an expired code into its holder's book (under the chain head). Flushes only."""
    refund = ledger.post(
        kind="refund",
        source=ledger.redemption_account(),
        destination=ledger.existing_book(user_id),
        minutes=minutes,
        reference=f"refund:redemption:{redemption_id}",
        memo="回报兑换码过期退回",
        site_id=site_id,
    )
    db.session.execute(
        update(Redemption)
        .where(Redemption.id == redemption_id)
        .values(refund_transfer_id=refund.id)
        .execution_options(synchronize_session=False)
    )


def expire_redemptions(*, now: datetime | None = None, batch: int = 500) -> int:
    """Expire and refund issued codes past their time, batch by batch (commits); returns how many."""
    # Safe to run concurrently and repeatedly: only the run whose conditional UPDATE moves a code from
    # issued to expired refunds it (a concurrent run waits on that code's row, then finds it moved), and
    # the refund's unique reference would refuse a second one. Locks in the module's order: the codes,
    # their rewards' rows, then the chain head.
    now = now or utcnow()
    expired = 0
    after = 0
    while True:
        ids = list(
            db.session.scalars(
                select(Redemption.id)
                .where(to_refund(now), Redemption.id > after)
                .order_by(Redemption.id)
                .limit(batch)
            )
        )
        if not ids:
            db.session.rollback()
            return expired
        moved = [row for row in (_mark_expired(redemption_id, now) for redemption_id in ids) if row]
        if moved:
            _give_stock_back([row.reward_id for row in moved])
            ledger.lock_head()
            for row in moved:
                _refund(row.id, row.user_id, row.minutes, row.site_id)
        db.session.commit()
        expired += len(moved)
        after = ids[-1]
