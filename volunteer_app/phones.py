"""Phone numbers: the one normalisation rule (E.164 mobiles) and the masked form shown to others."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

# The one phone rule (registration, login, SMS, proxy orders, managers, family links): after NFKC
# (full-width digits to ASCII) and stripping surrounding whitespace, ASCII digits with an optional
# leading +, separated by spaces, hyphens or parentheses. Other scripts' digits (Arabic-Indic …),
# letters and inner line breaks are refused, not read as a number.
_PHONE_CHARS = re.compile(r"\+?[0-9 ()\-]+", re.ASCII)
_PHONE_STRIP = re.compile(r"[ \-()]")
_MOBILE_TYPES = (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)


def normalize_phone(raw: str) -> str | None:
    """E.164 for a mainland 11-digit or an international mobile number; None if invalid or a landline."""
    value = unicodedata.normalize("NFKC", raw or "").strip()
    if not _PHONE_CHARS.fullmatch(value):
        return None
    cleaned = _PHONE_STRIP.sub("", value)
    if not cleaned or len(cleaned) > 20:
        return None
    try:
        number = phonenumbers.parse(cleaned, "CN")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    # Logins and codes go by SMS: landlines cannot receive them.
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def mask_phone(phone: str) -> str:
    """+8613812345678 -> +86138****5678."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:-8] + "****" + phone[-4:]
