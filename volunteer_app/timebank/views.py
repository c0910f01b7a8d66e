"""HTTP endpoints of the time book."""

from __future__ import annotations

from flask.views import MethodView
from flask_smorest import Blueprint

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal
from volunteer_app.pagination import page_schema
from volunteer_app.timebank import schemas as s
from volunteer_app.timebank import service

blp = Blueprint("timebank", __name__, url_prefix="/api/v1", description="Time deposit book (时间存折)")

StatementPage = page_schema(s.StatementLine, "StatementPage")


@blp.route("/me/timebook")
class MyTimebook(MethodView):
    @auth_required()
    @blp.response(200, s.TimebookOut)
    def get(self):
        """My time book: balance, lifetime audited hours, star level, book number, issuing station."""
        return service.timebook(current_principal().user)


@blp.route("/me/timebook/transfers")
class MyStatement(MethodView):
    @auth_required()
    @blp.arguments(s.StatementArgs, location="query")
    @blp.response(200, StatementPage)
    def get(self, args):
        """My statement, newest first, with the balance after each line; filter by month."""
        return service.statement(current_principal().user, **args)


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
