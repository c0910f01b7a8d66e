"""Personal information inside accounts: seeing an unmasked ID number (a permission of its own, a
reason each time, every look logged), the access log, erasing an account's own personal fields when it
is closed, and the access log's retention. The account closing that spans every domain, and the
download of everything held about a person, are volunteer_app/personal/ (they read every domain)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from volunteer_app.accounts import identity
from volunteer_app.accounts.models import (
    IdNumberAccess,
    IdNumberViewer,
    RoleGrant,
    TeamMember,
    User,
    VolunteerApplication,
    VolunteerProfile,
)
from volunteer_app.accounts.service import users_by_id
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, Forbidden, NotFound, register_messages
from volunteer_app.extensions import db
from volunteer_app.pagination import paginate
from volunteer_app.sites.reach import in_reach

register_messages(
    {
        "id_number.not_permitted": (
            "查看完整身份证号需管理员单独授权",
            "Seeing full ID numbers needs a permission an admin grants",
        ),
        "id_number.none": ("该用户没有登记身份证号", "This person has no ID number on record"),
        "id_number.viewer_not_manager": (
            "只能授权给管理员",
            "Only a manager can be given this permission",
        ),
        "id_number.viewer_exists": ("该管理员已有此权限", "This manager already holds the permission"),
    }
)

# Roles whose grants make an account part of the service's management (closing is refused while held).
MANAGEMENT_ROLES = ("manager", "admin")
PSEUDONYM_PREFIX = "已注销用户-"


# ---- the permission ------------------------------------------------------------------------------


def may_see_id_numbers(who) -> bool:
    """Admins may; a manager only with the grant an admin gave (id_number_viewers)."""
    if who.is_admin:
        return True
    if not who.manager_paths:
        return False
    return db.session.get(IdNumberViewer, who.user_id) is not None


def grant_viewer(*, who, user_id: int) -> dict:
    """Allow a manager to see unmasked ID numbers (admins only: the view says so). Commits."""
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound("user.not_found")
    is_manager = db.session.scalar(
        select(RoleGrant.id).where(RoleGrant.user_id == user_id, RoleGrant.role == "manager").limit(1)
    )
    if is_manager is None:
        raise Conflict("id_number.viewer_not_manager")
    row = IdNumberViewer(user_id=user_id, granted_by_id=who.user_id)
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("id_number.viewer_exists") from None
    return {"user_id": user.id, "name": user.name, "granted_by_id": who.user_id, "granted_at": row.created_at}


def revoke_viewer(*, user_id: int) -> None:
    """Take the permission away. Commits; 404 when not held."""
    if db.session.execute(delete(IdNumberViewer).where(IdNumberViewer.user_id == user_id)).rowcount == 0:
        db.session.rollback()
        raise NotFound()
    db.session.commit()


def list_viewers(*, limit: int, cursor: str | None) -> dict:
    """Who holds the permission, in the order it was given."""
    page = paginate(select(IdNumberViewer), [IdNumberViewer.user_id], limit=limit, cursor=cursor)
    names = {uid: u.name for uid, u in users_by_id(v.user_id for v in page["items"]).items()}
    page["items"] = [
        {
            "user_id": v.user_id,
            "name": names.get(v.user_id, ""),
            "granted_by_id": v.granted_by_id,
            "granted_at": v.created_at,
        }
        for v in page["items"]
    ]
    return page


# ---- a look ------------------------------------------------------------------------------------------


def reveal_id_number(*, who, user_id: int, reason: str) -> dict:
    """The unmasked ID number of a person in the caller's reach (their volunteer station, else their
    home station), for a reason; the look is logged in the same transaction as it is answered. Commits.
    A person out of reach, or with no number on record, is 404 like one that does not exist; a caller
    without the permission is 403 before anything is read."""
    if not may_see_id_numbers(who):
        raise Forbidden("id_number.not_permitted")
    stmt = (
        select(User)
        .outerjoin(VolunteerProfile, VolunteerProfile.user_id == User.id)
        .where(User.id == user_id)
    )
    station = db.func.coalesce(VolunteerProfile.site_id, User.home_site_id)
    user = db.session.scalars(in_reach(stmt, station, who)).first()
    if user is None:
        raise NotFound()
    if user.id_number_enc is None:
        raise NotFound("id_number.none")
    number = identity.decrypt_id_number(user.id_number_enc)
    entry = IdNumberAccess(viewer_id=who.user_id, subject_id=user.id, reason=reason, created_at=utcnow())
    db.session.add(entry)
    db.session.commit()
    return {
        "user_id": user.id,
        "real_name": user.real_name,
        "id_number": number,
        "logged_at": entry.created_at,
    }


def access_log(*, subject_id: int | None, viewer_id: int | None, limit: int, cursor: str | None) -> dict:
    """The access log, newest first, optionally of one person looked at or one viewer (admins)."""
    stmt = select(IdNumberAccess)
    if subject_id is not None:
        stmt = stmt.where(IdNumberAccess.subject_id == subject_id)
    if viewer_id is not None:
        stmt = stmt.where(IdNumberAccess.viewer_id == viewer_id)
    page = paginate(stmt, [IdNumberAccess.id], limit=limit, cursor=cursor, descending=True)
    ids = {e.viewer_id for e in page["items"]} | {e.subject_id for e in page["items"]}
    names = {uid: u.name for uid, u in users_by_id(ids).items()}
    page["items"] = [
        {
            "id": e.id,
            "created_at": e.created_at,
            "viewer_id": e.viewer_id,
            "viewer_name": names.get(e.viewer_id, ""),
            "subject_id": e.subject_id,
            "subject_name": names.get(e.subject_id, ""),
            "reason": e.reason,
        }
        for e in page["items"]
    ]
    return page


def purge_access_log(before: datetime) -> int:
    """Delete access-log rows written before `before` (the retention job). Commits."""
    deleted = db.session.execute(delete(IdNumberAccess).where(IdNumberAccess.created_at < before)).rowcount
    db.session.commit()
    return deleted


# ---- closing: the account's own fields ----------------------------------------------------------------


def pseudonym(user_id: int) -> str:
    """已注销用户-<8 hex>: a keyed hash of the id, the same every time, telling nothing without the key."""
    return PSEUDONYM_PREFIX + identity.keyed_hash("closed-user", str(user_id))[:8]


def closed_phone(user_id: int) -> str:
    """What a closed account's phone column holds: not a number (normalize_phone never writes one), so
    no login, SMS or registration ever matches it, and the number is free to register anew."""
    return f"closed:{user_id}"


def holds_management(user_id: int) -> list[str]:
    """The management roles the account holds (closing is refused while it holds any)."""
    return sorted(
        set(
            db.session.scalars(
                select(RoleGrant.role).where(
                    RoleGrant.user_id == user_id, RoleGrant.role.in_(MANAGEMENT_ROLES)
                )
            )
        )
    )


def erase_account_fields(user: User) -> None:
    """Erase or pseudonymise what accounts holds of a person being closed: name to the pseudonym, the
    phone freed, the password, real name and the ID number (encrypted value, keyed hash, masked form)
    erased on the account and on their applications; team memberships and team-leader grants, and the
    ID-number permission, removed. The volunteer profile stays (its number is on certificates and the
    statistics count it), with its skills cleared. Part of the caller's transaction."""
    name = pseudonym(user.id)
    user.name = name
    user.phone = closed_phone(user.id)
    user.password_hash = None
    user.real_name = None
    user.id_number_enc = None
    user.id_number_hash = None
    user.id_number_masked = None
    user.show_name_on_leaderboard = False
    user.is_active = False
    user.closed_at = utcnow()
    db.session.execute(
        update(VolunteerApplication)
        .where(VolunteerApplication.user_id == user.id)
        .values(real_name=name, id_number_enc=b"", id_number_hash="", id_number_masked="", skills=[])
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(VolunteerProfile)
        .where(VolunteerProfile.user_id == user.id)
        .values(skills=[], category_ids=[])
        .execution_options(synchronize_session=False)
    )
    db.session.execute(delete(TeamMember).where(TeamMember.user_id == user.id))
    db.session.execute(delete(RoleGrant).where(RoleGrant.user_id == user.id, RoleGrant.role == "team_leader"))
    db.session.execute(delete(IdNumberViewer).where(IdNumberViewer.user_id == user.id))
