"""Users, role grants, real-name volunteer applications and team membership: every state change here."""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError

from volunteer_app import phones
from volunteer_app.accounts import identity, principal
from volunteer_app.accounts.models import (
    ApplicationStatus,
    RoleGrant,
    TeamMember,
    User,
    VolunteerApplication,
    VolunteerProfile,
)
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, Forbidden, NotFound, Unprocessable, register_messages
from volunteer_app.extensions import db, read_rows
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, get_in_reach, path_in_reach, subtree_of

register_messages(
    {
        "phone.invalid": ("手机号格式不正确", "The phone number is not valid"),
        "phone.taken": ("该手机号已注册", "This phone number is already registered"),
        "id_number.invalid": ("身份证号码无效", "The ID number is not valid"),
        "id_number.taken": ("该身份证号码已被其他账号使用", "This ID number belongs to another account"),
        "volunteer.already": ("您已是注册志愿者", "You are already a registered volunteer"),
        "volunteer.not_found": ("未找到该志愿者", "Volunteer not found"),
        "application.pending_exists": ("您已有待审核的申请", "You already have an application under review"),
        "application.not_pending": ("该申请已处理", "This application has already been reviewed"),
        "category.unknown": ("服务类别不存在", "Unknown service category"),
        "user.not_found": ("未找到该用户", "User not found"),
        "manager.not_above": (
            "只有上级站点管理员或系统管理员可以任命管理员",
            "Only a manager of a site above, or an admin, can appoint managers here",
        ),
        "role.already_granted": ("该用户已拥有此角色", "The user already holds this role"),
        "team.member_exists": ("该志愿者已在队伍中", "The volunteer is already a member"),
    }
)


# ---- users -------------------------------------------------------------------------------------


def create_user(*, phone: str, name: str, home_site_id: int | None, password_hash: str | None) -> User:
    """Add a user with the resident role. Flushes only: the caller owns the transaction."""
    user = User(phone=phone, name=name, home_site_id=home_site_id, password_hash=password_hash)
    db.session.add(user)
    db.session.flush()
    db.session.add(RoleGrant(user_id=user.id, role="resident", scope="-"))
    return user


def ensure_grant(
    user_id: int, role: str, *, site_id: int | None = None, granted_by_id: int | None = None
) -> None:
    """Give a role grant unless held already. Flushes only: the caller owns the transaction."""
    scope = RoleGrant.scope_for(site_id=site_id)
    exists = db.session.scalar(
        select(RoleGrant.id).where(
            RoleGrant.user_id == user_id, RoleGrant.role == role, RoleGrant.scope == scope
        )
    )
    if exists is None:
        db.session.add(
            RoleGrant(user_id=user_id, role=role, scope=scope, site_id=site_id, granted_by_id=granted_by_id)
        )
        db.session.flush()


def users_by_id(ids) -> dict[int, User]:
    """Users by id, in one query (ids of no user are left out)."""
    ids = {i for i in ids if i is not None}
    return {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))} if ids else {}


def find_user_by_phone(phone: str) -> User | None:
    return db.session.scalars(select(User).where(User.phone == phone)).first()


def phone_taken(phone: str) -> bool:
    return db.session.scalar(select(User.id).where(User.phone == phone)) is not None


@cache
def _profile_query():
    return select(*VolunteerProfile.__table__.c).where(VolunteerProfile.user_id == bindparam("user_id"))


# GET /me's volunteer profile rides on the principal's query (one round trip for both).
PROFILE_RIDER = principal.Rider(
    "profile", VolunteerProfile.__table__, join=lambda user_id: VolunteerProfile.user_id == user_id
)


def volunteer_profile(user_id: int):
    """The caller's volunteer profile as a plain row (None if they have none): as it rode on the
    principal's query (PROFILE_RIDER), else read here."""
    rode, profile = principal.rider_row(PROFILE_RIDER)
    return profile if rode else read_rows(_profile_query(), {"user_id": user_id}).first()


def profile(*, who) -> dict:
    """What GET /me shows the caller: the account, its home station, volunteer profile and role grants
    (with their sites' names). Reads `who.user` and `who.grants` only."""
    user = who.user
    # The grants as the request's authentication read them, in grant order; the sites' names from
    # the site cache (one query at most when it is cold).
    named = sites.site_views({g.site_id for g in who.grants if g.site_id} | {user.home_site_id} - {None})
    return {
        "user": user,
        "home_site": named.get(user.home_site_id),
        "volunteer": volunteer_profile(user.id),
        "roles": [
            {
                "role": g.role,
                "site_id": g.site_id,
                "site_name": named[g.site_id].name if g.site_id in named else None,
                "team_id": g.team_id,
            }
            for g in who.grants
        ],
    }


def update_me(*, who, changes: dict) -> dict:
    """Change the caller's own name, home station or leaderboard opt-in. Commits."""
    if "home_site_id" in changes:
        sites.get_station(changes["home_site_id"])
    for key, value in changes.items():
        setattr(who.user, key, value)
    db.session.commit()
    return profile(who=who)


# ---- volunteer applications -----------------------------------------------------------------------


def apply_as_volunteer(
    *, who, real_name: str, id_number: str, site_id: int, skills: list[str], category_ids: list[int]
) -> VolunteerApplication:
    """Submit a real-name application to a station. Commits."""
    normalized = identity.normalize_id_number(id_number)
    if normalized is None:
        raise Unprocessable("id_number.invalid", errors={"json": {"id_number": ["invalid"]}})
    sites.get_station(site_id, field="site_id")
    unknown = set(category_ids) - sites.existing_category_ids(category_ids)
    if unknown:
        raise Unprocessable("category.unknown", errors={"json": {"category_ids": sorted(unknown)}})
    if db.session.get(VolunteerProfile, who.user_id) is not None:
        raise Conflict("volunteer.already")
    id_hash = identity.hash_id_number(normalized)
    holder = db.session.scalar(select(User.id).where(User.id_number_hash == id_hash))
    if holder is not None and holder != who.user_id:
        raise Conflict("id_number.taken", errors={"json": {"id_number": ["taken"]}})
    application = VolunteerApplication(
        user_id=who.user_id,
        site_id=site_id,
        real_name=real_name,
        id_number_enc=identity.encrypt_id_number(normalized),
        id_number_hash=id_hash,
        id_number_masked=identity.mask_id_number(normalized),
        skills=skills,
        category_ids=sorted(set(category_ids)),
    )
    db.session.add(application)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("application.pending_exists") from None
    return application


def my_applications(*, who, limit: int, cursor: str | None) -> dict:
    """The caller's own applications, newest first."""
    stmt = select(VolunteerApplication).where(VolunteerApplication.user_id == who.user_id)
    return paginate(stmt, [VolunteerApplication.id], limit=limit, cursor=cursor, descending=True)


def list_applications(
    *, who: Reacher, site_id: int, status: str | None, limit: int, cursor: str | None
) -> dict:
    """Applications to a site in reach and the sites below it, oldest first (a review queue)."""
    site = get_in_reach(Site, site_id, Site.id, who)
    stmt = (
        select(VolunteerApplication)
        .join(Site, Site.id == VolunteerApplication.site_id)
        .where(subtree_of([site.path]))
    )
    if status:
        stmt = stmt.where(VolunteerApplication.status == status)
    return paginate(stmt, [VolunteerApplication.id], limit=limit, cursor=cursor)


def get_application(*, who: Reacher, application_id: int) -> VolunteerApplication:
    return get_in_reach(VolunteerApplication, application_id, VolunteerApplication.site_id, who)


def _claim_pending(application_id: int, **values) -> None:
    """Move a pending application on, exactly once even if two managers press at the same moment."""
    result = db.session.execute(
        update(VolunteerApplication)
        .where(
            VolunteerApplication.id == application_id,
            VolunteerApplication.status == ApplicationStatus.PENDING,
        )
        .values(reviewed_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise Conflict("application.not_pending")


def approve_application(*, who: Reacher, reviewer_id: int, application_id: int) -> VolunteerApplication:
    """Approve: the applicant becomes a volunteer of that station, with real name and volunteer number."""
    application = get_application(who=who, application_id=application_id)
    _claim_pending(application.id, status=ApplicationStatus.APPROVED, reviewed_by_id=reviewer_id)
    user = db.session.get(User, application.user_id)
    user.real_name = application.real_name
    user.id_number_enc = application.id_number_enc
    user.id_number_hash = application.id_number_hash
    user.id_number_masked = application.id_number_masked
    user.home_site_id = application.site_id
    db.session.add(
        VolunteerProfile(
            user_id=user.id,
            site_id=application.site_id,
            volunteer_no=f"ZY{user.id:010d}",
            skills=list(application.skills or []),
            category_ids=list(application.category_ids or []),
            approved_by_id=reviewer_id,
        )
    )
    db.session.add(
        RoleGrant(
            user_id=user.id,
            role="volunteer",
            scope=RoleGrant.scope_for(site_id=application.site_id),
            site_id=application.site_id,
            granted_by_id=reviewer_id,
        )
    )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("id_number.taken") from None
    db.session.refresh(application)
    return application


def reject_application(
    *, who: Reacher, reviewer_id: int, application_id: int, reason: str
) -> VolunteerApplication:
    """Reject with a reason the applicant will see. Commits."""
    application = get_application(who=who, application_id=application_id)
    _claim_pending(
        application.id, status=ApplicationStatus.REJECTED, reviewed_by_id=reviewer_id, reason=reason
    )
    db.session.commit()
    db.session.refresh(application)
    return application


# ---- managers ----------------------------------------------------------------------------------


def _target_user(user_id: int | None, phone: str | None) -> User:
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None and phone:
        normalized = phones.normalize_phone(phone)
        user = find_user_by_phone(normalized) if normalized else None
    if user is None:
        raise NotFound("user.not_found")
    return user


def _require_above(site: Site, who: Reacher) -> None:
    """Appointing managers needs an admin or a manager of a site strictly above this one."""
    if who.is_admin:
        return
    if not any(site.path.startswith(p) and site.path != p for p in who.manager_paths):
        raise Forbidden("manager.not_above")


def grant_manager(*, who: Reacher, granter_id: int, site_id: int, user_id=None, phone=None) -> RoleGrant:
    """Make a user manager of a site (reaching its subtree). Commits."""
    site = get_in_reach(Site, site_id, Site.id, who)
    _require_above(site, who)
    user = _target_user(user_id, phone)
    grant = RoleGrant(
        user_id=user.id,
        role="manager",
        scope=RoleGrant.scope_for(site_id=site.id),
        site_id=site.id,
        granted_by_id=granter_id,
    )
    db.session.add(grant)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("role.already_granted") from None
    return grant


def revoke_manager(*, who: Reacher, site_id: int, user_id: int) -> None:
    """Remove a manager grant from a site. Commits."""
    site = get_in_reach(Site, site_id, Site.id, who)
    _require_above(site, who)
    result = db.session.execute(
        delete(RoleGrant).where(
            RoleGrant.user_id == user_id, RoleGrant.role == "manager", RoleGrant.site_id == site.id
        )
    )
    if result.rowcount == 0:
        db.session.rollback()
        raise NotFound()
    db.session.commit()


def list_managers(*, who: Reacher, site_id: int, limit: int, cursor: str | None) -> dict:
    """Managers granted directly on a site in reach, in the order they were appointed."""
    site = get_in_reach(Site, site_id, Site.id, who)
    stmt = select(RoleGrant).where(RoleGrant.role == "manager", RoleGrant.site_id == site.id)
    page = paginate(stmt, [RoleGrant.id], limit=limit, cursor=cursor)
    users = {
        u.id: u
        for u in db.session.scalars(select(User).where(User.id.in_([g.user_id for g in page["items"]])))
    }
    items = []
    for grant in page["items"]:
        user = users[grant.user_id]
        items.append(
            {
                "user_id": user.id,
                "name": user.name,
                "phone": user.phone,
                "site_id": site.id,
                "granted_at": grant.created_at,
            }
        )
    return {"items": items, "next_cursor": page["next_cursor"]}


# ---- team membership -----------------------------------------------------------------------------


def add_team_member(*, who: Reacher, granter_id: int, team_id: int, user_id: int, leader: bool) -> TeamMember:
    """Add a volunteer whose home station lies under the team's site; a leader also gets team_leader."""
    team = sites.get_team(who=who, team_id=team_id)
    team_site = db.session.get(Site, team.site_id)
    row = db.session.execute(
        select(VolunteerProfile, Site.path)
        .join(Site, Site.id == VolunteerProfile.site_id)
        .where(VolunteerProfile.user_id == user_id)
    ).first()
    if row is None or not row[1].startswith(team_site.path) or not path_in_reach(row[1], who):
        raise NotFound("volunteer.not_found")
    member = TeamMember(team_id=team.id, user_id=user_id, is_leader=leader)
    db.session.add(member)
    if leader:
        db.session.add(
            RoleGrant(
                user_id=user_id,
                role="team_leader",
                scope=RoleGrant.scope_for(team_id=team.id),
                team_id=team.id,
                granted_by_id=granter_id,
            )
        )
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("team.member_exists") from None
    return member


def remove_team_member(*, who: Reacher, team_id: int, user_id: int) -> None:
    """Remove a member (and their team_leader grant for this team). Commits."""
    team = sites.get_team(who=who, team_id=team_id)
    result = db.session.execute(
        delete(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user_id)
    )
    if result.rowcount == 0:
        db.session.rollback()
        raise NotFound()
    db.session.execute(
        delete(RoleGrant).where(
            RoleGrant.user_id == user_id, RoleGrant.role == "team_leader", RoleGrant.team_id == team.id
        )
    )
    db.session.commit()


def list_team_members(*, who: Reacher, team_id: int, limit: int, cursor: str | None) -> dict:
    """Members of a team in reach, with their names and volunteer numbers."""
    team = sites.get_team(who=who, team_id=team_id)
    page = paginate(
        select(TeamMember).where(TeamMember.team_id == team.id),
        [TeamMember.user_id],
        limit=limit,
        cursor=cursor,
    )
    ids = [m.user_id for m in page["items"]]
    people = {
        u.id: (u, p)
        for u, p in db.session.execute(
            select(User, VolunteerProfile)
            .join(VolunteerProfile, VolunteerProfile.user_id == User.id)
            .where(User.id.in_(ids))
        )
    }
    page["items"] = [
        {
            "user_id": m.user_id,
            "name": people[m.user_id][0].name,
            "volunteer_no": people[m.user_id][1].volunteer_no,
            "is_leader": m.is_leader,
            "joined_at": m.created_at,
        }
        for m in page["items"]
    ]
    return page
