"""learnloop's signed LMS webhook: signature verification and delivery parsing.

Wire format (modelled on Stripe and GitHub webhooks)
----------------------------------------------------

An LMS sends a ``POST`` with a JSON body and two headers::

    X-Learnloop-Timestamp: 1718000000
    X-Learnloop-Signature: v1=<64 lowercase hex digits>

- ``X-Learnloop-Timestamp`` is the Unix time, in whole seconds (ASCII digits only), at which
  the sender signed the delivery.
- ``X-Learnloop-Signature`` is a comma-separated list of ``scheme=value`` items. A ``v1``
  value is the lowercase hex HMAC-SHA256, keyed with the shared secret, of the bytes
  ``<timestamp header> "." <raw body>`` — the timestamp text exactly as sent, a full stop,
  then the request body byte for byte (sign before any re-serialisation). To rotate a secret
  the sender signs with both the old and the new secret and sends both:
  ``v1=<hex with old>,v1=<hex with new>``; one match is enough. Items with other schemes
  are ignored, so a future ``v2`` can be introduced alongside ``v1``.
- A delivery is refused when its timestamp is more than 5 minutes old (a captured request
  cannot be replayed later; a retry must be re-signed with a fresh timestamp) or more than
  5 minutes in the future (clock skew). The signature is checked first, so the age is only
  reported for authentic requests. Inside the window a replay carries an already-seen
  ``delivery_id``, which the ingestion service treats as a duplicate.

The body (UTF-8 JSON, at most 64 KiB, no duplicate keys, no unknown keys)::

    {
      "delivery_id": "evt_01HZX3...",          # idempotency key, 1-200 characters
      "event": "course.completed",             # or "course.progressed"
      "learner": {"email": "ada@example.com"}, # or {"external_id": "lms-user-42"}
      "course": {"external_id": "course-7", "title": "Veilig werken"},  # title optional
      "occurred_at": "2024-05-01T09:30:00+02:00",  # ISO 8601, offset required
      "minutes": 45                            # optional whole minutes, 0-10080
    }

``null`` is accepted for the optional ``course.title`` and ``minutes``. The same
``delivery_id`` with the same content is a duplicate (no-op); with different content
(``fingerprint``: SHA-256 of the body's canonical JSON) it is a conflict.

Pure functions: the caller passes ``now`` and the raw body bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, NoReturn, get_args

from backend.learning.xapi import (
    MAX_DURATION_MINUTES,
    XapiError,
    canonical_fingerprint,
    check_learning_time,
    normalise_email,
    parse_timestamp,
)

__all__ = [
    "DEFAULT_TOLERANCE",
    "MAX_BODY_BYTES",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "LearnerRef",
    "WebhookDelivery",
    "WebhookError",
    "WebhookEvent",
    "parse_delivery",
    "sign",
    "verify_signature",
]

WebhookEvent = Literal["course.completed", "course.progressed"]

TIMESTAMP_HEADER: Final = "X-Learnloop-Timestamp"
SIGNATURE_HEADER: Final = "X-Learnloop-Signature"
SIGNATURE_SCHEME: Final = "v1"
DEFAULT_TOLERANCE: Final = timedelta(minutes=5)
MAX_BODY_BYTES: Final = 64 * 1024
MAX_DELIVERY_ID_LENGTH: Final = 200
MAX_EXTERNAL_ID_LENGTH: Final = 200
MAX_TITLE_LENGTH: Final = 300
_MAX_SIGNATURE_HEADER: Final = 2048
_MAX_SIGNATURES: Final = 8

_EVENTS: Final[tuple[WebhookEvent, ...]] = get_args(WebhookEvent)
_EVENT_KINDS: Final[Mapping[WebhookEvent, Literal["completion", "progress"]]] = {
    "course.completed": "completion",
    "course.progressed": "progress",
}
_TOP_KEYS: Final = frozenset(
    {"delivery_id", "event", "learner", "course", "occurred_at", "minutes"}
)
_LEARNER_KEYS: Final = frozenset({"email", "external_id"})
_COURSE_KEYS: Final = frozenset({"external_id", "title"})
_TIMESTAMP_RE: Final = re.compile(r"[0-9]{1,10}")
_ITEM_RE: Final = re.compile(r"(?P<scheme>[A-Za-z0-9]+)=(?P<value>[^,=\s]*)")
_HEX64_RE: Final = re.compile(r"[0-9a-fA-F]{64}")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")


class WebhookError(ValueError):
    """A webhook delivery to refuse: bad or stale signature (401) or bad body (400).

    ``field`` is the header name (``X-Learnloop-Signature``) or the body field
    (``learner.email``, ``body`` for the document as a whole); ``str(err)`` is
    ``f"{field}: {message}"``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type[WebhookError], tuple[str, str]]:
        return (type(self), (self.field, self.message))


@dataclass(frozen=True, slots=True)
class LearnerRef:
    """The learner of a delivery: exactly one of ``email`` (lowercased) or ``external_id``."""

    email: str | None = None
    external_id: str | None = None

    def __post_init__(self) -> None:
        if (self.email is None) == (self.external_id is None):
            raise ValueError("exactly one of email or external_id must be set")


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One validated webhook delivery.

    ``occurred_at`` is aware and in UTC. ``fingerprint`` is the SHA-256 of the body's
    canonical JSON (sorted keys, no whitespace): compare it when a ``delivery_id`` repeats.
    """

    delivery_id: str
    event: WebhookEvent
    learner: LearnerRef
    course_external_id: str
    course_title: str | None
    occurred_at: datetime
    minutes: int | None
    fingerprint: str

    @property
    def kind(self) -> Literal["completion", "progress"]:
        """The learning-event kind, in the vocabulary of ``xapi.SUPPORTED_VERBS``."""
        return _EVENT_KINDS[self.event]


# --------------------------------------------------------------------------- signatures


def sign(secret: bytes, raw_body: bytes, timestamp: int) -> str:
    """Return the ``X-Learnloop-Signature`` value (``v1=<hex>``) for a body and timestamp.

    For tests and LMS clients; join several results with ``,`` while rotating secrets. The
    ``X-Learnloop-Timestamp`` header must be ``str(timestamp)``.
    """
    if not secret:
        raise ValueError("the webhook secret must not be empty")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("timestamp must be a non-negative whole number of seconds")
    return f"{SIGNATURE_SCHEME}={_hmac_hex(secret, str(timestamp), raw_body)}"


def verify_signature(
    secret: bytes,
    raw_body: bytes,
    timestamp_header: str | None,
    signature_header: str | None,
    now: datetime,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> datetime:
    """Check a delivery's signature and freshness; return the signed time (aware, UTC).

    Raises :class:`WebhookError` (answer 401) when a header is missing or malformed, when no
    ``v1`` signature matches (compared in constant time), or when the timestamp is more than
    ``tolerance`` before ``now`` (a replay) or after it (clock skew). ``ValueError`` for
    caller mistakes: an empty secret, a naive ``now``, a negative tolerance.
    """
    if not secret:
        raise ValueError("the webhook secret must not be empty")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if tolerance < timedelta(0):
        raise ValueError("tolerance must not be negative")

    timestamp_text = _timestamp_text(timestamp_header)
    candidates = _v1_signatures(signature_header)
    expected = _hmac_hex(secret, timestamp_text, raw_body)
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookError(
            SIGNATURE_HEADER,
            "does not match; sign '<timestamp>.<raw body>' with the shared secret "
            "(HMAC-SHA256, hex) and send the body unmodified",
        )

    signed_at = datetime.fromtimestamp(int(timestamp_text), UTC)
    age = now - signed_at
    limit = int(tolerance.total_seconds())
    if age > tolerance:
        raise WebhookError(
            TIMESTAMP_HEADER,
            f"is {int(age.total_seconds())} seconds old; deliveries older than {limit} seconds "
            "are refused to prevent replays (re-sign a retry with a fresh timestamp)",
        )
    if -age > tolerance:
        raise WebhookError(
            TIMESTAMP_HEADER,
            f"is {int(-age.total_seconds())} seconds in the future (more than {limit} seconds); "
            "check the sender's clock",
        )
    return signed_at


def _timestamp_text(header: str | None) -> str:
    if header is None or not isinstance(header, str) or not header.strip():
        raise WebhookError(
            TIMESTAMP_HEADER, "header is missing; send the Unix time in seconds you signed with"
        )
    text = header.strip()
    if not _TIMESTAMP_RE.fullmatch(text):
        raise WebhookError(
            TIMESTAMP_HEADER,
            f"must be the Unix time in whole seconds, such as 1718000000; got {_short(text)}",
        )
    return text


def _v1_signatures(header: str | None) -> list[str]:
    if header is None or not isinstance(header, str) or not header.strip():
        raise WebhookError(SIGNATURE_HEADER, "header is missing; send v1=<hex HMAC-SHA256>")
    if len(header) > _MAX_SIGNATURE_HEADER:
        raise WebhookError(SIGNATURE_HEADER, f"is longer than {_MAX_SIGNATURE_HEADER} characters")
    items = [item.strip() for item in header.split(",")]
    if len(items) > _MAX_SIGNATURES:
        raise WebhookError(SIGNATURE_HEADER, f"has more than {_MAX_SIGNATURES} signatures")
    signatures: list[str] = []
    for item in items:
        match = _ITEM_RE.fullmatch(item)
        if match is None:
            raise WebhookError(
                SIGNATURE_HEADER,
                f"must be comma-separated scheme=value items such as v1=<hex>; got {_short(item)}",
            )
        if match.group("scheme") != SIGNATURE_SCHEME:
            continue
        value = match.group("value")
        if not _HEX64_RE.fullmatch(value):
            raise WebhookError(
                SIGNATURE_HEADER, "a v1 signature must be 64 hexadecimal digits (HMAC-SHA256)"
            )
        signatures.append(value.lower())
    if not signatures:
        raise WebhookError(SIGNATURE_HEADER, "has no v1=<hex> signature")
    return signatures


def _hmac_hex(secret: bytes, timestamp_text: str, raw_body: bytes) -> str:
    message = timestamp_text.encode("ascii") + b"." + bytes(raw_body)
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- body


def parse_delivery(raw_body: bytes) -> WebhookDelivery:
    """Parse and validate a webhook body (see the module docstring for the format).

    Raises :class:`WebhookError` naming the field (``course.external_id``, ``minutes``;
    ``body`` for undecodable JSON, a wrong top-level type or an oversized body).
    """
    if not isinstance(raw_body, bytes | bytearray | memoryview):
        raise WebhookError("body", f"must be bytes, got {type(raw_body).__name__}")
    raw = bytes(raw_body)
    if len(raw) > MAX_BODY_BYTES:
        raise WebhookError("body", f"must be at most {MAX_BODY_BYTES} bytes, got {len(raw)}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookError("body", "is not valid UTF-8") from None
    try:
        document = json.loads(
            text, object_pairs_hook=_object_without_duplicates, parse_constant=_no_constants
        )
    except WebhookError:
        raise
    except (ValueError, RecursionError) as exc:
        raise WebhookError("body", f"is not valid JSON ({exc})") from None

    doc = _object(document, "body")
    _no_unknown_keys(doc, "", _TOP_KEYS)
    for required in ("delivery_id", "event", "learner", "course", "occurred_at"):
        if required not in doc:
            _fail(required, "is required")

    delivery_id = _text(doc["delivery_id"], "delivery_id", max_length=MAX_DELIVERY_ID_LENGTH)
    event = doc["event"]
    if event not in _EVENTS:
        _fail("event", "must be one of " + ", ".join(_EVENTS) + f"; got {_short(event)}")

    learner_doc = _object(doc["learner"], "learner")
    _no_unknown_keys(learner_doc, "learner", _LEARNER_KEYS)
    if len(learner_doc) != 1:
        _fail("learner", "must have exactly one of email or external_id")
    if "email" in learner_doc:
        with _as_webhook_error():
            learner = LearnerRef(email=normalise_email(learner_doc["email"], field="learner.email"))
    else:
        learner = LearnerRef(
            external_id=_text(
                learner_doc["external_id"],
                "learner.external_id",
                max_length=MAX_EXTERNAL_ID_LENGTH,
            )
        )

    course = _object(doc["course"], "course")
    _no_unknown_keys(course, "course", _COURSE_KEYS)
    if "external_id" not in course:
        _fail("course.external_id", "is required")
    course_id = _text(
        course["external_id"], "course.external_id", max_length=MAX_EXTERNAL_ID_LENGTH
    )
    title = None
    if course.get("title") is not None:
        title = _text(
            course["title"], "course.title", max_length=MAX_TITLE_LENGTH, allow_blank=True
        )
        title = title.strip() or None

    with _as_webhook_error():
        occurred_at = check_learning_time(
            parse_timestamp(doc["occurred_at"], field="occurred_at", require_offset=True),
            field="occurred_at",
        )

    minutes = doc.get("minutes")
    if minutes is not None:
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            _fail("minutes", f"must be a whole number of minutes, got {_short(minutes)}")
        if not 0 <= minutes <= MAX_DURATION_MINUTES:
            shown = str(minutes) if abs(minutes) < 10**12 else "a larger number"
            _fail("minutes", f"must be from 0 to {MAX_DURATION_MINUTES} (7 days), got {shown}")

    try:
        fingerprint = canonical_fingerprint(doc)
    except (ValueError, TypeError, RecursionError) as exc:  # pragma: no cover - json.loads output
        raise WebhookError("body", f"is not plain JSON ({exc})") from None

    return WebhookDelivery(
        delivery_id=delivery_id,
        event=event,
        learner=learner,
        course_external_id=course_id,
        course_title=title,
        occurred_at=occurred_at,
        minutes=minutes,
        fingerprint=fingerprint,
    )


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            _fail("body", f"has the key {_short(key)} twice in one object")
        document[key] = value
    return document


def _no_constants(name: str) -> NoReturn:
    _fail("body", f"{name} is not valid JSON")


def _object(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        _fail(field, f"must be a JSON object, got {_short(value)}")
    return value


def _no_unknown_keys(document: Mapping[str, Any], prefix: str, allowed: frozenset[str]) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        field = f"{prefix}.{unknown[0]}" if prefix else unknown[0]
        _fail(field[:250], "is not a known field; expected " + ", ".join(sorted(allowed)))


def _text(value: object, field: str, *, max_length: int, allow_blank: bool = False) -> str:
    if not isinstance(value, str):
        _fail(field, f"must be a string, got {_short(value)}")
    if not allow_blank and not value.strip():
        _fail(field, "must not be empty")
    if len(value) > max_length:
        _fail(field, f"must be at most {max_length} characters, got {len(value)}")
    if _CONTROL_RE.search(value):
        _fail(field, "must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        _fail(field, "must be valid Unicode (it contains a lone surrogate)")
    return value


@contextmanager
def _as_webhook_error() -> Iterator[None]:
    try:
        yield
    except XapiError as exc:
        raise WebhookError(exc.field, exc.message) from None


def _fail(field: str, message: str) -> NoReturn:
    raise WebhookError(field, message)


def _short(value: object) -> str:
    if isinstance(value, str):
        shown = json.dumps(value[:60])
        return shown[:-1] + '…"' if len(value) > 60 else shown
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
