"""志愿服务证明: numbered certificates of audited service, stored as issued and verifiable by code.

A certificate lists the audited credits into a volunteer's book whose service date lies in the range,
less any credit that was reversed, exactly as they stood at issue: later credits or reversals never
change it. The public verification (by code, or the share link's page) shows only non-personal fields.
A manager in reach may revoke a certificate issued in error: it stays, marked revoked everywhere.
"""

from __future__ import annotations

import re
import secrets
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import or_, select
from sqlalchemy.orm import defer

from volunteer_app.accounts.identity import mask_name
from volunteer_app.accounts.models import User, VolunteerProfile
from volunteer_app.db import utcnow
from volunteer_app.errors import Conflict, NotFound, Unprocessable, register_messages
from volunteer_app.extensions import db
from volunteer_app.pagination import paginate
from volunteer_app.sites import service as sites
from volunteer_app.sites.models import Site
from volunteer_app.sites.reach import Reacher, reach_condition
from volunteer_app.timebank import ledger
from volunteer_app.timebank.models import Certificate, Entry, Transfer
from volunteer_app.timebank.service import hours

if TYPE_CHECKING:
    from volunteer_app.auth.tokens import Principal

register_messages(
    {
        "certificate.empty": (
            "所选日期范围内没有已审核的服务记录",
            "There are no audited service records in this date range",
        ),
        "certificate.range_order": ("开始日期不能晚于结束日期", "date_from must not be after date_to"),
        "certificate.range_future": ("结束日期不能晚于今天", "date_to must not be in the future"),
        "certificate.range_too_long": (
            "日期范围不能超过 {years} 年",
            "The date range may span at most {years} years",
        ),
        "certificate.too_many_records": (
            "记录过多（超过 {limit} 条），请缩短日期范围",
            "Too many records (over {limit}); choose a shorter range",
        ),
        "certificate.already_revoked": ("该证明已作废", "This certificate has already been revoked"),
    }
)

# Kinds of transfer that record audited service (demo data is marked as such in its memo; an upheld
# appeal's credit is the part of a service an audit cut and the deciding site granted back).
CERTIFIED_KINDS = ("credit", "demo", "appeal")
SELF_SERVICE = "自助开具"
MAX_YEARS = 5
# Five years of daily service with room to spare; keeps one certificate (a JSON column) bounded.
MAX_RECORDS = 5000
# Unambiguous when read aloud or typed from paper: no 0/O, 1/I/L.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 16  # 31**16 ≈ 2**79 codes: unguessable, even without the rate limit
_CODE_SHAPE = re.compile(rf"[{CODE_ALPHABET}]{{{CODE_LENGTH}}}")
# The share link's token: 16 random bytes (128 bits), URL-safe base64 without padding (22 characters).
SHARE_TOKEN_BYTES = 16
_SHARE_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{22}")


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_share_token() -> str:
    return secrets.token_urlsafe(SHARE_TOKEN_BYTES)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year without one
        return day.replace(year=day.year + years, month=3, day=1)


def _today(site: Site) -> date:
    return sites.local_time(site).date()


def _check_range(date_from: date, date_to: date, today: date) -> None:
    """At most five years, in order, not in the future (422 naming the field otherwise)."""
    if date_from > date_to:
        raise Unprocessable("certificate.range_order", errors={"json": {"date_from": ["after date_to"]}})
    if date_to > today:
        raise Unprocessable("certificate.range_future", errors={"json": {"date_to": ["in the future"]}})
    if date_to >= _add_years(date_from, MAX_YEARS):
        raise Unprocessable(
            "certificate.range_too_long",
            errors={"json": {"date_to": [f"at most {MAX_YEARS} years after date_from"]}},
            params={"years": MAX_YEARS},
        )


def _records(user_id: int, date_from: date, date_to: date) -> list[dict]:
    """The book's audited credits in the range that no reversal undid, oldest first.

    Both the credits and their reversals are entries on the book, so the search stays within the
    book's own entries (an index range) however large the ledger grows.
    """
    book = ledger.existing_book(user_id)
    if book is None:
        return []
    on_book = select(Entry.transfer_id).where(Entry.account_id == book.id)
    reversed_ids = select(Transfer.reverses_id).where(
        Transfer.id.in_(on_book), Transfer.kind == "reversal", Transfer.reverses_id.is_not(None)
    )
    credits = db.session.scalars(
        select(Transfer)
        .where(
            Transfer.id.in_(on_book),
            Transfer.to_account_id == book.id,
            Transfer.kind.in_(CERTIFIED_KINDS),
            Transfer.service_date >= date_from,
            Transfer.service_date <= date_to,
            Transfer.id.not_in(reversed_ids),
        )
        .order_by(Transfer.service_date, Transfer.id)
        .limit(MAX_RECORDS + 1)
    ).all()
    if len(credits) > MAX_RECORDS:
        raise Unprocessable("certificate.too_many_records", params={"limit": MAX_RECORDS})
    return [
        {
            "transfer_id": t.id,
            "date": t.service_date.isoformat(),
            "content": t.memo or "",
            "minutes": t.minutes,
        }
        for t in credits
    ]


def _issue(user: User, profile: VolunteerProfile, date_from: date, date_to: date, handler: str):
    """Check the range, collect the records and store the certificate. Commits."""
    site = db.session.get(Site, profile.site_id)
    _check_range(date_from, date_to, _today(site))
    records = _records(user.id, date_from, date_to)
    if not records:
        raise Unprocessable("certificate.empty")
    code = new_code()
    certificate = Certificate(
        number=f"~{code}",  # placeholder until the id is known (both unique, so never clashes)
        verification_code=code,
        user_id=user.id,
        site_id=site.id,
        real_name=user.real_name or user.name,
        id_number_masked=user.id_number_masked or "",
        volunteer_no=profile.volunteer_no,
        date_from=date_from,
        date_to=date_to,
        total_minutes=sum(r["minutes"] for r in records),
        records=records,
        handler=handler[:40],
        issued_at=utcnow(),
        share_token=new_share_token(),
    )
    db.session.add(certificate)
    db.session.flush()
    year = _local(certificate.issued_at, site).year
    certificate.number = f"ZYZM{year}{certificate.id:08d}"
    db.session.commit()
    return view(certificate, site)


def issue_mine(*, who: Principal, date_from: date, date_to: date) -> dict:
    """The calling volunteer's own certificate, issued by their home station (handler: self-service).
    Commits."""
    profile = db.session.get(VolunteerProfile, who.user_id)
    if profile is None:
        raise NotFound("timebook.not_volunteer")
    return _issue(who.user, profile, date_from, date_to, SELF_SERVICE)


def issue_for(*, who: Reacher, handler: User, user_id: int, date_from: date, date_to: date) -> dict:
    """A manager issues a certificate to a volunteer whose home station they reach. Commits."""
    profile = db.session.scalars(
        select(VolunteerProfile).where(
            VolunteerProfile.user_id == user_id, reach_condition(VolunteerProfile.site_id, who)
        )
    ).first()
    if profile is None:
        raise NotFound("timebook.not_volunteer")
    volunteer = db.session.get(User, user_id)
    return _issue(volunteer, profile, date_from, date_to, handler.real_name or handler.name)


# ---- reading ------------------------------------------------------------------------------------


def _local(moment: datetime, site: Site) -> datetime:
    return sites.local_time(site, moment)


def view(certificate: Certificate, site: Site) -> dict:
    """The certificate as its owner and the managers in reach see it."""
    return {
        "id": certificate.id,
        "number": certificate.number,
        "verification_code": certificate.verification_code,
        "real_name": certificate.real_name,
        "id_number_masked": certificate.id_number_masked,
        "volunteer_no": certificate.volunteer_no,
        "issuing_site": site,
        "handler": certificate.handler,
        "issued_at": certificate.issued_at,
        "issued_on": _local(certificate.issued_at, site).date(),
        "date_from": certificate.date_from,
        "date_to": certificate.date_to,
        "record_count": len(certificate.records),
        "total_minutes": certificate.total_minutes,
        "total_hours": hours(certificate.total_minutes),
        "records": [
            {**r, "date": date.fromisoformat(r["date"]), "hours": hours(r["minutes"])}
            for r in certificate.records
        ],
        "share_token": certificate.share_token,
        "revoked_at": certificate.revoked_at,
        "revoked_on": _local(certificate.revoked_at, site).date() if certificate.revoked_at else None,
        "revoked_by": certificate.revoked_by,
        "revoked_reason": certificate.revoked_reason,
    }


def _in_reach(who: Reacher, viewer_id: int, certificate_id: int) -> Certificate:
    """The certificate if it is the viewer's own or issued by a station they reach (404 otherwise)."""
    certificate = db.session.scalars(
        select(Certificate).where(
            Certificate.id == certificate_id,
            or_(Certificate.user_id == viewer_id, reach_condition(Certificate.site_id, who)),
        )
    ).first()
    if certificate is None:
        raise NotFound()
    return certificate


def ensure_readable(*, who: Reacher, viewer_id: int, certificate_id: int) -> None:
    """404 unless the certificate is the viewer's own or issued by a station they reach."""
    _in_reach(who, viewer_id, certificate_id)


def get_certificate(*, who: Reacher, viewer_id: int, certificate_id: int) -> dict:
    """One certificate: its owner's, or issued by a station the manager reaches (404 otherwise)."""
    certificate = _in_reach(who, viewer_id, certificate_id)
    return view(certificate, db.session.get(Site, certificate.site_id))


def certificate_for_print(certificate_id: int) -> dict | None:
    """A certificate by id with no reach check, for a print link the server signed for someone who
    could read it (the signature is the authorisation); None if it no longer exists."""
    certificate = db.session.get(Certificate, certificate_id)
    if certificate is None:
        return None
    return view(certificate, db.session.get(Site, certificate.site_id))


def revoke(*, who: Reacher, handler: User, certificate_id: int, reason: str) -> dict:
    """A manager whose reach covers the issuing station withdraws a certificate issued in error. It is
    kept as issued and marked revoked (by whom, when, why); revoking twice is 409. Commits."""
    certificate = db.session.scalars(
        select(Certificate)
        .where(Certificate.id == certificate_id, reach_condition(Certificate.site_id, who))
        .with_for_update()
    ).first()
    if certificate is None:
        raise NotFound()
    if certificate.revoked_at is not None:
        raise Conflict("certificate.already_revoked")
    certificate.revoked_at = utcnow()
    certificate.revoked_by = (handler.real_name or handler.name)[:40]
    certificate.revoked_reason = reason
    db.session.commit()
    return view(certificate, db.session.get(Site, certificate.site_id))


def my_certificates(*, who: Principal, limit: int, cursor: str | None) -> dict:
    """The caller's certificates, newest first, without their record lists (keyset-paged by id)."""
    stmt = select(Certificate).where(Certificate.user_id == who.user_id).options(defer(Certificate.records))
    page = paginate(stmt, [Certificate.id], limit=limit, cursor=cursor, descending=True)
    site_ids = {c.site_id for c in page["items"]}
    by_id = {s.id: s for s in db.session.scalars(select(Site).where(Site.id.in_(site_ids)))}
    page["items"] = [_summary(c, by_id[c.site_id]) for c in page["items"]]
    return page


def _summary(certificate: Certificate, site: Site) -> dict:
    return {
        "id": certificate.id,
        "number": certificate.number,
        "issuing_site": site,
        "handler": certificate.handler,
        "issued_at": certificate.issued_at,
        "date_from": certificate.date_from,
        "date_to": certificate.date_to,
        "total_minutes": certificate.total_minutes,
        "total_hours": hours(certificate.total_minutes),
        "share_token": certificate.share_token,
        "revoked_at": certificate.revoked_at,
    }


def verify(code: str) -> dict:
    """Public confirmation by verification code: only what identifies the certificate, nothing of the
    person (no name, ID number, phone or volunteer number). Unknown code: 404."""
    code = code.strip().upper()
    if not _CODE_SHAPE.fullmatch(code):
        raise NotFound()
    certificate = db.session.scalars(select(Certificate).where(Certificate.verification_code == code)).first()
    if certificate is None:
        raise NotFound()
    site = db.session.get(Site, certificate.site_id)
    return {
        "valid": certificate.revoked_at is None,
        "revoked_at": certificate.revoked_at,
        "number": certificate.number,
        "issued_at": certificate.issued_at,
        "issuing_site_name": site.name,
        "date_from": certificate.date_from,
        "date_to": certificate.date_to,
        "record_count": len(certificate.records),
        "total_minutes": certificate.total_minutes,
        "total_hours": hours(certificate.total_minutes),
    }


def shared(token: str) -> dict | None:
    """What the share link's public page shows: the certificate's number, the volunteer's name masked
    as on leaderboards (张**), hours, period, issuing station, issue date and whether it stands; nothing
    else of the person (no ID number, phone, volunteer number or records). None for an unknown token."""
    if not _SHARE_TOKEN_SHAPE.fullmatch(token):
        return None
    certificate = db.session.scalars(select(Certificate).where(Certificate.share_token == token)).first()
    if certificate is None:
        return None
    site = db.session.get(Site, certificate.site_id)
    return {
        "number": certificate.number,
        "masked_name": mask_name(certificate.real_name),
        "issuing_site_name": site.name,
        "issued_on": _local(certificate.issued_at, site).date(),
        "date_from": certificate.date_from,
        "date_to": certificate.date_to,
        "record_count": len(certificate.records),
        "total_minutes": certificate.total_minutes,
        "total_hours": hours(certificate.total_minutes),
        "valid": certificate.revoked_at is None,
        "revoked_on": _local(certificate.revoked_at, site).date() if certificate.revoked_at else None,
        "share_token": certificate.share_token,
    }
