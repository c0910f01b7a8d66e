"""Phone numbers: the one normalisation rule (E.164 mobiles) and masking."""

from __future__ import annotations

import pytest

from volunteer_app import phones


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "+8613812345678"),
        ("138 1234 5678", "+8613812345678"),
        ("138-1234-5678", "+8613812345678"),
        (" (138) 1234-5678 ", "+8613812345678"),
        ("+8613812345678", "+8613812345678"),
        ("+86 138 1234 5678", "+8613812345678"),
        ("+1 650 253 0000", "+16502530000"),
        ("+852 6123 4567", "+85261234567"),
        ("+49 151 23456789", "+4915123456789"),
    ],
)
def test_normalize_phone_gives_e164(raw, expected):
    assert phones.normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        None,
        "12345",
        "1381234567",  # 10 digits
        "138123456789",  # 12 digits
        "12345678901",  # no mainland mobile starts with 12
        "abcdefghijk",
        "138-1234-567x",
        "+999 1234567",  # no such country code
        "+86 138 1234 5678 9999 9999",  # longer than 20 characters once cleaned
        "010 6552 9988",  # a Beijing landline: cannot receive login codes
        "+49 30 901820",  # a Berlin landline
    ],
)
def test_normalize_phone_rejects_invalid(raw):
    assert phones.normalize_phone(raw) is None


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("+8613812345678", "+86138****5678"),
        ("+16502530000", "+165****0000"),
        ("+12345", "******"),
    ],
)
def test_mask_phone_hides_the_middle(phone, masked):
    assert phones.mask_phone(phone) == masked
