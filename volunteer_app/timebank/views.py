"""HTTP endpoints of the time book."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from volunteer_app.accounts import principal
from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.extensions import Blueprint, limiter, looking_first, reads_first, reads_only
from volunteer_app.fastdump import fast
from volunteer_app.idempotency import idempotent, keyed_snapshot
from volunteer_app.pagination import page_schema
from volunteer_app.timebank import gifts, rewards, service
from volunteer_app.timebank import schemas as s

blp = Blueprint("timebank", __name__, url_prefix="/api/v1", description="Time deposit book (时间存折)")

RewardPage = page_schema(s.RewardOut, "RewardPage")
RedemptionPage = page_schema(s.RedemptionOut, "RedemptionPage")
SiteRedemptionPage = page_schema(s.SiteRedemptionOut, "SiteRedemptionPage")
FamilyLinkPage = page_schema(s.FamilyLinkOut, "FamilyLinkPage")
FamilyLinkReviewPage = page_schema(s.FamilyLinkReviewOut, "FamilyLinkReviewPage")


# The caller's book rides on the principal's query (service.BOOK_RIDER): one round trip for both.
_with_book = principal.riding(service.BOOK_RIDER)


def _redeem_limit() -> str:
    return current_app.config["APP"]["redeem_limit"]


@blp.route("/me/timebook")
class MyTimebook(MethodView):
    @blp.etag
    @reads_only
    @_with_book
    @auth_required()
    @blp.response(200, fast(s.TimebookOut))
    def get(self):
        """My time book: balance, lifetime audited hours, star level, book number, issuing station."""
        return service.timebook(who=current_principal())


@blp.route("/me/timebook/transfers")
class MyStatement(MethodView):
    @blp.etag
    @reads_only
    @_with_book
    @auth_required()
    @blp.arguments(s.StatementArgs, location="query")
    @blp.response(200, fast(s.StatementPage))
    def get(self, args):
        """My statement, newest first, with the balance after each line; filter by month. Carries a
        published ledger checkpoint covering it."""
        return service.statement(who=current_principal(), **args)


@blp.route("/timebank/adjustments")
class Adjustments(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.AdjustmentIn)
    @blp.response(201, s.TransferOut)
    def post(self, data):
        """Reverse a credit or adjustment, or correct a volunteer's book by ± minutes (reason required)."""
        who = current_principal()
        if data["reverse_transfer_id"] is not None:
            return service.reverse(
                who=who, actor_id=who.user_id, transfer_id=data["reverse_transfer_id"], reason=data["reason"]
            )
        return service.adjust(
            who=who,
            actor_id=who.user_id,
            user_id=data["user_id"],
            minutes=data["minutes"],
            reason=data["reason"],
        )


# ---- 回报: rewards and redemptions -----------------------------------------------------------------


@blp.route("/sites/<int:site_id>/rewards")
class SiteRewards(MethodView):
    @auth_required("manager", "admin")
    @idempotent(user_scope)
    @blp.arguments(s.RewardIn)
    @blp.response(201, s.RewardOut)
    def post(self, data, site_id):
        """Add a reward (a service or goods, priced in minutes, with stock) to a site in reach."""
        who = current_principal()
        return rewards.create_reward(who=who, actor_id=who.user_id, site_id=site_id, **data)


@blp.route("/rewards")
class Rewards(MethodView):
    @auth_required()
    @blp.arguments(s.RewardListArgs, location="query")
    @blp.response(200, RewardPage)
    def get(self, args):
        """Rewards on offer: one site's, or those of my home station and the sites above it."""
        who = current_principal()
        return rewards.list_rewards(who=who, user=who.user, **args)


@blp.route("/rewards/<int:reward_id>")
class RewardDetail(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.RewardPatch, required=False)
    @blp.response(200, s.RewardOut)
    def patch(self, data, reward_id):
        """Change a reward of a site in reach: price, stock, title, description, age, active."""
        return rewards.update_reward(who=current_principal(), reward_id=reward_id, changes=data)


@blp.route("/redemptions")
class Redemptions(MethodView):
    @keyed_snapshot  # redeeming debits the book, never the caller's account row (user_snapshot)
    @reads_first  # a loser of the last unit is answered from its first reads, in autocommit
    @auth_required(defer=looking_first)  # (there, the service's first look checks the caller)
    @limiter.limit(_redeem_limit, key_func=user_scope)
    @idempotent(user_scope)
    @blp.arguments(s.RedeemIn)
    @blp.response(201, s.RedemptionOut)
    def post(self, data):
        """Redeem a reward with minutes from my book: returns the code to show at the station."""
        return rewards.redeem(who=current_principal(), reward_id=data["reward_id"])


@blp.route("/me/redemptions")
class MyRedemptions(MethodView):
    @auth_required()
    @blp.arguments(s.RedemptionListArgs, location="query")
    @blp.response(200, RedemptionPage)
    def get(self, args):
        """My redemptions, newest first."""
        return rewards.my_redemptions(who=current_principal(), **args)


@blp.route("/sites/<int:site_id>/redemptions")
class SiteRedemptions(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.RedemptionListArgs, location="query")
    @blp.response(200, SiteRedemptionPage)
    def get(self, args, site_id):
        """Redemptions at this site and the sites below it, oldest first (`status=issued`: waiting to be
        fulfilled); the codes show only their last characters."""
        return rewards.site_redemptions(who=current_principal(), site_id=site_id, **args)


@blp.route("/redemptions/<code>")
class RedemptionDetail(MethodView):
    @auth_required()
    @blp.response(200, s.RedemptionOut)
    def get(self, code):
        """A redemption by code: mine, or one at a site in reach."""
        who = current_principal()
        return rewards.get_redemption(who=who, viewer_id=who.user_id, code=code)


@blp.route("/redemptions/<code>/fulfil")
class FulfilRedemption(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.RedemptionOut)
    def post(self, code):
        """核销: hand over the reward and mark the code fulfilled (a site in reach, before it expires)."""
        who = current_principal()
        return rewards.fulfil(who=who, actor_id=who.user_id, code=code)


# ---- 转赠: family links and gifts --------------------------------------------------------------------


@blp.route("/me/family-links")
class MyFamilyLinks(MethodView):
    @auth_required()
    @blp.arguments(s.FamilyLinkListArgs, location="query")
    @blp.response(200, FamilyLinkPage)
    def get(self, args):
        """The family members I have linked, newest first, with the station's decision."""
        return gifts.my_links(who=current_principal(), **args)

    @auth_required("volunteer")
    @blp.arguments(s.FamilyLinkIn)
    @blp.response(201, s.FamilyLinkOut)
    def post(self, data):
        """Link a registered family member by phone; my home station reviews it."""
        return gifts.request_link(who=current_principal(), **data)


@blp.route("/sites/<int:site_id>/family-links")
class SiteFamilyLinks(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.FamilyLinkListArgs, location="query")
    @blp.response(200, FamilyLinkReviewPage)
    def get(self, args, site_id):
        """Family links to review at this site and the sites below it, oldest first."""
        return gifts.list_links(who=current_principal(), site_id=site_id, **args)


@blp.route("/family-links/<int:link_id>/approve")
class ApproveFamilyLink(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.FamilyLinkReviewOut)
    def post(self, link_id):
        """Approve: the volunteer may now give minutes to this family member."""
        who = current_principal()
        return gifts.review_link(who=who, reviewer_id=who.user_id, link_id=link_id, approve=True, reason=None)


@blp.route("/family-links/<int:link_id>/reject")
class RejectFamilyLink(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.LinkRejectIn)
    @blp.response(200, s.FamilyLinkReviewOut)
    def post(self, data, link_id):
        """Reject, with a reason the volunteer sees."""
        who = current_principal()
        return gifts.review_link(
            who=who, reviewer_id=who.user_id, link_id=link_id, approve=False, reason=data["reason"]
        )


@blp.route("/me/timebook/gifts")
class MyGifts(MethodView):
    @auth_required()
    @idempotent(user_scope)
    @blp.arguments(s.GiftIn)
    @blp.response(201, s.GiftOut)
    def post(self, data):
        """转赠: give minutes to an approved family member, or to a site's donation pool."""
        return gifts.give(
            who=current_principal(),
            minutes=data["minutes"],
            family_link_id=data["family_link_id"],
            pool_site_id=data["pool_site_id"],
        )
