"""argon2id password hashing."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hashers: dict[int, PasswordHasher] = {}

MIN_PASSWORD_LENGTH = 10


def _hasher(time_cost: int) -> PasswordHasher:
    if time_cost not in _hashers:
        _hashers[time_cost] = PasswordHasher(time_cost=time_cost)
    return _hashers[time_cost]


def hash_password(password: str, time_cost: int = 3) -> str:
    return _hasher(time_cost).hash(password)


def verify_password(password_hash: str | None, password: str, time_cost: int = 3) -> bool:
    if not password_hash:
        # burn the same time as a real check so missing accounts can't be told apart by timing
        _hasher(time_cost).hash(password)
        return False
    try:
        return _hasher(time_cost).verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """A message saying what is wrong with a new password, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 256:
        return "password must be at most 256 characters"
    return None
