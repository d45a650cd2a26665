"""``/metrics`` for a process without the web app: ``learnloop worker --metrics-port``.

The push worker and the scheduler count into :mod:`backend.ops.metrics` in their own
process; this tiny HTTP/1.1 server (one request per connection) answers ``GET /metrics``
with the same text and the same token rule as the app (``backend.ops.middleware``).
"""

import asyncio
import hmac
import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from backend.ops import exposition

log = logging.getLogger("learnloop.ops")

MAX_HEAD_BYTES = 8192
READ_TIMEOUT_SECONDS = 5.0


def _response(status: str, body: bytes, content_type: str, extra: str = "") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\n"
        f"content-length: {len(body)}\r\ncache-control: no-store\r\n{extra}connection: close\r\n\r\n"
    )
    return head.encode() + body


async def _answer(reader: asyncio.StreamReader, engine: AsyncEngine, token: bytes) -> bytes:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_SECONDS)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        return _response("400 Bad Request", b"bad request\n", "text/plain")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    parts = request_line.split(" ")
    if len(parts) != 3 or parts[0] not in {"GET", "HEAD"} or parts[1].split("?")[0] != "/metrics":
        return _response("404 Not Found", b"not found\n", "text/plain")
    given = b""
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "authorization":
            scheme, _, credential = value.strip().partition(" ")
            if scheme.lower() == "bearer":
                given = credential.strip().encode("latin-1")
    if not hmac.compare_digest(given, token):
        return _response(
            "401 Unauthorized",
            b"the metrics token is missing or wrong\n",
            "text/plain",
            'www-authenticate: Bearer realm="learnloop metrics"\r\n',
        )
    body = (await exposition.scrape(engine)).encode()
    return _response("200 OK", b"" if parts[0] == "HEAD" else body, exposition.CONTENT_TYPE)


async def start(engine: AsyncEngine, token: str, host: str, port: int) -> asyncio.Server:
    """Serve ``/metrics`` on ``host``:``port`` until the returned server is closed."""
    secret = token.encode()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(await _answer(reader, engine, secret))
            await writer.drain()
        except Exception:  # a scrape must never take the worker down
            log.warning("metrics: a scrape failed", exc_info=True)
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, limit=MAX_HEAD_BYTES)
