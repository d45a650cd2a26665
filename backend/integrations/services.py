"""API keys and webhook secrets: created by an L&D admin (or the CLI), shown once, stored
hashed (keys) or encrypted (secrets, which must be readable to verify signatures), revocable.

Creating and revoking is recorded in the audit log in the same transaction when an L&D
admin or the operator does it (``audit_scope``; a test's or benchmark's set-up passes none).
"""

import hmac
import secrets
from datetime import datetime

from litestar.exceptions import ClientException
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit import services as audit
from backend.auth.api_keys import generate_api_key, hash_api_key, parse_prefix
from backend.context import ApiKeyCache
from backend.db.models import ApiKey, WebhookSecret
from backend.db.types import utcnow
from backend.learning.webhook_secrets import encrypt_secret
from backend.settings import Settings
from backend.tenancy import OrgScope


class ApiKeyPublic(BaseModel):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyPublic):
    key: str
    """The whole key. It is shown only in this response."""


def _public(row: ApiKey) -> ApiKeyPublic:
    assert row.id is not None
    return ApiKeyPublic(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def create_api_key(
    session: AsyncSession,
    organisation_id: int,
    name: str,
    created_by_id: int | None,
    *,
    audit_scope: OrgScope | None = None,
) -> ApiKeyCreated:
    new = generate_api_key()
    row = ApiKey(
        organisation_id=organisation_id,
        name=name,
        prefix=new.prefix,
        key_hash=new.key_hash,
        created_by_id=created_by_id,
    )
    session.add(row)
    if audit_scope is not None:
        await session.flush()
        audit.record(
            audit_scope,
            "api_key.create",
            target_type="api_key",
            target_id=row.id,
            summary=f"Created API key “{name}” ({new.prefix})",
            details={"name": name, "prefix": new.prefix},
        )
    await session.commit()
    return ApiKeyCreated(**_public(row).model_dump(), key=new.plaintext)


async def list_api_keys(scope: OrgScope) -> list[ApiKeyPublic]:
    rows = await scope.all(
        scope.select(ApiKey).order_by(col(ApiKey.created_at).desc(), col(ApiKey.id).desc())
    )
    return [_public(r) for r in rows]


async def revoke_api_key(scope: OrgScope, key_id: int, cache: ApiKeyCache | None = None) -> None:
    """Revoke a key; ``cache`` (this process's verified keys) forgets it at once.

    Other processes keep accepting it until their cached verification expires (ApiKeyCache).
    """
    row = await scope.get(ApiKey, key_id, what="API key")
    if row.revoked_at is not None:
        raise ClientException(f"API key {key_id} is already revoked", status_code=409)
    row.revoked_at = utcnow()
    scope.session.add(row)
    audit.record(
        scope,
        "api_key.revoke",
        target_type="api_key",
        target_id=key_id,
        summary=f"Revoked API key “{row.name}” ({row.prefix})",
        details={"name": row.name, "prefix": row.prefix},
    )
    await scope.session.commit()
    if cache is not None:
        cache.forget(row.prefix)


# an integration's last use is written at most this often, so busy LMSs don't serialise on it
LAST_USED_EVERY_SECONDS = 60


async def verify_api_key(session: AsyncSession, plaintext: str, now: datetime) -> ApiKey | None:
    """The active key that ``plaintext`` is, its ``last_used_at`` brought up to date; None
    for a key that is unknown, revoked or wrong (told apart by nothing but timing-safe)."""
    prefix = parse_prefix(plaintext)
    if prefix is None:
        return None
    key = (await session.exec(select(ApiKey).where(ApiKey.prefix == prefix))).first()
    if (
        key is None
        or key.revoked_at is not None
        or not hmac.compare_digest(hash_api_key(plaintext), key.key_hash)
    ):
        return None
    if (
        key.last_used_at is None
        or (now - key.last_used_at).total_seconds() > LAST_USED_EVERY_SECONDS
    ):
        key.last_used_at = now
        session.add(key)
        await session.commit()
    return key


class WebhookSecretPublic(BaseModel):
    id: int
    name: str
    key_id: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class WebhookSecretCreated(WebhookSecretPublic):
    secret: str
    """The shared secret. It is shown only in this response."""


def _webhook_public(row: WebhookSecret) -> WebhookSecretPublic:
    assert row.id is not None
    return WebhookSecretPublic(
        id=row.id,
        name=row.name,
        key_id=row.key_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def create_webhook_secret(
    session: AsyncSession,
    settings: Settings,
    organisation_id: int,
    name: str,
    *,
    audit_scope: OrgScope | None = None,
) -> WebhookSecretCreated:
    secret = "whsec_" + secrets.token_urlsafe(32)
    row = WebhookSecret(
        organisation_id=organisation_id,
        name=name,
        key_id="wh_" + secrets.token_hex(8),
        secret_encrypted=encrypt_secret(settings, secret),
    )
    session.add(row)
    if audit_scope is not None:
        await session.flush()
        audit.record(
            audit_scope,
            "webhook_secret.create",
            target_type="webhook_secret",
            target_id=row.id,
            summary=f"Created webhook secret “{name}” ({row.key_id})",
            details={"name": name, "key_id": row.key_id},
        )
    await session.commit()
    return WebhookSecretCreated(**_webhook_public(row).model_dump(), secret=secret)


async def list_webhook_secrets(scope: OrgScope) -> list[WebhookSecretPublic]:
    rows = await scope.all(scope.select(WebhookSecret).order_by(col(WebhookSecret.id).desc()))
    return [_webhook_public(r) for r in rows]


async def revoke_webhook_secret(scope: OrgScope, secret_id: int) -> None:
    row = await scope.get(WebhookSecret, secret_id, what="webhook secret")
    if row.revoked_at is not None:
        raise ClientException(f"webhook secret {secret_id} is already revoked", status_code=409)
    row.revoked_at = utcnow()
    scope.session.add(row)
    audit.record(
        scope,
        "webhook_secret.revoke",
        target_type="webhook_secret",
        target_id=secret_id,
        summary=f"Revoked webhook secret “{row.name}” ({row.key_id})",
        details={"name": row.name, "key_id": row.key_id},
    )
    await scope.session.commit()


async def note_webhook_secret_used(
    sessionmaker: async_sessionmaker[AsyncSession], row: WebhookSecret, now: datetime
) -> None:
    """Bring a secret's ``last_used_at`` up to date after a verified delivery, at most every
    :data:`LAST_USED_EVERY_SECONDS` (like an API key's; no write in between)."""
    if row.last_used_at is not None and (
        (now - row.last_used_at).total_seconds() <= LAST_USED_EVERY_SECONDS
    ):
        return
    async with sessionmaker() as session:
        row.last_used_at = now
        session.add(row)
        await session.commit()
