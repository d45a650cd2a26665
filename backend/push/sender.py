"""One push message to one device: encrypt (aes128gcm), sign (VAPID), POST, classify the answer.

One ``aiohttp.ClientSession`` per worker process is shared by every send (connection reuse to
each push service); pywebpush's ``WebPusher.send_async`` does the encryption and the POST.
"""

import email.utils
import enum
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from pywebpush import WebPusher

from backend.push.payload import push_headers
from backend.push.vapid import VapidHeaderCache

DEFAULT_RETRY_AFTER_SECONDS = 60.0


class Outcome(enum.Enum):
    DELIVERED = "delivered"  # 2xx: the push service has it
    GONE = "gone"  # 404/410: the subscription expired or was revoked
    RATE_LIMITED = "rate_limited"  # 429: try again after Retry-After
    RETRY = "retry"  # 5xx, timeout, connection trouble: try again later
    REJECTED = "rejected"  # any other 4xx: this message will never be accepted


@dataclass(frozen=True, slots=True)
class SendResult:
    outcome: Outcome
    status: int = 0
    retry_after: float = 0.0
    error: str = ""


@dataclass(frozen=True, slots=True)
class Device:
    subscription_id: int
    endpoint: str
    p256dh: str
    auth: str


def retry_after_seconds(value: str | None, now: float | None = None) -> float:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return DEFAULT_RETRY_AFTER_SECONDS
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_SECONDS
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.fromtimestamp(now if now is not None else time.time(), UTC)
    return max(0.0, (when - current).total_seconds())


def classify(status: int, retry_after: str | None, body: str) -> SendResult:
    if 200 <= status < 300:
        return SendResult(Outcome.DELIVERED, status)
    detail = f"push service answered {status}" + (f": {body[:200]}" if body else "")
    if status in (404, 410):
        return SendResult(Outcome.GONE, status, error=detail)
    if status == 429:
        return SendResult(
            Outcome.RATE_LIMITED, status, retry_after_seconds(retry_after), error=detail
        )
    if status >= 500:
        return SendResult(Outcome.RETRY, status, error=detail)
    return SendResult(Outcome.REJECTED, status, error=detail)


class PushSender:
    """Sends with one shared session; use as ``async with PushSender(...) as sender``."""

    def __init__(
        self,
        vapid: VapidHeaderCache,
        *,
        timeout: float = 10.0,
        connections_per_host: int = 64,
    ) -> None:
        self.vapid = vapid
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._connections_per_host = connections_per_host
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "PushSender":
        connector = aiohttp.TCPConnector(
            limit=0, limit_per_host=self._connections_per_host, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(connector=connector)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def send(self, device: Device, kind: str, payload: bytes) -> SendResult:
        assert self._session is not None, "use PushSender as an async context manager"
        # a new dict: the cached ones are shared, and pywebpush adds to the one it is given
        headers = push_headers(kind) | self.vapid.headers_for(device.endpoint)
        subscription = {
            "endpoint": device.endpoint,
            "keys": {"p256dh": device.p256dh, "auth": device.auth},
        }
        try:
            pusher = WebPusher(subscription, aiohttp_session=self._session)
            response = await pusher.send_async(
                payload,
                headers=headers,
                ttl=int(headers["TTL"]),
                content_encoding="aes128gcm",
                timeout=self.timeout,
            )
        except TimeoutError:
            return SendResult(Outcome.RETRY, error=f"timed out after {self.timeout.total:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return SendResult(Outcome.RETRY, error=f"connection failed: {exc}"[:300])
        except ValueError as exc:  # keys pywebpush cannot use (validated on subscribe)
            return SendResult(Outcome.REJECTED, error=f"cannot encrypt: {exc}"[:300])
        assert not isinstance(response, str)
        body = await response.text() if response.status >= 300 else ""
        return classify(response.status, response.headers.get("Retry-After"), body)
