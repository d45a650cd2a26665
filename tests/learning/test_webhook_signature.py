"""Signed LMS webhooks: HMAC signature, replay window and delivery body (backend.learning.webhook)."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.learning.webhook import (
    LearnerRef,
    WebhookDelivery,
    WebhookError,
    parse_delivery,
    sign,
    verify_signature,
)

SECRET = b"whsec_current"
OLD_SECRET = b"whsec_previous"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())
BODY = b'{"delivery_id":"evt_1","event":"course.completed"}'


def verify(
    *,
    body: bytes = BODY,
    timestamp: int | str | None = NOW_TS,
    signature: str | None = None,
    secret: bytes = SECRET,
    now: datetime = NOW,
) -> datetime:
    if signature is None and isinstance(timestamp, int):
        signature = sign(SECRET, body, timestamp)
    ts_header = str(timestamp) if timestamp is not None else None
    return verify_signature(secret, body, ts_header, signature, now)


def refusal(**kwargs: Any) -> WebhookError:
    with pytest.raises(WebhookError) as caught:
        verify(**kwargs)
    return caught.value


# --------------------------------------------------------------------------- signing


def test_sign_is_hex_hmac_sha256_of_timestamp_dot_raw_body() -> None:
    expected = hmac.new(SECRET, b"1718000000." + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, 1718000000) == f"v1={expected}"


def test_sign_refuses_an_empty_secret_or_negative_timestamp() -> None:
    with pytest.raises(ValueError):
        sign(b"", BODY, NOW_TS)
    with pytest.raises(ValueError):
        sign(SECRET, BODY, -1)


# --------------------------------------------------------------------------- verification


def test_valid_signature_is_accepted_and_returns_the_signed_time() -> None:
    assert verify() == NOW


def test_now_in_another_timezone_is_fine() -> None:
    assert verify(now=NOW.astimezone(timezone(timedelta(hours=2)))) == NOW


def test_rotated_secret_either_signature_matches() -> None:
    both = f"{sign(OLD_SECRET, BODY, NOW_TS)},{sign(SECRET, BODY, NOW_TS)}"
    assert verify(signature=both) == NOW
    assert verify(signature=both, secret=OLD_SECRET) == NOW
    spaced = f" {sign(SECRET, BODY, NOW_TS)} , {sign(OLD_SECRET, BODY, NOW_TS)} "
    assert verify(signature=spaced) == NOW


def test_unknown_signature_schemes_are_ignored() -> None:
    assert verify(signature=f"v0=abc,{sign(SECRET, BODY, NOW_TS)}") == NOW


def test_uppercase_hex_is_accepted() -> None:
    assert verify(signature=sign(SECRET, BODY, NOW_TS).upper().replace("V1=", "v1=")) == NOW


def test_tampered_body_is_refused() -> None:
    signature = sign(SECRET, BODY, NOW_TS)
    err = refusal(body=BODY.replace(b"evt_1", b"evt_2"), signature=signature)
    assert err.field == "X-Learnloop-Signature"
    assert "does not match" in err.message


def test_wrong_secret_is_refused() -> None:
    err = refusal(signature=sign(b"someone-else", BODY, NOW_TS))
    assert err.field == "X-Learnloop-Signature"


def test_tampered_timestamp_is_refused() -> None:
    signature = sign(SECRET, BODY, NOW_TS - 600)
    assert refusal(timestamp=NOW_TS, signature=signature).field == "X-Learnloop-Signature"


def test_replay_six_minutes_old_is_refused() -> None:
    err = refusal(timestamp=NOW_TS - 6 * 60)
    assert err.field == "X-Learnloop-Timestamp"
    assert "360 seconds old" in err.message
    assert "replay" in err.message


def test_four_minutes_old_is_accepted() -> None:
    assert verify(timestamp=NOW_TS - 4 * 60) == NOW - timedelta(minutes=4)


def test_exactly_five_minutes_old_is_still_accepted() -> None:
    assert verify(timestamp=NOW_TS - 5 * 60) == NOW - timedelta(minutes=5)


def test_future_within_tolerance_is_accepted() -> None:
    assert verify(timestamp=NOW_TS + 4 * 60) == NOW + timedelta(minutes=4)


def test_future_beyond_tolerance_is_refused() -> None:
    err = refusal(timestamp=NOW_TS + 6 * 60)
    assert err.field == "X-Learnloop-Timestamp"
    assert "future" in err.message


def test_custom_tolerance_is_honoured() -> None:
    ts = NOW_TS - 90
    signature = sign(SECRET, BODY, ts)
    with pytest.raises(WebhookError):
        verify_signature(SECRET, BODY, str(ts), signature, NOW, tolerance=timedelta(minutes=1))


@pytest.mark.parametrize(
    ("timestamp", "signature", "field", "hint"),
    [
        (None, "v1=" + "0" * 64, "X-Learnloop-Timestamp", "missing"),
        ("", "v1=" + "0" * 64, "X-Learnloop-Timestamp", "missing"),
        ("soon", "v1=" + "0" * 64, "X-Learnloop-Timestamp", "Unix time"),
        ("-1714564800", "v1=" + "0" * 64, "X-Learnloop-Timestamp", "Unix time"),
        ("1714564800.5", "v1=" + "0" * 64, "X-Learnloop-Timestamp", "Unix time"),
        ("2024-05-01T12:00:00Z", "v1=" + "0" * 64, "X-Learnloop-Timestamp", "Unix time"),
        ("99999999999", "v1=" + "0" * 64, "X-Learnloop-Timestamp", "Unix time"),
        (str(NOW_TS), None, "X-Learnloop-Signature", "missing"),
        (str(NOW_TS), "   ", "X-Learnloop-Signature", "missing"),
        (str(NOW_TS), "0" * 64, "X-Learnloop-Signature", "scheme=value"),
        (str(NOW_TS), "v1=", "X-Learnloop-Signature", "64 hexadecimal"),
        (str(NOW_TS), "v1=xyz", "X-Learnloop-Signature", "64 hexadecimal"),
        (str(NOW_TS), "v1=" + "0" * 63, "X-Learnloop-Signature", "64 hexadecimal"),
        (str(NOW_TS), "sha256=" + "0" * 64, "X-Learnloop-Signature", "no v1"),
        (str(NOW_TS), "v1=" + "0" * 64 + ",", "X-Learnloop-Signature", "scheme=value"),
        (str(NOW_TS), ",".join(["v1=" + "0" * 64] * 9), "X-Learnloop-Signature", "more than"),
        (str(NOW_TS), "v1=" + "0" * 3000, "X-Learnloop-Signature", "longer than"),
    ],
)
def test_missing_or_malformed_headers_are_refused(
    timestamp: str | None, signature: str | None, field: str, hint: str
) -> None:
    with pytest.raises(WebhookError) as caught:
        verify_signature(SECRET, BODY, timestamp, signature, NOW)
    assert caught.value.field == field
    assert hint in caught.value.message


def test_caller_mistakes_are_plain_value_errors() -> None:
    signature = sign(SECRET, BODY, NOW_TS)
    with pytest.raises(ValueError, match="secret"):
        verify_signature(b"", BODY, str(NOW_TS), signature, NOW)
    with pytest.raises(ValueError, match="aware"):
        verify_signature(SECRET, BODY, str(NOW_TS), signature, NOW.replace(tzinfo=None))


def test_webhook_error_str_and_pickling() -> None:
    err = WebhookError("course.external_id", "is required")
    assert str(err) == "course.external_id: is required"
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert (again.field, again.message) == (err.field, err.message)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    timestamp=st.none() | st.text(max_size=20) | st.integers(0, 10**11).map(str),
    signature=st.none() | st.text(max_size=200),
    body=st.binary(max_size=64),
)
def test_fuzz_headers_raise_only_webhook_error(
    timestamp: str | None, signature: str | None, body: bytes
) -> None:
    with contextlib.suppress(WebhookError):
        verify_signature(SECRET, body, timestamp, signature, NOW)


# --------------------------------------------------------------------------- delivery body


def make_delivery(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "delivery_id": "evt_01HZX3",
        "event": "course.completed",
        "learner": {"email": "Ada@Example.com"},
        "course": {"external_id": "course-7", "title": "  Veilig werken "},
        "occurred_at": "2024-05-01T09:30:00+02:00",
        "minutes": 45,
    }
    document.update(overrides)
    return {key: value for key, value in document.items() if value is not ...}


def encode(document: object) -> bytes:
    return json.dumps(document).encode()


def delivery_error(raw: bytes) -> WebhookError:
    with pytest.raises(WebhookError) as caught:
        parse_delivery(raw)
    return caught.value


def test_valid_delivery_is_parsed() -> None:
    delivery = parse_delivery(encode(make_delivery()))
    assert delivery == WebhookDelivery(
        delivery_id="evt_01HZX3",
        event="course.completed",
        learner=LearnerRef(email="ada@example.com"),
        course_external_id="course-7",
        course_title="Veilig werken",
        occurred_at=datetime(2024, 5, 1, 7, 30, tzinfo=UTC),
        minutes=45,
        fingerprint=delivery.fingerprint,
    )
    assert delivery.kind == "completion"
    assert len(delivery.fingerprint) == 64


def test_progress_event_with_external_learner_and_no_optionals() -> None:
    delivery = parse_delivery(
        encode(
            make_delivery(
                event="course.progressed",
                learner={"external_id": "lms-user-42"},
                course={"external_id": "c1"},
                minutes=...,
            )
        )
    )
    assert delivery.kind == "progress"
    assert delivery.learner == LearnerRef(external_id="lms-user-42")
    assert (delivery.course_title, delivery.minutes) == (None, None)


def test_null_optionals_mean_absent() -> None:
    delivery = parse_delivery(
        encode(make_delivery(minutes=None, course={"external_id": "c1", "title": None}))
    )
    assert (delivery.course_title, delivery.minutes) == (None, None)


@pytest.mark.parametrize("minutes", [0, 10080])
def test_minutes_bounds_are_inclusive(minutes: int) -> None:
    assert parse_delivery(encode(make_delivery(minutes=minutes))).minutes == minutes


def test_fingerprint_ignores_whitespace_and_key_order_but_not_content() -> None:
    document = make_delivery()
    compact = parse_delivery(json.dumps(document, separators=(",", ":")).encode())
    pretty = parse_delivery(json.dumps(dict(reversed(list(document.items()))), indent=2).encode())
    changed = parse_delivery(encode(make_delivery(minutes=46)))
    assert compact.fingerprint == pretty.fingerprint
    assert compact.fingerprint != changed.fingerprint


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"delivery_id": ...}, "delivery_id"),
        ({"delivery_id": ""}, "delivery_id"),
        ({"delivery_id": 42}, "delivery_id"),
        ({"delivery_id": "x" * 201}, "delivery_id"),
        ({"delivery_id": "evt\n1"}, "delivery_id"),
        ({"event": "course.started"}, "event"),
        ({"event": None}, "event"),
        ({"event": ["course.completed"]}, "event"),
        ({"learner": ...}, "learner"),
        ({"learner": "ada@example.com"}, "learner"),
        ({"learner": {}}, "learner"),
        ({"learner": {"email": "a@example.com", "external_id": "42"}}, "learner"),
        ({"learner": {"email": "not-an-email"}}, "learner.email"),
        ({"learner": {"email": None}}, "learner.email"),
        ({"learner": {"external_id": ""}}, "learner.external_id"),
        ({"learner": {"id": "42"}}, "learner.id"),
        ({"course": ...}, "course"),
        ({"course": []}, "course"),
        ({"course": {"title": "No id"}}, "course.external_id"),
        ({"course": {"external_id": 7}}, "course.external_id"),
        ({"course": {"external_id": "c", "title": "x" * 301}}, "course.title"),
        ({"course": {"external_id": "c", "title": 5}}, "course.title"),
        ({"course": {"external_id": "c", "name": "x"}}, "course.name"),
        ({"occurred_at": ...}, "occurred_at"),
        ({"occurred_at": "2024-05-01T09:30:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": 1714548600}, "occurred_at"),
        ({"minutes": -1}, "minutes"),
        ({"minutes": 10081}, "minutes"),
        ({"minutes": 4.5}, "minutes"),
        ({"minutes": "45"}, "minutes"),
        ({"minutes": True}, "minutes"),
        ({"minuts": 45}, "minuts"),
    ],
)
def test_invalid_deliveries_name_the_field(overrides: dict[str, Any], field: str) -> None:
    assert delivery_error(encode(make_delivery(**overrides))).field == field


def test_offset_missing_message_mentions_the_offset() -> None:
    err = delivery_error(encode(make_delivery(occurred_at="2024-05-01T09:30:00")))
    assert "offset" in err.message


@pytest.mark.parametrize(
    ("raw", "hint"),
    [
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "UTF-8"),
        (b"[]", "JSON object"),
        (b'"text"', "JSON object"),
        (b'{"delivery_id": "a", "delivery_id": "b"}', "twice"),
        (b'{"minutes": NaN}', "NaN"),
        (b" " * (64 * 1024 + 1), "at most"),
        (b"[" * 30_000 + b"]" * 30_000, "not valid JSON"),
    ],
)
def test_undecodable_bodies_are_refused_as_body(raw: bytes, hint: str) -> None:
    err = delivery_error(raw)
    assert err.field == "body"
    assert hint in err.message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=10,
)
FIELDS = ["delivery_id", "event", "learner", "course", "occurred_at", "minutes"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    field=st.sampled_from(
        [*FIELDS, "learner.email", "learner.external_id", "course.external_id", "course.title"]
    ),
    value=json_values,
)
def test_fuzz_any_value_in_any_field_raises_only_webhook_error(field: str, value: object) -> None:
    document = make_delivery()
    if field == "learner.external_id":
        document["learner"] = {"external_id": value}
    elif "." in field:
        outer, inner = field.split(".")
        document[outer] = {**document[outer], inner: value}
    else:
        document[field] = value
    with contextlib.suppress(WebhookError):
        parse_delivery(encode(document))


@settings(max_examples=150, deadline=None)
@given(raw=st.binary(max_size=200) | json_values.map(encode))
def test_fuzz_any_body_raises_only_webhook_error(raw: bytes) -> None:
    with contextlib.suppress(WebhookError):
        parse_delivery(raw)
