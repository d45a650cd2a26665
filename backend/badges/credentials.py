"""Open Badges 3.0 credentials for awarded badge tiers, signed as VC-JWTs with Ed25519.

The signing key is derived from the deployment secret (``settings.derived_key``), so every
replica signs with the same key and nothing has to be stored; its public half is published
as a JWKS at ``/.well-known/jwks.json``. The learner is named only by a salted SHA-256 hash
of their e-mail address (OB 3.0 ``IdentityObject``); the salt is derived per credential, so
the same person's credentials cannot be linked by comparing hashes.
"""

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from backend.settings import Settings

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
CREDENTIAL_TYPES = ["VerifiableCredential", "OpenBadgeCredential"]
JWT_MEDIA_TYPE = "application/vc+jwt"
JSON_LD_MEDIA_TYPE = "application/ld+json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _compact_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class BadgeSigningKey:
    """The deployment's Ed25519 key for credentials; ``kid`` is its RFC 7638 thumbprint."""

    private_key: Ed25519PrivateKey

    @classmethod
    def from_settings(cls, settings: Settings) -> "BadgeSigningKey":
        seed = settings.derived_key("badge-signing", 32)
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def x(self) -> str:
        raw = self.private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return b64url(raw)

    @property
    def kid(self) -> str:
        # RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace
        canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": self.x}, separators=(",", ":"))
        return b64url(hashlib.sha256(canonical.encode()).digest())

    def public_jwk(self) -> dict[str, str]:
        return {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": self.x,
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
        }

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [self.public_jwk()]}

    def sign_jwt(self, payload: dict[str, Any]) -> str:
        """JOSE compact serialisation: ``header.payload.signature``, each base64url."""
        header = {"alg": "EdDSA", "typ": "JWT", "kid": self.kid}
        signing_input = f"{b64url(_compact_json(header))}.{b64url(_compact_json(payload))}"
        signature = self.private_key.sign(signing_input.encode("ascii"))
        return f"{signing_input}.{b64url(signature)}"


def issuer_id(base_url: str, organisation_id: int) -> str:
    return f"{base_url}/badges/issuers/{organisation_id}"


def achievement_id(base_url: str, organisation_id: int, code: str) -> str:
    return f"{base_url}/badges/achievements/{organisation_id}/{code}"


def issuer_profile(base_url: str, organisation_id: int, name: str) -> dict[str, Any]:
    """The organisation as an OB 3.0 issuer ``Profile`` (what the credential's issuer id serves)."""
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": issuer_id(base_url, organisation_id),
        "type": ["Profile"],
        "name": name,
    }


def identity_salt(settings: Settings, public_id: str) -> str:
    """A salt per credential, stable (the credential reads the same every time it is fetched)
    and unguessable without the deployment secret."""
    key = settings.derived_key("badge-salt", 32)
    return hmac.new(key, public_id.encode(), hashlib.sha256).hexdigest()[:32]


def hashed_email(email: str, salt: str) -> str:
    """OB 3.0 ``identityHash``: ``sha256$`` + hex SHA-256 of the identity followed by the salt."""
    digest = hashlib.sha256((email.strip().lower() + salt).encode()).hexdigest()
    return f"sha256${digest}"


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class CompetencyAlignment:
    id: int
    name: str


@dataclass(frozen=True)
class CredentialContent:
    """What one awarded tier's credential states (texts already in the issuer's language)."""

    base_url: str
    credential_url: str
    organisation_id: int
    organisation_name: str
    code: str
    name: str  # badge name including the tier, e.g. "Afmaker (zilver)"
    description: str
    narrative: str  # how the tier is earned
    language: str
    awarded_at: datetime
    identity_hash: str
    salt: str
    alignment: CompetencyAlignment | None = None


def build_credential(content: CredentialContent) -> dict[str, Any]:
    """The ``OpenBadgeCredential`` (JSON-LD, unsigned; the VC-JWT is its proof)."""
    achievement: dict[str, Any] = {
        "id": achievement_id(content.base_url, content.organisation_id, content.code),
        "type": ["Achievement"],
        "achievementType": "Badge",
        "name": content.name,
        "description": content.description or content.narrative,
        "criteria": {"narrative": content.narrative},
        "inLanguage": content.language,
    }
    if content.alignment is not None:
        achievement["alignment"] = [
            {
                "type": ["Alignment"],
                "targetName": content.alignment.name,
                "targetUrl": f"{content.base_url}/competencies/{content.alignment.id}",
                "targetType": "ext:Competency",
            }
        ]
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": content.credential_url,
        "type": list(CREDENTIAL_TYPES),
        "name": content.name,
        "issuer": {
            "id": issuer_id(content.base_url, content.organisation_id),
            "type": ["Profile"],
            "name": content.organisation_name,
        },
        "validFrom": _timestamp(content.awarded_at),
        "awardedDate": _timestamp(content.awarded_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            "identifier": [
                {
                    "type": "IdentityObject",
                    "identityHash": content.identity_hash,
                    "identityType": "emailAddress",
                    "hashed": True,
                    "salt": content.salt,
                }
            ],
            "achievement": achievement,
        },
    }


def vc_jwt(credential: dict[str, Any], key: BadgeSigningKey) -> str:
    """The credential signed as a VC-JWT: the credential itself plus the registered claims."""
    awarded = datetime.strptime(credential["validFrom"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    payload = {
        **credential,
        "iss": credential["issuer"]["id"],
        "jti": credential["id"],
        "sub": credential["credentialSubject"]["identifier"][0]["identityHash"],
        "nbf": int(awarded.timestamp()),
        "iat": int(awarded.timestamp()),
    }
    return key.sign_jwt(payload)
