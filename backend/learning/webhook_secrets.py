"""The LMS webhook's signing secrets at rest: sealed with a key derived from the app's secret.

The webhook (``backend.learning.webhook``) verifies deliveries with the plain secret; the
database only ever holds it encrypted (AES-GCM, ``webhook_secret.secret_encrypted``).
"""

import base64
import secrets

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from backend.settings import Settings


def _secret_cipher(settings: Settings) -> AESGCM:
    return AESGCM(settings.derived_key("webhook-secrets", 32))


def encrypt_secret(settings: Settings, secret: str) -> str:
    nonce = secrets.token_bytes(12)
    sealed = _secret_cipher(settings).encrypt(nonce, secret.encode(), b"learnloop-webhook")
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_secret(settings: Settings, stored: str) -> bytes:
    raw = base64.urlsafe_b64decode(stored.encode())
    return _secret_cipher(settings).decrypt(raw[:12], raw[12:], b"learnloop-webhook")
