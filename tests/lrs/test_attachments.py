"""Statement attachments (multipart/mixed) and signed statements: what xAPI 1.0.3 says an
LRS accepts, keeps and returns (Data 2.4.11 and 2.6, Communication 1.5), per organisation."""

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import text

from backend.context import AppContext
from backend.lrs.attachments import SIGNATURE_USAGE, split_multipart
from tests.factories import World, signed_in_client

Client = AsyncTestClient[Litestar]
XAPI = {"X-Experience-API-Version": "1.0.3"}
BOUNDARY = "-------314159265358979323846"
NOTES = b"here is a simple attachment\n"


def _headers(world: World, org: str = "a", **more: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {getattr(world, org).api_key}", **XAPI, **more}


def _multipart_type(boundary: str = BOUNDARY) -> dict[str, str]:
    return {"Content-Type": f"multipart/mixed; boundary={boundary}"}


def _attachment(data: bytes, **extra: Any) -> dict[str, Any]:
    return {
        "usageType": "http://example.com/attachment-usage/test",
        "display": {"en-US": "A test attachment"},
        "contentType": "text/plain",
        "length": len(data),
        "sha2": hashlib.sha256(data).hexdigest(),
        **extra,
    }


def _statement(*attachments: dict[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:sam@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered", "display": {"en-US": "answered"}},
        "object": {"id": "https://lms.acme.example/quiz/1"},
    }
    if attachments:
        statement["attachments"] = list(attachments)
    return statement


def _part(data: bytes, *, sha2: str | None = None, encoding: str | None = "binary") -> bytes:
    head = "Content-Type: text/plain\r\n"
    if encoding is not None:
        head += f"Content-Transfer-Encoding: {encoding}\r\n"
    if sha2 is not None:
        head += f"X-Experience-API-Hash: {sha2}\r\n"
    return head.encode() + b"\r\n" + data


def _body(statements: Any, *parts: bytes, first_type: str = "application/json") -> bytes:
    chunks = [f"--{BOUNDARY}\r\nContent-Type: {first_type}\r\n\r\n".encode()]
    chunks.append(json.dumps(statements).encode())
    for part in parts:
        chunks.append(f"\r\n--{BOUNDARY}\r\n".encode() + part)
    chunks.append(f"\r\n--{BOUNDARY}--\r\n".encode())
    return b"".join(chunks)


async def _post(client: Client, world: World, body: bytes, org: str = "a") -> Any:
    return await client.post(
        "/xapi/statements", content=body, headers=_headers(world, org, **_multipart_type())
    )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def test_a_statement_with_its_attachment_data_reads_back_with_it(
    client: Client, world: World
) -> None:
    statement = _statement(_attachment(NOTES))
    posted = await _post(client, world, _body(statement, _part(NOTES, sha2=_sha(NOTES))))
    assert posted.status_code == 200, posted.text
    assert posted.json() == [statement["id"]]

    plain = await client.get(
        "/xapi/statements", params={"statementId": statement["id"]}, headers=_headers(world)
    )
    assert plain.headers["content-type"].startswith("application/json")
    assert plain.json()["attachments"] == statement["attachments"]

    both = await client.get(
        "/xapi/statements",
        params={"statementId": statement["id"], "attachments": "true"},
        headers=_headers(world),
    )
    assert both.status_code == 200
    kind, _, boundary = both.headers["content-type"].partition("; boundary=")
    assert kind == "multipart/mixed"
    first, second = split_multipart(both.content, boundary)
    assert first.headers["content-type"] == "application/json"
    assert json.loads(first.content)["id"] == statement["id"]
    assert second.headers["x-experience-api-hash"] == _sha(NOTES)
    assert second.headers["content-transfer-encoding"] == "binary"
    assert second.headers["content-type"] == "text/plain"
    assert second.content == NOTES

    result = await client.get(
        "/xapi/statements", params={"attachments": "true"}, headers=_headers(world)
    )
    boundary = result.headers["content-type"].partition("; boundary=")[2]
    first, *data = split_multipart(result.content, boundary)
    assert [s["id"] for s in json.loads(first.content)["statements"]] == [statement["id"]]
    assert [p.content for p in data] == [NOTES]


async def test_head_with_attachments_answers_the_multipart_headers_without_a_body(
    client: Client, world: World
) -> None:
    statement = _statement(_attachment(NOTES))
    posted = await _post(client, world, _body(statement, _part(NOTES, sha2=_sha(NOTES))))
    assert posted.status_code == 200, posted.text
    for params in (
        {"statementId": statement["id"], "attachments": "true"},
        {"attachments": "true"},
    ):
        got = await client.get("/xapi/statements", params=params, headers=_headers(world))
        head = await client.head("/xapi/statements", params=params, headers=_headers(world))
        assert head.status_code == 200 and head.content == b""
        kind, _, boundary = head.headers["content-type"].partition("; boundary=")
        assert kind == "multipart/mixed" and boundary  # a fresh boundary per answer
        for name in ("Last-Modified", "X-Experience-API-Version"):
            assert head.headers[name] == got.headers[name]
    plain = await client.head(
        "/xapi/statements", params={"statementId": statement["id"]}, headers=_headers(world)
    )
    assert plain.headers["content-type"].startswith("application/json")


async def test_one_part_serves_every_statement_that_names_its_data(
    client: Client, world: World
) -> None:
    batch = [_statement(_attachment(NOTES)), _statement(_attachment(NOTES))]
    posted = await _post(client, world, _body(batch, _part(NOTES, sha2=_sha(NOTES))))
    assert posted.status_code == 200, posted.text
    assert posted.json() == [s["id"] for s in batch]


async def test_attachment_data_stays_in_its_organisation(client: Client, world: World) -> None:
    secret = b"only for organisation a\n"
    posted = await _post(
        client, world, _body(_statement(_attachment(secret)), _part(secret, sha2=_sha(secret)))
    )
    assert posted.status_code == 200
    # b names the same data by a fileUrl: it may say so, but does not get a's bytes
    theirs = _statement(_attachment(secret, fileUrl="https://b.example/secret.txt"))
    assert (
        await client.post("/xapi/statements", json=theirs, headers=_headers(world, "b"))
    ).status_code == 200
    read = await client.get(
        "/xapi/statements",
        params={"statementId": theirs["id"], "attachments": "true"},
        headers=_headers(world, "b"),
    )
    boundary = read.headers["content-type"].partition("; boundary=")[2]
    parts = split_multipart(read.content, boundary)
    assert len(parts) == 1 and secret not in read.content


async def test_refusals_name_the_part_or_attachment_at_fault(client: Client, world: World) -> None:
    statement = _statement(_attachment(NOTES))
    other = b"something else\n"
    cases = {
        "no part for it": (_body(statement), "attachments[0]"),
        "data with another hash": (
            _body(statement, _part(other, sha2=_sha(NOTES))),
            "part 2",
        ),
        "a part no attachment names": (
            _body(statement, _part(NOTES, sha2=_sha(NOTES)), _part(other, sha2=_sha(other))),
            "part 3",
        ),
        "no hash header": (_body(statement, _part(NOTES)), "part 2"),
        "base64 encoding": (
            _body(statement, _part(NOTES, sha2=_sha(NOTES), encoding="base64")),
            "part 2",
        ),
        "statements not first as JSON": (
            _body(statement, _part(NOTES, sha2=_sha(NOTES)), first_type="text/plain"),
            "part 1",
        ),
        "no closing boundary": (
            _body(statement, _part(NOTES, sha2=_sha(NOTES))).removesuffix(b"--\r\n"),
            "body",
        ),
    }
    for case, (body, field) in cases.items():
        refused = await _post(client, world, body)
        assert refused.status_code == 400, case
        assert refused.json()["extra"]["field"] == field, (case, refused.json())
        assert refused.headers["X-Experience-API-Version"] == "1.0.3"
    # nothing was kept from the refused requests
    got = await client.get("/xapi/statements", headers=_headers(world))
    assert got.json()["statements"] == []


async def test_json_needs_a_file_url_and_other_content_types_are_refused(
    client: Client, world: World
) -> None:
    raw = _statement(_attachment(NOTES))
    refused = await client.post("/xapi/statements", json=raw, headers=_headers(world))
    assert refused.status_code == 400
    assert refused.json()["extra"]["field"] == "attachments[0]"
    linked = _statement(_attachment(NOTES, fileUrl="https://lms.acme.example/notes.txt"))
    accepted = await client.post("/xapi/statements", json=linked, headers=_headers(world))
    assert accepted.status_code == 200

    form_data = await client.post(
        "/xapi/statements",
        content=json.dumps(linked).encode(),
        headers=_headers(world, **{"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}),
    )
    assert form_data.status_code == 400
    assert form_data.json()["extra"]["field"] == "Content-Type"
    no_boundary = await client.post(
        "/xapi/statements",
        content=_body(linked),
        headers=_headers(world, **{"Content-Type": "multipart/mixed"}),
    )
    assert no_boundary.status_code == 400
    assert no_boundary.json()["extra"]["field"] == "Content-Type"


# ----------------------------------------------------------------------------- signatures

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate() -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "learnloop test signer")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(_KEY.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(_KEY, hashes.SHA256())
    )
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _jws(payload: Any, algorithm: str = "RS256", *, x5c: bool = True) -> bytes:
    header: dict[str, Any] = {"alg": algorithm}
    if x5c:
        header["x5c"] = [_certificate()]
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    chosen = {"RS256": hashes.SHA256(), "RS384": hashes.SHA384(), "RS512": hashes.SHA512()}
    signature = _KEY.sign(
        signing_input.encode(), padding.PKCS1v15(), chosen.get(algorithm, hashes.SHA256())
    )
    return f"{signing_input}.{_b64(signature)}".encode()


def _signed(
    statement: dict[str, Any], jws: bytes, content_type: str = "application/octet-stream"
) -> bytes:
    statement = {
        **statement,
        "attachments": [
            {
                "usageType": SIGNATURE_USAGE,
                "display": {"en-US": "signature"},
                "contentType": content_type,
                "length": len(jws),
                "sha2": _sha(jws),
            }
        ],
    }
    return _body(statement, _part(jws, sha2=_sha(jws)))


async def test_signed_statements_are_kept_when_the_signature_holds(
    client: Client, world: World
) -> None:
    for algorithm in ("RS256", "RS384", "RS512"):
        statement = _statement()
        posted = await _post(client, world, _signed(statement, _jws(statement, algorithm)))
        assert posted.status_code == 200, (algorithm, posted.text)
    # without a certificate there is no key to check: the signature's form is checked
    statement = _statement()
    unsigned_key = await _post(client, world, _signed(statement, _jws(statement, x5c=False)))
    assert unsigned_key.status_code == 200


async def test_malformed_or_mismatched_signatures_are_refused(client: Client, world: World) -> None:
    statement = _statement()
    changed = {**statement, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"}}
    good = _jws(statement)
    header, _, signature = good.decode().split(".")
    forged = f"{header}.{_b64(json.dumps(statement | {'result': {'success': True}}).encode())}"
    cases = {
        "another statement": _signed(statement, _jws(changed)),
        "HS256": _signed(statement, _jws(statement, "HS256", x5c=False)),
        "not a JWS": _signed(statement, b"this is not a signature"),
        "a payload that is no JSON": _signed(
            statement, f"{header}.{_b64(b'{not json')}.{signature}".encode()
        ),
        "a signature the certificate denies": _signed(
            statement | {"result": {"success": True}}, f"{forged}.{signature}".encode()
        ),
        "text/plain": _signed(statement, good, content_type="text/plain"),
        "a payload nested past the stack": _signed(
            statement, f"{header}.{_b64(b'[' * 50_000 + b']' * 50_000)}.{signature}".encode()
        ),
    }
    for case, body in cases.items():
        refused = await _post(client, world, body)
        assert refused.status_code == 400, case
        assert refused.json()["extra"]["field"].startswith("attachments[0]"), case
        assert "signature" in refused.json()["detail"], case


async def test_erasing_a_person_erases_the_data_only_their_statements_named(
    app: Litestar, client: Client, world: World, ctx: AppContext
) -> None:
    essay, shared = b"sam's essay\n", b"the course handout\n"
    sams = _statement(_attachment(essay), _attachment(shared))
    manager = world.email("a", "manager")
    theirs = {
        **_statement(_attachment(shared)),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{manager}"},
    }
    body = _body([sams, theirs], _part(essay, sha2=_sha(essay)), _part(shared, sha2=_sha(shared)))
    assert (await _post(client, world, body)).status_code == 200

    async with signed_in_client(app, world.email("a", "employee")) as sam:
        gone = await sam.request("DELETE", "/api/v1/me", json={"confirm": "DELETE"})
        assert gone.status_code == 204

    async with ctx.engine.connect() as conn:
        kept = (await conn.execute(text("SELECT sha2 FROM xapi_attachment"))).scalars().all()
    assert kept == [_sha(shared)]
    read = await client.get(
        "/xapi/statements",
        params={"statementId": theirs["id"], "attachments": "true"},
        headers=_headers(world),
    )
    assert read.content.count(shared) == 1 and essay not in read.content
