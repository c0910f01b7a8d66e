"""HTTP endpoints of the order loop: orders, assignments and the volunteers' task feed."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from volunteer_app.attendance.schemas import AssignmentOut, AuditIn, ReasonIn
from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.extensions import (
    Blueprint,
    limiter,
    looking_first,
    reads_first,
    reads_only,
    writes_alone,
    writing_alone,
)
from volunteer_app.fastdump import fast
from volunteer_app.idempotency import idempotent, keyed_snapshot
from volunteer_app.orders import dispatch, handover, intake, queries, review, taking
from volunteer_app.orders import schemas as s
from volunteer_app.pagination import PageArgs, page_schema

blp = Blueprint(
    "orders", __name__, url_prefix="/api/v1", description="Orders (点单 → 派单 → 接单 → 评单 → 审核)"
)

ORDER_DETAIL = fast(s.OrderDetail)  # every answer that is an order's detail (fastdump)

OrderPage = page_schema(s.OrderSummary, "OrderPage")
EventPage = page_schema(s.EventOut, "OrderEventPage")


def _grab_limit() -> str:
    return current_app.config["APP"]["grab_limit"]


def _detail(order):
    return queries.detail(order, current_principal())


@blp.route("/orders")
class Orders(MethodView):
    @keyed_snapshot  # ordering never changes the caller's own account (a proxy's resident is another row)
    @writes_alone  # a resident's order is one INSERT: without a key, in autocommit (no BEGIN, no COMMIT)
    @auth_required(defer=writing_alone)  # that INSERT checks the caller itself (intake.submit_detail)
    @idempotent(user_scope)
    @blp.arguments(s.OrderIn)
    @blp.response(201, ORDER_DETAIL)
    def post(self, data):
        """点单: order a service (staff may order for a resident by phone: recorded as proxy)."""
        return intake.submit_detail(who=current_principal(), data=data)

    @blp.etag
    @auth_required()
    @blp.arguments(s.OrderListArgs, location="query")
    @blp.response(200, OrderPage)
    def get(self, args):
        """Orders I placed, that I serve, or of the sites I manage; newest first."""
        return queries.list_orders(who=current_principal(), **args)


@blp.route("/orders/<int:order_id>")
class OrderOne(MethodView):
    @blp.etag
    @reads_only
    @auth_required()
    @blp.response(200, ORDER_DETAIL)
    def get(self, order_id):
        """One order with its resident (phone masked unless mine to manage) and assignments."""
        return queries.order_detail(who=current_principal(), order_id=order_id)


@blp.route("/orders/<int:order_id>/events")
class OrderEvents(MethodView):
    @blp.etag
    @auth_required()
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, EventPage)
    def get(self, args, order_id):
        """The order's timeline: every change with from, to, action, actor, proxy, time and note."""
        return queries.events(who=current_principal(), order_id=order_id, **args)


@blp.route("/orders/<int:order_id>/dispatch")
class OrderDispatch(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.DispatchIn)
    @blp.response(200, ORDER_DETAIL)
    def post(self, data, order_id):
        """派单: offer to volunteers or a team (assign), or open to grabbing (grab): capacity, deadline."""
        return _detail(dispatch.dispatch(who=current_principal(), order_id=order_id, data=data))


@blp.route("/orders/<int:order_id>/offers")
class OrderOffers(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.OfferIn)
    @blp.response(200, ORDER_DETAIL)
    def post(self, data, order_id):
        """Reassign: offer a dispatched order to more volunteers after a decline or withdrawal."""
        return _detail(dispatch.offer_more(who=current_principal(), order_id=order_id, data=data))


@blp.route("/orders/<int:order_id>/reject")
class OrderReject(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(ReasonIn)
    @blp.response(200, ORDER_DETAIL)
    def post(self, data, order_id):
        """Reject a submitted order, with a reason."""
        return _detail(dispatch.reject(who=current_principal(), order_id=order_id, **data))


@blp.route("/orders/<int:order_id>/cancel")
class OrderCancel(MethodView):
    @auth_required()
    @blp.arguments(ReasonIn)
    @blp.response(200, ORDER_DETAIL)
    def post(self, data, order_id):
        """Cancel before service starts (the resident who ordered, or a manager in reach), with a reason."""
        return _detail(dispatch.cancel(who=current_principal(), order_id=order_id, **data))


@blp.route("/orders/<int:order_id>/grab")
class OrderGrab(MethodView):
    @keyed_snapshot
    @reads_first  # a loser of a full pool is answered from its first reads, in autocommit
    @auth_required("volunteer", defer=looking_first)  # (there, the first look checks the caller)
    @limiter.limit(_grab_limit, key_func=user_scope)
    @idempotent(user_scope)
    @blp.response(201, AssignmentOut)
    def post(self, order_id):
        """抢单: take a place in an open pool → 201 assignment, or 409 `order.full`."""
        return taking.grab(who=current_principal(), order_id=order_id)


@blp.route("/orders/<int:order_id>/rating")
class OrderRating(MethodView):
    @auth_required()
    @blp.arguments(s.RatingIn)
    @blp.response(200, ORDER_DETAIL)
    def post(self, data, order_id):
        """评单: the ordering resident rates once (1–5 stars, comment) while the rating window is open."""
        return _detail(review.rate(who=current_principal(), order_id=order_id, **data))


@blp.route("/orders/<int:order_id>/audit")
class OrderAudit(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(AuditIn)
    @blp.response(200, ORDER_DETAIL)
    def post(self, data, order_id):
        """审核: confirm minutes per assignment (name each, or `confirm_computed: true`); the order
        closes and the hours are credited, once."""
        return _detail(
            review.audit(
                who=current_principal(),
                order_id=order_id,
                items=data["assignments"],
                note=data["note"],
                confirm_computed=data["confirm_computed"],
            )
        )


HandoverPage = page_schema(s.HandoverOut, "OrderHandoverPage")


@blp.route("/orders/<int:order_id>/handovers")
class OrderHandovers(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.HandoverIn)
    @blp.response(201, s.HandoverOut)
    def post(self, data, order_id):
        """转派 / 上报: pass the order on, with a reason: to a sibling station under the same parent
        (pending until its managers accept) or up to the parent site (at once). The dispatch site's
        managers only; 409 while one is pending or when the order's state (or a held place) forbids it."""
        return handover.request(who=current_principal(), order_id=order_id, **data)


@blp.route("/sites/<int:site_id>/handovers")
class SiteHandovers(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.HandoverListArgs, location="query")
    @blp.response(200, HandoverPage)
    def get(self, args, site_id):
        """A site's handovers, newest first: incoming (to accept or decline) or outgoing."""
        return handover.list_for_site(who=current_principal(), site_id=site_id, **args)


@blp.route("/handovers/<int:handover_id>/accept")
class HandoverAccept(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.HandoverOut)
    def post(self, handover_id):
        """Take the order over (the receiving station's managers): its dispatch site changes, its
        dispatch deadline restarts, the resident and the requesting station are told."""
        return handover.accept(who=current_principal(), handover_id=handover_id)


@blp.route("/handovers/<int:handover_id>/decline")
class HandoverDecline(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(ReasonIn)
    @blp.response(200, s.HandoverOut)
    def post(self, data, handover_id):
        """Decline to take the order over, with a reason (the requesting station is told)."""
        return handover.decline(who=current_principal(), handover_id=handover_id, **data)


@blp.route("/handovers/<int:handover_id>/cancel")
class HandoverCancel(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.HandoverOut)
    def post(self, handover_id):
        """Withdraw a pending request (the requesting station's managers)."""
        return handover.cancel(who=current_principal(), handover_id=handover_id)
