"""Password hashing with argon2id (argon2-cffi's recommended parameters)."""

from __future__ import annotations

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not reveal registered phones.
_DUMMY_HASH = _hasher.hash("timing-equaliser")


def use_cheap_hashing() -> None:
    """Tests only: the cheapest argon2id parameters, so hundreds of logins take milliseconds."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    _DUMMY_HASH = _hasher.hash("timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when the password matches; always spends one verification's time."""
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)
