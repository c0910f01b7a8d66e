"""Request and response shapes of the time book."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.accounts.schemas import SiteRef
from volunteer_app.pagination import PageArgs, page_schema
from volunteer_app.schemas import Boolean, Id, Integer, PatchSchema, Phone, QueryBoolean, Str, Text
from volunteer_app.timebank.models import (
    FAMILY_RELATIONS,
    REWARD_KINDS,
    TRANSFER_KINDS,
    LinkStatus,
    RedemptionStatus,
)
from volunteer_app.timebank.service import hours

MAX_ADJUST_MINUTES = 100_000


class TimebookOut(ma.Schema):
    """A resident's book before any minutes arrive is empty, with no number and no issuing station."""

    book_no = ma.fields.String(
        allow_none=True, required=True, metadata={"description": "null until a station issues the book"}
    )
    balance_minutes = ma.fields.Integer(required=True)
    balance_hours = ma.fields.Float(required=True)
    lifetime_minutes = ma.fields.Integer(required=True, metadata={"description": "Audited service, net"})
    lifetime_hours = ma.fields.Float(required=True)
    star_level = ma.fields.Integer(required=True)
    next_star_hours = ma.fields.Integer(allow_none=True, required=True)
    issuing_site = ma.fields.Nested(
        SiteRef, allow_none=True, required=True, metadata={"description": "null until the book is issued"}
    )
    opened_at = ma.fields.AwareDateTime(
        allow_none=True, metadata={"description": "null until the first movement"}
    )


class StatementArgs(PageArgs):
    month = ma.fields.String(
        load_default=None,
        validate=ma.validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", error="YYYY-MM"),
        metadata={"description": "Calendar month in the issuing station's time zone"},
    )


class StatementLine(ma.Schema):
    transfer_id = ma.fields.Integer(required=True)
    kind = ma.fields.String(
        required=True,
        metadata={
            "enum": list(TRANSFER_KINDS),
            "description": "appeal: the difference an upheld appeal granted over an audit (audited service)",
        },
    )
    minutes = ma.fields.Integer(required=True, metadata={"description": "Signed: + in, − out"})
    hours = ma.fields.Float(required=True)
    balance_after_minutes = ma.fields.Integer(required=True)
    balance_after_hours = ma.fields.Float(required=True)
    memo = ma.fields.String(allow_none=True)
    service_date = ma.fields.Date(allow_none=True)
    reverses_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)


class LedgerCheckpointOut(ma.Schema):
    transfer_id = ma.fields.Integer(required=True, metadata={"description": "The newest transfer then"})
    hash = ma.fields.String(required=True, metadata={"description": "Its SHA-256 chain hash (hex)"})
    created_at = ma.fields.AwareDateTime(required=True, metadata={"description": "When it was published"})


class StatementPage(page_schema(StatementLine, "StatementPageBase")):
    checkpoint = ma.fields.Nested(
        LedgerCheckpointOut,
        allow_none=True,
        required=True,
        metadata={
            "description": "A published ledger checkpoint (chain head) covering the statement: the "
            "first published after its end, else the newest; null if none. Keep it: `flask timebank "
            "verify` shows the ledger still holds that transfer with that hash, and every one before it"
        },
    )


class AdjustmentIn(ma.Schema):
    """Either reverse a transfer (`reverse_transfer_id`) or correct a book (`user_id` and ± `minutes`)."""

    reverse_transfer_id = Id(load_default=None)
    user_id = Id(load_default=None)
    minutes = Integer(load_default=None, validate=ma.validate.Range(-MAX_ADJUST_MINUTES, MAX_ADJUST_MINUTES))
    reason = Text(200, required=True)

    @ma.validates_schema
    def _one_kind(self, data, **_kwargs):
        reversing = data.get("reverse_transfer_id") is not None
        correcting = data.get("user_id") is not None or data.get("minutes") is not None
        if reversing == correcting:
            raise ma.ValidationError(
                "give reverse_transfer_id, or user_id and minutes", "reverse_transfer_id"
            )
        if correcting and (data.get("user_id") is None or not data.get("minutes")):
            raise ma.ValidationError("user_id and a non-zero minutes are required", "minutes")


class TransferOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    minutes = ma.fields.Integer(required=True)
    from_account_id = ma.fields.Integer(required=True)
    to_account_id = ma.fields.Integer(required=True)
    reverses_id = ma.fields.Integer(allow_none=True)
    memo = ma.fields.String(allow_none=True)
    service_date = ma.fields.Date(allow_none=True)
    site_id = ma.fields.Integer(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)


# ---- 回报: rewards and redemptions -----------------------------------------------------------------

MAX_PRICE_MINUTES = 100_000
MAX_STOCK = 1_000_000
MAX_GIFT_MINUTES = 100_000


def _price(**kwargs) -> ma.fields.Integer:
    return Integer(validate=ma.validate.Range(1, MAX_PRICE_MINUTES), **kwargs)


def _stock(**kwargs) -> ma.fields.Integer:
    return Integer(validate=ma.validate.Range(0, MAX_STOCK), **kwargs)


def _min_age(**kwargs) -> ma.fields.Integer:
    return Integer(validate=ma.validate.Range(1, 120), allow_none=True, **kwargs)


class RewardIn(ma.Schema):
    kind = Str(required=True, validate=ma.validate.OneOf(REWARD_KINDS))
    title = Text(80, required=True)
    description = Text(500, load_default=None, allow_none=True)
    price_minutes = _price(required=True)
    stock = _stock(required=True)
    min_age = _min_age(load_default=None, metadata={"description": "Minimum age, from the ID number"})


class RewardPatch(PatchSchema):
    """Every field optional; `stock` sets the count on hand (a restock), `active: false` withdraws it."""

    kind = Str(validate=ma.validate.OneOf(REWARD_KINDS))
    title = Text(80)
    description = Text(500, allow_none=True)
    price_minutes = _price()
    stock = _stock()
    min_age = _min_age()
    active = Boolean()


class RewardOut(ma.Schema):
    id = ma.fields.Integer(required=True)
    site_id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True)
    title = ma.fields.String(required=True)
    description = ma.fields.String(allow_none=True)
    price_minutes = ma.fields.Integer(required=True)
    price_hours = ma.fields.Function(
        lambda reward: hours(reward.price_minutes), required=True, metadata={"type": "number"}
    )
    stock = ma.fields.Integer(required=True)
    min_age = ma.fields.Integer(allow_none=True)
    active = ma.fields.Boolean(required=True)
    created_at = ma.fields.AwareDateTime(required=True)


class RewardListArgs(PageArgs):
    site_id = Id(
        strict=False,
        load_default=None,
        metadata={"description": "One site's catalogue (default: my home station and the sites above)"},
    )
    kind = ma.fields.String(load_default=None, validate=ma.validate.OneOf(REWARD_KINDS))
    include_inactive = QueryBoolean(
        load_default=False, metadata={"description": "Managers: also withdrawn rewards of sites in reach"}
    )


class RedeemIn(ma.Schema):
    reward_id = Id(required=True)


class RewardRef(ma.Schema):
    id = ma.fields.Integer(required=True)
    title = ma.fields.String(required=True)
    kind = ma.fields.String(required=True)


class RedemptionBase(ma.Schema):
    id = ma.fields.Integer(required=True)
    status = ma.fields.String(
        required=True,
        metadata={
            "enum": list(RedemptionStatus),
            "description": "issued: waiting to be fulfilled; a code past its time is expired (its refund "
            "follows within minutes)",
        },
    )
    reward = ma.fields.Nested(RewardRef, required=True)
    site_id = ma.fields.Integer(required=True)
    user_id = ma.fields.Integer(required=True)
    holder_name_masked = ma.fields.String(
        required=True, metadata={"description": "Who redeemed, masked (张**): checked at the counter"}
    )
    holder_phone_masked = ma.fields.String(required=True, metadata={"description": "+86138****5678"})
    minutes = ma.fields.Integer(required=True)
    hours = ma.fields.Float(required=True)
    expires_at = ma.fields.AwareDateTime(required=True)
    fulfilled_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)


class RedemptionOut(RedemptionBase):
    code = ma.fields.String(required=True, metadata={"description": "Shown at the station to fulfil"})


class SiteRedemptionOut(RedemptionBase):
    """A redemption in a site's list: the code's last characters only (it is fulfilled by scanning or
    typing the code the holder shows)."""

    code_hint = ma.fields.String(required=True, metadata={"description": "The code's last 3 characters"})
    site_name = ma.fields.String(required=True)


class RedemptionListArgs(PageArgs):
    status = ma.fields.String(
        load_default=None,
        validate=ma.validate.OneOf(list(RedemptionStatus)),
        metadata={"description": "As `status` shows it: issued = waiting to be fulfilled (not past its end)"},
    )


# ---- 转赠: family links and gifts --------------------------------------------------------------------


class FamilyLinkIn(ma.Schema):
    relative_phone = Phone(required=True)
    relation = Str(required=True, validate=ma.validate.OneOf(FAMILY_RELATIONS))


class FamilyLinkOut(ma.Schema):
    """A link as its requester sees it: the relative's phone masked."""

    id = ma.fields.Integer(required=True)
    relative_id = ma.fields.Integer(required=True)
    relative_phone_masked = ma.fields.String(required=True)
    relation = ma.fields.String(required=True)
    status = ma.fields.String(required=True, metadata={"enum": list(LinkStatus)})
    site_id = ma.fields.Integer(required=True, metadata={"description": "The station that reviews it"})
    reason = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime(required=True)
    reviewed_at = ma.fields.AwareDateTime(allow_none=True)


class FamilyLinkReviewOut(FamilyLinkOut):
    """A link as a manager in reach sees it (the requester's phone in full: they are in reach)."""

    user_id = ma.fields.Integer(required=True)
    requester_name = ma.fields.String(required=True)
    requester_phone = ma.fields.String(required=True)
    relative_name = ma.fields.String(required=True)


class FamilyLinkListArgs(PageArgs):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(list(LinkStatus)))


class LinkRejectIn(ma.Schema):
    reason = Text(500, required=True)


class GiftIn(ma.Schema):
    """Either `family_link_id` (an approved link of mine) or `to_pool: true` (optionally `pool_site_id`)."""

    minutes = Integer(required=True, validate=ma.validate.Range(1, MAX_GIFT_MINUTES))
    family_link_id = Id(load_default=None)
    to_pool = Boolean(load_default=False)
    pool_site_id = Id(load_default=None, metadata={"description": "Default: my home station"})

    @ma.validates_schema
    def _one_target(self, data, **_kwargs):
        to_family = data.get("family_link_id") is not None
        if to_family == bool(data.get("to_pool")):
            raise ma.ValidationError("give family_link_id, or to_pool: true", "family_link_id")
        if data.get("pool_site_id") is not None and not data.get("to_pool"):
            raise ma.ValidationError("only with to_pool: true", "pool_site_id")


class GiftOut(ma.Schema):
    transfer_id = ma.fields.Integer(required=True)
    kind = ma.fields.String(required=True, metadata={"enum": ["gift", "donate"]})
    minutes = ma.fields.Integer(required=True)
    hours = ma.fields.Float(required=True)
    family_link_id = ma.fields.Integer(allow_none=True)
    pool_site_id = ma.fields.Integer(allow_none=True)
    balance_minutes = ma.fields.Integer(required=True, metadata={"description": "My balance after it"})
    balance_hours = ma.fields.Float(required=True)
    created_at = ma.fields.AwareDateTime(required=True)
