"""Open Badges 3.0 credentials: the JSON-LD shape, a VC-JWT that verifies against the
published JWKS, no e-mail address anywhere, and nothing for unknown ids."""

import base64
import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.badges.credentials import BadgeSigningKey, hashed_email
from backend.settings import Settings
from tests.badges.test_badge_api import complete_course, feedback_badge
from tests.factories import World, signed_in_client

OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """Verify a compact EdDSA JWS the way an outside verifier would: only the JWKS is trusted."""
    header_part, payload_part, signature_part = token.split(".")
    header = json.loads(b64url_decode(header_part))
    assert header["alg"] == "EdDSA" and header["typ"] == "JWT"
    [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    public_key = Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
    public_key.verify(b64url_decode(signature_part), f"{header_part}.{payload_part}".encode())
    payload: dict[str, Any] = json.loads(b64url_decode(payload_part))
    return payload


async def earn_aligned_badge(app: Litestar, client: AsyncTestClient[Litestar], world: World) -> str:
    """Org A's employee earns a badge aligned to a competency; the award's public id."""
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        created = await admin.post("/api/v1/badges", json=feedback_badge(world))
        assert created.status_code == 201, created.text
    await complete_course(client, world)
    async with signed_in_client(app, world.email("a", "employee")) as employee:
        wall = {b["code"]: b for b in (await employee.get("/api/v1/me/badges")).json()}
    public_id: str = wall["feedback-pro"]["earned"][0]["public_id"]
    return public_id


async def test_credential_is_an_open_badge_with_achievement_criteria_and_alignment(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, settings: Settings
) -> None:
    public_id = await earn_aligned_badge(app, client, world)
    response = await client.get(f"/badges/credentials/{public_id}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/ld+json")
    credential = response.json()
    base = settings.base_url
    assert credential["@context"] == [VC_CONTEXT, OB_CONTEXT]
    assert credential["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert credential["id"] == f"{base}/badges/credentials/{public_id}"
    assert credential["issuer"] == {
        "id": f"{base}/badges/issuers/{world.a.id}",
        "type": ["Profile"],
        "name": "Acme",
    }
    assert credential["validFrom"].endswith("Z")
    subject = credential["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"]
    [identity] = subject["identifier"]
    assert identity["type"] == "IdentityObject" and identity["hashed"] is True
    assert identity["identityType"] == "emailAddress"
    assert identity["identityHash"] == hashed_email("sam@example.com", identity["salt"])
    achievement = subject["achievement"]
    assert achievement["id"] == f"{base}/badges/achievements/{world.a.id}/feedback-pro"
    assert achievement["type"] == ["Achievement"]
    assert achievement["name"] == "Feedbackkampioen (brons)"
    assert achievement["description"] == "Je geeft en vraagt feedback als de beste."
    assert achievement["criteria"] == {"narrative": "Rond 1 training af binnen Communicatie"}
    assert achievement["alignment"] == [
        {
            "type": ["Alignment"],
            "targetName": "Communicatie",
            "targetUrl": f"{base}/competencies/{world.a.competency_id}",
            "targetType": "ext:Competency",
        }
    ]
    assert "sam@example.com" not in response.text.lower()


async def test_credential_jwt_verifies_against_the_published_jwks_and_tampering_fails(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, settings: Settings
) -> None:
    public_id = await earn_aligned_badge(app, client, world)
    jwks_response = await client.get("/.well-known/jwks.json")
    assert jwks_response.status_code == 200
    jwks = jwks_response.json()
    assert "d" not in jwks["keys"][0]  # only the public half is published

    by_suffix = await client.get(f"/badges/credentials/{public_id}.jwt")
    by_query = await client.get(f"/badges/credentials/{public_id}?format=jwt")
    assert by_suffix.status_code == by_query.status_code == 200
    assert by_suffix.headers["content-type"].startswith("application/vc+jwt")
    token = by_suffix.text
    assert token == by_query.text  # Ed25519 is deterministic: the same credential, same token

    payload = verify(token, jwks)
    credential = (await client.get(f"/badges/credentials/{public_id}")).json()
    assert payload["iss"] == credential["issuer"]["id"]
    assert payload["jti"] == credential["id"]
    assert payload["sub"] == credential["credentialSubject"]["identifier"][0]["identityHash"]
    assert isinstance(payload["nbf"], int)
    claims = {"iss", "jti", "sub", "nbf", "iat"}
    assert {k: v for k, v in payload.items() if k not in claims} == credential
    assert "sam@example.com" not in json.dumps(payload)

    header_part, _, signature_part = token.split(".")
    forged = dict(payload, name="Feedbackkampioen (goud)")
    forged_part = b64url(json.dumps(forged, separators=(",", ":")).encode())
    with pytest.raises(InvalidSignature):
        verify(f"{header_part}.{forged_part}.{signature_part}", jwks)

    # every replica derives the same key from the deployment secret; another secret, another key
    assert BadgeSigningKey.from_settings(settings).jwks() == jwks
    other_key = BadgeSigningKey.from_settings(
        Settings(database_url=settings.database_url, secret_key="another-secret-" + "y" * 40)
    )
    impostor = {"keys": [dict(other_key.public_jwk(), kid=jwks["keys"][0]["kid"])]}
    with pytest.raises(InvalidSignature):
        verify(token, impostor)


async def test_unknown_credentials_are_404_json_and_issuers_publish_a_profile(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, settings: Settings
) -> None:
    for url in (
        "/badges/credentials/no-such-credential",
        "/badges/credentials/no-such-credential.jwt",
        "/badges/credentials/no-such-credential?format=jwt",
    ):
        # a browser asking for the bare URL gets a page (test_credential_page); data stays JSON
        accept = "application/ld+json" if "." not in url and "?" not in url else "text/html"
        response = await client.get(url, headers={"Accept": accept})
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")
        assert response.json()["status_code"] == 404
    # an organisation that issued nothing has no issuer profile (ids don't reveal names)
    assert (await client.get(f"/badges/issuers/{world.a.id}")).status_code == 404
    assert (await client.get(f"/badges/issuers/{2**40}")).status_code == 404

    await earn_aligned_badge(app, client, world)
    profile = await client.get(f"/badges/issuers/{world.a.id}")
    assert profile.status_code == 200
    assert profile.json() == {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": f"{settings.base_url}/badges/issuers/{world.a.id}",
        "type": ["Profile"],
        "name": "Acme",
    }
    assert (await client.get(f"/badges/issuers/{world.b.id}")).status_code == 404


async def test_a_badge_without_a_competency_has_no_alignment_and_speaks_the_orgs_language(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        body = feedback_badge(
            world, competency_id=None, criterion={"kind": "event_count", "event_kind": "completion"}
        )
        assert (await admin.post("/api/v1/badges", json=body)).status_code == 201
    await complete_course(client, world)
    async with signed_in_client(app, world.email("a", "employee")) as employee:
        wall = {b["code"]: b for b in (await employee.get("/api/v1/me/badges")).json()}
    public_id = wall["feedback-pro"]["earned"][0]["public_id"]
    credential = (await client.get(f"/badges/credentials/{public_id}")).json()
    achievement = credential["credentialSubject"]["achievement"]
    assert "alignment" not in achievement
    assert achievement["criteria"]["narrative"] == "Rond 1 training af"
    assert achievement["inLanguage"] == "nl"


async def test_learners_of_another_organisation_cannot_reach_our_awards_when_signed_in(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    public_id = await earn_aligned_badge(app, client, world)
    async with signed_in_client(app, world.email("b", "ld_admin")) as other:
        wall = (await other.get("/api/v1/me/badges")).json()
        listed = (await other.get("/api/v1/badges?include_inactive=true")).json()
    assert public_id not in json.dumps(wall)
    assert "feedback-pro" not in json.dumps(listed)
