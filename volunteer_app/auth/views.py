"""HTTP endpoints for registration, login (password or SMS code), refresh, logout, password change."""

from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView

from volunteer_app.auth import schemas as s
from volunteer_app.auth import service
from volunteer_app.auth.decorators import auth_required
from volunteer_app.auth.tokens import current_principal, verify_request
from volunteer_app.extensions import Blueprint, limiter
from volunteer_app.pagination import PageArgs, page_schema
from volunteer_app.phones import normalize_phone
from volunteer_app.schemas import Ok

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth", description="Registration and login")


def _limit(name: str):
    return lambda: current_app.config["APP"][name]


def _phone_key() -> str:
    """Rate-limit key: the normalised phone in the JSON body (falls back to the raw text). Never raises:
    it runs before the view, and a body nested thousands deep (RecursionError) is the view's to refuse."""
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        body = None
    raw = body.get("phone") if isinstance(body, dict) else None
    raw = raw if isinstance(raw, str) else ""
    return "phone:" + (normalize_phone(raw) or raw[:20])


def _refused(response) -> bool:
    """A login attempt counts against its phone only when the password or code was wrong (401): a
    phone's owner logging in on a new device spends nothing, and its failures back off."""
    return response.status_code == 401


def login_limits(kind: str) -> list:
    """Per phone number tried (failures, one counter per kind of login, shared by the API and the
    console: password failures do not block SMS-code login), then one loose ceiling per address over
    every login attempt of both kinds (a neighbourhood behind carrier NAT shares one address)."""
    return [
        limiter.shared_limit(
            _limit("login_limit_per_phone"),
            scope=f"login-{kind}-per-phone",
            key_func=_phone_key,
            methods=["POST"],
            deduct_when=_refused,
        ),
        limiter.shared_limit(_limit("login_limit_per_ip"), scope="login-per-ip", methods=["POST"]),
    ]


@blp.route("/register")
class Register(MethodView):
    decorators = [limiter.limit(_limit("register_limit"), methods=["POST"])]

    # No Idempotency-Key here on purpose: the stored response would keep live tokens at rest for a day.
    # A retried registration gets 409 phone.taken, and the phone logs in instead.
    @blp.arguments(s.RegisterIn)
    @blp.response(201, s.LoginOut)
    def post(self, data):
        """Register with phone and password; pick a home station (or send lat/lng for the nearest)."""
        return service.register(**data)


@blp.route("/login")
class Login(MethodView):
    decorators = login_limits("password")

    @blp.arguments(s.LoginIn)
    @blp.response(200, s.LoginOut)
    def post(self, data):
        """Log in with phone and password."""
        return service.login(**data)


@blp.route("/sms-code")
class SmsCode(MethodView):
    decorators = [
        limiter.limit(_limit("sms_limit_per_address"), methods=["POST"]),
        limiter.limit(_limit("sms_limit_per_phone"), key_func=_phone_key, methods=["POST"]),
    ]

    @blp.arguments(s.SmsCodeIn)
    @blp.response(200, s.SmsSentOut)
    def post(self, data):
        """Send a 6-digit login code by SMS (valid 5 minutes; resend after 60 s).

        The answer is the same for every valid number, registered or not (a code is sent only to an
        active account's phone), so it never tells whether a number has an account; the cooldown and
        rate limits apply alike. Registration does not use codes (`POST /auth/register`)."""
        return service.request_sms_code(**data)


@blp.route("/sms-login")
class SmsLogin(MethodView):
    decorators = login_limits("sms")

    @blp.arguments(s.SmsLoginIn)
    @blp.response(200, s.LoginOut)
    def post(self, data):
        """Log in with an SMS code (5 wrong tries spend the code)."""
        return service.sms_login(**data)


@blp.route("/wechat")
class WechatLogin(MethodView):
    # Every login attempt counts against the address's loose ceiling (shared with the phone logins); a
    # wrong WeChat code cannot be guessed (WeChat's, random, minutes long), so no per-target counter.
    decorators = [limiter.shared_limit(_limit("login_limit_per_ip"), scope="login-per-ip", methods=["POST"])]

    @blp.arguments(s.WechatLoginIn)
    @blp.response(200, s.LoginOut)
    def post(self, data):
        """Sign in from the WeChat mini-program with a wx.login code (the first time also a
        getPhoneNumber code, which binds this WeChat to the account of that phone number)."""
        return service.wechat_login(**data)


@blp.route("/refresh")
class Refresh(MethodView):
    @blp.doc(security=[{"bearerAuth": []}])
    @blp.response(200, s.TokensOut)
    def post(self):
        """Exchange a refresh token (as the bearer) for a new pair; an old one revokes the session."""
        claims = verify_request(refresh=True)
        return service.refresh(who=current_principal(), claims=claims)


@blp.route("/logout")
class Logout(MethodView):
    @auth_required()
    @blp.response(200, Ok)
    def post(self):
        """Log this device out: its tokens stop working at once."""
        service.logout(who=current_principal())
        return {"ok": True}


@blp.route("/sessions")
class Sessions(MethodView):
    @auth_required()
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, page_schema(s.SessionOut, "SessionPage"))
    def get(self, args):
        """My sign-ins on every device and the console, newest first (the current one marked)."""
        return service.sessions(who=current_principal(), **args)

    @auth_required()
    @blp.response(204)
    def delete(self):
        """Sign out everywhere: every session of mine ends at once, this one included."""
        service.logout_everywhere(who=current_principal())


@blp.route("/sessions/<uuid:session_id>")
class SessionOne(MethodView):
    @auth_required()
    @blp.response(204)
    def delete(self, session_id):
        """Sign one of my sessions out (a lost phone, a console left open)."""
        service.end_session(who=current_principal(), session_id=str(session_id))


@blp.route("/password")
class Password(MethodView):
    @auth_required()
    @blp.arguments(s.PasswordChangeIn)
    @blp.response(200, s.TokensOut)
    def post(self, data):
        """Change my password: every device is logged out; this one gets fresh tokens."""
        return service.change_password(who=current_principal(), **data)
