"""Typed reads from JSON-compatible documents (state rows and org rule settings).

State and rules are stored as JSON dicts in database columns; these readers turn a
missing key into the documented default and a wrongly typed value into a ValueError,
so a corrupted document fails loudly instead of silently changing a learner's XP.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

JsonDict = dict[str, Any]


def content_digest(doc: Mapping[str, Any]) -> str:
    """A short stable digest of a JSON-compatible document (keys sorted): names a rule by
    its content, so a changed rule is a different one."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def read_int(doc: Mapping[str, Any], key: str, default: int) -> int:
    """Read an integer (bools are rejected: JSON true is not a count)."""
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key!r} must be an integer, got {value!r}")
    return value


def read_optional_int(doc: Mapping[str, Any], key: str) -> int | None:
    """Read an integer or null."""
    if doc.get(key) is None:
        return None
    return read_int(doc, key, 0)


def read_float(doc: Mapping[str, Any], key: str, default: float) -> float:
    """Read a number (ints are accepted, since JSON writers drop the '.0')."""
    value = doc.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{key!r} must be a number, got {value!r}")
    return float(value)


def read_bool(doc: Mapping[str, Any], key: str, default: bool) -> bool:
    """Read a boolean."""
    value = doc.get(key, default)
    if not isinstance(value, bool):
        raise ValueError(f"{key!r} must be a boolean, got {value!r}")
    return value


def read_str(doc: Mapping[str, Any], key: str, default: str) -> str:
    """Read a string."""
    value = doc.get(key, default)
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string, got {value!r}")
    return value


def read_optional_str(doc: Mapping[str, Any], key: str) -> str | None:
    """Read a string or null."""
    if doc.get(key) is None:
        return None
    return read_str(doc, key, "")


def read_list(doc: Mapping[str, Any], key: str) -> list[Any]:
    """Read a list; a missing key is an empty list."""
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise ValueError(f"{key!r} must be a list, got {value!r}")
    return value


def read_mapping(doc: Mapping[str, Any], key: str) -> dict[str, Any]:
    """Read a JSON object; a missing key is an empty object."""
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ValueError(f"{key!r} must be an object, got {value!r}")
    return value


def parse_date(value: object) -> date:
    """Parse an ISO calendar date (``YYYY-MM-DD``)."""
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO date string, got {value!r}")
    return date.fromisoformat(value)


def read_date(doc: Mapping[str, Any], key: str) -> date:
    """Read a required ISO date."""
    if key not in doc:
        raise ValueError(f"{key!r} is required")
    return parse_date(doc[key])


def read_optional_date(doc: Mapping[str, Any], key: str) -> date | None:
    """Read an ISO date or null."""
    if doc.get(key) is None:
        return None
    return parse_date(doc[key])


def read_aware_datetime(doc: Mapping[str, Any], key: str) -> datetime:
    """Read a required ISO datetime that carries a UTC offset."""
    value = doc.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be an ISO datetime string, got {value!r}")
    moment = datetime.fromisoformat(value)
    if moment.utcoffset() is None:
        raise ValueError(f"{key!r} must carry a UTC offset, got {value!r}")
    return moment
