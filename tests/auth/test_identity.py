"""ID numbers: normalisation, GB 11643 validation, masking, encryption, keyed hashing."""

from __future__ import annotations

import hashlib
import re
from datetime import date

import pytest
from cryptography.fernet import InvalidToken
from hypothesis import given
from hypothesis import strategies as st

from volunteer_app.accounts import identity

# An independent GB 11643 check character, so the property test does not trust the code under test.
_WEIGHTS = [2 ** (17 - i) % 11 for i in range(17)]


def check_char(first17: str) -> str:
    remainder = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True)) % 11
    return "10X98765432"[remainder]


# ---- ID numbers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("11010519491231002X", "11010519491231002X"),  # the example in GB 11643
        ("11010519491231002x", "11010519491231002X"),  # lowercase x accepted as X
        (" 11010519491231002X ", "11010519491231002X"),
        ("330102200002290015", "330102200002290015"),  # 29 February of a leap year
    ],
)
def test_valid_id_numbers_are_normalised(raw, expected):
    assert identity.normalize_id_number(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "110105194912310021",  # wrong check character (should be X)
        "110105194912310020",
        "11010519491231002",  # 17 characters
        "11010519491231002X1",  # 19 characters
        "110105491231002",  # the old 15-digit format
        "01010519491231002X",  # no region code starts with 0
        "1101051949123100XX",
        "",
        None,
    ],
)
def test_invalid_id_numbers_are_rejected(raw):
    assert identity.normalize_id_number(raw) is None


@pytest.mark.parametrize(
    "birth",
    [
        "19000229",  # 1900 was no leap year
        "19991301",  # month 13
        "19990431",  # 31 April
        "19990100",  # day 0
        "29990101",  # born in the future
        "18991231",  # before 1900
    ],
)
def test_id_numbers_with_a_bad_birth_date_are_rejected(birth):
    first17 = f"330102{birth}001"
    assert identity.normalize_id_number(first17 + check_char(first17)) is None


@given(
    region=st.integers(100000, 999999),
    born=st.dates(date(1900, 1, 1), date.today()),
    sequence=st.integers(0, 999),
)
def test_any_id_with_a_valid_date_and_its_check_char_validates(region, born, sequence):
    first17 = f"{region}{born:%Y%m%d}{sequence:03d}"
    right = check_char(first17)
    assert identity.normalize_id_number(first17 + right) == first17 + right
    for wrong in "0123456789X".replace(right, ""):
        assert identity.normalize_id_number(first17 + wrong) is None


@pytest.mark.parametrize(
    ("value", "masked"),
    [
        ("330102200002290015", "3301**********0015"),
        ("11010519491231002X", "1101**********002X"),
    ],
)
def test_mask_id_number_keeps_four_and_four(value, masked):
    assert identity.mask_id_number(value) == masked
    assert re.fullmatch(r"\d{4}\*{10}[\dX]{4}", masked)


# ---- encryption and keyed hashes ---------------------------------------------------------------------

ID = "330102200002290015"


def test_encrypt_decrypt_round_trip(app):
    with app.app_context():
        token = identity.encrypt_id_number(ID)
        assert ID.encode() not in token
        assert identity.encrypt_id_number(ID) != token  # fresh IV each time: equal numbers look different
        assert identity.decrypt_id_number(token) == ID


def test_decrypt_needs_the_same_key(app, monkeypatch):
    with app.app_context():
        token = identity.encrypt_id_number(ID)
        monkeypatch.setitem(app.config, "PII_KEY", "another-key-" + "0" * 40)
        with pytest.raises(InvalidToken):
            identity.decrypt_id_number(token)


def test_keyed_hash_is_stable_and_not_a_plain_hash(app, monkeypatch):
    with app.app_context():
        first = identity.hash_id_number(ID)
        assert identity.hash_id_number(ID) == first
        assert re.fullmatch(r"[0-9a-f]{64}", first)
        assert first != hashlib.sha256(ID.encode()).hexdigest()
        assert identity.hash_id_number("11010519491231002X") != first
        assert identity.keyed_hash("sms-code", ID) != first  # labels separate the keys
        monkeypatch.setitem(app.config, "PII_KEY", "another-key-" + "0" * 40)
        assert identity.hash_id_number(ID) != first
