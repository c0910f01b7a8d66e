"""PyJWT's strict check of a token's base64url segments, with its alphabet test in C.

PyJWT (since its fix of GHSA-hxm8-2xgr-2p9m) checks every character of every segment it decodes in
a Python generator (`any(c not in _BASE64URL_ALPHABET for c in stripped)`). Flask-JWT-Extended
decodes a token four times the first time a process meets it (its claims and header unverified, then
verified, then its header again), so for an access token of ~420 characters the check was about 70 %
of the ~0.5 ms of CPU a new token cost. Every request of a storm brings a token its worker has not
seen (bench/README.md "Hot paths, fifteenth pass"; extensions.JWTManager now decodes it twice).

`segment` is the same check, step for step and error for error, with the alphabet tested by
`bytes.translate` (deleting the alphabet leaves nothing) instead of a generator. `install()` puts it
in PyJWT's place; tests/auth/test_b64url.py checks it against PyJWT's own, kept as `pyjwt_segment`,
on generated and hostile segments, so a PyJWT release that changes its check fails there first."""

from __future__ import annotations

import binascii

from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError
from jwt.utils import base64url_decode, base64url_encode

_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"  # RFC 4648 §5
# PyJWT's own check (None in a release before it had one: then there is nothing to replace).
_own = PyJWS.__dict__.get("_decode_base64url_segment")
pyjwt_segment = _own.__func__ if isinstance(_own, staticmethod) else None


def segment(segment: bytes, name: str) -> bytes:
    """PyJWS._decode_base64url_segment: trailing '=' (up to two, on a whole quantum) accepted, any
    other character outside [A-Za-z0-9_-] refused, and the decoded bytes must encode back to the
    segment (no unused trailing bits); every refusal DecodeError("Invalid <name> padding")."""
    stripped = segment.rstrip(b"=")
    padding = len(segment) - len(stripped)
    if (
        padding > 2
        or (padding and len(segment) % 4 != 0)
        or len(stripped) % 4 == 1
        or stripped.translate(None, _ALPHABET)
    ):
        raise DecodeError(f"Invalid {name} padding")
    try:
        decoded = base64url_decode(stripped)
    except (TypeError, binascii.Error) as err:
        raise DecodeError(f"Invalid {name} padding") from err
    if base64url_encode(decoded) != stripped:
        raise DecodeError(f"Invalid {name} padding")
    return decoded


def install() -> None:
    """PyJWT decodes segments with `segment` (for the whole process; idempotent). A PyJWT without
    the check of its own is left as it is."""
    if pyjwt_segment is not None:
        PyJWS._decode_base64url_segment = staticmethod(segment)
