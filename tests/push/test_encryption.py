"""The aes128gcm body the worker sends is exactly what pywebpush's encryption would send.

pywebpush's ``WebPusher.encode`` calls ``http_ece.encrypt(data, private_key=<fresh P-256
key>, dh=<p256dh>, auth_secret=<auth>, version="aes128gcm")``; given the same ephemeral key
and salt, ours must produce the same bytes, and a device must decrypt it.
"""

import secrets

import http_ece
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from backend.push.sender import RECORD_SIZE, Device, aes128gcm_body, encrypt
from tests.push.push_service import FakeDevice, unb64url


def _keys(device: FakeDevice) -> tuple[bytes, bytes]:
    body = device.subscription_json()
    return unb64url(body["keys"]["p256dh"]), unb64url(body["keys"]["auth"])


@pytest.mark.parametrize("size", [1, 240, RECORD_SIZE - 17])
def test_body_is_byte_for_byte_what_pywebpush_encryption_makes(size: int) -> None:
    for _ in range(5):
        device = FakeDevice("https://push.example/push/x")
        receiver, auth = _keys(device)
        payload = secrets.token_bytes(size)
        sender_key = ec.generate_private_key(ec.SECP256R1())
        salt = secrets.token_bytes(16)
        ours = aes128gcm_body(receiver, auth, payload, sender_key=sender_key, salt=salt)
        theirs = http_ece.encrypt(
            payload,
            salt=salt,
            private_key=sender_key,
            dh=receiver,
            auth_secret=auth,
            version="aes128gcm",
        )
        assert ours == theirs
        plain = http_ece.decrypt(
            ours, private_key=device.private_key, auth_secret=device.auth, version="aes128gcm"
        )
        assert plain == payload


def test_every_message_has_its_own_ephemeral_key_and_salt() -> None:
    device = FakeDevice("https://push.example/push/x")
    body = device.subscription_json()
    target = Device(1, body["endpoint"], body["keys"]["p256dh"], body["keys"]["auth"])
    first, second = encrypt(target, b'{"title":"Hoi"}'), encrypt(target, b'{"title":"Hoi"}')
    assert first[:16] != second[:16], "salt"
    assert first[21:86] != second[21:86], "the sender's public key (key id)"
    assert device.decrypt(first) == device.decrypt(second) == {"title": "Hoi"}


def test_keys_no_browser_makes_and_oversized_payloads_are_refused() -> None:
    device = FakeDevice("https://push.example/push/x")
    body = device.subscription_json()
    p256dh, auth = body["keys"]["p256dh"], body["keys"]["auth"]
    not_on_curve = "BA" + "A" * 85  # 0x04 then zeros: the right length, not a curve point
    for bad in (Device(1, "", not_on_curve, auth), Device(1, "", p256dh, "AAAA")):
        with pytest.raises(ValueError):
            encrypt(bad, b"{}")
    with pytest.raises(ValueError, match="does not fit one record"):
        encrypt(Device(1, "", p256dh, auth), b"x" * (RECORD_SIZE - 16))
