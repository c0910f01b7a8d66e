"""HTTP endpoints of the caller's WeChat: the binding (seen, undone) and subscription consents."""

from __future__ import annotations

from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.extensions import Blueprint
from volunteer_app.idempotency import idempotent
from volunteer_app.notifications import schemas as s
from volunteer_app.notifications import wechat

blp = Blueprint(
    "wechat", __name__, url_prefix="/api/v1", description="WeChat mini-program binding and consents"
)


@blp.route("/me/wechat")
class MyWechat(MethodView):
    @auth_required()
    @blp.response(200, s.WechatStatusOut)
    def get(self):
        """Whether a WeChat mini-program user is bound to me (never its openid), and consents left."""
        return wechat.status(who=current_principal())

    @auth_required()
    @blp.response(204)
    def delete(self):
        """Unbind my WeChat: the mini-program no longer signs me in and no WeChat message goes to it."""
        wechat.unbind(who=current_principal())


@blp.route("/me/wechat/subscriptions")
class MyWechatSubscriptions(MethodView):
    @auth_required()
    @idempotent(user_scope)
    @blp.arguments(s.WechatConsentIn)
    @blp.response(200, s.WechatStatusOut)
    def post(self, data):
        """Record the subscription messages I allowed in the mini-program (wx.requestSubscribeMessage):
        each accepted template lets one message of it through. Answers my consents left."""
        return wechat.record_consents(who=current_principal(), **data)
