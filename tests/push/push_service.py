"""A local Web Push service on 127.0.0.1: the outside part the push tests fake (RFC 8030/8291/8292).

It accepts ``POST /push/<token>``, checks the VAPID token (ES256 signature with the key in
``k=``, ``aud`` = its own origin, ``exp`` in the future and at most 24 h away, a ``sub``
contact) and the delivery headers, and **decrypts** the aes128gcm body with the device's
private key and auth secret (``http_ece``), like a browser would. Answers can be scripted
per device: a status (with headers), or ``"timeout"`` (never answer in time).

``python -m tests.push.push_service --port N --count-only`` runs it as its own process for
the benchmark and the multi-process test: it then only counts and keeps the raw bodies.
"""

import argparse
import asyncio
import base64
import json
import secrets
import ssl
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from multidict import CIMultiDict


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class FakeDevice:
    """A browser's side of a subscription: the keys only it knows, and its endpoint."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    @property
    def token(self) -> str:
        return self.endpoint.rsplit("/", 1)[1]

    def subscription_json(self, label: str = "") -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives the PWA (plus our optional label)."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        body: dict[str, Any] = {
            "endpoint": self.endpoint,
            "expirationTime": None,
            "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)},
        }
        if label:
            body["user_agent_label"] = label
        return body

    def decrypt(self, body: bytes) -> dict[str, Any]:
        plain = http_ece.decrypt(
            body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        decoded: dict[str, Any] = json.loads(plain)
        return decoded


class VapidError(ValueError):
    pass


def verify_vapid(authorization: str, origin: str, now: float) -> dict[str, Any]:
    """The claims of a valid ``vapid t=<jwt>, k=<key>`` header, or :class:`VapidError`."""
    scheme, _, params = authorization.partition(" ")
    if scheme.lower() != "vapid":
        raise VapidError(f"authorization scheme {scheme!r} is not vapid")
    parts = dict(p.strip().split("=", 1) for p in params.split(",") if "=" in p)
    if "t" not in parts or "k" not in parts:
        raise VapidError("vapid header lacks t= or k=")
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    header = json.loads(unb64url(header_b64))
    if header.get("alg") != "ES256":
        raise VapidError(f"JWT alg {header.get('alg')!r} is not ES256")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(parts["k"]))
    signature = unb64url(signature_b64)
    if len(signature) != 64:
        raise VapidError("ES256 signature is not 64 bytes")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise VapidError("JWT signature does not verify with k=") from exc
    claims: dict[str, Any] = json.loads(unb64url(claims_b64))
    if claims.get("aud") != origin:
        raise VapidError(f"aud {claims.get('aud')!r} is not {origin!r}")
    exp = int(claims.get("exp", 0))
    if exp <= now or exp > now + 24 * 3600:
        raise VapidError(f"exp {exp} is not within the next 24 hours")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
        raise VapidError("sub is not a mailto: or https: contact")
    claims["k"] = parts["k"]
    return claims


@dataclass
class Received:
    token: str
    headers: CIMultiDict[str]
    body: bytes
    claims: dict[str, Any]
    at: float


class PushService:
    """The fake push service; ``start()`` it in a running event loop."""

    def __init__(self, *, count_only: bool = False, timeout_sleep: float = 30.0) -> None:
        self.count_only = count_only
        self.timeout_sleep = timeout_sleep
        self.devices: dict[str, FakeDevice] = {}
        self.received: list[Received] = []
        self.rejected: list[str] = []
        self.requests: Counter[str] = Counter()  # every request per token, whatever answered
        self._script: dict[str, deque[Any]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self.origin = ""
        self.count = 0

    def device(self) -> FakeDevice:
        device = FakeDevice(f"{self.origin}/push/{secrets.token_urlsafe(16)}")
        self.devices[device.token] = device
        return device

    def answer(self, device: FakeDevice, *answers: Any) -> None:
        """Script the next answers for a device: 201, (429, {"Retry-After": "120"}), "timeout"."""
        self._script[device.token].extend(answers)

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> str:
        app = web.Application(client_max_size=8192)
        app.router.add_post("/push/{token}", self._push)
        app.router.add_get("/stats", self._stats)
        app.router.add_get("/last/{token}", self._last)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, backlog=1024, ssl_context=ssl_context)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        scheme = "https" if ssl_context else "http"
        self.origin = f"{scheme}://{host}:{sockets[0].getsockname()[1]}"
        return self.origin

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _stats(self, request: web.Request) -> web.Response:
        return web.json_response({"count": self.count, "tokens": len(self.requests)})

    async def _last(self, request: web.Request) -> web.Response:
        """The last (encrypted) body a device got: lets another process decrypt a sample."""
        token = request.match_info["token"]
        bodies = [r.body for r in self.received if r.token == token]
        return web.Response(body=bodies[-1]) if bodies else web.Response(status=404)

    async def _push(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        self.requests[token] += 1  # counted on arrival, before anything else can wait
        body = await request.read()
        if self.count_only:
            self.count += 1
            self.received.append(Received(token, CIMultiDict(), body, {}, 0.0))
            return web.Response(status=201)
        script = self._script.get(token)
        answer = script.popleft() if script else 201
        if answer == "timeout":
            await asyncio.sleep(self.timeout_sleep)
            return web.Response(status=201)
        status, headers = answer if isinstance(answer, tuple) else (answer, {})
        if 200 <= status < 300:
            try:
                claims = verify_vapid(
                    request.headers.get("Authorization", ""), self.origin, time.time()
                )
            except (VapidError, ValueError) as exc:
                self.rejected.append(f"{token}: {exc}")
                return web.Response(status=403, text=str(exc))
            if request.headers.get("Content-Encoding") != "aes128gcm":
                self.rejected.append(f"{token}: content encoding")
                return web.Response(status=400, text="aes128gcm only")
            self.count += 1
            self.received.append(
                Received(token, CIMultiDict(request.headers), body, claims, time.time())
            )
        return web.Response(status=status, headers=headers)

    def messages(self, device: FakeDevice) -> list[dict[str, Any]]:
        """The decrypted payloads this device got, oldest first."""
        return [device.decrypt(r.body) for r in self.received if r.token == device.token]


class CountingProtocol(asyncio.Protocol):
    """HTTP/1.1 keep-alive at the least cost per request: the benchmark's push service.

    Answers ``POST /push/<token>`` with 201 and counts it (keeping each device's last body,
    so another process can fetch it from ``GET /last/<token>`` and decrypt a sample), and
    ``GET /stats`` with the count. Nothing else of HTTP is needed by the clients measured.
    """

    count = 0
    last: dict[str, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            method, path, _ = head.split("\r\n", 1)[0].split(" ", 2)
            self.respond(method, path, body)

    def respond(self, method: str, path: str, body: bytes) -> None:
        status, payload = "404 Not Found", b""
        if method == "POST" and path.startswith("/push/"):
            CountingProtocol.count += 1
            CountingProtocol.last[path[6:]] = body
            status = "201 Created"
        elif method == "GET" and path == "/stats":
            status, payload = "200 OK", json.dumps({"count": CountingProtocol.count}).encode()
        elif method == "GET" and path.startswith("/last/") and path[6:] in CountingProtocol.last:
            status, payload = "200 OK", CountingProtocol.last[path[6:]]
        self.transport.write(
            f"HTTP/1.1 {status}\r\nContent-Length: {len(payload)}\r\n\r\n".encode() + payload
        )


async def _serve(port: int, count_only: bool, cert: str, key: str) -> None:
    context = None
    if cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)
    if count_only:
        server = await asyncio.get_running_loop().create_server(
            CountingProtocol, "127.0.0.1", port, ssl=context, backlog=1024
        )
        scheme = "https" if context else "http"
        print(f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    else:
        service = PushService()
        print(await service.start(port=port, ssl_context=context), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--count-only", action="store_true")
    parser.add_argument("--tls-cert", default="", help="serve HTTPS with this certificate (PEM)")
    parser.add_argument("--tls-key", default="")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_serve(args.port, args.count_only, args.tls_cert, args.tls_key))
