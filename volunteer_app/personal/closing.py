"""Closing an account (POST /me/close): confirmed with the password (or, for an account without one, a
login code sent by SMS), refused while something is open that another person depends on, then in one
transaction the personal fields are erased or pseudonymised and every way in ends at once.

What is kept, and why: the time book and its ledger (hash-chained, append-only; `flask timebank verify`
must keep passing), the assignments, orders, complaints and appeals the book's minutes and the
statistics rest on, and the certificates as issued (a third party verifies them by their code). They
keep their figures under the account's pseudonym. README "Personal data" says what and for how long.
"""

from __future__ import annotations

from sqlalchemy import Float, Numeric, cast, delete, func, or_, select, update

from volunteer_app.accounts import privacy
from volunteer_app.accounts.models import User
from volunteer_app.attendance.models import Assignment, AssignmentStatus
from volunteer_app.auth import passwords
from volunteer_app.auth import service as auth
from volunteer_app.errors import Conflict, Unprocessable, register_messages
from volunteer_app.extensions import db
from volunteer_app.field_messages import register_field_messages
from volunteer_app.notifications.models import Device, Notification, NotificationSetting, OutboxMessage
from volunteer_app.notifications.wechat import WechatConsent
from volunteer_app.orders.models import Order, OrderStatus
from volunteer_app.timebank.models import FamilyLink, Redemption, RedemptionStatus

WRONG_CODE = "the code is wrong or has expired"
CONFIRM_NEEDED = "give the password (or, without one, a login code sent by SMS)"
register_field_messages(
    {WRONG_CODE: "验证码错误或已过期", CONFIRM_NEEDED: "请输入登录密码（未设密码的账号请输入短信验证码）"}
)

register_messages(
    {
        "account.close_confirm": ("请确认身份后再注销", "Confirm who you are to close the account"),
        "account.open_items": (
            "您还有进行中的事项，请先完成或取消后再注销",
            "Something of yours is still open: finish or cancel it before closing the account",
        ),
        "account.holds_management": (
            "您仍担任管理职务，请先由上级解除后再注销",
            "You still hold a management role: have it removed before closing the account",
        ),
    }
)

# Open things another person depends on. Orders of theirs still to be served (a station is staffing
# or serving them); places they hold or were offered (a resident or an activity counts on them);
# redemption codes not yet fulfilled (a station holds the goods).
OPEN_ORDER = (OrderStatus.SUBMITTED, OrderStatus.DISPATCHED, OrderStatus.STAFFED, OrderStatus.IN_SERVICE)
OPEN_ASSIGNMENT = (
    AssignmentStatus.OFFERED,
    AssignmentStatus.WAITLISTED,
    AssignmentStatus.HELD,
    AssignmentStatus.CHECKED_IN,
)


def open_items(user_id: int) -> dict[str, int]:
    """What keeps the account open: counts by kind (none: it may close)."""
    counts = {
        "orders": db.session.scalar(
            select(func.count()).where(Order.resident_id == user_id, Order.status.in_(OPEN_ORDER))
        ),
        "assignments": db.session.scalar(
            select(func.count()).where(
                Assignment.volunteer_id == user_id, Assignment.status.in_(OPEN_ASSIGNMENT)
            )
        ),
        "redemptions": db.session.scalar(
            select(func.count()).where(
                Redemption.user_id == user_id, Redemption.status == RedemptionStatus.ISSUED
            )
        ),
    }
    return {kind: n for kind, n in counts.items() if n}


def _confirm(user: User, password: str | None, code: str | None) -> None:
    """The password for an account that has one; a login code (POST /auth/sms-code) otherwise."""
    if user.password_hash is not None:
        if password is None or not passwords.verify_password(user.password_hash, password):
            raise Unprocessable("password.wrong", errors={"json": {"password": [auth.WRONG_PASSWORD]}})
        return
    if code is None:
        raise Unprocessable("account.close_confirm", errors={"json": {"code": [CONFIRM_NEEDED]}})
    if not auth.spend_sms_code(user.phone, code):
        db.session.commit()  # the attempt spent stays spent
        raise Unprocessable("sms.code_invalid", errors={"json": {"code": [WRONG_CODE]}})


def close_account(*, who, password: str | None = None, code: str | None = None) -> dict:
    """Close the caller's account for good. Commits.

    Refused (nothing changed): 422 when the confirmation is wrong; 409 account.holds_management while
    the account holds a manager or admin grant (someone above removes it first, so no site is left
    without its manager unnoticed and the last admin cannot vanish); 409 account.open_items while
    something is open (`open_items`). Then, together: the account's own fields erased or pseudonymised
    (accounts/privacy.py), every session revoked and the WeChat binding and SMS codes deleted (its
    tokens fail at their next request), devices, notification settings, WeChat consents, the inbox and
    its delivery rows deleted, family links deleted, and the home address of their finished orders
    erased (the coordinates rounded to about a kilometre: the station's statistics still place them).
    """
    user = db.session.scalars(select(User).where(User.id == who.user_id).with_for_update()).one()
    _confirm(user, password, code)
    held = privacy.holds_management(user.id)
    if held:
        db.session.rollback()
        raise Conflict("account.holds_management", errors={"json": {"roles": held}})
    blocking = open_items(user.id)
    if blocking:
        db.session.rollback()
        raise Conflict("account.open_items", errors={"json": {"open": blocking}})
    auth.end_sign_ins(user)  # before the phone is erased: its SMS codes go by the number
    privacy.erase_account_fields(user)
    uid = user.id
    db.session.execute(delete(Device).where(Device.user_id == uid))
    db.session.execute(delete(NotificationSetting).where(NotificationSetting.user_id == uid))
    db.session.execute(delete(WechatConsent).where(WechatConsent.user_id == uid))
    db.session.execute(delete(OutboxMessage).where(OutboxMessage.user_id == uid))
    db.session.execute(delete(Notification).where(Notification.user_id == uid))
    db.session.execute(
        delete(FamilyLink).where(or_(FamilyLink.user_id == uid, FamilyLink.relative_id == uid))
    )
    db.session.execute(
        update(Order)
        .where(Order.resident_id == uid)
        .values(
            address=user.name,
            description=None,
            rating_comment=None,
            lat=cast(func.round(cast(Order.lat, Numeric), 2), Float),
            lng=cast(func.round(cast(Order.lng, Numeric), 2), Float),
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return {"closed": True, "closed_at": user.closed_at, "pseudonym": user.name}
