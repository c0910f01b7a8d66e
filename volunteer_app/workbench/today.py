"""Today (今日待办): what waits on the managers of a site's subtree, each count with the list that shows
it. All counts in one statement, each with its list's own condition, so a count and its list agree:
the order counts are GET /orders' `need` filters (orders/queries.py NEEDS); codes to fulfil are
`rewards.waiting` (GET /sites/{id}/redemptions?status=issued); activities to audit are
`activities.awaiting_audit` (GET /sites/{id}/activities?when=to_audit&subtree=true). The supervision
counts are the supervision lists' filters (`side`, `status`, `overdue`): 督办 items to act on (open,
the acting site in the subtree), reported items awaiting 销号 (raised by the site or below), overdue
items (open past due, acting), open complaints and overdue ones (the dispatch site in the subtree),
appeals to decide (the deciding site in the subtree), pending follow-ups and overdue ones (the serving
station in the subtree). Overdue items and complaints are the lists' own conditions
(`supervision.common.overdue_condition`: waiting with `due_at <= now`, as the deadline sweep reads it).
Incoming order handovers (GET /sites/{id}/handovers?direction=incoming, orders/handover.py) are not
counted yet.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from volunteer_app.accounts.models import ApplicationStatus, VolunteerApplication
from volunteer_app.activities.models import Activity
from volunteer_app.activities.service import awaiting_audit
from volunteer_app.db import utcnow
from volunteer_app.errors import language
from volunteer_app.extensions import db
from volunteer_app.orders.models import Order
from volunteer_app.orders.queries import NEED_STATUS, POOL_WARN_HOURS, need_condition
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, get_in_reach, subtree_of
from volunteer_app.supervision import states
from volunteer_app.supervision.common import overdue_condition
from volunteer_app.supervision.models import (
    Appeal,
    AppealStatus,
    Complaint,
    ComplaintStatus,
    FollowUp,
    FollowUpStatus,
    ItemStatus,
    SupervisionItem,
)
from volunteer_app.timebank.models import FamilyLink, LinkStatus, Redemption, RedemptionStatus
from volunteer_app.timebank.rewards import waiting

API = "/api/v1"

# key -> (Chinese, English); the order counts' `need` (GET /orders?need=…) beside them.
LABELS = {
    "orders_to_review": ("待审核订单（派单或驳回）", "Orders to review (dispatch or reject)"),
    "orders_to_dispatch": ("待改派订单（邀请均未接受）", "Orders to dispatch again (no offer open)"),
    "pools_not_filling": (
        f"抢单未满（{POOL_WARN_HOURS}小时内截止）",
        f"Grab pools not filling (closing within {POOL_WARN_HOURS} h)",
    ),
    "checkouts_overdue": ("服务已结束仍未签退", "Check-outs overdue"),
    "audits_overdue": ("超期未审核订单", "Orders past their audit deadline"),
    "escalations_received": ("收到的超时督办", "Escalations received"),
    "applications_pending": ("待审核志愿者申请", "Volunteer applications to review"),
    "family_links_pending": ("待审核亲属关系", "Family links to approve"),
    "redemptions_to_fulfil": ("待核销兑换码", "Redemption codes to fulfil"),
    "activities_unaudited": ("已结束待审核活动", "Ended activities to audit"),
    "items_to_act": ("待办理督办", "Supervision items to act on"),
    "items_to_close": ("已办结待销号督办", "Supervision items reported, awaiting 销号"),
    "items_overdue": ("超期督办", "Supervision items overdue"),
    "complaints_open": ("待答复诉求", "Complaints to answer"),
    "complaints_overdue": ("超时未答复诉求", "Complaints overdue"),
    "appeals_to_decide": ("待裁定申诉", "Appeals to decide"),
    "follow_ups_pending": ("待回访", "Follow-ups to make"),
    "follow_ups_overdue": ("超期未回访", "Follow-ups overdue"),
}
ORDER_NEEDS = {
    "orders_to_review": "review",
    "orders_to_dispatch": "dispatch",
    "pools_not_filling": "pool_not_filling",
    "checkouts_overdue": "checkout_overdue",
    "audits_overdue": "audit_overdue",
    "escalations_received": "escalated_to_me",
}


def _count(model, *conditions):
    return select(func.count()).select_from(model).where(*conditions).scalar_subquery()


def counts(*, who: Reacher, site_id: int, lang: str | None = None, now: datetime | None = None) -> dict:
    """What needs action in a site's subtree (a site in reach, else 404), in the order a page shows it:
    {"site_id", "as_of", "counts": [{"key", "label", "count", "path", "query"}]}. `path` and `query`
    name the API list that shows the items (`query`'s values are strings, ready for a URL); the order
    counts list at GET /orders with `site_id`, `need` and the state (`status`, but for escalations,
    which may be in any state)."""
    site = get_in_reach(Site, site_id, Site.id, who)
    now = now or utcnow()
    english = (lang or language()) == "en"
    scope = select(Site.id).where(subtree_of([site.path]))
    subqueries = {
        key: _count(Order, need_condition(need, who=who, site=site, now=now))
        for key, need in ORDER_NEEDS.items()
    }
    subqueries |= {
        "applications_pending": _count(
            VolunteerApplication,
            VolunteerApplication.site_id.in_(scope),
            VolunteerApplication.status == ApplicationStatus.PENDING,
        ),
        "family_links_pending": _count(
            FamilyLink, FamilyLink.site_id.in_(scope), FamilyLink.status == LinkStatus.PENDING
        ),
        "redemptions_to_fulfil": _count(Redemption, Redemption.site_id.in_(scope), waiting(now)),
        "activities_unaudited": _count(Activity, Activity.site_id.in_(scope), awaiting_audit(now)),
    }
    subqueries |= _supervision(scope, now)
    row = db.session.execute(select(*[sub.label(key) for key, sub in subqueries.items()])).one()
    lists = (
        {key: (f"{API}/orders", _order_query(site.id, need)) for key, need in ORDER_NEEDS.items()}
        | {
            "applications_pending": (f"{API}/sites/{site.id}/volunteer-applications", {"status": "pending"}),
            "family_links_pending": (f"{API}/sites/{site.id}/family-links", {"status": "pending"}),
            "redemptions_to_fulfil": (
                f"{API}/sites/{site.id}/redemptions",
                {"status": str(RedemptionStatus.ISSUED)},
            ),
            "activities_unaudited": (
                f"{API}/sites/{site.id}/activities",
                {"when": "to_audit", "subtree": "true"},
            ),
        }
        | _supervision_lists(site.id)
    )
    return {
        "site_id": site.id,
        "as_of": now,
        "counts": [
            {
                "key": key,
                "label": LABELS[key][1 if english else 0],
                "count": getattr(row, key),
                "path": lists[key][0],
                "query": lists[key][1],
            }
            for key in LABELS
        ],
    }


def _order_query(site_id: int, need: str) -> dict[str, str]:
    query = {"site_id": str(site_id), "need": need}
    if need in NEED_STATUS:
        query["status"] = str(NEED_STATUS[need])
    return query


def _supervision(scope, now: datetime) -> dict:
    item, complaint, follow_up = SupervisionItem, Complaint, FollowUp
    pending = (follow_up.site_id.in_(scope), follow_up.status == FollowUpStatus.PENDING)
    return {
        "items_to_act": _count(item, item.site_id.in_(scope), item.status == ItemStatus.OPEN),
        "items_to_close": _count(item, item.raised_site_id.in_(scope), item.status == ItemStatus.REPORTED),
        "items_overdue": _count(item, item.site_id.in_(scope), overdue_condition(states.ITEMS, now)),
        "complaints_open": _count(
            complaint, complaint.site_id.in_(scope), complaint.status == ComplaintStatus.OPEN
        ),
        "complaints_overdue": _count(
            complaint, complaint.site_id.in_(scope), overdue_condition(states.COMPLAINTS, now)
        ),
        "appeals_to_decide": _count(
            Appeal, Appeal.deciding_site_id.in_(scope), Appeal.status == AppealStatus.PENDING
        ),
        "follow_ups_pending": _count(follow_up, *pending),
        "follow_ups_overdue": _count(follow_up, *pending, overdue_condition(states.FOLLOW_UPS, now)),
    }


def _supervision_lists(site_id: int) -> dict[str, tuple[str, dict[str, str]]]:
    """The lists that show the supervision counts: GET /sites/{id}/supervision-items (side, status,
    overdue), /complaints (status, overdue), /appeals (side, status), /follow-ups (status, overdue)."""
    base = f"{API}/sites/{site_id}"
    return {
        "items_to_act": (f"{base}/supervision-items", {"side": "acting", "status": str(ItemStatus.OPEN)}),
        "items_to_close": (
            f"{base}/supervision-items",
            {"side": "raised", "status": str(ItemStatus.REPORTED)},
        ),
        "items_overdue": (
            f"{base}/supervision-items",
            {"side": "acting", "status": str(ItemStatus.OPEN), "overdue": "true"},
        ),
        "complaints_open": (f"{base}/complaints", {"status": str(ComplaintStatus.OPEN)}),
        "complaints_overdue": (
            f"{base}/complaints",
            {"status": str(ComplaintStatus.OPEN), "overdue": "true"},
        ),
        "appeals_to_decide": (f"{base}/appeals", {"side": "deciding", "status": str(AppealStatus.PENDING)}),
        "follow_ups_pending": (f"{base}/follow-ups", {"status": str(FollowUpStatus.PENDING)}),
        "follow_ups_overdue": (
            f"{base}/follow-ups",
            {"status": str(FollowUpStatus.PENDING), "overdue": "true"},
        ),
    }
