"""Statement attachments and signed statements (xAPI 1.0.3, Data 2.4.11 and 2.6,
Communication 1.5).

On the way in (``POST``/``PUT /xapi/statements``, through :func:`read_statements`):

- ``application/json`` (or no ``Content-Type``): every attachment must have a ``fileUrl``,
  since its data cannot come along.
- ``multipart/mixed``: the first part holds the statement(s) as ``application/json``; each
  other part is the data of an attachment, with an ``X-Experience-API-Hash`` header (its
  SHA-2, hex) and ``Content-Transfer-Encoding: binary``. A part whose hash no attachment
  names, a part whose data does not have its hash, and an attachment without ``fileUrl``
  whose part is missing each refuse the request (400, naming the part or attachment). The
  parts are kept once per organisation by their SHA-2 (``xapi_attachment``) before the
  statements are stored; a refused request can leave one behind, which nothing shows.
- Any other ``Content-Type`` is refused.
- A signed statement (an attachment with usageType :data:`SIGNATURE_USAGE`) needs its
  signature as a part: a JWS in compact serialization, ``RS256``, ``RS384`` or ``RS512``,
  whose payload is the statement as sent, apart from what the LRS may fill in (``id``
  when absent, ``authority``, ``stored``, ``version``, ``timestamp`` when absent) and the
  attachments. With an ``x5c`` certificate in its header the signature is checked against
  it; without one there is no key to check it with, as the spec foresees (Data 2.6.s5).

On the way out, :func:`with_attachments` turns a ``GET /xapi/statements?attachments=true``
answer into ``multipart/mixed``: the JSON answer first, then each attachment data kept for
its statements, once per SHA-2.
"""

import base64
import binascii
import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from litestar import Request, Response
from sqlalchemy import text

from backend.auth.guards import current_principal
from backend.db.types import utcnow
from backend.deps import app_context
from backend.learning import xapi
from backend.learning.connections import on_pooled_connection
from backend.request_body import decode_json_body

SIGNATURE_USAGE = "http://adlnet.gov/expapi/attachments/signature"
SIGNATURE_CONTENT_TYPE = "application/octet-stream"
HASH_HEADER = "x-experience-api-hash"
_HASHES: dict[int, Callable[[bytes], Any]] = {  # hex digits of a SHA-2 digest: its function
    56: hashlib.sha224,
    64: hashlib.sha256,
    96: hashlib.sha384,
    128: hashlib.sha512,
}
_JWS_HASHES: dict[str, hashes.HashAlgorithm] = {
    "RS256": hashes.SHA256(),
    "RS384": hashes.SHA384(),
    "RS512": hashes.SHA512(),
}
# what the LRS may fill in or change, and the attachments (the signature is one of them)
_NOT_SIGNED = ("authority", "stored", "version", "attachments")
_BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{1,70}")

Query = Request[Any, Any, Any]


@dataclass
class Part:
    """One part of a multipart body: its headers (names lowercased) and its data."""

    headers: dict[str, str]
    content: bytes


def media_type(value: str | None) -> tuple[str, dict[str, str]]:
    """``(type, parameters)`` of a ``Content-Type`` value: the type lowercased, parameter
    names lowercased, quoted values unquoted; ``("", {})`` for none."""
    if not value:
        return "", {}
    kind, *rest = value.split(";")
    params: dict[str, str] = {}
    for item in rest:
        name, sep, raw = item.partition("=")
        if sep:
            raw = raw.strip()
            if len(raw) >= 2 and raw[0] == raw[-1] == '"':
                raw = raw[1:-1]
            params[name.strip().lower()] = raw
    return kind.strip().lower(), params


def split_multipart(body: bytes, boundary: str) -> list[Part]:
    """The parts of a ``multipart/mixed`` body (RFC 2046); :class:`xapi.XapiError` when
    it has none or does not end with its closing delimiter."""
    delimiter = b"--" + boundary.encode("latin-1")
    text = body if body.startswith(b"\r\n") else b"\r\n" + body
    chunks = text.split(b"\r\n" + delimiter)
    if len(chunks) < 2:
        raise xapi.XapiError("body", f"holds no part delimited by the boundary {boundary!r}")
    parts: list[Part] = []
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            closed = True
            break
        line_end = chunk.find(b"\r\n")
        if line_end < 0 or chunk[:line_end].strip(b" \t"):
            raise xapi.XapiError("body", "a boundary line must end right after the boundary")
        rest = chunk[line_end + 2 :]
        if rest.startswith(b"\r\n"):  # a part without headers
            head, content = b"", rest[2:]
        else:
            head, sep, content = rest.partition(b"\r\n\r\n")
            if not sep:
                raise xapi.XapiError(
                    f"part {len(parts) + 1}", "has no blank line between its headers and data"
                )
        parts.append(Part(headers=_part_headers(head, len(parts) + 1), content=content))
    if not closed:
        raise xapi.XapiError("body", f"does not end with the closing boundary --{boundary}--")
    if not parts:
        raise xapi.XapiError("body", "holds no part")
    return parts


def _part_headers(head: bytes, number: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    try:
        lines = head.decode("utf-8").split("\r\n") if head else []
    except UnicodeDecodeError:
        raise xapi.XapiError(f"part {number}", "has headers that are not UTF-8") from None
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise xapi.XapiError(
                f"part {number}", f"has a header line that is not Name: value: {line[:60]!r}"
            )
        headers[name.strip().lower()] = value.strip()
    return headers


async def read_statements(
    request: Query, body: bytes, statement_id: str | None
) -> list[xapi.ParsedStatement]:
    """The statements of a ``POST``/``PUT /xapi/statements`` request, by its
    ``Content-Type``; attachment data sent with them is kept. Raises :class:`xapi.XapiError`
    (or ``UndecodableBody``) for what must be refused with 400."""
    given = request.headers.get("content-type") or ""
    if not given.startswith("application/json"):  # the LMSs' steady stream skips this
        kind, params = media_type(given)
        if kind == "multipart/mixed":
            return await _read_multipart(request, body, params, statement_id)
        if kind and kind != "application/json" and not kind.endswith("+json"):
            raise xapi.XapiError(
                "Content-Type",
                f"statements are sent as application/json, or as multipart/mixed with their "
                f"attachments' data; got {kind[:60]}",
            )
    document, floats = xapi.decode_json(body, decode_json_body)
    statements = xapi.parse_statements(
        document, statement_id=statement_id, from_json=True, floats=floats
    )
    for statement in statements:
        if "attachments" in statement.statement:
            _require_file_urls(statements)
            break
    return statements


def _require_file_urls(statements: Sequence[xapi.ParsedStatement]) -> None:
    for where, attachment in _attachments(statements):
        if "fileUrl" not in attachment:
            raise xapi.XapiError(
                where,
                "has no fileUrl: send its data in a multipart/mixed request, or give a fileUrl",
            )


def _attachments(
    statements: Sequence[xapi.ParsedStatement],
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Each attachment of ``statements``, with where it is (``statement[1].attachments[0]``)."""
    for index, statement in enumerate(statements):
        listed = statement.statement.get("attachments")
        if not listed:
            continue
        root = f"statement[{index}]." if len(statements) > 1 else ""
        for number, attachment in enumerate(listed):
            yield f"{root}attachments[{number}]", attachment


async def _read_multipart(
    request: Query, body: bytes, params: Mapping[str, str], statement_id: str | None
) -> list[xapi.ParsedStatement]:
    boundary = params.get("boundary", "")
    if not boundary:
        raise xapi.XapiError("Content-Type", "multipart/mixed needs a boundary parameter")
    if not _BOUNDARY_RE.fullmatch(boundary):
        raise xapi.XapiError("Content-Type", "the boundary is not a valid RFC 2046 boundary")
    first, *rest = split_multipart(body, boundary)
    kind, _ = media_type(first.headers.get("content-type"))
    if kind != "application/json":
        raise xapi.XapiError(
            "part 1",
            "must hold the statements with Content-Type: application/json, got "
            + (kind[:60] or "no Content-Type"),
        )
    document, floats = xapi.decode_json(first.content, decode_json_body)
    statements = xapi.parse_statements(
        document, statement_id=statement_id, from_json=True, floats=floats
    )
    declared: dict[str, Mapping[str, Any]] = {}
    for _, attachment in _attachments(statements):
        declared.setdefault(attachment["sha2"].lower(), attachment)
    received: dict[str, Part] = {}
    for number, part in enumerate(rest, start=2):
        received.update([_attachment_part(part, number, declared)])
    for where, attachment in _attachments(statements):
        sha2 = attachment["sha2"].lower()
        if "fileUrl" not in attachment and sha2 not in received:
            raise xapi.XapiError(
                where,
                f"has no fileUrl and no part with its data (X-Experience-API-Hash: {sha2})",
            )
    # the statements as sent, for the signatures (parse_statements may share and reshape)
    sent = msgspec.json.decode(first.content)
    for index, statement in enumerate(statements):
        raw = sent[index] if isinstance(sent, list) else sent
        _check_signatures(statement, raw, received, index if isinstance(sent, list) else None)
    if received:
        ctx = app_context(request.app.state)
        org_id = current_principal(request).organisation_id
        await keep(ctx.engine, org_id, received, declared, utcnow())
    return statements


def _attachment_part(
    part: Part, number: int, declared: Mapping[str, Mapping[str, Any]]
) -> tuple[str, Part]:
    where = f"part {number}"
    given = part.headers.get(HASH_HEADER)
    if not given:
        raise xapi.XapiError(where, "needs an X-Experience-API-Hash header (its data's SHA-2)")
    encoding = part.headers.get("content-transfer-encoding", "binary").lower()
    if encoding != "binary":
        raise xapi.XapiError(
            where, f"must have Content-Transfer-Encoding: binary, got {encoding[:40]}"
        )
    sha2 = given.lower()
    if sha2 not in declared:
        raise xapi.XapiError(
            where, f"X-Experience-API-Hash {sha2[:128]} is the sha2 of no attachment sent"
        )
    digest = _HASHES.get(len(sha2))
    if digest is None or digest(part.content).hexdigest() != sha2:
        raise xapi.XapiError(where, f"its data does not have the SHA-2 {sha2}")
    return sha2, part


def _check_signatures(
    statement: xapi.ParsedStatement,
    sent: Any,
    received: Mapping[str, Part],
    index: int | None,
) -> None:
    root = f"statement[{index}]." if index is not None else ""
    for number, attachment in enumerate(statement.statement.get("attachments") or []):
        if attachment.get("usageType") != SIGNATURE_USAGE:
            continue
        where = f"{root}attachments[{number}]"
        if media_type(attachment.get("contentType"))[0] != SIGNATURE_CONTENT_TYPE:
            raise xapi.XapiError(
                f"{where}.contentType",
                f"a signature's contentType is {SIGNATURE_CONTENT_TYPE}, "
                f"got {str(attachment.get('contentType'))[:60]}",
            )
        part = received.get(attachment["sha2"].lower())
        if part is None:
            raise xapi.XapiError(where, "a signature must be sent as a part, not by fileUrl")
        problem = signature_problem(part.content, sent)
        if problem:
            raise xapi.XapiError(where, f"malformed signature: {problem}")


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signature_problem(jws: bytes, statement: Any) -> str | None:
    """Why ``jws`` is not a valid signature of ``statement`` (as sent, JSON), or None."""
    try:
        return _signature_problem(jws, statement)
    except RecursionError:  # a payload nested past the stack
        return "its payload is nested too deeply to be a statement"


def _signature_problem(jws: bytes, statement: Any) -> str | None:
    try:
        header_b64, payload_b64, signature_b64 = jws.decode("ascii").strip().split(".")
        header = msgspec.json.decode(_b64url(header_b64))
        payload_bytes = _b64url(payload_b64)
        signature = _b64url(signature_b64)
    except (UnicodeDecodeError, ValueError, binascii.Error, msgspec.DecodeError):
        return "not a JWS in compact serialization (header.payload.signature, base64url)"
    if not isinstance(header, dict):
        return "its JWS header is not a JSON object"
    algorithm = header.get("alg")
    if algorithm not in _JWS_HASHES:
        return f"the algorithm must be RS256, RS384 or RS512, got {str(algorithm)[:20]}"
    try:
        payload = msgspec.json.decode(payload_bytes)
    except (msgspec.DecodeError, RecursionError):
        return "its payload is not a JSON serialization of the statement"
    if not isinstance(payload, dict) or not isinstance(statement, dict):
        return "its payload is not a statement object"
    if not _equivalent(payload, statement):
        return "the signed statement is not the statement sent"
    chain = header.get("x5c")
    if chain is not None:
        problem = _certificate_problem(chain, algorithm, header_b64, payload_b64, signature)
        if problem:
            return problem
    return None


def _equivalent(signed: Mapping[str, Any], sent: Mapping[str, Any]) -> bool:
    """Whether the signed statement is the one sent, apart from what the LRS may fill in
    (Data 2.3.1: id and timestamp when absent, authority, stored, version) and attachments."""
    left = {k: v for k, v in signed.items() if k not in _NOT_SIGNED}
    right = {k: v for k, v in sent.items() if k not in _NOT_SIGNED}
    for filled in ("id", "timestamp"):
        if filled not in left or filled not in right:
            left.pop(filled, None)
            right.pop(filled, None)
    if "id" in left and str(left.pop("id")).lower() != str(right.pop("id")).lower():
        return False
    if "timestamp" in left:
        try:
            same = xapi.parse_timestamp(left.pop("timestamp"), field="timestamp") == (
                xapi.parse_timestamp(right.pop("timestamp"), field="timestamp")
            )
        except xapi.XapiError:
            return False
        if not same:
            return False
    return left == right


def _certificate_problem(
    chain: Any, algorithm: str, header_b64: str, payload_b64: str, signature: bytes
) -> str | None:
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        return "x5c must be a list of base64 DER certificates"
    try:
        certificate = x509.load_der_x509_certificate(base64.b64decode(chain[0], validate=True))
        key = certificate.public_key()
    except (ValueError, binascii.Error, UnsupportedAlgorithm):
        return "the first x5c certificate cannot be read"
    if not isinstance(key, rsa.RSAPublicKey):
        return "the x5c certificate's key is not an RSA key"
    try:
        key.verify(
            signature,
            f"{header_b64}.{payload_b64}".encode("ascii"),
            padding.PKCS1v15(),
            _JWS_HASHES[algorithm],
        )
    except InvalidSignature:
        return "the signature does not verify against the x5c certificate"
    return None


# ----------------------------------------------------------------------------- storage

_PG_KEEP = """
INSERT INTO xapi_attachment (organisation_id, sha2, content_type, length, content, created_at)
SELECT $1, v.sha2, v.content_type, v.length, v.content, $6
FROM unnest($2::text[], $3::text[], $4::int[], $5::bytea[]) AS v(sha2, content_type, length, content)
ON CONFLICT (organisation_id, sha2) DO NOTHING
"""

_PG_READ = """
SELECT sha2, content_type, content FROM xapi_attachment
WHERE organisation_id = $1 AND sha2 = ANY($2::text[])
"""


async def keep(
    engine: Any,
    org_id: int,
    received: Mapping[str, Part],
    declared: Mapping[str, Mapping[str, Any]],
    now: datetime,
) -> None:
    """Keep the attachments' data of organisation ``org_id`` by SHA-2 (once each)."""
    sha2s = sorted(received)
    types = [
        str(declared[s].get("contentType") or received[s].headers.get("content-type") or "")
        for s in sha2s
    ]

    async def run(pg: Any) -> None:
        await pg.execute(
            _PG_KEEP,
            org_id,
            sha2s,
            types,
            [len(received[s].content) for s in sha2s],
            [received[s].content for s in sha2s],
            now,
        )

    await on_pooled_connection(engine, run)


_SQL_STILL_NAMED = """
SELECT 1 FROM xapi_statement
WHERE organisation_id = :org AND lower(document) LIKE :pattern
LIMIT 1
"""
_SQL_FORGET = "DELETE FROM xapi_attachment WHERE organisation_id = :org AND sha2 = :sha2"


async def forget_data_of(session: Any, org_id: int, documents: Iterable[str]) -> None:
    """Delete the attachment data that erased statements (their ``documents``) named and
    no other statement of the organisation names (a person's erasure, in its transaction)."""
    sha2s: set[str] = set()
    for document in documents:
        try:
            sha2s.update(_named_sha2s(msgspec.json.decode(document)))
        except (msgspec.DecodeError, RecursionError):
            continue
    for sha2 in sorted(sha2s):
        # canonical JSON (backend.lrs.statement_store): "sha2":"<hex>", no whitespace
        pattern = f'%"sha2":"{sha2}"%'
        named = await session.exec(
            text(_SQL_STILL_NAMED), params={"org": org_id, "pattern": pattern}
        )
        if named.first() is None:
            await session.exec(text(_SQL_FORGET), params={"org": org_id, "sha2": sha2})


def _named_sha2s(answer: Any) -> list[str]:
    """The sha2 of every attachment of the statements in a GET answer (a statement or a
    StatementResult), in order, once each."""
    statements = answer.get("statements") if "statements" in answer else [answer]
    seen: dict[str, None] = {}
    for statement in statements if isinstance(statements, list) else []:
        if not isinstance(statement, dict):
            continue
        for attachment in statement.get("attachments") or []:
            if isinstance(attachment, dict) and isinstance(attachment.get("sha2"), str):
                seen.setdefault(attachment["sha2"].lower(), None)
    return list(seen)


async def with_attachments(request: Query, answer: Response[bytes]) -> Response[bytes]:
    """``answer`` (a ``GET /xapi/statements`` answer) as ``multipart/mixed`` with the
    attachments' data when the request asked for them (``attachments=true``); as it is
    otherwise."""
    if request.query_params.get("attachments") != "true" or answer.status_code not in (None, 200):
        return answer
    content = answer.content if isinstance(answer.content, bytes) else b""
    sha2s = _named_sha2s(msgspec.json.decode(content)) if content else []
    rows: list[Any] = []
    if sha2s:
        ctx = app_context(request.app.state)
        org_id = current_principal(request).organisation_id
        rows = await on_pooled_connection(ctx.engine, lambda pg: pg.fetch(_PG_READ, org_id, sha2s))
    by_sha2 = {row["sha2"]: row for row in rows}
    boundary = secrets.token_hex(16)
    chunks = [
        f"--{boundary}\r\nContent-Type: application/json\r\n\r\n".encode(),
        content,
    ]
    for sha2 in sha2s:
        row = by_sha2.get(sha2)
        if row is None:  # sent with a fileUrl only: no data here
            continue
        chunks.append(
            (
                f"\r\n--{boundary}\r\nContent-Type: {row['content_type'] or SIGNATURE_CONTENT_TYPE}"
                f"\r\nContent-Transfer-Encoding: binary\r\nX-Experience-API-Hash: {sha2}\r\n\r\n"
            ).encode()
        )
        chunks.append(bytes(row["content"]))
    chunks.append(f"\r\n--{boundary}--\r\n".encode())
    headers = {k: v for k, v in answer.headers.items() if k.lower() != "content-type"}
    return Response(
        b"".join(chunks),
        status_code=200,
        media_type=f"multipart/mixed; boundary={boundary}",
        headers=headers,
    )
