"""volunteer_app.b64url: PyJWT's segment check in C gives PyJWT's own answer, refusal for refusal."""

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.api_jws import PyJWS
from jwt.exceptions import DecodeError

from volunteer_app import b64url

pytestmark = pytest.mark.skipif(b64url.pyjwt_segment is None, reason="this PyJWT has no segment check")

# Mostly the alphabet, with padding and the characters a forger or a broken client sends.
_CHARS = st.sampled_from(list(b64url._ALPHABET) + list(b"===+/!. \n\t\x00") + [0xC3, 0xA9, 0x7F])


def _answer(check, segment: bytes):
    try:
        return "ok", check(segment, "payload")
    except DecodeError as error:
        return "refused", str(error)


@settings(max_examples=400, deadline=None)
@given(st.lists(_CHARS, max_size=48).map(bytes))
def test_the_same_answer_as_pyjwts_own_check(segment):
    assert _answer(b64url.segment, segment) == _answer(b64url.pyjwt_segment, segment)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40))
def test_every_encoded_value_decodes_back(raw):
    """A well-formed segment (as PyJWT writes it, and with '=' padding as some issuers do) decodes to
    the bytes it encodes, with both checks."""
    unpadded = jwt.utils.base64url_encode(raw)
    padded = unpadded + b"=" * (-len(unpadded) % 4)
    for segment in (unpadded, padded):
        assert b64url.segment(segment, "payload") == raw
        assert _answer(b64url.segment, segment) == _answer(b64url.pyjwt_segment, segment)


@pytest.mark.parametrize(
    "segment",
    [b"!!!!", b"eyJh!!!!", b"abc=", b"ab===", b"a===", b"a", b"abcde", b"ab=c", b"ab/c", b"ab+c",
     b"ab c", "é".encode(), b"\x00abc", b"=", b"==", b"===", b"ab_-", b"", b"QQ", b"QR", b"QQ=="],
)  # fmt: skip
def test_hostile_and_edge_segments(segment):
    assert _answer(b64url.segment, segment) == _answer(b64url.pyjwt_segment, segment)


def test_the_app_makes_pyjwt_use_it(app):
    """create_app installed it: a token whose signature carries junk after it is still refused."""
    assert PyJWS.__dict__["_decode_base64url_segment"].__func__ is b64url.segment
    token = jwt.encode({"sub": "1"}, "k" * 32, algorithm="HS256")
    assert jwt.decode(token, "k" * 32, algorithms=["HS256"]) == {"sub": "1"}
    with pytest.raises(DecodeError, match="Invalid crypto padding"):
        jwt.decode(token + "!!!!", "k" * 32, algorithms=["HS256"])
