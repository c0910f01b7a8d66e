"""Request and response shapes of 志愿服务证明 (certificates)."""

from __future__ import annotations

import marshmallow as ma

from volunteer_app.accounts.schemas import SiteRef
from volunteer_app.schemas import Date, Text


class CertificateIn(ma.Schema):
    """The service dates to certify (inclusive, at most five years, not in the future)."""

    date_from = Date(required=True)
    date_to = Date(required=True)


class CertificateRecord(ma.Schema):
    transfer_id = ma.fields.Integer(required=True)
    date = ma.fields.Date(required=True, metadata={"description": "Service date"})
    content = ma.fields.String(required=True, metadata={"description": "Service content, as audited"})
    minutes = ma.fields.Integer(required=True)
    hours = ma.fields.Float(required=True)


class CertificateSummary(ma.Schema):
    id = ma.fields.Integer(required=True)
    number = ma.fields.String(required=True)
    issuing_site = ma.fields.Nested(SiteRef, required=True)
    handler = ma.fields.String(required=True, metadata={"description": "经办人, or 自助开具"})
    issued_at = ma.fields.AwareDateTime(required=True)
    date_from = ma.fields.Date(required=True)
    date_to = ma.fields.Date(required=True)
    total_minutes = ma.fields.Integer(required=True)
    total_hours = ma.fields.Float(required=True)
    share_url = ma.fields.String(
        required=True,
        metadata={"description": "Public page (Chinese HTML, no login) of non-personal fields, to share"},
    )
    revoked_at = ma.fields.AwareDateTime(
        required=True, allow_none=True, metadata={"description": "When it was revoked; null if it stands"}
    )


class CertificateOut(CertificateSummary):
    """A certificate as issued, for its owner and the managers in reach (ID number masked)."""

    verification_code = ma.fields.String(required=True)
    verify_url = ma.fields.String(required=True, metadata={"description": "Public verification URL"})
    real_name = ma.fields.String(required=True)
    id_number_masked = ma.fields.String(required=True)
    volunteer_no = ma.fields.String(required=True)
    issued_on = ma.fields.Date(required=True, metadata={"description": "Issue date, station time"})
    record_count = ma.fields.Integer(required=True)
    records = ma.fields.List(ma.fields.Nested(CertificateRecord), required=True)
    revoked_by = ma.fields.String(required=True, allow_none=True, metadata={"description": "Who revoked it"})
    revoked_reason = ma.fields.String(required=True, allow_none=True)


class CertificateRevokeIn(ma.Schema):
    """Why a certificate issued in error is withdrawn (kept with it; not shown publicly)."""

    reason = Text(200, required=True)


class PrintLink(ma.Schema):
    """A signed link to the printed page that opens without a login, for a short time."""

    url = ma.fields.String(required=True, metadata={"description": "Opens the printed page (HTML)"})
    expires_at = ma.fields.AwareDateTime(required=True)


class CertificateVerified(ma.Schema):
    """What anyone holding the code may confirm: nothing that identifies the person."""

    valid = ma.fields.Boolean(required=True, metadata={"description": "false once revoked"})
    revoked_at = ma.fields.AwareDateTime(required=True, allow_none=True)
    number = ma.fields.String(required=True)
    issued_at = ma.fields.AwareDateTime(required=True)
    issuing_site_name = ma.fields.String(required=True)
    date_from = ma.fields.Date(required=True)
    date_to = ma.fields.Date(required=True)
    record_count = ma.fields.Integer(required=True)
    total_minutes = ma.fields.Integer(required=True)
    total_hours = ma.fields.Float(required=True)
