"""ID numbers (GB 11643): validation, normalisation, encryption, hashing, masking; keyed hashes of
other secrets at rest. (Phone numbers are `volunteer_app.phones`.)"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from datetime import date

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# ASCII only: \d would also match full-width digits, so the same number typed on a Chinese keyboard
# would pass with another keyed hash and slip past the one-identity-per-account check.
_ID_RE = re.compile(r"^[1-9]\d{16}[\dX]$", re.ASCII)


def id_check_char(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def normalize_id_number(raw: str) -> str | None:
    """An 18-character 居民身份证 number with a valid birth date and GB 11643 check character, else None."""
    value = unicodedata.normalize("NFKC", raw or "").strip().upper()  # full-width digits and Ｘ to ASCII
    if not _ID_RE.match(value):
        return None
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None
    if born.year < 1900 or born > date.today():
        return None
    if id_check_char(value[:17]) != value[17]:
        return None
    return value


def mask_id_number(value: str) -> str:
    """3301**********1234: first four and last four characters only."""
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_name(name: str | None) -> str:
    """张三丰 → 张**, Alice → A****: the first character, the rest starred (leaderboards, exports)."""
    if not name:
        return ""
    return name[0] + "*" * (len(name) - 1)


def _derive(label: bytes) -> bytes:
    key = current_app.config["PII_KEY"].encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"volunteer_app.pii", info=label).derive(key)


def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(b"encrypt-id-number")))


def encrypt_id_number(value: str) -> bytes:
    return _fernet().encrypt(value.encode())


def decrypt_id_number(token: bytes) -> str:
    return _fernet().decrypt(token).decode()


def hash_id_number(value: str) -> str:
    """Keyed hash for uniqueness checks; useless without the key, unlike a plain hash of 18 digits."""
    return hmac.new(_derive(b"hash-id-number"), value.encode(), hashlib.sha256).hexdigest()


def keyed_hash(label: str, value: str) -> str:
    """A keyed hash for other secrets at rest (SMS codes)."""
    return hmac.new(_derive(label.encode()), value.encode(), hashlib.sha256).hexdigest()


def _sealer(label: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(f"seal:{label}".encode())))


def seal(label: str, value: str) -> str:
    """Encrypt a short-lived secret for a while at rest (an SMS code waiting in the work queue), with a
    key of its own derived from the PII key for `label`; the token carries its creation time."""
    return _sealer(label).encrypt(value.encode()).decode()


def unseal(label: str, token: str, *, max_age_seconds: int | None = None) -> str | None:
    """The sealed value, or None when the token is not one of ours or is older than `max_age_seconds`."""
    try:
        return _sealer(label).decrypt(token.encode(), ttl=max_age_seconds).decode()
    except (InvalidToken, ValueError, TypeError):
        return None
