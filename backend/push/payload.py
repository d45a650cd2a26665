"""What a push message carries (the JSON the service worker shows) and its delivery headers."""

import re
from dataclasses import dataclass

import msgspec

ICON = "/static/icons/icon-192.png"
BADGE = "/static/icons/badge-96.png"

HOUR = 3600
DEFAULT_TTL = 12 * HOUR
# a reminder to learn today is stale after a few hours; a streak warning is urgent and short-lived
REMINDER_TTL = 3 * HOUR
STREAK_AT_RISK_TTL = 2 * HOUR

_NOT_TOPIC = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class PushMessage:
    """The fields of an outbox row (``nudge``) that go to the device."""

    nudge_id: str
    kind: str
    locale: str
    title: str
    body: str
    url: str


def payload_json(message: PushMessage) -> bytes:
    """The plaintext the service worker's ``push`` handler parses (encrypted on the way).

    Compact UTF-8 JSON by msgspec, ~5x ``json.dumps`` per message.
    """
    return msgspec.json.encode(
        {
            "nudge_id": message.nudge_id,
            "title": message.title,
            "body": message.body,
            "url": message.url if message.url.startswith("/") else "/",
            "icon": ICON,
            "badge": BADGE,
            "tag": message.kind,
            "lang": message.locale,
        }
    )


def topic_for(kind: str) -> str:
    """RFC 8030 Topic: a newer undelivered message of the same kind replaces the older one."""
    return _NOT_TOPIC.sub("-", kind)[:32] or "nudge"


def ttl_for(kind: str) -> int:
    if "streak" in kind and "risk" in kind:
        return STREAK_AT_RISK_TTL
    if "reminder" in kind:
        return REMINDER_TTL
    return DEFAULT_TTL


def urgency_for(kind: str) -> str:
    return "high" if "streak" in kind and "risk" in kind else "normal"


def push_headers(kind: str) -> dict[str, str]:
    """TTL, Urgency and Topic for a nudge of this kind (VAPID is added per origin).

    Built when a worker's sender first needs them for a (kind, push service) pair.
    """
    return {"TTL": str(ttl_for(kind)), "Urgency": urgency_for(kind), "Topic": topic_for(kind)}
