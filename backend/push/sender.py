"""One push message to one device: encrypt (aes128gcm), sign (VAPID), POST, classify the answer.

One ``aiohttp.ClientSession`` per worker process is shared by every send (connection reuse to
each push service). pywebpush's ``WebPusher.encode`` does the encryption (RFC 8291 aes128gcm:
a fresh ephemeral ECDH key and salt per message); the POST is made here, on that session, with
header dicts built once per (kind, push-service origin, VAPID token) and a session-wide
timeout, because ``WebPusher.send_async`` rebuilds all of that for every message (see
benchmarks/README.md, "Web Push fan-out").
"""

import asyncio
import binascii
import email.utils
import enum
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp
from pywebpush import WebPusher

from backend.push.keys import b64url_decode
from backend.push.payload import push_headers
from backend.push.vapid import VapidHeaderCache, origin_of

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


RECORD_SIZE = 4096
"""aes128gcm sends one record of at most this many bytes (RFC 8291)."""


class _Encrypter(WebPusher):  # type: ignore[misc]  # pywebpush ships no types
    """pywebpush's ``encode`` (RFC 8291 aes128gcm: a fresh ephemeral P-256 key and salt per
    message) for already decoded subscription keys.

    ``WebPusher.__init__`` deep-copies the subscription dict and decodes its keys for every
    message; ``encode`` only needs the two raw keys, so they are set directly.
    """

    def __init__(self, receiver_key: bytes, auth_key: bytes) -> None:  # state for encode()
        self.verbose = False
        self.receiver_key = receiver_key
        self.auth_key = auth_key


def encrypt(device: Device, payload: bytes) -> bytes:
    """The aes128gcm body for ``device`` (ValueError for keys no browser would make)."""
    try:
        receiver, auth = b64url_decode(device.p256dh), b64url_decode(device.auth)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"subscription keys are not base64url: {exc}") from exc
    if len(receiver) != 65 or receiver[0] != 4:
        raise ValueError("p256dh is not an uncompressed P-256 point")
    if len(auth) < 16:
        raise ValueError("auth secret is shorter than 16 bytes")
    if len(payload) > RECORD_SIZE - 17:  # 16-byte tag and the padding delimiter
        raise ValueError(f"payload of {len(payload)} bytes does not fit one record")
    body: bytes = _Encrypter(receiver, auth).encode(payload, "aes128gcm")["body"]
    return body


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
        # (kind, origin) -> (the VAPID headers they were built with, all request headers)
        self._headers: dict[tuple[str, str], tuple[dict[str, str], dict[str, str]]] = {}

    async def __aenter__(self) -> "PushSender":
        connector = aiohttp.TCPConnector(
            limit=0,
            limit_per_host=self._connections_per_host,
            ttl_dns_cache=300,
            keepalive_timeout=30,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=self.timeout,
            # push services need none of these; not sending them saves work on both ends
            skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
            auto_decompress=False,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def headers(self, kind: str, endpoint: str) -> dict[str, str]:
        """TTL, Urgency, Topic, Content-Encoding and VAPID for this kind and push service.

        Built once per (kind, origin) and rebuilt when the VAPID cache re-signs its token;
        aiohttp copies what it is given, so one dict serves every request.
        """
        origin = origin_of(endpoint)
        vapid = self.vapid.headers_for(endpoint, origin=origin)
        cached = self._headers.get((kind, origin))
        if cached is not None and cached[0] is vapid:
            return cached[1]
        headers = push_headers(kind) | vapid | {"Content-Encoding": "aes128gcm"}
        self._headers[(kind, origin)] = (vapid, headers)
        return headers

    async def send(self, device: Device, kind: str, payload: bytes) -> SendResult:
        assert self._session is not None, "use PushSender as an async context manager"
        try:
            body = encrypt(device, payload)
        except ValueError as exc:  # keys no browser makes (validated on subscribe)
            return SendResult(Outcome.REJECTED, error=f"cannot encrypt: {exc}"[:300])
        headers = self.headers(kind, device.endpoint)
        try:
            async with self._session.post(device.endpoint, data=body, headers=headers) as response:
                status = response.status
                if status < 300:
                    return SendResult(Outcome.DELIVERED, status)
                text = await response.text(errors="replace")
                return classify(status, response.headers.get("Retry-After"), text)
        except TimeoutError:
            return SendResult(Outcome.RETRY, error=f"timed out after {self.timeout.total:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            return SendResult(Outcome.RETRY, error=f"connection failed: {exc}"[:300])


# one message to send: the device, the nudge's kind, the plaintext payload
SendJob = tuple[Device, str, bytes]


class _Sending:
    """One caller's jobs on the lanes: their results, how many are left, who waits."""

    __slots__ = ("cancelled", "done", "left", "on_result", "results")

    def __init__(self, count: int, on_result: Callable[[int, SendResult], None] | None) -> None:
        self.results: list[SendResult | None] = [None] * count
        self.left = count
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_result = on_result
        self.cancelled = False


class SendLanes:
    """``concurrency`` long-lived tasks that send the jobs of every caller from one queue.

    The limit on messages in flight per worker process, shared by all its sender loops. A
    task and a semaphore turn per message cost ~20 us of CPU, a fifth of a send's Python
    (benchmarks/README.md); a lane takes the next job as soon as its last one is answered.
    Use as ``async with SendLanes(sender, 64) as lanes``.
    """

    def __init__(self, sender: PushSender, concurrency: int) -> None:
        self.sender = sender
        self.concurrency = max(1, concurrency)
        self._queue: asyncio.Queue[tuple[SendJob, _Sending, int]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> "SendLanes":
        self._tasks = [
            asyncio.create_task(self._lane(), name=f"push-lane-{i}")
            for i in range(self.concurrency)
        ]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def send_all(
        self,
        jobs: Sequence[SendJob],
        on_result: Callable[[int, SendResult], None] | None = None,
    ) -> list[SendResult]:
        """Every job's result in order; ``on_result(index, result)`` as each one comes in."""
        assert self._tasks, "use SendLanes as an async context manager"
        if not jobs:
            return []
        sending = _Sending(len(jobs), on_result)
        for index, job in enumerate(jobs):
            self._queue.put_nowait((job, sending, index))
        try:
            await sending.done
        except asyncio.CancelledError:
            sending.cancelled = True  # the lanes drop what is still queued
            raise
        return sending.results  # type: ignore[return-value]  # all set once done

    async def _lane(self) -> None:
        queue, send = self._queue, self.sender.send
        while True:
            (device, kind, payload), sending, index = await queue.get()
            if sending.cancelled:
                continue
            try:
                result = await send(device, kind, payload)
            except Exception as exc:  # a bug: fail this message, keep the lane
                result = SendResult(Outcome.RETRY, error=f"send failed: {exc!r}"[:300])
            sending.results[index] = result
            if sending.on_result is not None:
                sending.on_result(index, result)
            sending.left -= 1
            if sending.left == 0 and not sending.done.done():
                sending.done.set_result(None)
