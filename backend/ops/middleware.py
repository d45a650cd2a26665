"""The outermost layer of the app: a request id for every HTTP request, the request counter,
and ``/metrics``.

It wraps Litestar's whole ASGI handler (:func:`install`), outside the router and the
exception handlers, so it sees every answer: 404s, 500s, and ``/metrics`` itself, which it
serves before the session, authentication and CSRF middleware run (an
``Authorization: Bearer`` there is the metrics token, not an API key).

- **Request id**: an incoming ``X-Request-Id`` of 1-128 characters from
  ``A-Z a-z 0-9 . _ : = / + @ -`` is kept (a load balancer's or a client's), anything else is
  replaced by 16 random hex digits. It is :data:`backend.log_config.REQUEST_ID` while the
  request is handled (every log line names it) and the response's ``X-Request-Id``.
- **Counting**: one dictionary update per request, by route template (``unmatched`` when no
  route matched), method and status class.
- **/metrics**: only when a metrics token is configured (``LEARNLOOP_METRICS_TOKEN`` or
  ``LEARNLOOP_METRICS_TOKEN_FILE``); otherwise the path is the app's like any other (404).
  Without ``Authorization: Bearer <token>``, or with another token: 401.
"""

import hmac
import re
from typing import Any

from litestar import Litestar

from backend.context import AppContext
from backend.log_config import REQUEST_ID, new_request_id
from backend.ops import exposition, metrics

METRICS_PATH = "/metrics"
REQUEST_ID_HEADER = b"x-request-id"
_VALID_ID = re.compile(rb"[A-Za-z0-9._:=/+@-]{1,128}")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
STATUS_CLASSES = ("0xx", "1xx", "2xx", "3xx", "4xx", "5xx")
UNMATCHED = "unmatched"


def request_id_from(headers: Any) -> str:
    """The sender's request id when it is acceptable, else a new one."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _VALID_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return new_request_id()


def _refusal(status: int, detail: str) -> tuple[dict[str, Any], dict[str, Any]]:
    body = b'{"status_code":%d,"detail":"%s"}' % (status, detail.encode())
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="learnloop metrics"'))
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


class OperationsMiddleware:
    def __init__(self, app: Any, context: AppContext) -> None:
        self.app = app
        self.context = context
        self.token = context.settings.metrics_token.encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope["headers"])
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        status = 500

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message.get("headers")
                if isinstance(headers, list):
                    headers.append(id_header)
                else:
                    message["headers"] = [*(headers or ()), id_header]
            await send(message)

        reset = REQUEST_ID.set(request_id)
        route = None
        try:
            if self.token and scope["path"] == METRICS_PATH:
                route = METRICS_PATH
                await self.serve_metrics(scope, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(reset)
            method = scope["method"]
            key = (
                route or scope.get("path_template") or UNMATCHED,
                method if method in METHODS else "other",
                STATUS_CLASSES[status // 100] if 0 <= status < 600 else "other",
            )
            counts = metrics.REQUESTS.values
            counts[key] = counts.get(key, 0) + 1

    def authorised(self, scope: Any) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credential = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(
                    credential.strip(), self.token
                )
        return False

    async def serve_metrics(self, scope: Any, send: Any) -> None:
        if not self.authorised(scope):
            start, body = _refusal(401, "the metrics token is missing or wrong")
            await send(start)
            await send(body)
            return
        text = (await exposition.scrape(self.context.engine)).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", exposition.CONTENT_TYPE.encode()),
                    (b"content-length", str(len(text)).encode()),
                    (b"cache-control", b"no-store"),
                    (b"x-content-type-options", b"nosniff"),
                ],
            }
        )
        await send(
            {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else text}
        )


def install(app: Litestar, context: AppContext) -> Litestar:
    """Wrap ``app``'s ASGI handler (as Litestar's own OpenTelemetry plugin does)."""
    app.asgi_handler = OperationsMiddleware(app.asgi_handler, context)
    return app
