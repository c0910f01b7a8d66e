"""HTTP endpoints of 督办 items: raise against a site, a site's lists, one item with its timeline,
and the item's moves (notes, report, 销号, send back, withdraw). Managers only; reach decides the rest."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.extensions import Blueprint
from volunteer_app.idempotency import idempotent
from volunteer_app.pagination import page_schema
from volunteer_app.supervision import item_schemas as s
from volunteer_app.supervision import items

blp = Blueprint(
    "supervision_items",
    __name__,
    url_prefix="/api/v1",
    description="督办 items: raised by a site above, acted on and reported, closed (销号) or sent back",
)

ItemPage = page_schema(s.SupervisionItemOut, "SupervisionItemPage")


@blp.route("/sites/<int:site_id>/supervision-items")
class SiteSupervisionItems(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.SupervisionItemArgs, location="query")
    @blp.response(200, ItemPage)
    def get(self, args, site_id):
        """The items this site's subtree must act on (`side=acting`) or raised (`side=raised`), newest
        first, by level, state and overdue."""
        return items.list_items(who=current_principal(), site_id=site_id, **args)

    @auth_required("manager", "admin")
    @idempotent(user_scope)
    @blp.arguments(s.SupervisionItemIn)
    @blp.response(201, s.SupervisionItemDetail)
    def post(self, data, site_id):
        """督办: raise an item against a site in my reach, on behalf of the nearest site above it that I
        manage (403 `supervision.not_above` if none: a station does not supervise itself); its managers
        are told."""
        return items.detail(items.create(who=current_principal(), site_id=site_id, data=data))


@blp.route("/supervision-items/<int:item_id>")
class SupervisionItemOne(MethodView):
    @auth_required("manager", "admin")
    @blp.response(200, s.SupervisionItemDetail)
    def get(self, item_id):
        """One item with its timeline and whether it is overdue (managers reaching its acting site)."""
        return items.detail(items.get_item(who=current_principal(), item_id=item_id))


@blp.route("/supervision-items/<int:item_id>/notes")
class SupervisionItemNotes(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.ItemNoteIn)
    @blp.response(200, s.SupervisionItemDetail)
    def post(self, data, item_id):
        """A progress note (the acting site) or a word from the raising site, while open or reported."""
        return items.detail(items.add_note(who=current_principal(), item_id=item_id, **data))


@blp.route("/supervision-items/<int:item_id>/report")
class SupervisionItemReport(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.ItemReportIn)
    @blp.response(200, s.SupervisionItemDetail)
    def post(self, data, item_id):
        """Report an open item done, with what was done (the acting site's managers; 403
        `supervision.not_actor` for the raising site's); the raising site is told."""
        return items.detail(items.report(who=current_principal(), item_id=item_id, **data))


@blp.route("/supervision-items/<int:item_id>/close")
class SupervisionItemClose(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.ItemCloseIn)
    @blp.response(200, s.SupervisionItemDetail)
    def post(self, data, item_id):
        """销号: the raising site confirms a reported item (403 `supervision.not_raiser` for others)."""
        return items.detail(items.close(who=current_principal(), item_id=item_id, **data))


@blp.route("/supervision-items/<int:item_id>/send-back")
class SupervisionItemSendBack(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.ItemSendBackIn)
    @blp.response(200, s.SupervisionItemDetail)
    def post(self, data, item_id):
        """Not done: the raising site sends a reported item back with a reason and a new deadline."""
        return items.detail(items.send_back(who=current_principal(), item_id=item_id, **data))


@blp.route("/supervision-items/<int:item_id>/withdraw")
class SupervisionItemWithdraw(MethodView):
    @auth_required("manager", "admin")
    @blp.arguments(s.ItemWithdrawIn)
    @blp.response(200, s.SupervisionItemDetail)
    def post(self, data, item_id):
        """The raising site takes an open or reported item back, with a reason."""
        return items.detail(items.withdraw(who=current_principal(), item_id=item_id, **data))
