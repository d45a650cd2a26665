"""Documents of the xAPI 1.0.3 State, Activity Profile and Agent Profile resources
(Communication 2.2, 2.3, 2.6, 2.7), with their concurrency rules (3.1).

A document is opaque content with its ``Content-Type``, kept per organisation under a key:
the kind of resource, the activity (State, Activity Profile), the agent (State, Agent
Profile), the registration (State, optional) and the document's id. Its ETag is the SHA-1 of
its content. Course content (cmi5, SCORM-to-xAPI players) uses them to resume where a learner
stopped.

Writes to one document are serialised by a transaction-scoped advisory lock on its key, so
``If-Match`` / ``If-None-Match`` decide on what the write replaces. The rules:

- ``PUT`` with ``If-Match`` (an ETag or ``*``) writes only over a matching document, with
  ``If-None-Match: *`` only where there is none; otherwise 412 Precondition Failed. A
  ``PUT`` to an existing profile document with neither header is refused with 409 Conflict
  (Communication 3.1), to a new one with 400 (as the ADL reference LRS and its conformance
  suite do: "fails without ETag header", XAPI-00273); the State resource takes a ``PUT``
  without them, as players expect.
- ``POST`` merges: when a document exists, both it and the posted one must be JSON objects
  (``application/json``), and the posted object's properties replace the stored ones, one
  level deep; with no document, the posted one is stored as a ``PUT`` would.
- ``DELETE`` honours ``If-Match``; deleting what does not exist succeeds.
"""

import base64
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import ColumnElement, delete, func
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import XapiDocument
from backend.lrs.people import names_person

Kind = Literal["state", "activity_profile", "agent_profile"]
JSON_TYPE = "application/json"
DEFAULT_TYPE = "application/octet-stream"
MAX_CONTENT_TYPE = 255


class DocumentError(Exception):
    """A request the resource refuses: ``status`` 400, 409 or 412; ``field`` names the
    parameter or header; ``str(err)`` is ``f"{field}: {message}"``."""

    def __init__(self, status: int, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.status = status
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Scope:
    """What a GET without a document id lists, and a DELETE without one removes: the
    documents of a kind, activity and agent, of one ``registration`` if it is given, of
    every registration if not (as the ADL reference LRS reads the State resource)."""

    kind: Kind
    activity_id: str = ""
    agent_key: str = ""
    registration: str = ""

    def _hash(self, *extra: str) -> str:
        parts = (self.kind, self.activity_id, self.agent_key, *extra)
        # NUL cannot occur in the parts (the controllers refuse it), so the join is unambiguous
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    @property
    def scope_hash(self) -> str:
        return self._hash()

    def key_hash(self, document_id: str) -> str:
        return self._hash(self.registration, document_id)

    def rows(self, org_id: int) -> list[Any]:
        """The conditions that select this scope's rows."""
        conditions = [
            col(XapiDocument.organisation_id) == org_id,
            col(XapiDocument.scope_hash) == self.scope_hash,
        ]
        if self.registration:
            conditions.append(col(XapiDocument.registration) == self.registration)
        return conditions


@dataclass(frozen=True, slots=True)
class Document:
    document_id: str
    content: bytes
    content_type: str
    etag: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Preconditions:
    """The request's ``If-Match`` and ``If-None-Match`` headers, as sent (None: absent)."""

    if_match: str | None = None
    if_none_match: str | None = None

    @property
    def given(self) -> bool:
        return self.if_match is not None or self.if_none_match is not None


def etag_of(content: bytes) -> str:
    return hashlib.sha1(content, usedforsecurity=False).hexdigest()


def is_json_type(content_type: str) -> bool:
    return content_type.split(";", 1)[0].strip().lower() == JSON_TYPE


def json_object(content: bytes, what: str) -> dict[str, Any]:
    """``content`` as a JSON object; a :class:`DocumentError` (400) naming ``what``."""
    try:
        value = msgspec.json.decode(content)
    except (msgspec.DecodeError, RecursionError):
        raise DocumentError(400, what, "is not valid JSON") from None
    if not isinstance(value, dict):
        raise DocumentError(400, what, "must be a JSON object to be merged")
    return value


def _tags(header: str) -> set[str]:
    tags = set()
    for raw in header.split(","):
        tag = raw.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tags.add(tag.strip('"'))
    return tags


def check_preconditions(pre: Preconditions, existing: str | None) -> None:
    """Raise 412 unless ``pre`` allows a write over ``existing`` (its ETag, None: none)."""
    if pre.if_match is not None:
        tags = _tags(pre.if_match)
        if existing is None or ("*" not in tags and existing not in tags):
            raise DocumentError(
                412,
                "If-Match",
                "the document has changed (or does not exist); read it again and retry",
            )
    if pre.if_none_match is not None and existing is not None:
        tags = _tags(pre.if_none_match)
        if "*" in tags or existing in tags:
            raise DocumentError(412, "If-None-Match", "the document already exists")


def _document(row: XapiDocument) -> Document:
    return Document(row.document_id, row.content, row.content_type, row.etag, row.updated_at)


async def get_document(
    sessionmaker: async_sessionmaker[AsyncSession], org_id: int, scope: Scope, document_id: str
) -> Document | None:
    async with sessionmaker() as session:
        row = (
            await session.exec(
                select(XapiDocument).where(
                    XapiDocument.organisation_id == org_id,
                    XapiDocument.key_hash == scope.key_hash(document_id),
                )
            )
        ).first()
    return None if row is None else _document(row)


async def list_ids(
    sessionmaker: async_sessionmaker[AsyncSession],
    org_id: int,
    scope: Scope,
    since: datetime | None = None,
) -> tuple[list[str], datetime | None]:
    """The ids of the documents in ``scope`` (stored or changed after ``since``), oldest
    change first, and the latest change among them."""
    query = select(XapiDocument.document_id, XapiDocument.updated_at).where(*scope.rows(org_id))
    if since is not None:
        query = query.where(col(XapiDocument.updated_at) > since)
    async with sessionmaker() as session:
        rows = (await session.exec(query.order_by(col(XapiDocument.updated_at)))).all()
    ids = list(dict.fromkeys(r[0] for r in rows))  # an id may be used in two registrations
    return ids, (rows[-1][1] if rows else None)


async def _locked(session: AsyncSession, org_id: int, key_hash: str) -> XapiDocument | None:
    """The document under ``key_hash``, with its key locked until the transaction ends."""
    lock = int.from_bytes(bytes.fromhex(key_hash[:16]), "big", signed=True)
    await session.exec(select(func.pg_advisory_xact_lock(lock)))
    return (
        await session.exec(
            select(XapiDocument).where(
                XapiDocument.organisation_id == org_id, XapiDocument.key_hash == key_hash
            )
        )
    ).first()


async def write_document(
    sessionmaker: async_sessionmaker[AsyncSession],
    org_id: int,
    scope: Scope,
    document_id: str,
    content: bytes,
    content_type: str,
    pre: Preconditions,
    *,
    merge: bool,
    now: datetime,
) -> Document:
    """Store a document (``PUT``) or merge into it (``POST``, ``merge``); see the module's
    rules. Raises :class:`DocumentError`."""
    content_type = content_type.strip()[:MAX_CONTENT_TYPE] or DEFAULT_TYPE
    posted: dict[str, Any] | None = None
    if merge and is_json_type(content_type):
        posted = json_object(content, "body")
    key_hash = scope.key_hash(document_id)
    async with sessionmaker() as session, session.begin():
        row = await _locked(session, org_id, key_hash)
        check_preconditions(pre, None if row is None else row.etag)
        if not merge and not pre.given and scope.kind != "state":
            if row is not None:
                raise DocumentError(
                    409,
                    "If-Match",
                    "the document exists and may have changed since you read it; read it "
                    "again and send If-Match with its ETag to replace it",
                )
            raise DocumentError(
                400,
                "If-None-Match",
                "a profile document is written with If-None-Match: * (to create it) or "
                "If-Match with its ETag (to replace it)",
            )
        if row is not None and merge:
            if posted is None:
                raise DocumentError(
                    400, "Content-Type", f"must be {JSON_TYPE} to be merged into a JSON document"
                )
            if not is_json_type(row.content_type):
                raise DocumentError(
                    400, "body", f"the stored document is not {JSON_TYPE}, so it cannot be merged"
                )
            stored = json_object(row.content, "the stored document")
            content = msgspec.json.encode(_merged(stored, posted))
            content_type = JSON_TYPE
        if row is None:
            row = XapiDocument(
                organisation_id=org_id,
                kind=scope.kind,
                activity_id=scope.activity_id,
                agent_key=scope.agent_key,
                registration=scope.registration,
                document_id=document_id,
                key_hash=key_hash,
                scope_hash=scope.scope_hash,
                content=content,
                content_type=content_type,
                etag=etag_of(content),
                updated_at=now,
            )
            session.add(row)
        else:
            row.content, row.content_type = content, content_type
            row.etag, row.updated_at = etag_of(content), now
        await session.flush()
        return _document(row)


def _merged(stored: Mapping[str, Any], posted: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's merge: the posted top-level properties replace the stored ones whole."""
    return {**stored, **posted}


async def delete_document(
    sessionmaker: async_sessionmaker[AsyncSession],
    org_id: int,
    scope: Scope,
    document_id: str,
    pre: Preconditions,
) -> bool:
    """Delete one document (``If-Match`` honoured); whether there was one."""
    async with sessionmaker() as session, session.begin():
        row = await _locked(session, org_id, scope.key_hash(document_id))
        check_preconditions(pre, None if row is None else row.etag)
        if row is None:
            return False
        await session.delete(row)
    return True


async def delete_all(
    sessionmaker: async_sessionmaker[AsyncSession], org_id: int, scope: Scope
) -> int:
    """Delete every document in ``scope`` (the State resource's DELETE without stateId)."""
    async with sessionmaker() as session, session.begin():
        result = await session.exec(delete(XapiDocument).where(*scope.rows(org_id)))
    return int(getattr(result, "rowcount", 0) or 0)


def _of_person(org_id: int, email: str, external_id: str | None) -> list[ColumnElement[bool]]:
    """The conditions that select a person's documents (see backend.lrs.people)."""
    return [
        col(XapiDocument.organisation_id) == org_id,
        names_person(XapiDocument.agent_key, email, external_id),
    ]


async def person_documents(
    session: AsyncSession, org_id: int, email: str, external_id: str | None
) -> list[dict[str, Any]]:
    """A person's State and Agent Profile documents, for their data export: text as text,
    other bytes in base64."""
    rows = (
        await session.exec(
            select(XapiDocument)
            .where(*_of_person(org_id, email, external_id))
            .order_by(col(XapiDocument.updated_at), col(XapiDocument.id))
        )
    ).all()
    exported = []
    for row in rows:
        try:
            content, encoding = row.content.decode(), "text"
        except UnicodeDecodeError:
            content, encoding = base64.b64encode(row.content).decode(), "base64"
        exported.append(
            {
                "kind": row.kind,
                "activity_id": row.activity_id or None,
                "registration": row.registration or None,
                "document_id": row.document_id,
                "content_type": row.content_type,
                "content": content,
                "content_encoding": encoding,
                "updated_at": row.updated_at.isoformat(),
            }
        )
    return exported
