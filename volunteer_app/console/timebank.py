"""The console's time bank (时间银行): the reward catalogue, fulfilling redemption codes (核销), and the
family links waiting for approval.

Reads call the time bank's own query functions as the caller; every change is a form sent to the JSON
API (`/sites/{id}/rewards`, `/rewards/{id}`, `/redemptions/{code}/fulfil`, `/family-links/{id}/…`).
Looking a code up on the fulfil page is `static/timebank.js` calling `GET /redemptions/{code}`.
Certificates are issued on a volunteer's page (the volunteers' area); these pages link there.
"""

from __future__ import annotations

from flask import request

from volunteer_app.auth.tokens import current_principal
from volunteer_app.console import blp
from volunteer_app.console.i18n import register
from volunteer_app.console.pages import current_site, page, render, site_names, site_zone
from volunteer_app.pagination import MAX_LIMIT
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import path_in_reach
from volunteer_app.timebank import gifts, rewards
from volunteer_app.timebank.models import FAMILY_RELATIONS, REWARD_KINDS, LinkStatus, RedemptionStatus

PAGE_SIZE = 50

register(
    {
        # the area
        "Rewards": "回报目录",
        "Fulfil a code": "核销兑换码",
        "Family links": "家庭成员审核",
        "Certificates": "志愿服务证明",
        "Certificates are issued and printed on a volunteer's page.": (
            "志愿服务证明在志愿者详情页开具和打印。"
        ),
        "Open the volunteers": "打开志愿者列表",
        # the catalogue
        "Reward catalogue": "回报目录",
        "Rewards of this site": "本站点的回报",
        "Inherited from {site}": "上级站点「{site}」的回报",
        "Volunteers of this site also see these; they are changed at that site.": (
            "本站点的志愿者也能兑换这些回报；请到该站点修改。"
        ),
        "Open that site": "打开该站点",
        "Reward": "回报",
        "Kind": "类型",
        "Price": "价格",
        "Stock": "库存",
        "Minimum age": "最低年龄",
        "Availability": "上架状态",
        "On offer": "上架中",
        "Off the shelf": "已下架",
        "Out of stock": "已兑完",
        "minutes": "分钟",
        "hours": "小时",
        "{minutes} min = {hours} h": "{minutes} 分钟 = {hours} 小时",
        "Change": "修改",
        "Save": "保存",
        "Withdraw": "下架",
        "Offer again": "重新上架",
        "Withdraw this reward? Volunteers can no longer redeem it.": "确定下架该回报？志愿者将无法再兑换。",
        "Add a reward": "添加回报",
        "Add": "添加",
        "Reward name": "名称",
        "Description (optional)": "说明（选填）",
        "Price in minutes": "价格（分钟）",
        "60 minutes = 1 hour of service.": "60 分钟 = 1 小时服务时长。",
        "Stock on hand": "库存数量",
        "Stock sets the count on hand (a restock), it does not add to it.": (
            "库存为现有数量（补货时填写补货后的总数），不是增加量。"
        ),
        "Minimum age (optional)": "最低年龄（选填）",
        "Checked against the birth date in the volunteer's ID number.": (
            "按志愿者身份证号中的出生日期核对。"
        ),
        "service": "服务",
        "goods": "物品",
        "Rules of this site": "本站点规则",
        "A code not fulfilled within": "兑换码有效期",
        "Gifts to family, each at most": "转赠家人：每次最多",
        "Gifts to family, each month at most": "转赠家人：每月最多",
        "Changed in the settings.": "在设置中修改。",
        "Rewards have no monthly limit of their own; stock bounds them.": (
            "回报本身没有每月限额，以库存为限。"
        ),
        "This site has no rewards yet.": "本站点还没有回报。",
        # fulfilling
        "Scan or type the code": "扫描或输入兑换码",
        "A barcode scanner types the code and Enter; typing works the same way.": (
            "扫码枪扫描后会自动输入兑换码并回车；手动输入后按回车也可以。"
        ),
        "Look up": "查询",
        "Code": "兑换码",
        "Volunteer": "志愿者",
        "Expires": "有效期至",
        "Fulfilled": "核销时间",
        "Fulfil": "核销",
        "Hand over the reward and fulfil this code?": "确认已交付回报并核销该兑换码？",
        "Fulfilled: hand over the reward.": "已核销，请交付回报。",
        "No such code at your sites: check it with the volunteer.": (
            "您管理的站点没有这个兑换码，请与志愿者核对。"
        ),
        "issued": "待核销",
        "fulfilled": "已核销",
        "expired": "已过期",
        "Waiting to be fulfilled": "待核销",
        "Redemptions at this site and below": "本站点及下级站点的兑换",
        "Codes are not listed in full: ask for the code the volunteer shows.": (
            "列表不显示完整兑换码：请让志愿者出示兑换码后扫描或输入。"
        ),
        "Redeemed": "兑换时间",
        "Ends in": "尾号",
        "All": "全部",
        "Filter": "筛选",
        # family links
        "Requester": "申请人",
        "Relative": "家庭成员",
        "Relation": "关系",
        "Asked": "申请时间",
        "Decision": "审核结果",
        "Reason": "原因",
        "Approve": "通过",
        "Reject": "驳回",
        "Approve this family link? The volunteer may then give hours to this relative.": (
            "确定通过？通过后该志愿者可以向这位家庭成员转赠时长。"
        ),
        "Reason for rejecting (the volunteer sees it)": "驳回原因（志愿者可见）",
        "pending": "待审核",
        "approved": "已通过",
        "rejected": "已驳回",
        "parent": "父母",
        "child": "子女",
        "spouse": "配偶",
        "sibling": "兄弟姐妹",
        "grandparent": "祖父母/外祖父母",
        "grandchild": "孙子女/外孙子女",
        "other": "其他",
    }
)


def _status(states, default: str) -> str:
    """A list's `?status=`: one of `states`, "" for all of them, anything else the default."""
    status = request.args.get("status", default)
    return status if status in (*states, "") else default


def _zone(site: Site):
    return site_zone(site)


@blp.get("/timebank")
@page
def timebank_rewards():
    """The catalogue of the current site (withdrawn rewards too), what it inherits from the sites above,
    and the form to add one."""
    site = current_site()
    who = current_principal()
    own = rewards.list_rewards(
        who=who,
        user=who.user,
        site_id=site.id,
        kind=None,
        include_inactive=True,
        limit=PAGE_SIZE,
        cursor=request.args.get("cursor"),
    )
    inherited = []
    ancestors = sites.sites_by_id(site.ancestor_ids()[:-1])
    for ancestor_id in reversed(site.ancestor_ids()[:-1]):  # the parent first, the root center last
        ancestor = ancestors[ancestor_id]
        listed = rewards.list_rewards(
            who=who,
            user=who.user,
            site_id=ancestor_id,
            kind=None,
            include_inactive=False,
            limit=MAX_LIMIT,
            cursor=None,
        )
        if listed["items"]:
            inherited.append(
                {"site": ancestor, "page": listed, "in_reach": path_in_reach(ancestor.path, who)}
            )
    return render(
        "console/timebank_rewards.html",
        site=site,
        tab="rewards",
        own=own,
        inherited=inherited,
        kinds=REWARD_KINDS,
        settings=sites.effective_settings(site),
    )


def _listing(template: str, tab: str, lister, states, default: str, **extra):
    """A time-bank list of this site and the sites below it, filtered by `?status=` (default `default`,
    "" for all), a page at a time."""
    site = current_site()
    status = _status(states, default)
    listed = lister(
        who=current_principal(),
        site_id=site.id,
        status=status or None,
        limit=PAGE_SIZE,
        cursor=request.args.get("cursor"),
    )
    context = {key: make(listed) for key, make in extra.items()}
    return render(
        template,
        site=site,
        tab=tab,
        zone=_zone(site),
        listed=listed,
        status=status,
        statuses=list(states),
        **context,
    )


@blp.get("/timebank/fulfil")
@page
def timebank_fulfil():
    """One input for the code (a scanner types it and Enter); below it, what waits at this subtree."""
    return _listing(
        "console/timebank_fulfil.html",
        "fulfil",
        rewards.site_redemptions,
        RedemptionStatus,
        RedemptionStatus.ISSUED,
    )


@blp.get("/timebank/family-links")
@page
def timebank_family_links():
    """Family links asked of this site and the sites below it (default: waiting), oldest first."""
    return _listing(
        "console/timebank_family_links.html",
        "family",
        gifts.list_links,
        LinkStatus,
        LinkStatus.PENDING,
        relations=lambda _listed: FAMILY_RELATIONS,
        site_names=lambda listed: site_names(link["site_id"] for link in listed["items"]),
    )
