"""A learner's devices: subscribe (one owner per device), list, unsubscribe."""

import binascii
import re
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ec
from litestar.exceptions import ValidationException
from sqlalchemy import delete
from sqlmodel import col

from backend.db.models import PushSubscription
from backend.push.keys import b64url_decode
from backend.push.schemas import PushDeviceOut, PushSubscriptionIn
from backend.settings import Settings
from backend.tenancy import OrgScope

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
_B64URL = re.compile(r"^[A-Za-z0-9_-]+={0,2}$")


def _invalid(field: str, message: str) -> ValidationException:
    return ValidationException(
        detail=f"{field}: {message}", extra=[{"key": field, "message": message}]
    )


def _check_endpoint(endpoint: str, settings: Settings) -> None:
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        _ = parts.port  # a malformed port raises here
    except ValueError as exc:
        raise _invalid("endpoint", "is not a URL") from exc
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and host in LOCAL_HOSTS and settings.push_allow_http_endpoints:
        return
    raise _invalid("endpoint", "must be an https:// URL of a push service")


def _decoded(field: str, value: str, size: int) -> bytes:
    if not _B64URL.match(value):
        raise _invalid(field, "must be base64url")
    try:
        raw = b64url_decode(value.rstrip("="))
    except (binascii.Error, ValueError) as exc:
        raise _invalid(field, "must be base64url") from exc
    if len(raw) != size:
        raise _invalid(field, f"must decode to {size} bytes, got {len(raw)}")
    return raw


def validate_subscription(data: PushSubscriptionIn, settings: Settings) -> None:
    """400 naming the field for an endpoint or keys a push could never be encrypted for."""
    _check_endpoint(data.endpoint, settings)
    point = _decoded("keys.p256dh", data.keys.p256dh, 65)
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as exc:
        raise _invalid("keys.p256dh", "is not a point on the P-256 curve") from exc
    _decoded("keys.auth", data.keys.auth, 16)


def _out(row: PushSubscription) -> PushDeviceOut:
    assert row.id is not None
    return PushDeviceOut(
        id=row.id,
        endpoint=row.endpoint,
        user_agent_label=row.user_agent_label,
        created_at=row.created_at,
        last_success_at=row.last_success_at,
    )


async def subscribe(
    org: OrgScope, settings: Settings, data: PushSubscriptionIn
) -> tuple[PushDeviceOut, bool]:
    """Store (or refresh) the caller's device; returns it and whether it is new to them."""
    validate_subscription(data, settings)
    user_id = org.principal.user_id
    assert user_id is not None  # requires_user
    session = org.session
    # A device has one owner: the endpoint is this browser's, so whoever signs in on it now
    # takes it over, also from another organisation (their nudges must not reach this
    # browser any more). This is the one query on push_subscription outside the caller's
    # organisation, and it only ever removes the previous owner's row for this endpoint.
    await session.exec(
        delete(PushSubscription).where(
            col(PushSubscription.endpoint) == data.endpoint,
            col(PushSubscription.user_id) != user_id,
        )
    )
    mine = (
        await session.exec(
            org.select(PushSubscription).where(
                PushSubscription.user_id == user_id, PushSubscription.endpoint == data.endpoint
            )
        )
    ).first()
    created = mine is None
    if mine is None:
        mine = org.add(
            PushSubscription(
                organisation_id=org.organisation_id,
                user_id=user_id,
                endpoint=data.endpoint,
                p256dh=data.keys.p256dh,
                auth=data.keys.auth,
                user_agent_label=data.user_agent_label,
            )
        )
    else:
        # the browser may have rotated its keys (resubscribed to the same endpoint)
        mine.p256dh, mine.auth = data.keys.p256dh, data.keys.auth
        if data.user_agent_label:
            mine.user_agent_label = data.user_agent_label
        mine.failure_count = 0
        session.add(mine)
    await session.commit()
    return _out(mine), created


async def my_devices(org: OrgScope) -> list[PushDeviceOut]:
    rows = await org.all(
        org.select(PushSubscription)
        .where(PushSubscription.user_id == org.principal.user_id)
        .order_by(col(PushSubscription.created_at), col(PushSubscription.id))
    )
    return [_out(row) for row in rows]


async def unsubscribe(org: OrgScope, endpoint: str) -> None:
    """Forget the caller's device with this endpoint (nothing happens if it isn't theirs)."""
    await org.session.exec(
        delete(PushSubscription).where(
            org.owns(PushSubscription),
            col(PushSubscription.user_id) == org.principal.user_id,
            col(PushSubscription.endpoint) == endpoint,
        )
    )
    await org.session.commit()
