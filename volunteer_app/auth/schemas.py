"""Request and response shapes of registration, login and tokens."""

from __future__ import annotations

import re

import marshmallow as ma

from volunteer_app.accounts.schemas import MeOut
from volunteer_app.field_messages import register_field_messages
from volunteer_app.schemas import Id, Lat, Lng, Password, Phone, Positioned, Str, Text

NOT_A_WECHAT_CODE = "not a code WeChat gives"
register_field_messages({NOT_A_WECHAT_CODE: "不是有效的微信凭证"})
PHONE = Phone(required=True)
PASSWORD = Password(128, min_length=8, new=True, required=True)


class RegisterIn(Positioned):
    refuse_half_a_point = False  # half a point is no location: 422 auth.home_site_required (the service)

    phone = PHONE
    password = PASSWORD
    name = Text(40, required=True)
    home_site_id = Id(
        load_default=None, metadata={"description": "Home station; or give lat/lng for the nearest"}
    )
    lat = Lat(load_default=None)
    lng = Lng(load_default=None)


class LoginIn(ma.Schema):
    # Normalised by the service with the same rule (normalize_phone); an invalid one is refused like a
    # wrong password (401), so a login answer never says which part was wrong.
    phone = Str(required=True, validate=ma.validate.Length(min=1, max=20), metadata=PHONE.metadata)
    password = Password(128, required=True)


class SmsCodeIn(ma.Schema):
    phone = PHONE


class SmsLoginIn(ma.Schema):
    phone = PHONE
    # ASCII digits only: \d alone would also pass full-width ones, which can never match a sent code.
    code = Str(
        required=True, validate=ma.validate.Regexp(re.compile(r"^\d{6}$", re.ASCII), error="six digits")
    )


class PasswordChangeIn(ma.Schema):
    current_password = Password(128, required=True)
    new_password = PASSWORD


class TokensOut(ma.Schema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True)
    expires_in = ma.fields.Integer(required=True, metadata={"description": "Access token lifetime, seconds"})


class LoginOut(TokensOut):
    user = ma.fields.Nested(MeOut, required=True)


class SmsSentOut(ma.Schema):
    sent = ma.fields.Boolean(required=True)
    expires_in = ma.fields.Integer(required=True)
    resend_after = ma.fields.Integer(required=True)


class SessionOut(ma.Schema):
    id = ma.fields.String(required=True, metadata={"description": "The session (not a credential)"})
    created_at = ma.fields.AwareDateTime(required=True)
    user_agent = ma.fields.String(allow_none=True)
    revoked_at = ma.fields.AwareDateTime(allow_none=True)
    revoked_reason = ma.fields.String(allow_none=True)
    current = ma.fields.Boolean(required=True, metadata={"description": "The session of this request"})


# WeChat's codes are printable ASCII without spaces (wx.login's: 32 letters and digits).
WECHAT_CODE = ma.validate.Regexp(re.compile(r"^[\x21-\x7e]{1,128}$", re.ASCII), error=NOT_A_WECHAT_CODE)


class WechatLoginIn(ma.Schema):
    code = Str(
        required=True,
        validate=WECHAT_CODE,
        metadata={"description": "From wx.login in the mini-program (works once, for 5 minutes)"},
    )
    phone_code = Str(
        load_default=None,
        validate=WECHAT_CODE,
        metadata={
            "description": "From the getPhoneNumber button: binds this WeChat to the account of the phone "
            "number WeChat confirms (needed the first time only)"
        },
    )
