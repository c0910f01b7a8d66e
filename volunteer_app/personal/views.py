"""GET /me/export (everything held about me, a JSON file) and POST /me/close (close my account)."""

from __future__ import annotations

import json

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, user_scope
from volunteer_app.extensions import Blueprint, limiter
from volunteer_app.personal import closing, export
from volunteer_app.schemas import Str

blp = Blueprint("personal", __name__, url_prefix="/api/v1", description="My personal data: download, close")


def _close_limit() -> str:
    return current_app.config["APP"]["close_account_limit"]


class AccountCloseIn(ma.Schema):
    # The account's password; an account without one (signed up by a station's phone intake, or only
    # ever signed in by SMS) confirms with a login code from POST /auth/sms-code instead.
    password = Str(load_default=None, validate=ma.validate.Length(min=1, max=128))
    code = Str(load_default=None, validate=ma.validate.Regexp(r"^[0-9]{6}$", error="six digits"))


class AccountCloseOut(ma.Schema):
    closed = ma.fields.Boolean(required=True)
    closed_at = ma.fields.AwareDateTime(required=True)
    pseudonym = ma.fields.String(required=True)


@blp.route("/me/export")
class MyExport(MethodView):
    @auth_required()
    @blp.response(
        200,
        {"type": "object"},
        content_type="application/json",
        description="volunteer-export-<date>.json: every section of volunteer_app/personal/export.py",
    )
    def get(self):
        """Download everything the service holds about me (个人信息副本), as one JSON file: my account
        (ID number masked), roles, applications, sign-ins, devices (no push tokens), WeChat binding and
        consents, notification settings, inbox, orders with their events and follow-up calls,
        assignments (check-in and check-out times and distances), the time book with every entry and
        its transfer, redemptions, family links, certificates, complaints, appeals, and who looked at
        my full ID number and why."""
        who = current_principal()
        document = export.build(who.user_id)
        name = f"volunteer-export-{document['generated_at'][:10]}.json"
        return current_app.response_class(
            json.dumps(document, ensure_ascii=False, indent=1),
            mimetype="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
        )


@blp.route("/me/close")
class CloseMyAccount(MethodView):
    @auth_required()
    @limiter.limit(_close_limit, key_func=user_scope)
    @blp.arguments(AccountCloseIn)
    @blp.response(200, AccountCloseOut)
    def post(self, data):
        """Close my account for good (注销): confirmed with my password (or a login code by SMS when the
        account has none). Refused with 409 while an order of mine is being served, I hold or was
        offered a place, a redemption code of mine is unfulfilled, or I hold a manager or admin role.
        Then my name becomes a pseudonym, my phone number, real name, ID number, devices, WeChat
        binding, settings and inbox are erased, every sign-in ends at once (the phone number may
        register anew), and my service records and time book stay under the pseudonym."""
        return closing.close_account(who=current_principal(), **data)
