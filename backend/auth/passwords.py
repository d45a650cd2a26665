"""argon2id password hashing."""

from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 10


@dataclass(frozen=True)
class HashCost:
    """argon2id work factors; the default is RFC 9106's low-memory profile."""

    time_cost: int = 3
    memory_kib: int = 65_536


# the test suite signs in thousands of times; its settings use this cheap profile
TEST_HASH_COST = HashCost(time_cost=1, memory_kib=1024)

_hashers: dict[HashCost, PasswordHasher] = {}


def _hasher(cost: HashCost) -> PasswordHasher:
    if cost not in _hashers:
        _hashers[cost] = PasswordHasher(time_cost=cost.time_cost, memory_cost=cost.memory_kib)
    return _hashers[cost]


def hash_password(password: str, cost: HashCost = HashCost()) -> str:
    return _hasher(cost).hash(password)


def verify_password(password_hash: str | None, password: str, cost: HashCost = HashCost()) -> bool:
    """True when ``password`` matches; the hash itself records the cost it was made with."""
    if not password_hash:
        # burn the same time as a real check so missing accounts can't be told apart by timing
        _hasher(cost).hash(password)
        return False
    try:
        return _hasher(cost).verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """A message saying what is wrong with a new password, or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"password must be at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > 256:
        return "password must be at most 256 characters"
    return None
