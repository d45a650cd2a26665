"""The aes128gcm body the worker sends (pywebpush's encryption) is what a device decrypts.

Each message has its own ephemeral P-256 key and salt (RFC 8291), and keys no browser makes
or payloads over one record are refused with a ValueError before anything is sent.
"""

import secrets

import http_ece
import pytest

from backend.push.sender import RECORD_SIZE, Device, encrypt
from tests.push.push_service import FakeDevice


@pytest.mark.parametrize("size", [1, 240, RECORD_SIZE - 17])
def test_a_device_decrypts_the_body_at_every_size_one_record_holds(size: int) -> None:
    for _ in range(3):
        device = FakeDevice("https://push.example/push/x")
        body = device.subscription_json()
        target = Device(1, body["endpoint"], body["keys"]["p256dh"], body["keys"]["auth"])
        payload = secrets.token_bytes(size)
        sealed = encrypt(target, payload)
        plain = http_ece.decrypt(
            sealed, private_key=device.private_key, auth_secret=device.auth, version="aes128gcm"
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
