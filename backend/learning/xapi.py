"""Parse and validate xAPI 1.0.3 statements sent by an LMS.

Pure functions over already-decoded JSON (``json.loads`` output): no database, no web
framework, no clock. Every rejection is an :class:`XapiError` naming the offending field with
a JSON-path-like string (``statement[2].verb.id``, ``actor.mbox``), whatever the input; wrong
types anywhere never surface as ``TypeError``/``KeyError``/``AttributeError``.

What the parser accepts, and the decisions behind it:

- **Verbs.** Any verb IRI is accepted, as an LRS must. :data:`SUPPORTED_VERBS` maps the ones
  we act on to a ``kind`` (``completion``/``experience``/``progress``); every other verb
  parses with ``kind=None`` and the service stores it without awarding anything.
- **Validated by the spec (xAPI 1.0.3, Data).** Every part is checked and a refusal names
  the field; objects may hold only the properties the spec defines for them.
- **Actor.** An ``Agent`` (``objectType`` absent or ``"Agent"``) identified by exactly one of
  ``mbox`` (``mailto:`` address, lowercased), ``mbox_sha1sum`` (40 hex digits, lowercased),
  ``openid`` (IRI) or ``account`` (``homePage`` IRI + ``name``); or a ``Group``, identified
  (one of those) or anonymous (``member`` agents, at least one). Only an Agent's statement
  about an Activity is learning for the game (:attr:`ParsedStatement.earns`); the rest is
  stored and earns nothing.
- **Object.** An ``Activity`` (``objectType`` absent or ``"Activity"``) with an absolute IRI
  ``id`` and an optional ``definition`` (interaction components only with their
  ``interactionType``), an ``Agent``/``Group``, a ``StatementRef`` (a voiding statement's
  object must be one) or a ``SubStatement`` (no ``id``, ``stored``, ``version`` or
  ``authority``, no SubStatement inside). An activity's display name comes from
  ``definition.name``, preferring Dutch (``nl-NL``, ``nl``, other ``nl-*``), then English
  (``en-US``, ``en``, other ``en-*``), then the alphabetically first tag; blank names are
  skipped.
- **Result.** ``duration`` (any ISO 8601 duration; it earns at most
  :data:`MAX_STATEMENT_MINUTES`, see :func:`parse_duration_minutes`), ``success``,
  ``completion`` (booleans), ``score.scaled`` in -1..1 (``raw``/``min``/``max`` are checked
  for consistency but not returned).
- **Context.** ``registration`` UUID, ``instructor`` Agent/Group, ``team`` Group,
  ``contextActivities`` (activities or arrays of them), ``revision``/``platform`` only with an
  Activity object, ``language`` tag, ``statement`` StatementRef, ``extensions`` with IRI keys.
- **Attachments.** ``usageType`` IRI, ``display`` language map, ``contentType`` media type,
  ``length`` (octets), ``sha2`` hex; ``authority`` an Agent or a two-agent Group.
- **Timestamp.** ISO 8601 / RFC 3339 date-time (see :func:`parse_timestamp`); without an
  offset it is read as UTC; returned as an aware UTC datetime.
- **Unknown top-level properties** are refused (xAPI requires it, and it catches typos such
  as ``"timestmap"`` that would otherwise silently drop data). ``stored`` and
  ``authority`` are validated, then replaced by the LRS's own when stored.
- **Limits.** Identifiers (IRIs, account names, ids) at most 1000 characters, display names at
  most 300, batches at most 1000 statements; strings must not contain NUL or lone surrogates
  (PostgreSQL can store neither).
- **Ids.** A statement id is a UUID, returned in lowercase canonical form. ``POST`` leaves
  id-less statements to us (a uuid4 is generated, ``id_generated=True``); ``PUT`` passes its
  ``statementId`` parameter, which must equal the body's id when the body has one.
- **Fingerprint.** ``stored_fingerprint`` is the SHA-256 of the canonical JSON (sorted keys,
  no whitespace, ASCII) of the statement without ``id``, ``stored``, ``authority`` and
  ``version``. The id is always left out, not only when generated: the fingerprint is only
  ever compared between statements with the same id, and leaving it out makes ``PUT`` with
  and without an id in the body agree. Same id + same fingerprint is an exact duplicate
  (no-op); same id + different fingerprint is a conflict (409).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any, Final, Literal, TypeVar, cast
from urllib.parse import urlsplit

import msgspec

from backend.validation import learning_time_problem

__all__ = [
    "MAX_BATCH_SIZE",
    "MAX_DURATION_MINUTES",
    "MAX_ID_LENGTH",
    "MAX_NAME_LENGTH",
    "MAX_STATEMENT_MINUTES",
    "SUPPORTED_VERBS",
    "SUPPORTED_VERSIONS",
    "VERSION_HEADER",
    "XAPI_VERSION",
    "ActorRef",
    "ParsedStatement",
    "StatementKind",
    "XapiError",
    "canonical_fingerprint",
    "canonical_json",
    "check_learning_time",
    "check_version_header",
    "decode_json",
    "mbox_sha1sum",
    "normalise_email",
    "parse_duration_minutes",
    "parse_statement",
    "parse_statements",
    "parse_timestamp",
]

StatementKind = Literal["completion", "experience", "progress"]

XAPI_VERSION: Final = "1.0.3"
"""The version this LRS reports in its own ``X-Experience-API-Version`` responses."""
VERSION_HEADER: Final = "X-Experience-API-Version"
SUPPORTED_VERSIONS: Final = frozenset({"1.0", "1.0.0", "1.0.1", "1.0.2", "1.0.3"})
MAX_BATCH_SIZE: Final = 1000
MAX_ID_LENGTH: Final = 1000
MAX_NAME_LENGTH: Final = 300
MAX_DURATION_MINUTES: Final = 7 * 24 * 60
MAX_STATEMENT_MINUTES: Final = 24 * 60
"""The most minutes one statement's ``result.duration`` earns (the game's rule, not a limit
on valid statements: longer durations are stored as sent)."""
_MAX_EMAIL_LENGTH: Final = 320
_MAX_DURATION_TEXT: Final = 64
_MAX_TIMESTAMP_TEXT: Final = 64

SUPPORTED_VERBS: Final[Mapping[str, StatementKind]] = MappingProxyType(
    {
        "http://adlnet.gov/expapi/verbs/completed": "completion",
        "http://adlnet.gov/expapi/verbs/passed": "completion",
        "http://adlnet.gov/expapi/verbs/experienced": "experience",
        "http://adlnet.gov/expapi/verbs/progressed": "progress",
    }
)
"""Verb IRIs we act on, mapped to the kind of learning event they become."""

_STATEMENT_KEYS: Final = frozenset(
    {
        "id",
        "actor",
        "verb",
        "object",
        "result",
        "context",
        "timestamp",
        "stored",
        "authority",
        "version",
        "attachments",
    }
)
_FINGERPRINT_EXCLUDED: Final = frozenset({"id", "stored", "authority", "version"})
_NAME_PREFERENCE: Final = ("nl-nl", "nl", "nl-", "en-us", "en", "en-")

_UUID_RE: Final = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_IRI_RE: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")
_LANG_TAG_RE: Final = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
_IDENT_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHA1_RE: Final = re.compile(r"[0-9a-fA-F]{40}")
_EMAIL_LOCAL_RE: Final = re.compile(r"[^\s@<>()\[\],;:\\\"?]+")
_EMAIL_DOMAIN_RE: Final = re.compile(
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*"
)
_VERSION_PROPERTY_RE: Final = re.compile(r"1\.0(?:\.[0-9]{1,3})?")
_NUM: Final = r"[0-9]+(?:[.,][0-9]+)?"
_DURATION_RE: Final = re.compile(
    rf"P(?:(?P<years>{_NUM})Y)?(?:(?P<months>{_NUM})M)?(?:(?P<weeks>{_NUM})W)?(?:(?P<days>{_NUM})D)?"
    rf"(?P<time>T(?:(?P<hours>{_NUM})H)?(?:(?P<minutes>{_NUM})M)?(?:(?P<seconds>{_NUM})S)?)?"
)
_DURATION_PARTS: Final = ("years", "months", "weeks", "days", "hours", "minutes", "seconds")
_DURATION_SECONDS: Final = {
    "years": 365 * 86_400,
    "months": 30 * 86_400,
    "weeks": 7 * 86_400,
    "days": 86_400,
    "hours": 3_600,
    "minutes": 60,
    "seconds": 1,
}
_TIMESTAMP_RE: Final = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]+))?)?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<off_h>[0-9]{2})(?::?(?P<off_m>[0-9]{2}))?)?"
)
# The shape LMSs send (seconds, an optional fraction, Z or a +hh:mm offset other than -00:00),
# which datetime.fromisoformat reads exactly as parse_timestamp's own reading does.
_COMMON_TIMESTAMP_RE: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)


class XapiError(ValueError):
    """A statement (or request) the LRS must refuse with 400 Bad Request.

    ``field`` locates the problem (``statement[2].verb.id``, ``actor.mbox``,
    ``X-Experience-API-Version``); ``message`` says what is wrong in words an LMS
    administrator can act on. ``str(err)`` is ``f"{field}: {message}"``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type[XapiError], tuple[str, str]]:
        return (type(self), (self.field, self.message))


@dataclass(frozen=True, slots=True)
class ActorRef:
    """The learner a statement is about: exactly one identifier form is set.

    - ``email``: from ``mbox``, lowercased, without ``mailto:``;
    - ``mbox_sha1sum``: 40 lowercase hex digits (see :func:`mbox_sha1sum` to match it);
    - ``account_home_page`` + ``account_name``: an LMS account.
    """

    email: str | None = None
    mbox_sha1sum: str | None = None
    account_home_page: str | None = None
    account_name: str | None = None
    openid: str | None = None

    def __post_init__(self) -> None:
        account = (self.account_home_page is not None, self.account_name is not None)
        if account[0] != account[1]:
            raise ValueError("an account needs both account_home_page and account_name")
        forms = (
            (self.email is not None)
            + (self.mbox_sha1sum is not None)
            + account[0]
            + (self.openid is not None)
        )
        if forms != 1:
            raise ValueError("exactly one of email, mbox_sha1sum, account or openid must be set")

    @property
    def kind(self) -> Literal["email", "mbox_sha1sum", "account", "openid"]:
        """Which identifier form this actor uses."""
        if self.email is not None:
            return "email"
        if self.mbox_sha1sum is not None:
            return "mbox_sha1sum"
        if self.openid is not None:
            return "openid"
        return "account"


@dataclass(slots=True)  # not frozen: a frozen dataclass pays ~65 ns a field to be built
class ParsedStatement:
    """One validated statement, reduced to what the ingestion service needs.

    ``kind`` is ``None`` for verbs outside :data:`SUPPORTED_VERBS` (store, don't award).
    ``object_type`` is the object's ``objectType`` (``Activity``, ``Agent``, ``Group``,
    ``SubStatement`` or ``StatementRef``; ``activity_id`` is ``""`` unless ``Activity``) and
    ``group_actor`` says the actor is a Group (``actor`` is then the group's identifier, or an
    anonymous group's first member): only :attr:`earns` statements carry learning for the game.
    ``statement`` is a plain-JSON copy of the statement as received with ``id`` set to
    ``self.id``, for storing and returning it later; it takes no part in equality.
    """

    id: str
    verb_id: str
    kind: StatementKind | None
    actor: ActorRef
    activity_id: str
    activity_name: str | None
    duration_minutes: int | None
    success: bool | None
    completion: bool | None
    score_scaled: float | None
    timestamp: datetime | None
    stored_fingerprint: str
    id_generated: bool = False
    statement: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    object_type: str = "Activity"
    group_actor: bool = False

    @property
    def earns(self) -> bool:
        """Whether the statement is one learner's learning: an Agent acting on an Activity."""
        return self.object_type == "Activity" and not self.group_actor


# --------------------------------------------------------------------------- public API


def check_version_header(value: str | None) -> str:
    """Check the ``X-Experience-API-Version`` request header and return it, stripped.

    Accepts ``1.0`` and ``1.0.0`` to ``1.0.3``; raises :class:`XapiError` with
    ``field="X-Experience-API-Version"`` when it is missing or anything else.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise XapiError(VERSION_HEADER, f"header is required; send {XAPI_VERSION}")
    if not isinstance(value, str) or value.strip() not in SUPPORTED_VERSIONS:
        raise XapiError(
            VERSION_HEADER,
            f"unsupported version {_describe(value)}; this LRS accepts 1.0.0 to {XAPI_VERSION}",
        )
    return value.strip()


def parse_statements(
    body: object,
    *,
    statement_id: str | None = None,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    from_json: bool = False,
    floats: bool = True,
) -> list[ParsedStatement]:
    """Parse the JSON body of a statements request into validated statements.

    ``body`` is one statement object or a non-empty array of at most
    :data:`MAX_BATCH_SIZE` statements; errors in an array name the index
    (``statement[3].actor``). ``statement_id`` is the ``PUT`` endpoint's ``statementId``
    parameter (the body must then be a single object). A batch that holds an id twice is an
    error (xAPI 1.0.3, part three, 2.1.2: the LRS rejects it with 400). ``new_id`` makes the
    ids of id-less statements deterministic in tests.
    ``from_json``: ``body`` was just decoded from the request's JSON and nothing else holds
    it, so the statements keep its parts instead of copies (see :func:`parse_statement`).
    ``floats`` False promises that the JSON held no floating-point number (:func:`decode_json`
    says so), which makes the fingerprints cheaper to write.
    """
    if isinstance(body, Mapping):
        return [
            parse_statement(
                body, statement_id=statement_id, new_id=new_id, from_json=from_json, floats=floats
            )
        ]
    if not isinstance(body, list):
        raise XapiError(
            "statement",
            f"must be a statement object or an array of statements, got {_json_type(body)}",
        )
    if statement_id is not None:
        raise XapiError("statementId", "a PUT carries a single statement object, not an array")
    if not body:
        raise XapiError("statement", "the array of statements is empty")
    if len(body) > MAX_BATCH_SIZE:
        raise XapiError(
            "statement",
            f"a batch holds at most {MAX_BATCH_SIZE} statements, got {len(body)}",
        )
    first_seen: dict[str, tuple[int, ParsedStatement]] = {}
    parsed: list[ParsedStatement] = []
    for index, item in enumerate(body):
        statement = parse_statement(
            item, index=index, new_id=new_id, from_json=from_json, floats=floats
        )
        earlier = first_seen.get(statement.id)
        if earlier is not None:  # the spec: a batch with an id twice is refused (400)
            same = earlier[1].stored_fingerprint == statement.stored_fingerprint
            raise XapiError(
                f"statement[{index}].id",
                f"{statement.id} is also the id of statement[{earlier[0]}]"
                + (" (the same statement twice)" if same else ", which has different content")
                + "; a batch may hold each statement id once",
            )
        first_seen[statement.id] = (index, statement)
        parsed.append(statement)
    return parsed


def parse_statement(
    obj: object,
    *,
    statement_id: str | None = None,
    index: int | None = None,
    new_id: Callable[[], uuid.UUID] = uuid.uuid4,
    from_json: bool = False,
    floats: bool = True,
) -> ParsedStatement:
    """Validate one xAPI statement and extract what the ingestion service needs.

    ``statement_id`` is the ``PUT`` endpoint's ``statementId`` parameter: it becomes the id
    when the body has none, and must equal the body's id when it has one. Without either, a
    fresh ``new_id()`` is used and ``id_generated`` is set. ``index`` (position in a batch)
    prefixes error paths with ``statement[index]``. ``from_json`` promises that ``obj``
    came straight from a JSON decoder and is not changed afterwards: ``statement`` then
    shares its parts instead of copying them; ``floats`` False that it holds no float
    (:func:`decode_json`). Raises :class:`XapiError`.
    """
    root = f"statement[{index}]" if index is not None else ""
    stmt = _object(obj, root or "statement")

    unknown = [] if _STATEMENT_KEYS.issuperset(stmt) else sorted(set(stmt) - _STATEMENT_KEYS)
    if unknown:
        raise XapiError(
            _key(root, unknown[0]),
            "is not an xAPI statement property; allowed: " + ", ".join(sorted(_STATEMENT_KEYS)),
        )
    for required in ("actor", "verb", "object"):
        if required not in stmt:
            raise XapiError(_key(root, required), "is required")

    statement_uuid, id_generated = _statement_id(stmt, root, statement_id, new_id)
    parts = _statement_parts(stmt, root, sub=False)

    try:
        fingerprint = canonical_fingerprint(
            {k: v for k, v in stmt.items() if k not in _FINGERPRINT_EXCLUDED},
            plain=from_json,
            floats=floats,
        )
        copy: dict[str, Any] = {**stmt, "id": statement_uuid}
        if not from_json:  # a deep copy (the caller may change its input), checked just above
            copy = _json_decode(_json_encode(copy))
        _context_activities_as_arrays(copy)
        if parts[2][0] == "SubStatement":
            copy["object"] = dict(copy["object"])
            _context_activities_as_arrays(copy["object"])
    except (ValueError, TypeError, RecursionError, msgspec.MsgspecError) as exc:
        raise XapiError(root or "statement", f"is not plain JSON ({exc})") from None

    (actor, group_actor), verb_id, (object_type, activity_id, activity_name) = parts[:3]
    duration_minutes, success, completion, score_scaled = parts[3]
    return ParsedStatement(
        id=statement_uuid,
        verb_id=verb_id,
        kind=SUPPORTED_VERBS.get(verb_id),
        actor=actor,
        activity_id=activity_id,
        activity_name=activity_name,
        duration_minutes=duration_minutes,
        success=success,
        completion=completion,
        score_scaled=score_scaled,
        timestamp=parts[4],
        stored_fingerprint=fingerprint,
        id_generated=id_generated,
        statement=copy,
        object_type=object_type,
        group_actor=group_actor,
    )


def parse_duration_minutes(value: object, *, field: str = "duration") -> int:
    """The minutes an ISO 8601 duration (``PT1H30M``, ``P1DT2H``, ``PT0.5H``) earns.

    Rounds half up (``PT45M30S`` -> 46). Any valid duration is accepted, long and calendar
    ones included (``P4W``, ``P1M``, ``P3Y1M29DT4H35M59.14S``; a year counts 365 days, a
    month 30), with a decimal fraction (``.`` or ``,``) on the last component only; the
    minutes are capped at :data:`MAX_STATEMENT_MINUTES` (a day: the game's rule). Refuses
    negative durations and text that isn't a duration. Raises :class:`XapiError` naming
    ``field``.
    """
    if not isinstance(value, str):
        raise XapiError(field, f"must be an ISO 8601 duration string, got {_json_type(value)}")
    example = "an ISO 8601 duration such as PT1H30M or PT45M"
    if value.startswith("-"):
        raise XapiError(field, f"must not be negative, got {_describe(value)}")
    if len(value) > _MAX_DURATION_TEXT:
        raise XapiError(field, f"must be {example}; got {len(value)} characters")
    match = _DURATION_RE.fullmatch(value)
    if match is None:
        raise XapiError(field, f"must be {example}, got {_describe(value)}")
    present = [part for part in _DURATION_PARTS if match.group(part) is not None]
    if not present:
        raise XapiError(field, f"has no components; expected {example}")
    if match.group("time") == "T":
        raise XapiError(
            field, f"has a T without hours, minutes or seconds after it; expected {example}"
        )
    if "weeks" in present and len(present) > 1:
        raise XapiError(
            field,
            f"weeks cannot be combined with other components (ISO 8601), got {_describe(value)}",
        )
    numbers = {part: Decimal(match.group(part).replace(",", ".")) for part in present}
    for part in present[:-1]:
        if numbers[part] != numbers[part].to_integral_value():
            raise XapiError(
                field, f"only the last component may have a fraction, got {_describe(value)}"
            )
    seconds = sum((numbers[part] * _DURATION_SECONDS[part] for part in present), Decimal(0))
    if seconds >= MAX_STATEMENT_MINUTES * 60:
        return MAX_STATEMENT_MINUTES
    return int((seconds / 60).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def parse_timestamp(value: object, *, field: str, require_offset: bool = False) -> datetime:
    """Parse an ISO 8601 / RFC 3339 date-time into an aware datetime in UTC.

    Accepts ``2024-05-01T09:30:00Z``, offsets as ``+02:00``/``+0200``/``+02``, optional
    seconds and any number of fraction digits (truncated to microseconds). A missing offset
    means UTC (xAPI) unless ``require_offset``. ``-00:00`` ("offset unknown" in RFC 3339) is
    refused. Raises :class:`XapiError` naming ``field``.
    """
    if (
        isinstance(value, str)
        and len(value) <= _MAX_TIMESTAMP_TEXT
        and _COMMON_TIMESTAMP_RE.fullmatch(value)
        and not value.endswith("-00:00")
    ):
        try:
            return datetime.fromisoformat(value).astimezone(UTC)
        except (ValueError, OverflowError):
            pass  # not a real date (30 February): the reading below says so
    example = "an ISO 8601 date-time such as 2024-05-01T09:30:00+02:00"
    if not isinstance(value, str):
        raise XapiError(field, f"must be {example}, got {_json_type(value)}")
    if len(value) > _MAX_TIMESTAMP_TEXT:
        raise XapiError(field, f"must be {example}; got {len(value)} characters")
    match = _TIMESTAMP_RE.fullmatch(value)
    if match is None:
        raise XapiError(field, f"must be {example}, got {_describe(value)}")
    offset_text = match.group("offset")
    if offset_text is None:
        if require_offset:
            raise XapiError(
                field, f"must include a UTC offset (Z or +02:00), got {_describe(value)}"
            )
        tz = UTC
    elif offset_text in ("Z", "z"):
        tz = UTC
    else:
        hours, minutes = int(match.group("off_h")), int(match.group("off_m") or 0)
        if hours > 23 or minutes > 59:
            raise XapiError(field, f"has an impossible UTC offset {offset_text}")
        if match.group("sign") == "-" and hours == 0 and minutes == 0:
            raise XapiError(field, "uses -00:00 (offset unknown); send Z or +00:00 for UTC")
        delta = timedelta(hours=hours, minutes=minutes)
        tz = timezone(-delta if match.group("sign") == "-" else delta)
    fraction = (match.group("fraction") or "")[:6].ljust(6, "0")
    try:
        parsed = datetime(
            int(match.group("year")),
            int(match.group("month")),
            int(match.group("day")),
            int(match.group("hour")),
            int(match.group("minute")),
            int(match.group("second") or 0),
            int(fraction),
            tzinfo=tz,
        )
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise XapiError(field, f"is not a real date and time: {_describe(value)}") from None


def check_learning_time(value: datetime, *, field: str) -> datetime:
    """``value`` if learning can have happened then (see
    :func:`backend.validation.learning_time_problem`: no date near the calendar's ends
    reaches the game's local-day arithmetic); raises :class:`XapiError` naming ``field``."""
    problem = learning_time_problem(value)
    if problem is not None:
        raise XapiError(field, problem)
    return value


def normalise_email(address: object, *, field: str) -> str:
    """Check that ``address`` looks like an e-mail address and return it lowercased.

    Deliberately simple (one ``@``, a non-empty local part, a dotted host name, no spaces or
    control characters, at most 320 characters): delivery is not our concern, matching a
    learner is. Raises :class:`XapiError` naming ``field``.
    """
    if not isinstance(address, str):
        raise XapiError(field, f"must be an e-mail address, got {_json_type(address)}")
    if len(address) > _MAX_EMAIL_LENGTH:
        raise XapiError(
            field, f"must be at most {_MAX_EMAIL_LENGTH} characters, got {len(address)}"
        )
    local, at, domain = address.rpartition("@")
    if (
        not at
        or not _EMAIL_LOCAL_RE.fullmatch(local)
        or not _EMAIL_DOMAIN_RE.fullmatch(domain)
        or _CONTROL_RE.search(address)
    ):
        raise XapiError(field, f"is not an e-mail address: {_describe(address)}")
    return address.lower()


def mbox_sha1sum(email: str) -> str:
    """The xAPI ``mbox_sha1sum`` of an e-mail address (SHA-1 of ``mailto:<email>``, hex).

    Lets the service match :attr:`ActorRef.mbox_sha1sum` actors against known learners; the
    address is lowercased first, as :class:`ActorRef` e-mails are.
    """
    return hashlib.sha1(f"mailto:{email.lower()}".encode(), usedforsecurity=False).hexdigest()


def decode_json(body: bytes, decode: Callable[..., Any] | None = None) -> tuple[Any, bool]:
    """``body`` decoded (msgspec) and whether it held any floating-point number; raises
    ``msgspec.DecodeError`` for JSON that isn't. ``decode(body, float_hook=...)``, if given,
    decodes instead (the app's request-body decoder, with its own errors)."""
    seen: list[str] = []

    def number(text: str) -> float:
        seen.append(text)
        return float(text)

    if decode is not None:
        return decode(body, float_hook=number), bool(seen)
    document = msgspec.json.Decoder(float_hook=number).decode(body)
    return document, bool(seen)


def canonical_json(document: object, *, plain: bool = False, floats: bool = True) -> str:
    """Serialise plain JSON data canonically: sorted keys, no whitespace, ASCII only.

    Raises ``ValueError`` for NaN/Infinity and ``TypeError`` for values or keys that are not
    plain JSON. ``plain`` promises that ``document`` came straight from a JSON decoder (only
    objects with string keys, arrays, strings, numbers, booleans and null): it is then
    written by msgspec where that gives the same text as ``json.dumps``, which is most
    statements, and by ``json.dumps`` otherwise. ``floats`` False (with ``plain``) promises
    that it holds no float either: only floats are written differently by the two apart
    from non-ASCII text and DEL, so the check for them is left out.
    """
    if plain:
        with contextlib.suppress(TypeError, ValueError, OverflowError, msgspec.MsgspecError):
            text = _sorted_encode(document)
            if _reads_as_json_dumps(text, floats=floats):
                return text.decode("ascii")
    return json.dumps(
        document,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=True,
        allow_nan=False,
    )


def canonical_fingerprint(document: object, *, plain: bool = False, floats: bool = True) -> str:
    """SHA-256 (hex) of :func:`canonical_json` of ``document``."""
    text = canonical_json(document, plain=plain, floats=floats)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


_sorted_encode = msgspec.json.Encoder(order="sorted").encode
_EXPONENT: Final = re.compile(rb"[0-9][eE][-+]?[0-9]")


def _reads_as_json_dumps(text: bytes, *, floats: bool = True) -> bool:
    """Whether msgspec's sorted ``text`` is surely what ``json.dumps(ensure_ascii=True,
    allow_nan=False)`` writes: it differs where there are non-ASCII characters or DEL
    (json.dumps escapes them) and, if the document holds ``floats``, floats with an exponent
    or below 1e-4 (written differently) or null (msgspec also writes NaN and infinities so;
    json.dumps refuses those)."""
    if not text.isascii() or b"\x7f" in text:
        return False
    return not floats or (
        b"null" not in text and b"0.0000" not in text and not _EXPONENT.search(text)
    )


_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode
_REMEMBERED_MAX: Final = 4096
_remembered_parts: dict[tuple[Callable[..., Any], bytes], Any] = {}

_T = TypeVar("_T")


def _remembered(parse: Callable[[object, str], _T], value: object, root: str, name: str) -> _T:
    """``parse(value, path)``, remembered by the value's JSON for parts that repeat across
    statements (one course's object, one verb, one learner's actor in a batch); only
    successes are kept, so an error always names the field of the statement it is in."""
    try:
        encoded = _json_encode(value)
    except (TypeError, ValueError, msgspec.MsgspecError):
        return parse(value, _key(root, name))
    if b"null" in encoded:  # msgspec writes NaN and infinities as null too: never share those
        return parse(value, _key(root, name))
    key = (parse, encoded)
    hit = _remembered_parts.get(key)
    if hit is not None:
        return cast(_T, hit)
    result = parse(value, _key(root, name))
    if len(_remembered_parts) >= _REMEMBERED_MAX:
        _remembered_parts.clear()
    _remembered_parts[key] = result
    return result


# --------------------------------------------------------------------------- statement parts


def _statement_id(
    stmt: Mapping[str, Any],
    root: str,
    statement_id: str | None,
    new_id: Callable[[], uuid.UUID],
) -> tuple[str, bool]:
    parameter = _uuid(statement_id, "statementId") if statement_id is not None else None
    if "id" in stmt:
        body_id = _uuid(stmt["id"], _field(root, "id"))
        if parameter is not None and body_id != parameter:
            raise XapiError(
                _key(root, "id"),
                f"{body_id} does not match the statementId parameter {parameter}",
            )
        return body_id, False
    if parameter is not None:
        return parameter, False
    return str(new_id()).lower(), True


_VOIDED_VERB: Final = "http://adlnet.gov/expapi/verbs/voided"
_IFI_KEYS: Final = ("mbox", "mbox_sha1sum", "openid", "account")
_AGENT_KEYS: Final = frozenset({"objectType", "name", *_IFI_KEYS})
_GROUP_KEYS: Final = _AGENT_KEYS | {"member"}
_ACCOUNT_KEYS: Final = frozenset({"homePage", "name"})
_VERB_KEYS: Final = frozenset({"id", "display"})
_ACTIVITY_KEYS: Final = frozenset({"objectType", "id", "definition"})
_STATEMENT_REF_KEYS: Final = frozenset({"objectType", "id"})
_SUB_STATEMENT_KEYS: Final = frozenset(
    {"objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"}
)
_RESULT_KEYS: Final = frozenset(
    {"score", "success", "completion", "response", "duration", "extensions"}
)
_SCORE_KEYS: Final = frozenset({"scaled", "raw", "min", "max"})
_CONTEXT_KEYS: Final = frozenset(
    {
        "registration",
        "instructor",
        "team",
        "contextActivities",
        "revision",
        "platform",
        "language",
        "statement",
        "extensions",
    }
)
_CONTEXT_ACTIVITY_KEYS: Final = frozenset({"parent", "grouping", "category", "other"})
_ATTACHMENT_KEYS: Final = frozenset(
    {"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"}
)
_DEFINITION_KEYS: Final = frozenset(
    {
        "name",
        "description",
        "type",
        "moreInfo",
        "extensions",
        "interactionType",
        "correctResponsesPattern",
        "choices",
        "scale",
        "source",
        "target",
        "steps",
    }
)
_COMPONENT_KEYS: Final = frozenset({"id", "description"})
_INTERACTION_COMPONENTS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "true-false": (),
        "choice": ("choices",),
        "fill-in": (),
        "long-fill-in": (),
        "matching": ("source", "target"),
        "performance": ("steps",),
        "sequencing": ("choices",),
        "likert": ("scale",),
        "numeric": (),
        "other": (),
    }
)
_COMPONENT_LISTS: Final = ("choices", "scale", "source", "target", "steps")
_SHA2_RE: Final = re.compile(r"[0-9a-fA-F]{56}|[0-9a-fA-F]{64}|[0-9a-fA-F]{96}|[0-9a-fA-F]{128}")
_MEDIA_TYPE_RE: Final = re.compile(r"[A-Za-z0-9!#$&^_.+\-]+/[A-Za-z0-9!#$&^_.+\-]+(?:\s*;.*)?")

_Target = tuple[str, str, str | None]
_Result = tuple[int | None, bool | None, bool | None, float | None]
_NO_RESULT: Final[_Result] = (None, None, None, None)


def _only_keys(mapping: Mapping[str, Any], allowed: frozenset[str], path: str, what: str) -> None:
    """Refuse a property ``what`` cannot have (the spec allows no others; it also catches
    typos that would silently drop data)."""
    if not allowed.issuperset(mapping):
        extra = sorted(set(mapping) - allowed)[0]
        raise XapiError(
            _key(path, extra),
            f"is not a property of {what}; allowed: " + ", ".join(sorted(allowed)),
        )


def _context_activities_as_arrays(statement: dict[str, Any]) -> None:
    """Store each contextActivities entry as an array, as the LRS must return it (xAPI
    1.0.3 Data 2.4.6.2), without changing the caller's objects (shared when ``from_json``)."""
    context: Mapping[str, Any] = statement.get("context") or {}
    groups = context.get("contextActivities")
    if groups and any(not isinstance(listed, list) for listed in groups.values()):
        statement["context"] = {
            **context,
            "contextActivities": {
                kind: listed if isinstance(listed, list) else [listed]
                for kind, listed in groups.items()
            },
        }


def _statement_parts(
    stmt: Mapping[str, Any], root: str, *, sub: bool
) -> tuple[tuple[ActorRef, bool], str, _Target, _Result, datetime | None]:
    """Validate a statement's (or SubStatement's) parts; what the service needs of them."""
    actor = _remembered(_actor, stmt["actor"], root, "actor")
    verb_id = _remembered(_verb, stmt["verb"], root, "verb")
    target = _remembered(_sub_target if sub else _target, stmt["object"], root, "object")
    if verb_id == _VOIDED_VERB and target[0] != "StatementRef":
        raise XapiError(
            _field(root, "object"),
            "a voiding statement's object must be a StatementRef to the statement it voids",
        )
    result = _NO_RESULT
    if "result" in stmt:
        result = _remembered(_result, stmt["result"], root, "result")
    timestamp = None
    if "timestamp" in stmt:
        where = _field(root, "timestamp")
        timestamp = check_learning_time(
            parse_timestamp(stmt["timestamp"], field=where), field=where
        )
    if "context" in stmt:
        context = stmt["context"]
        if type(context) is dict and "registration" in context:  # the part that varies
            registration = context["registration"]
            if type(registration) is not str or not _UUID_RE.fullmatch(registration):
                _uuid(registration, _key(_field(root, "context"), "registration"))
            context = {key: value for key, value in context.items() if key != "registration"}
        check = _activity_context if target[0] == "Activity" else _other_context
        _remembered(check, context, root, "context")
    if "attachments" in stmt:
        _attachments(stmt["attachments"], _field(root, "attachments"))
    if not sub:
        if "version" in stmt:
            version = stmt["version"]
            if not isinstance(version, str) or not _VERSION_PROPERTY_RE.fullmatch(version):
                raise XapiError(
                    _field(root, "version"),
                    f"must be an xAPI 1.0.x version such as {XAPI_VERSION}, "
                    f"got {_describe(version)}",
                )
        if "authority" in stmt:
            _authority(stmt["authority"], _field(root, "authority"))
        if "stored" in stmt:
            parse_timestamp(stmt["stored"], field=_field(root, "stored"))
    return actor, verb_id, target, result, timestamp


def _actor(value: object, path: str) -> tuple[ActorRef, bool]:
    return _agent(value, path, group=True)


def _agent(value: object, path: str, *, group: bool) -> tuple[ActorRef, bool]:
    """An Agent (or, if ``group``, a Group): its identifier and whether it is a Group; an
    anonymous group's identifier is its first member's."""
    actor = _object(value, path)
    object_type = actor.get("objectType", "Agent")
    is_group = object_type == "Group"
    if object_type != "Agent" and not (group and is_group):
        allowed = '"Agent" or "Group"' if group else '"Agent" (a group\'s members are agents)'
        raise XapiError(
            _key(path, "objectType"), f"must be {allowed}, got {_describe(object_type)}"
        )
    _only_keys(actor, _GROUP_KEYS if is_group else _AGENT_KEYS, path, f"an {object_type}")
    if "name" in actor:
        _string(actor["name"], _key(path, "name"), max_length=MAX_NAME_LENGTH, allow_empty=True)
    identifiers = [key for key in _IFI_KEYS if key in actor]
    if len(identifiers) > 1:
        raise XapiError(
            path,
            "must have exactly one identifier (mbox, mbox_sha1sum, openid or account), got "
            + ", ".join(identifiers),
        )
    first_member: ActorRef | None = None
    if is_group and "member" in actor:
        members_path = _key(path, "member")
        members = actor["member"]
        if not isinstance(members, list):
            raise XapiError(members_path, f"must be an array of agents, got {_json_type(members)}")
        for index, member in enumerate(members):
            ref = _agent(member, f"{members_path}[{index}]", group=False)[0]
            first_member = first_member or ref
    if not identifiers:
        if not is_group:
            raise XapiError(
                path, "must identify the agent with one of mbox, mbox_sha1sum, openid or account"
            )
        if first_member is None:
            raise XapiError(
                _key(path, "member"),
                "an anonymous group (no mbox, mbox_sha1sum, openid or account) must list "
                "at least one member",
            )
        return first_member, True
    return _ifi(actor, identifiers[0], path), is_group


def _ifi(actor: Mapping[str, Any], identifier: str, path: str) -> ActorRef:
    ifi_path = _key(path, identifier)
    raw = actor[identifier]
    if identifier == "mbox":
        mbox = _string(raw, ifi_path, max_length=_MAX_EMAIL_LENGTH + len("mailto:"))
        if mbox[:7].lower() != "mailto:":
            raise XapiError(
                ifi_path,
                f"must be a mailto: IRI such as mailto:learner@example.com, got {_describe(mbox)}",
            )
        return ActorRef(email=normalise_email(mbox[7:], field=ifi_path))
    if identifier == "mbox_sha1sum":
        if not isinstance(raw, str) or not _SHA1_RE.fullmatch(raw):
            raise XapiError(ifi_path, f"must be 40 hexadecimal digits, got {_describe(raw)}")
        return ActorRef(mbox_sha1sum=raw.lower())
    if identifier == "openid":
        return ActorRef(openid=_iri(raw, ifi_path))
    account = _object(raw, ifi_path)
    _only_keys(account, _ACCOUNT_KEYS, ifi_path, "an account")
    for required in ("homePage", "name"):
        if required not in account:
            raise XapiError(_key(ifi_path, required), "is required")
    home_page = _iri(account["homePage"], _key(ifi_path, "homePage"))
    name = _string(account["name"], _key(ifi_path, "name"), max_length=MAX_ID_LENGTH)
    return ActorRef(account_home_page=home_page, account_name=name)


def _authority(value: object, path: str) -> None:
    authority = _object(value, path)
    _agent(authority, path, group=True)
    if authority.get("objectType") == "Group":
        members = authority.get("member")
        if any(key in authority for key in _IFI_KEYS) or not (
            isinstance(members, list) and len(members) == 2
        ):
            raise XapiError(
                _key(path, "member"),
                "a Group authority (3-legged OAuth) must be an anonymous group of exactly two agents",
            )


def _verb(value: object, path: str) -> str:
    verb = _object(value, path)
    _only_keys(verb, _VERB_KEYS, path, "a verb")
    if "id" not in verb:
        raise XapiError(_key(path, "id"), "is required")
    verb_id = _iri(verb["id"], _key(path, "id"))
    if "display" in verb:
        _language_map(verb["display"], _key(path, "display"), max_length=MAX_NAME_LENGTH)
    return verb_id


def _target(value: object, path: str) -> _Target:
    """A statement's object: its objectType, its id if an Activity (else ``""``), and the
    activity's display name."""
    return _any_target(value, path, sub=False)


def _sub_target(value: object, path: str) -> _Target:
    return _any_target(value, path, sub=True)


def _any_target(value: object, path: str, *, sub: bool) -> _Target:
    target = _object(value, path)
    object_type = target.get("objectType", "Activity")
    if object_type == "Activity":
        return ("Activity", *_activity(target, path))
    if object_type in ("Agent", "Group"):
        _agent(target, path, group=True)
    elif object_type == "StatementRef":
        _statement_ref(target, path)
    elif object_type == "SubStatement" and not sub:
        _only_keys(target, _SUB_STATEMENT_KEYS, path, "a SubStatement")
        for required in ("actor", "verb", "object"):
            if required not in target:
                raise XapiError(_key(path, required), "is required")
        _statement_parts(target, path, sub=True)
    else:
        allowed = "Activity, Agent, Group or StatementRef"
        if not sub:
            allowed = "Activity, Agent, Group, SubStatement or StatementRef"
        raise XapiError(
            _key(path, "objectType"), f"must be {allowed}, got {_describe(object_type)}"
        )
    return (cast(str, object_type), "", None)


def _statement_ref(value: object, path: str) -> None:
    ref = _object(value, path)
    _only_keys(ref, _STATEMENT_REF_KEYS, path, "a StatementRef")
    if ref.get("objectType") != "StatementRef":
        raise XapiError(_key(path, "objectType"), 'must be "StatementRef"')
    if "id" not in ref:
        raise XapiError(_key(path, "id"), "is required")
    _uuid(ref["id"], _key(path, "id"))


def _activity(value: object, path: str) -> tuple[str, str | None]:
    activity = _object(value, path)
    if "objectType" in activity and activity["objectType"] != "Activity":
        raise XapiError(
            _key(path, "objectType"), f'must be "Activity", got {_describe(activity["objectType"])}'
        )
    _only_keys(activity, _ACTIVITY_KEYS, path, "an Activity")
    if "id" not in activity:
        raise XapiError(_key(path, "id"), "is required")
    activity_id = _iri(activity["id"], _key(path, "id"))
    name: str | None = None
    if "definition" in activity:
        name = _definition(activity["definition"], _key(path, "definition"))
    return activity_id, name


def _definition(value: object, path: str) -> str | None:
    definition = _object(value, path)
    _only_keys(definition, _DEFINITION_KEYS, path, "an activity definition")
    name: str | None = None
    if "name" in definition:
        names = _language_map(definition["name"], _key(path, "name"), max_length=MAX_NAME_LENGTH)
        name = _preferred_name(names)
    if "description" in definition:
        _language_map(definition["description"], _key(path, "description"), max_length=None)
    if "type" in definition:
        _iri(definition["type"], _key(path, "type"))
    if "moreInfo" in definition:
        _iri(definition["moreInfo"], _key(path, "moreInfo"))
    if "extensions" in definition:
        _extensions(definition["extensions"], _key(path, "extensions"))
    interaction = definition.get("interactionType")
    if "interactionType" in definition and (
        not isinstance(interaction, str) or interaction not in _INTERACTION_COMPONENTS
    ):
        raise XapiError(
            _key(path, "interactionType"),
            "must be one of "
            + ", ".join(_INTERACTION_COMPONENTS)
            + f", got {_describe(interaction)}",
        )
    if "correctResponsesPattern" in definition:
        pattern_path = _key(path, "correctResponsesPattern")
        if interaction is None:
            raise XapiError(pattern_path, "needs an interactionType")
        pattern = definition["correctResponsesPattern"]
        if not isinstance(pattern, list):
            raise XapiError(pattern_path, f"must be an array of strings, got {_json_type(pattern)}")
        for index, response in enumerate(pattern):
            _string(response, f"{pattern_path}[{index}]", max_length=None, allow_empty=True)
    allowed = _INTERACTION_COMPONENTS.get(cast(str, interaction), ())
    for components in _COMPONENT_LISTS:
        if components in definition:
            if components not in allowed:
                raise XapiError(
                    _key(path, components),
                    f"is only allowed with interactionType {_component_owners(components)}, "
                    f"got {_describe(interaction) if interaction is not None else 'none'}",
                )
            _components(definition[components], _key(path, components))
    return name


def _component_owners(components: str) -> str:
    return " or ".join(
        kind for kind, lists in _INTERACTION_COMPONENTS.items() if components in lists
    )


def _components(value: object, path: str) -> None:
    if not isinstance(value, list):
        raise XapiError(
            path, f"must be an array of interaction components, got {_json_type(value)}"
        )
    seen: set[str] = set()
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        component = _object(item, item_path)
        _only_keys(component, _COMPONENT_KEYS, item_path, "an interaction component")
        if "id" not in component:
            raise XapiError(_key(item_path, "id"), "is required")
        component_id = _string(component["id"], _key(item_path, "id"), max_length=MAX_ID_LENGTH)
        if component_id in seen:
            raise XapiError(_key(item_path, "id"), f"{_describe(component_id)} is listed twice")
        seen.add(component_id)
        if "description" in component:
            _language_map(component["description"], _key(item_path, "description"), max_length=None)


def _extensions(value: object, path: str) -> None:
    for key in _object(value, path):
        _iri(key, _key(path, key))


def _activity_context(value: object, path: str) -> bool:
    _context(value, path, activity=True)
    return True


def _other_context(value: object, path: str) -> bool:
    _context(value, path, activity=False)
    return True


def _context(value: object, path: str, *, activity: bool) -> None:
    context = _object(value, path)
    _only_keys(context, _CONTEXT_KEYS, path, "a context")
    if "registration" in context:
        _uuid(context["registration"], _key(path, "registration"))
    if "instructor" in context:
        _agent(context["instructor"], _key(path, "instructor"), group=True)
    if "team" in context:
        team_path = _key(path, "team")
        team = _object(context["team"], team_path)
        if team.get("objectType") != "Group":
            raise XapiError(_key(team_path, "objectType"), 'must be "Group": a team is a group')
        _agent(team, team_path, group=True)
    if "contextActivities" in context:
        groups_path = _key(path, "contextActivities")
        groups = _object(context["contextActivities"], groups_path)
        _only_keys(groups, _CONTEXT_ACTIVITY_KEYS, groups_path, "contextActivities")
        for kind, listed in groups.items():
            kind_path = _key(groups_path, kind)
            if isinstance(listed, list):
                for index, item in enumerate(listed):
                    _activity(item, f"{kind_path}[{index}]")
            else:
                _activity(listed, kind_path)
    for key in ("revision", "platform"):
        if key in context:
            _string(context[key], _key(path, key), max_length=MAX_ID_LENGTH, allow_empty=True)
            if not activity:
                raise XapiError(
                    _key(path, key), "is only allowed when the statement's object is an Activity"
                )
    if "language" in context:
        language = context["language"]
        if not isinstance(language, str) or not _LANG_TAG_RE.fullmatch(language):
            raise XapiError(
                _key(path, "language"),
                f"must be a language tag such as en-US or nl, got {_describe(language)}",
            )
    if "statement" in context:
        _statement_ref(context["statement"], _key(path, "statement"))
    if "extensions" in context:
        _extensions(context["extensions"], _key(path, "extensions"))


def _attachments(value: object, path: str) -> None:
    if not isinstance(value, list):
        raise XapiError(path, f"must be an array, got {_json_type(value)}")
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        attachment = _object(item, item_path)
        _only_keys(attachment, _ATTACHMENT_KEYS, item_path, "an attachment")
        for required in ("usageType", "display", "contentType", "length", "sha2"):
            if required not in attachment:
                raise XapiError(_key(item_path, required), "is required")
        _iri(attachment["usageType"], _key(item_path, "usageType"))
        _language_map(attachment["display"], _key(item_path, "display"), max_length=None)
        if "description" in attachment:
            _language_map(
                attachment["description"], _key(item_path, "description"), max_length=None
            )
        content_type = attachment["contentType"]
        if not isinstance(content_type, str) or not _MEDIA_TYPE_RE.fullmatch(content_type):
            raise XapiError(
                _key(item_path, "contentType"),
                f"must be a media type such as application/pdf, got {_describe(content_type)}",
            )
        length = attachment["length"]
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            raise XapiError(
                _key(item_path, "length"),
                f"must be a whole number of octets, got {_describe(length)}",
            )
        sha2 = attachment["sha2"]
        if not isinstance(sha2, str) or not _SHA2_RE.fullmatch(sha2):
            raise XapiError(
                _key(item_path, "sha2"),
                f"must be a SHA-2 hash in hexadecimal, got {_describe(sha2)}",
            )
        if "fileUrl" in attachment:
            _iri(attachment["fileUrl"], _key(item_path, "fileUrl"))


def _result(value: object, path: str) -> _Result:
    result = _object(value, path)
    _only_keys(result, _RESULT_KEYS, path, "a result")
    duration = None
    if "duration" in result:
        duration = parse_duration_minutes(result["duration"], field=_key(path, "duration"))
    success = _optional_bool(result, "success", path)
    completion = _optional_bool(result, "completion", path)
    scaled = None
    if "score" in result:
        scaled = _score(result["score"], _key(path, "score"))
    if "response" in result:
        _string(result["response"], _key(path, "response"), max_length=None, allow_empty=True)
    if "extensions" in result:
        _extensions(result["extensions"], _key(path, "extensions"))
    return duration, success, completion, scaled


def _score(value: object, path: str) -> float | None:
    score = _object(value, path)
    _only_keys(score, _SCORE_KEYS, path, "a score")
    numbers = {
        key: _number(score[key], _key(path, key))
        for key in ("scaled", "raw", "min", "max")
        if key in score
    }
    scaled = numbers.get("scaled")
    if scaled is not None and not -1 <= scaled <= 1:
        raise XapiError(_key(path, "scaled"), f"must be between -1 and 1, got {scaled:g}")
    low, high, raw = numbers.get("min"), numbers.get("max"), numbers.get("raw")
    if low is not None and high is not None and low > high:
        raise XapiError(_key(path, "min"), f"({low:g}) must not exceed max ({high:g})")
    if raw is not None and low is not None and raw < low:
        raise XapiError(_key(path, "raw"), f"({raw:g}) must not be below min ({low:g})")
    if raw is not None and high is not None and raw > high:
        raise XapiError(_key(path, "raw"), f"({raw:g}) must not exceed max ({high:g})")
    return scaled


def _preferred_name(names: Mapping[str, str]) -> str | None:
    by_tag: dict[str, str] = {}
    for tag in sorted(names):
        text = names[tag].strip()
        if text:
            by_tag.setdefault(tag.lower(), text)
    for wanted in _NAME_PREFERENCE:
        if wanted.endswith("-"):
            for tag in sorted(by_tag):
                if tag.startswith(wanted):
                    return by_tag[tag]
        elif wanted in by_tag:
            return by_tag[wanted]
    return by_tag[min(by_tag)] if by_tag else None


# --------------------------------------------------------------------------- primitives


def _object(value: object, path: str) -> Mapping[str, Any]:
    # a decoded body's objects are dicts: no abstract-class check for them
    if type(value) is not dict and not isinstance(value, Mapping):
        raise XapiError(path, f"must be an object, got {_json_type(value)}")
    for key in value:
        if not isinstance(key, str):
            raise XapiError(path, f"has a non-string key {key!r}")
    return value


def _string(value: object, path: str, *, max_length: int | None, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        raise XapiError(path, f"must be a string, got {_json_type(value)}")
    if not allow_empty and not value.strip():
        raise XapiError(path, "must not be empty")
    if max_length is not None and len(value) > max_length:
        raise XapiError(path, f"must be at most {max_length} characters, got {len(value)}")
    _check_storable(value, path)
    return value


def _check_storable(value: str, path: str) -> None:
    if "\x00" in value:
        raise XapiError(path, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise XapiError(path, "must be valid Unicode (it contains a lone surrogate)") from None


def _iri(value: object, path: str) -> str:
    text = _string(value, path, max_length=MAX_ID_LENGTH)
    problem = "must be an absolute IRI with a scheme, such as https://lms.example.com/courses/42"
    if not _IRI_RE.fullmatch(text) or _CONTROL_RE.search(text):
        raise XapiError(path, f"{problem}; got {_describe(text)}")
    if text.split(":", 1)[0].lower() in ("http", "https"):
        try:
            host = urlsplit(text).hostname
        except ValueError:
            host = None
        if not host:
            raise XapiError(path, f"{problem}; {_describe(text)} has no host")
    return text


def _uuid(value: object, path: str) -> str:
    if not isinstance(value, str) or not _UUID_RE.fullmatch(value):
        raise XapiError(
            path,
            f"must be a UUID such as 5e2b9b1c-3d4f-4a6b-8c7d-9e0f1a2b3c4d, got {_describe(value)}",
        )
    return value.lower()


def _language_map(value: object, path: str, *, max_length: int | None) -> dict[str, str]:
    mapping = _object(value, path)
    texts: dict[str, str] = {}
    for tag, text in mapping.items():
        tag_path = _key(path, tag)
        if not _LANG_TAG_RE.fullmatch(tag):
            raise XapiError(tag_path, "is not a language tag such as en-US or nl")
        texts[tag] = _string(text, tag_path, max_length=max_length, allow_empty=True)
    return texts


def _optional_bool(mapping: Mapping[str, Any], key: str, path: str) -> bool | None:
    if key not in mapping:
        return None
    value = mapping[key]
    if not isinstance(value, bool):
        raise XapiError(_key(path, key), f"must be true or false, got {_json_type(value)}")
    return value


def _number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise XapiError(path, f"must be a number, got {_json_type(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise XapiError(path, "is too large") from None
    if not math.isfinite(number):
        raise XapiError(path, "must be a finite number")
    return number


def _field(path: str, name: str) -> str:
    """:func:`_key` for a ``name`` known to be an identifier (no pattern to match)."""
    return f"{path}.{name}" if path else name


def _key(path: str, key: str) -> str:
    if _IDENT_RE.fullmatch(key):
        return _field(path, key)
    return f"{path}[{_describe(key)}]"


def _describe(value: object) -> str:
    """A short, safe rendering of a hostile value for an error message."""
    if isinstance(value, str):
        shown = json.dumps(value[:60])
        return shown[:-1] + '…"' if len(value) > 60 else shown
    return _json_type(value)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
