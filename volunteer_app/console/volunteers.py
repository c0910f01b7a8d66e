"""The console's Volunteers area (志愿者): the roster, applications to review, teams, one volunteer's page.

Reads call the domains' own functions as the caller (the roster and a volunteer's page are the
workbench's `roster.volunteers` / `roster.volunteer`, applications `accounts.list_applications`, teams
`sites.list_teams` and `accounts.list_team_members`, a certificate `certificates.get_certificate`); query
strings are loaded with the API's own schemas, so a bad filter is the same 4xx as on the API. Every
change is a form to the JSON API: approve or reject an application, create a team, add or remove a
member, issue a certificate.
"""

from __future__ import annotations

from datetime import date

import marshmallow as ma
from flask import request
from sqlalchemy import or_

from volunteer_app.accounts import service as accounts
from volunteer_app.accounts.models import ApplicationStatus
from volunteer_app.accounts.schemas import ApplicationListArgs
from volunteer_app.auth.tokens import current_principal
from volunteer_app.console import blp
from volunteer_app.console.i18n import register
from volunteer_app.console.pages import (
    category_names,
    current_site,
    load_query,
    page,
    render,
    site_names,
    site_zone,
)
from volunteer_app.errors import NotFound
from volunteer_app.extensions import db
from volunteer_app.schemas import Id, SearchText
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site, Team
from volunteer_app.timebank import certificates
from volunteer_app.workbench import roster
from volunteer_app.workbench.schemas import RosterArgs

# Teams listed on one page (a site's subtree rarely has more; the rest behind "More").
TEAMS_PAGE = 100
# Teams the roster's filter offers.
TEAM_CHOICES = 100
# Members of the chosen team on one page.
MEMBERS_PAGE = 100
# Volunteers offered when adding a member.
PICK_LIMIT = 10

APPLICATION_STATUS = {"pending": "Pending", "approved": "Approved", "rejected": "Rejected"}


class TeamsPageArgs(ma.Schema):
    """The teams page's query: the chosen team, a search for a volunteer to add, the lists' cursors."""

    team = Id(strict=False, load_default=None)
    pick = SearchText(40, load_default=None)
    cursor = ma.fields.String(load_default=None)
    members_cursor = ma.fields.String(load_default=None)


class VolunteerPageArgs(ma.Schema):
    certificate = Id(strict=False, load_default=None)


class ApplicationsPageArgs(ApplicationListArgs):
    status = ma.fields.String(
        load_default=ApplicationStatus.PENDING, validate=ma.validate.OneOf(list(ApplicationStatus))
    )


def _filters(*names: str) -> dict[str, str]:
    """The filters given (to carry into the next page's link)."""
    return {name: request.args[name] for name in names if request.args.get(name, "").strip()}


def _subtree_teams(site: Site, cursor: str | None = None) -> dict:
    who = current_principal()
    return sites.list_teams(who=who, site_id=site.id, subtree=True, limit=TEAMS_PAGE, cursor=cursor)


def _roster_teams(site: Site, chosen: int | None) -> list:
    """The roster's team filter: teams of this site, of the sites above it and of the sites just below
    it, in reach, at most TEAM_CHOICES (never every team of a center's subtree: a team further down is
    one site down, or on the Teams tab); the chosen team (`team_id`) is offered too."""
    who = current_principal()
    near = or_(Team.site_id.in_(site.ancestor_ids()), Site.parent_id == site.id)
    stmt = sites.teams_in_reach(who).join(Site, Site.id == Team.site_id)
    teams = list(db.session.scalars(stmt.where(near).order_by(Team.id).limit(TEAM_CHOICES)))
    if chosen is not None and chosen not in {team.id for team in teams}:
        teams += list(db.session.scalars(sites.teams_in_reach(who).where(Team.id == chosen)))
    return teams


def _nest(teams: list) -> list[tuple[object, int]]:
    """Teams in tree order with their depth; a team whose parent is not listed starts a tree."""
    listed = {team.id for team in teams}
    children: dict[int | None, list] = {}
    for team in teams:
        children.setdefault(team.parent_id if team.parent_id in listed else None, []).append(team)
    ordered: list[tuple[object, int]] = []

    def walk(parent: int | None, depth: int) -> None:
        for team in children.get(parent, []):
            ordered.append((team, depth))
            walk(team.id, depth + 1)

    walk(None, 0)
    return ordered


# ---- the roster ---------------------------------------------------------------------------------


@blp.get("/volunteers")
@page
def volunteer_roster():
    site = current_site()
    args, errors = load_query(RosterArgs())
    if errors:
        rows = {"items": [], "next_cursor": None}
    else:
        rows = roster.volunteers(who=current_principal(), site_id=site.id, **args)
    html = render(
        "console/volunteers.html",
        site=site,
        rows=rows,
        teams=_nest(_roster_teams(site, args.get("team_id"))),
        errors=errors,
        filters=_filters("q", "skill", "team_id", "limit"),
    )
    return html, 422 if errors else 200


# ---- applications -------------------------------------------------------------------------------


@blp.get("/volunteers/applications")
@page
def volunteer_applications():
    site = current_site()
    args, errors = load_query(ApplicationsPageArgs())
    if errors:
        found = {"items": [], "next_cursor": None}
    else:
        found = accounts.list_applications(who=current_principal(), site_id=site.id, **args)
    html = render(
        "console/volunteers_applications.html",
        site=site,
        zone=site_zone(site),
        applications=found,
        status=args.get("status", request.args.get("status", "")),
        statuses=APPLICATION_STATUS,
        stations=site_names({a.site_id for a in found["items"]}),
        categories=category_names(),
        errors=errors,
    )
    return html, 422 if errors else 200


# ---- teams --------------------------------------------------------------------------------------


@blp.get("/volunteers/teams")
@page
def volunteer_teams():
    site = current_site()
    who = current_principal()
    args, errors = load_query(TeamsPageArgs())
    teams = _subtree_teams(site, args.get("cursor"))
    team = members = picked = None
    if args.get("team"):
        team = sites.get_team(who=who, team_id=args["team"])  # out of reach: the 404 page
        members = accounts.list_team_members(
            who=who, team_id=team.id, limit=MEMBERS_PAGE, cursor=args.get("members_cursor")
        )
        if args.get("pick"):
            # Volunteers who may join: those of stations under the team's site (the API's rule).
            picked = roster.volunteers(
                who=who, site_id=team.site_id, q=args["pick"], limit=PICK_LIMIT, cursor=None
            )
    html = render(
        "console/volunteers_teams.html",
        site=site,
        zone=site_zone(site),
        teams=_nest(teams["items"]),
        next_cursor=teams["next_cursor"],
        team=team,
        members=members,
        picked=picked,
        pick=request.args.get("pick", ""),
        site_names=site_names({t.site_id for t in teams["items"]} | ({team.site_id} if team else set())),
        errors=errors,
    )
    return html, 422 if errors else 200


# ---- one volunteer ------------------------------------------------------------------------------


@blp.get("/volunteers/<int:user_id>")
@page
def volunteer(user_id: int):
    site = current_site()
    who = current_principal()
    person = roster.volunteer(who=who, user_id=user_id)  # out of reach: the 404 page
    args, errors = load_query(VolunteerPageArgs())
    certificate = None
    if args.get("certificate"):
        certificate = certificates.get_certificate(
            who=who, viewer_id=who.user_id, certificate_id=args["certificate"]
        )
        if certificate["volunteer_no"] != person["volunteer_no"]:
            raise NotFound()
    station = sites.get_site(person["station"]["id"])
    today = sites.local_time(station).date()
    zones = sites.zones_of({a["site_id"] for a in person["recent"]})
    html = render(
        "console/volunteer.html",
        site=site,
        v=person,
        zones=zones,
        certificate=certificate,
        date_from=date(today.year, 1, 1).isoformat(),
        date_to=today.isoformat(),
        errors=errors,
    )
    return html, 422 if errors else 200


register(
    {
        "Roster": "花名册",
        "Some fields are invalid": "查询条件有误",
        "Applications": "入队申请",
        "Teams": "服务队",
        "Search": "搜索",
        "Name, phone's last four or volunteer number": "姓名、手机尾号或志愿者编号",
        "Skill": "技能",
        "Team": "服务队",
        "All teams": "全部队伍",
        "Name": "姓名",
        "Real name": "实名",
        "Volunteer number": "志愿者编号",
        "Station": "站点",
        "Star level": "星级",
        "Hours": "服务时长（小时）",
        "Lifetime hours": "累计服务时长（小时）",
        "Balance (hours)": "时间余额（小时）",
        "Skills": "技能",
        "Open tasks": "进行中任务",
        "Leader": "队长",
        "No volunteers match.": "没有符合条件的志愿者。",
        "Clear": "清除",
        "Pending": "待审核",
        "Approved": "已通过",
        "Rejected": "已驳回",
        "Applicant": "申请人",
        "ID number": "身份证号",
        "Applied": "申请时间",
        "Reviewed": "审核时间",
        "Preferred services": "意向服务",
        "Approve": "通过",
        "Reject": "驳回",
        "Reason": "原因",
        "Reason for rejecting (the applicant sees it)": "驳回原因（申请人可见）",
        "Approve this application? The applicant becomes a volunteer of the station.": (
            "确定通过该申请？申请人将成为该站点的志愿者。"
        ),
        "No applications waiting.": "暂无待审核的申请。",
        "Status": "状态",
        "Teams of this site and the sites below": "本站点及下级站点的队伍",
        "No teams yet.": "暂无队伍。",
        "Members": "队员",
        "Joined": "加入时间",
        "Remove": "移出",
        "Remove this member from the team?": "确定将该队员移出队伍？",
        "Add a member": "添加队员",
        "Volunteers of the stations under this team's site; search by name, phone or volunteer number.": (
            "可添加本队伍所属站点及下级站点的志愿者；按姓名、手机号或志愿者编号搜索。"
        ),
        "Add": "添加",
        "as leader": "设为队长",
        "Already a member": "已在队中",
        "Choose a team to see its members.": "选择一个队伍查看队员。",
        "Create a team": "新建队伍",
        "Team name": "队伍名称",
        "Parent team": "上级队伍",
        "None": "无",
        "Description": "说明",
        "Create": "创建",
        "No members yet.": "暂无队员。",
        "Profile": "基本信息",
        "Phone": "手机号",
        "Recent assignments": "最近任务",
        "Order": "订单",
        "Activity": "活动",
        "Starts": "开始时间",
        "Title": "标题",
        "Minutes confirmed": "确认时长（分钟）",
        "No assignments yet.": "暂无任务。",
        "Certificate of service": "志愿服务证明",
        "Issue a certificate of the audited service between two dates.": (
            "为两个日期之间已审核的服务开具证明。"
        ),
        "From": "开始日期",
        "To": "结束日期",
        "Issue certificate": "开具证明",
        "Certificate issued": "证明已开具",
        "Number": "编号",
        "Records": "记录数",
        "Total hours": "合计时长（小时）",
        "Print": "打印",
        "Back to the roster": "返回花名册",
    }
)
