"""Registration, password and SMS-code login, refresh rotation with reuse detection, logout."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta

from flask import current_app, request
from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from volunteer_app import phones
from volunteer_app.accounts import identity
from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import User
from volunteer_app.accounts.principal import load_grants, token_hints
from volunteer_app.auth import passwords, sms, tokens
from volunteer_app.auth.models import AuthSession, RefreshToken, SmsCode, WechatBinding
from volunteer_app.auth.tokens import Principal
from volunteer_app.db import utcnow
from volunteer_app.errors import (
    Conflict,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    register_messages,
)
from volunteer_app.extensions import db
from volunteer_app.field_messages import register_field_messages
from volunteer_app.pagination import paginate
from volunteer_app.providers import DeliveryError, wechat
from volunteer_app.sites import service as sites
from volunteer_app.worker import queue
from volunteer_app.worker.models import WorkItem
from volunteer_app.worker.registry import Work

log = logging.getLogger(__name__)

WRONG_PASSWORD = "does not match the current password"
register_field_messages({WRONG_PASSWORD: "与当前密码不符"})

register_messages(
    {
        "auth.bad_credentials": ("手机号或密码错误", "Wrong phone number or password"),
        # WeChat sign-in with a phone WeChat confirmed but no account has (the SMS-code request no
        # longer says this to strangers: it answers every number alike).
        "auth.phone_not_registered": (
            "该手机号尚未注册，请先注册后再用微信登录",
            "This phone number is not registered: register, then sign in with WeChat",
        ),
        "auth.home_site_required": (
            "请选择所属实践站或提供位置",
            "Choose a home station or give your location",
        ),
        "sms.cooldown": (
            "验证码发送过于频繁，请 {seconds} 秒后再试",
            "Wait {seconds} s before asking for a new code",
        ),
        "sms.code_invalid": ("验证码错误或已过期", "The code is wrong or has expired"),
        "sms.too_many_attempts": (
            "验证码错误次数过多，请重新获取",
            "Too many wrong codes; request a new one",
        ),
        "password.wrong": ("当前密码不正确", "The current password is wrong"),
        "session.ended": ("该登录已退出", "That sign-in has already ended"),
        "wechat.code_invalid": (
            "微信登录凭证无效或已过期，请重试",
            "The WeChat login code is invalid or expired",
        ),
        "wechat.phone_code_invalid": (
            "手机号授权凭证无效或已过期，请重新授权",
            "The phone number code is invalid or expired: ask for the number again",
        ),
        "wechat.phone_required": (
            "该微信尚未绑定账号，请授权手机号完成绑定",
            "This WeChat is not bound to an account: confirm the phone number to bind it",
        ),
        "wechat.bound_elsewhere": (
            "该账号已绑定其他微信，请先登录后解除绑定",
            "This account is bound to another WeChat: sign in and unbind it first",
        ),
        "wechat.disabled": ("本服务未开通微信登录", "WeChat sign-in is not offered by this service"),
        "wechat.unavailable": (
            "微信服务暂不可用，请稍后重试",
            "WeChat cannot be reached now, try again shortly",
        ),
    }
)


def _phone_or_422(raw: str, field: str = "phone") -> str:
    phone = phones.normalize_phone(raw)
    if phone is None:
        raise Unprocessable("phone.invalid", errors={"json": {field: ["invalid phone number"]}})
    return phone


def start_session(user: User) -> dict:
    """Open a device session for the user and issue its first tokens (every login; tests and the bench
    mint tokens with it too). Flushes; the caller commits."""
    return _open_session(user)[1]


def start_console_session(user: User) -> dict:
    """Like start_session, for the console: its one cookie token and CSRF value. Flushes."""
    return _open_session(user, console=True)[1]


def _open_session(user: User, console: bool = False) -> tuple[Principal, dict]:
    """A new device session: the caller its tokens name (the account and its grants, which the login's
    answer lists) and its first tokens (the console's single cookie token when `console`). Flushes; the
    caller commits."""
    session = AuthSession(id=tokens.new_session_id(), user_id=user.id, user_agent=_user_agent())
    db.session.add(session)
    db.session.flush()
    principal = Principal(user=user, session_id=session.id, grants=load_grants(user.id))
    if console:
        return principal, tokens.issue_console_token(user, session)
    return principal, tokens.issue_tokens(user, session, token_hints(user))


def _user_agent() -> str | None:
    agent = request.headers.get("User-Agent") if request else None
    # Keep printable characters only: a NUL would make PostgreSQL refuse the whole login (500).
    agent = "".join(ch for ch in agent if ch.isprintable())[:200] if agent else None
    return agent or None


def register(*, phone: str, password: str, name: str, home_site_id=None, lat=None, lng=None) -> dict:
    """Create a resident account and log it in. Commits."""
    phone = _phone_or_422(phone)
    if home_site_id is not None:
        station = sites.get_station(home_site_id)
    elif lat is not None and lng is not None:
        station = sites.nearest_station(lat, lng)
    else:
        raise Unprocessable("auth.home_site_required", errors={"json": {"home_site_id": ["required"]}})
    if accounts.phone_taken(phone):
        raise Conflict("phone.taken", errors={"json": {"phone": ["taken"]}})
    try:
        user = accounts.create_user(
            phone=phone, name=name, home_site_id=station.id, password_hash=passwords.hash_password(password)
        )
        who, issued = _open_session(user)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("phone.taken", errors={"json": {"phone": ["taken"]}}) from None
    return {**issued, "user": accounts.profile(who=who)}


def create_admin(*, phone: str, name: str, password: str) -> User:
    """Create a deployment admin, or grant admin to an existing account (operator command). Commits."""
    phone = _phone_or_422(phone)
    user = accounts.find_user_by_phone(phone)
    if user is None:
        user = accounts.create_user(
            phone=phone, name=name, home_site_id=None, password_hash=passwords.hash_password(password)
        )
    accounts.ensure_grant(user.id, "admin")
    db.session.commit()
    return user


def login(*, phone: str, password: str, console: bool = False) -> dict:
    """Password login. Wrong phone and wrong password look the same. Commits."""
    normalized = phones.normalize_phone(phone)
    user = accounts.find_user_by_phone(normalized) if normalized else None
    stored = user.password_hash if user is not None and user.is_active else None
    if not passwords.verify_password(stored, password):
        raise Unauthorized("auth.bad_credentials")
    if passwords.needs_rehash(stored):
        user.password_hash = passwords.hash_password(password)
    who, issued = _open_session(user, console)
    db.session.commit()
    return {**issued, "user": accounts.profile(who=who)}


def request_sms_code(*, phone: str) -> dict:
    """Send a 6-digit login code (5 min, 5 attempts, 60 s resend cooldown) to the phone of a registered,
    active account. The answer, its cooldown and the work done are the same for any valid number, so it
    tells nobody whether a number has an account: an unknown number gets a code row too (the hash of a
    code no one is told: the cooldown holds for it alike) and, with a queued sender, a queued send
    that finds no account and sends nothing. Commits; the console and memory senders are called after
    the commit, a network sender (tencent) by the background worker (SMS_CODE_WORK)."""
    phone = _phone_or_422(phone)
    _serialise_phone(phone)
    cfg = current_app.config["APP"]
    now = utcnow()
    last = db.session.scalars(
        select(SmsCode).where(SmsCode.phone == phone).order_by(SmsCode.created_at.desc()).limit(1)
    ).first()
    cooldown = timedelta(seconds=cfg["sms_resend_cooldown_seconds"])
    if last is not None and now - last.created_at < cooldown:
        wait = int((cooldown - (now - last.created_at)).total_seconds()) + 1
        db.session.rollback()
        raise TooManyRequests("sms.cooldown", params={"seconds": wait}, headers={"Retry-After": str(wait)})
    code = f"{secrets.randbelow(1_000_000):06d}"
    user = accounts.find_user_by_phone(phone)
    reachable = user is not None and user.is_active
    # A new code replaces any older one still open.
    db.session.execute(
        update(SmsCode).where(SmsCode.phone == phone, SmsCode.consumed_at.is_(None)).values(consumed_at=now)
    )
    row = SmsCode(
        phone=phone,
        code_hash=identity.keyed_hash("sms-code", f"{phone}:{code}"),
        created_at=now,
        expires_at=now + timedelta(seconds=cfg["sms_code_ttl_seconds"]),
    )
    db.session.add(row)
    db.session.flush()
    gateway = sms.sender()
    if sms.is_queued(gateway):
        # The code waits in the queue sealed (encrypted under the PII key, dated): never in plain text.
        queue.enqueue(SMS_CODE_KIND, {"sms_code_id": row.id, "sealed": identity.seal(SEAL_LABEL, code)})
    db.session.commit()
    if reachable and not sms.is_queued(gateway):
        gateway.send_login_code(phone, code)
    return {
        "sent": True,
        "expires_in": cfg["sms_code_ttl_seconds"],
        "resend_after": cfg["sms_resend_cooldown_seconds"],
    }


def _serialise_phone(phone: str) -> None:
    """Requests for one phone take turns, registered or not, so two at once cannot both pass the
    cooldown: a transaction-scoped advisory lock on PostgreSQL (SQLite's writers take turns anyway,
    BEGIN IMMEDIATE). Part of the caller's transaction."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"sms-code:{phone}"}
        )


SMS_CODE_KIND = "auth.sms_code"
SEAL_LABEL = "sms-code-queue"


def send_queued_code(ctx, *, sms_code_id: int, sealed: str | None = None) -> dict:
    """The worker's half of request_sms_code: send the code if it is still the phone's open code and the
    phone has an active account; a refusal that cannot change (an invalid number) ends the item, others
    raise for the worker's retry. Once done, the sealed code is wiped from the item's arguments."""
    db.session.execute(
        update(WorkItem).where(WorkItem.id == ctx.id).values(args={"sms_code_id": sms_code_id}),
        execution_options={"synchronize_session": False},
    )
    row = db.session.get(SmsCode, sms_code_id)
    if row is None or row.consumed_at is not None or row.expires_at <= utcnow() or sealed is None:
        return {"sent": False}
    code = identity.unseal(
        SEAL_LABEL, sealed, max_age_seconds=current_app.config["APP"]["sms_code_ttl_seconds"]
    )
    user = accounts.find_user_by_phone(row.phone)
    if code is None or user is None or not user.is_active:
        return {"sent": False}
    try:
        sms.sender().send_login_code(row.phone, code)
    except DeliveryError as exc:
        if exc.retry:
            raise
        log.warning("login code %s not sent: %s", sms_code_id, exc.code)
        return {"sent": False, "error": exc.code}
    return {"sent": True}


SMS_CODE_WORK = Work(
    kind=SMS_CODE_KIND,
    run=send_queued_code,
    description="send a login code by SMS through a network sender (auth/service.py send_queued_code)",
    max_attempts=3,  # 10 s and 20 s apart: a code lasts 5 minutes
)


def sms_login(*, phone: str, code: str, console: bool = False) -> dict:
    """Log in with the latest code sent to the phone. A wrong code spends an attempt (kept). Commits."""
    phone = _phone_or_422(phone)
    if not spend_sms_code(phone, code):
        db.session.commit()
        raise Unauthorized("sms.code_invalid")
    user = accounts.find_user_by_phone(phone)
    if user is None or not user.is_active:
        db.session.commit()
        raise Unauthorized("sms.code_invalid")
    who, issued = _open_session(user, console)
    db.session.commit()
    return {**issued, "user": accounts.profile(who=who)}


def spend_sms_code(phone: str, code: str) -> bool:
    """Whether `code` is the latest open code sent to `phone` (E.164): spends an attempt either way and
    consumes the code when it matches (login, and confirming a closed account, POST /me/close). Spent
    attempts are kept: the caller commits, also before raising. 429 sms.too_many_attempts (committed)
    once they are all spent."""
    now = utcnow()
    row = db.session.scalars(
        select(SmsCode)
        .where(SmsCode.phone == phone, SmsCode.consumed_at.is_(None), SmsCode.expires_at > now)
        .order_by(SmsCode.created_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return False
    max_attempts = current_app.config["APP"]["sms_code_max_attempts"]
    # Count the attempt with a conditional update so parallel guesses cannot exceed the limit.
    spent = db.session.execute(
        update(SmsCode)
        .where(SmsCode.id == row.id, SmsCode.attempts < max_attempts, SmsCode.consumed_at.is_(None))
        .values(attempts=SmsCode.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount
    if spent != 1:
        db.session.commit()
        raise TooManyRequests("sms.too_many_attempts")
    if not secrets.compare_digest(row.code_hash, identity.keyed_hash("sms-code", f"{phone}:{code}")):
        return False
    db.session.execute(update(SmsCode).where(SmsCode.id == row.id).values(consumed_at=now))
    return True


# WeChat's answers to a code: wrong or already used (40029, 40163); too many of one user's (45011).
WECHAT_BAD_CODE = frozenset({40029, 40163})
WECHAT_RATE_LIMITED = 45011


def _ask_wechat(call, code: str, bad_code_error: str) -> dict:
    """One call to WeChat for a code, its failures in the one error format (nothing written yet)."""
    try:
        return call(code)
    except wechat.WechatError as exc:
        if exc.errcode in WECHAT_BAD_CODE:
            raise Unauthorized(bad_code_error) from None
        if exc.errcode == WECHAT_RATE_LIMITED:
            raise TooManyRequests("rate_limited") from None
        log.warning("wechat refused %s: %s %s", bad_code_error, exc.errcode, exc.errmsg[:100])
        raise ServiceUnavailable("wechat.unavailable") from None
    except wechat.WechatUnavailable as exc:
        log.warning("wechat unavailable: %s", exc)
        raise ServiceUnavailable("wechat.unavailable") from None


def wechat_login(*, code: str, phone_code: str | None = None) -> dict:
    """Sign in from the mini-program with a wx.login code: the account bound to that WeChat user; or,
    not bound yet, with a getPhoneNumber code: the account of the phone number WeChat confirms, which
    gets bound. Answers like a phone login. Commits."""
    if not wechat.configured():
        raise NotFound("wechat.disabled")
    client = wechat.client()
    user_info = _ask_wechat(client.code2session, code, "wechat.code_invalid")
    openid, appid = user_info["openid"], client.appid
    user = _bound_user(appid, openid)
    if user is None:
        if phone_code is None:
            raise Unauthorized("wechat.phone_required")
        confirmed = _ask_wechat(client.phone_number, phone_code, "wechat.phone_code_invalid")
        phone = phones.normalize_phone(f"+{confirmed['country_code']}{confirmed['phone']}")
        user = accounts.find_user_by_phone(phone) if phone else None
        if user is None or not user.is_active:
            # No account: the resident registers (a password and a home station are theirs to choose),
            # then signs in here again to bind. Nothing is created from a tap.
            raise Unprocessable(
                "auth.phone_not_registered", errors={"json": {"phone_code": ["not registered"]}}
            )
        if db.session.get(WechatBinding, user.id) is not None:
            raise Conflict("wechat.bound_elsewhere")
        try:
            with db.session.begin_nested():
                db.session.add(
                    WechatBinding(user_id=user.id, appid=appid, openid=openid, unionid=user_info["unionid"])
                )
        except IntegrityError:  # the same WeChat bound at the same moment (a double tap), or this account
            user = _bound_user(appid, openid)
            if user is None:
                db.session.rollback()
                raise Conflict("wechat.bound_elsewhere") from None
    who, issued = _open_session(user)
    db.session.commit()
    return {**issued, "user": accounts.profile(who=who)}


def _bound_user(appid: str, openid: str) -> User | None:
    """The active account this mini-program user is bound to (a deactivated one signs in no more)."""
    return db.session.scalars(
        select(User)
        .join(WechatBinding, WechatBinding.user_id == User.id)
        .where(WechatBinding.appid == appid, WechatBinding.openid == openid, User.is_active.is_(True))
    ).first()


def refresh(*, who: Principal, claims: dict) -> dict:
    """Rotate the caller's refresh token (its claims). Presenting one already used revokes the whole
    session (theft). Commits."""
    jti, session_id = claims["jti"], claims.get("sid")
    used = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.jti == jti, RefreshToken.session_id == session_id, RefreshToken.used_at.is_(None))
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if used != 1:
        _revoke_sessions(AuthSession.id == session_id, "refresh_reused")
        db.session.commit()
        raise tokens.token_refused("token.revoked")
    session = db.session.get(AuthSession, session_id)
    issued = tokens.issue_tokens(who.user, session, token_hints(who.user))
    db.session.commit()
    return issued


def logout(*, who: Principal) -> None:
    """Revoke the caller's session (this device): its access and refresh tokens stop working at once.
    Commits."""
    _revoke_sessions(AuthSession.id == who.session_id, "logout")
    db.session.commit()


def sessions(*, who: Principal, limit: int, cursor: str | None) -> dict:
    """My sign-ins (phones and console), newest first, the live ones and the ended ones; this one marked."""
    page = paginate(
        select(AuthSession).where(AuthSession.user_id == who.user_id),
        [AuthSession.created_at, AuthSession.id],
        limit=limit,
        cursor=cursor,
        descending=True,
    )
    page["items"] = [
        {
            "id": row.id,
            "created_at": row.created_at,
            "user_agent": row.user_agent,
            "revoked_at": row.revoked_at,
            "revoked_reason": row.revoked_reason,
            "current": row.id == who.session_id,
        }
        for row in page["items"]
    ]
    return page


def end_session(*, who: Principal, session_id: str) -> None:
    """Sign one of my sessions out (another device, or this one); someone else's is 404. Commits."""
    session = db.session.get(AuthSession, session_id)
    if session is None or session.user_id != who.user_id:
        raise NotFound()
    if session.revoked_at is not None:
        raise Conflict("session.ended")
    _revoke_sessions(AuthSession.id == session_id, "logout")
    db.session.commit()


def logout_everywhere(*, who: Principal) -> None:
    """Sign out every session of mine, phones and console alike (this one too). Commits."""
    _revoke_sessions(AuthSession.user_id == who.user_id, "logout")
    db.session.commit()


def change_password(*, who: Principal, current_password: str, new_password: str) -> dict:
    """Change the password, revoke every session, and open a fresh one for this device. Commits.
    A wrong current password is 422 on its field: the session is fine (a 401 would log the phone out)."""
    user = who.user
    if not passwords.verify_password(user.password_hash, current_password):
        raise Unprocessable("password.wrong", errors={"json": {"current_password": [WRONG_PASSWORD]}})
    user.password_hash = passwords.hash_password(new_password)
    _revoke_sessions(AuthSession.user_id == user.id, "password_changed")
    issued = start_session(user)
    db.session.commit()
    return issued


def end_sign_ins(user: User) -> None:
    """A closed account's ways in, ended together: every session revoked ("closed": its access and
    refresh tokens stop working at the next request), its WeChat binding and its phone's SMS codes
    deleted. Part of the caller's transaction (volunteer_app/personal/closing.py)."""
    _revoke_sessions(AuthSession.user_id == user.id, "closed")
    db.session.execute(delete(WechatBinding).where(WechatBinding.user_id == user.id))
    db.session.execute(delete(SmsCode).where(SmsCode.phone == user.phone))


def purge_sign_in_records(before) -> dict:
    """The retention job's part of auth (`[retention] sign_ins_days`): SMS code rows written before
    `before`, refresh tokens that expired before it, and sessions ended before it with their tokens.
    Commits."""
    codes = db.session.execute(delete(SmsCode).where(SmsCode.created_at < before)).rowcount
    ended = select(AuthSession.id).where(AuthSession.revoked_at < before).scalar_subquery()
    tokens_deleted = db.session.execute(
        delete(RefreshToken).where(or_(RefreshToken.expires_at < before, RefreshToken.session_id.in_(ended)))
    ).rowcount
    sessions_deleted = db.session.execute(delete(AuthSession).where(AuthSession.revoked_at < before)).rowcount
    db.session.commit()
    return {"sms_codes": codes, "refresh_tokens": tokens_deleted, "sessions": sessions_deleted}


def _revoke_sessions(condition, reason: str) -> None:
    db.session.execute(
        update(AuthSession)
        .where(condition, AuthSession.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_reason=reason)
        .execution_options(synchronize_session=False)
    )
