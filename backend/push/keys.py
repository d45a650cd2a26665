"""The VAPID key pair: where it comes from, and its public half as browsers want it."""

import base64
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from backend.db import embedded
from backend.settings import Settings

log = logging.getLogger("learnloop.push")

DEV_SUBJECT = "mailto:learnloop@localhost"
# P-256 group order: a scalar derived from the secret is reduced into [1, n-1]
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


class PushNotConfigured(RuntimeError):
    """Web Push has no VAPID key: the message says how to give it one."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class VapidKey:
    private_key: ec.EllipticCurvePrivateKey
    subject: str
    source: str  # where it came from, for logs and errors

    @property
    def public_key_b64(self) -> str:
        """The application server key for ``PushManager.subscribe`` (uncompressed point)."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64url(point)


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_new_key(path: Path, *, force: bool = False) -> ec.EllipticCurvePrivateKey:
    """Generate a P-256 key and write its PEM to ``path`` (mode 0600, parents created)."""
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = ec.generate_private_key(ec.SECP256R1())
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
    # created with 0600 from the start, so the key is never readable by others
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem(key))
    path.chmod(0o600)
    return key


def read_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise PushNotConfigured(
            f"the VAPID key file {path} does not exist (create it with: learnloop vapid generate)"
        ) from exc
    except (ValueError, TypeError, OSError) as exc:
        raise PushNotConfigured(f"the VAPID key file {path} is not a PEM private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise PushNotConfigured(f"the VAPID key in {path} is not a P-256 (prime256v1) key")
    return key


def load_vapid_key(settings: Settings) -> VapidKey:
    """The deployment's VAPID key, or :class:`PushNotConfigured` saying what is missing.

    Configured file first. In dev/test without one: on the embedded database a key generated
    once in its data directory (``.learnloop/vapid_private.pem``, gitignored), so
    ``serve --demo`` just works; on another server a key derived from the secret, the same in
    every replica.
    """
    subject = settings.vapid_subject or (DEV_SUBJECT if settings.is_dev else "")
    if settings.vapid_private_key_file:
        if not subject:
            raise PushNotConfigured(
                "LEARNLOOP_VAPID_SUBJECT (mailto: contact for push services) is not set"
            )
        path = Path(settings.vapid_private_key_file).expanduser()
        return VapidKey(read_key(path), subject, str(path))
    if not settings.is_dev:
        raise PushNotConfigured(
            "push notifications are not configured: set LEARNLOOP_VAPID_PRIVATE_KEY_FILE "
            "(learnloop vapid generate) and LEARNLOOP_VAPID_SUBJECT"
        )
    if settings.embedded_database:
        path = embedded.data_dir() / "vapid_private.pem"
        if not path.exists():
            try:
                write_new_key(path)
                log.warning("no VAPID key configured: generated %s (dev only)", path)
            except FileExistsError:
                pass  # another process of this server generated it just now
        return VapidKey(read_key(path), subject, str(path))
    scalar = int.from_bytes(settings.derived_key("vapid-p256", 48)) % (_P256_ORDER - 1) + 1
    return VapidKey(ec.derive_private_key(scalar, ec.SECP256R1()), subject, "derived from secret")
