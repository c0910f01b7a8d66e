"""WeChat subscription consents and the "wechat" channel's reacher; the caller's binding (seen, undone).

A mini-program subscription message needs the user's consent to its template, one message per consent
(wx.requestSubscribeMessage; a user may tap "allow" again and again and WeChat counts them). We keep the
same count per user and template: the mini-program reports each accept, and the reacher spends one per
message it lets through, in the notifying transaction (so a consent is never spent twice by two
notifications at once, nor spent for a message never written).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ForeignKey, String, case, delete, select, update
from sqlalchemy.orm import Mapped, mapped_column

from volunteer_app.auth.models import WechatBinding
from volunteer_app.db import UTCDateTime, dialect_insert, utcnow
from volunteer_app.errors import Conflict, NotFound, Unprocessable, register_messages
from volunteer_app.extensions import db
from volunteer_app.field_messages import register_field_messages
from volunteer_app.notifications import channels
from volunteer_app.notifications.delivery import CHUNK
from volunteer_app.notifications.models import OutboxMessage, OutboxStatus
from volunteer_app.providers import wechat as provider

register_messages(
    {
        "wechat.not_bound": (
            "尚未绑定微信，请先在小程序中用微信登录",
            "No WeChat is bound to this account: sign in from the mini-program first",
        ),
    }
)

ACCEPT = "accept"
UNBOUND = "wechat.unbound"  # last_error of the messages a user's unbinding left unsent
NOT_CARRIED = "not a kind WeChat carries here"
register_field_messages({NOT_CARRIED: "该类通知不通过微信发送"})


class WechatConsent(db.Model):
    """How many subscription messages of one template a user has allowed and not yet been sent."""

    __tablename__ = "wechat_consents"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, autoincrement=False)
    template_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    remaining: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def _templates() -> dict[str, str]:
    """kind -> template id, for the kinds WeChat can carry."""
    return {kind: t["id"] for kind, t in provider.settings()["templates"].items() if t.get("id")}


def _binding(user_id: int) -> WechatBinding | None:
    return db.session.get(WechatBinding, user_id)


def status(*, who) -> dict:
    """The caller's WeChat: bound or not (never the openid), and the consents left per kind."""
    binding = _binding(who.user_id)
    return {
        "bound": binding is not None,
        "bound_at": binding.created_at if binding else None,
        "subscriptions": _subscriptions(who.user_id) if binding else [],
    }


def _subscriptions(user_id: int) -> list[dict]:
    left = dict(
        db.session.execute(
            select(WechatConsent.template_id, WechatConsent.remaining).where(WechatConsent.user_id == user_id)
        ).all()
    )
    return [
        {"kind": kind, "template_id": template_id, "remaining": left.get(template_id, 0)}
        for kind, template_id in sorted(_templates().items())
    ]


def record_consents(*, who, kinds: Sequence[str] | None = None, results: dict | None = None) -> dict:
    """Count one consent for each template the user allowed: named by kind, or the template ids
    wx.requestSubscribeMessage answered "accept" for (others: "reject", "ban", "filter", and errMsg, are
    not consents). Unknown kinds and templates are left out. Each count stops at `consent_cap`. Commits."""
    if _binding(who.user_id) is None:
        raise Conflict("wechat.not_bound")
    templates = _templates()
    unknown = {i: [NOT_CARRIED] for i, kind in enumerate(kinds or ()) if kind not in templates}
    if unknown:
        raise Unprocessable("validation.failed", errors={"json": {"kinds": unknown}})
    accepted = {templates[k] for k in kinds or ()}
    known = set(templates.values())
    accepted |= {t for t, answer in (results or {}).items() if answer == ACCEPT and t in known}
    cap = max(int(provider.settings().get("consent_cap", 50)), 1)
    now = utcnow()
    dialect = db.session.get_bind().dialect.name
    insert = dialect_insert(dialect)
    for template_id in sorted(accepted):
        # One statement, safe against a concurrent report: create the count at 1 or add one, up to the cap.
        stmt = insert(WechatConsent).values(
            user_id=who.user_id, template_id=template_id, remaining=1, updated_at=now
        )
        db.session.execute(
            stmt.on_conflict_do_update(
                index_elements=["user_id", "template_id"],
                set_={
                    "remaining": case(
                        (WechatConsent.remaining < cap, WechatConsent.remaining + 1), else_=cap
                    ),
                    "updated_at": now,
                },
            )
        )
    db.session.commit()
    return status(who=who)


def unbind(*, who) -> None:
    """Undo the caller's WeChat binding: the mini-program no longer signs this account in, no message
    goes to it (those waiting die, `wechat.unbound`), and its consents are forgotten. 404 when none is
    bound. Commits."""
    if _binding(who.user_id) is None:
        raise NotFound("wechat.not_bound")
    # Messages still waiting for this WeChat (quiet hours, retries) go nowhere: the openid is no longer
    # this account's, and may be bound to another account next.
    db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.user_id == who.user_id,
            OutboxMessage.channel == "wechat",
            OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.FAILED)),
        )
        .values(status=OutboxStatus.DEAD, last_error=UNBOUND),
        execution_options={"synchronize_session": False},
    )
    db.session.execute(delete(WechatConsent).where(WechatConsent.user_id == who.user_id))
    db.session.execute(delete(WechatBinding).where(WechatBinding.user_id == who.user_id))
    db.session.commit()


@channels.reacher("wechat")
def reach(user_ids: Sequence[int], kind: str) -> dict[int, list[str | None]]:
    """The users WeChat can reach for `kind`: bound, with a consent left for its template; spends one
    consent each (in the caller's transaction, which commits). Two statements per chunk of users."""
    template_id = _templates().get(kind)
    if template_id is None or not user_ids:
        return {}
    appid = provider.settings().get("appid") or ""
    found: dict[int, list[str | None]] = {}
    ids = sorted(set(user_ids))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        bound = select(WechatBinding.user_id).where(
            WechatBinding.appid == appid, WechatBinding.user_id.in_(chunk)
        )
        # The conditional UPDATE is what spends a consent once: a concurrent notify waits for this row
        # and re-reads `remaining` (PostgreSQL), or is serialised (SQLite).
        spent = list(
            db.session.scalars(
                update(WechatConsent)
                .where(
                    WechatConsent.template_id == template_id,
                    WechatConsent.user_id.in_(bound.scalar_subquery()),
                    WechatConsent.remaining > 0,
                )
                .values(remaining=WechatConsent.remaining - 1, updated_at=utcnow())
                .returning(WechatConsent.user_id),
                execution_options={"synchronize_session": False},
            )
        )
        if spent:
            rows = db.session.execute(
                select(WechatBinding.user_id, WechatBinding.openid).where(
                    WechatBinding.appid == appid, WechatBinding.user_id.in_(spent)
                )
            ).all()
            found.update({user_id: [openid] for user_id, openid in rows})
    return found


@channels.releaser("wechat")
def release(user_ids: Sequence[int], kind: str) -> None:
    """Give back the consents `reach` spent for rows routing then skipped (the daily cap): one per id
    (an id twice: two). In the caller's transaction."""
    template_id = _templates().get(kind)
    if template_id is None or not user_ids:
        return
    times: dict[int, int] = {}
    for user_id in user_ids:
        times[user_id] = times.get(user_id, 0) + 1
    for count in sorted(set(times.values())):
        ids = sorted(u for u, n in times.items() if n == count)
        for start in range(0, len(ids), CHUNK):
            db.session.execute(
                update(WechatConsent)
                .where(
                    WechatConsent.template_id == template_id,
                    WechatConsent.user_id.in_(ids[start : start + CHUNK]),
                )
                .values(remaining=WechatConsent.remaining + count, updated_at=utcnow()),
                execution_options={"synchronize_session": False},
            )
