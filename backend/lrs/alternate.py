"""The xAPI Alternate Request Syntax (xAPI 1.0.3, Communication 1.3), for every ``/xapi``
resource, in one place: before routing, a request of that syntax becomes the ordinary one.

``POST /xapi/<resource>?method=PUT`` (``GET``, ``POST``, ``PUT``, ``DELETE`` or ``HEAD``)
with an ``application/x-www-form-urlencoded`` body: the form fields ``Authorization``,
``X-Experience-API-Version``, ``Content-Type``, ``Content-Length``, ``If-Match`` and
``If-None-Match`` (any case) are its headers, ``content`` its body (UTF-8; JSON unless a
``Content-Type`` field says otherwise) and every other field a query parameter. Only
``method`` may be in the query string, and the request must be a ``POST``: anything else
is answered 400 here, naming what is wrong, before the resource sees it.

:func:`install` wraps the application's ASGI handler (inside Litestar's entry point, so
outside its routing, middleware and exception handlers): the authentication middleware
then reads an ``Authorization`` sent as a form field like any other.
"""

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import msgspec
from litestar import Litestar
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, ReceiveMessage, Scope, Send

from backend.learning import xapi

PATH_PREFIX = "/xapi/"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE"})
HEADER_FIELDS = frozenset(
    {
        "authorization",
        "x-experience-api-version",
        "content-type",
        "content-length",
        "if-match",
        "if-none-match",
    }
)
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_BYTES = 16 * 1024 * 1024  # the statement resource's own bound on a body


class AlternateSyntaxError(Exception):
    """A request of the alternate syntax that cannot be turned into an ordinary one."""

    def __init__(self, field: str, message: str, status: int = 400) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.status = status


def install(app: Litestar) -> Litestar:
    """Give ``app`` the alternate request syntax on its ``/xapi`` resources."""
    app.asgi_handler = AlternateRequestSyntax(app.asgi_handler)
    return app


class AlternateRequestSyntax:
    """ASGI: an alternate-syntax request to ``/xapi/...`` becomes the ordinary request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != ScopeType.HTTP
            or not scope["path"].startswith(PATH_PREFIX)
            or b"method=" not in scope.get("query_string", b"")
        ):
            await self.app(scope, receive, send)
            return
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if not any(name == "method" for name, _ in query):
            await self.app(scope, receive, send)
            return
        try:
            ordinary, content = await ordinary_request(scope, receive, query)
        except AlternateSyntaxError as exc:
            await _refuse(send, exc)
            return
        await self.app(ordinary, _replay(content, receive), send)


async def ordinary_request(
    scope: Any, receive: Receive, query: list[tuple[str, str]]
) -> tuple[Any, bytes]:
    """The scope of the ordinary request an alternate-syntax one stands for, and its body."""
    if scope["method"] != "POST":
        raise AlternateSyntaxError(
            "method",
            f"a request with a method parameter (the alternate syntax) is sent as POST, "
            f"not {scope['method']}",
        )
    extra = sorted({name for name, _ in query if name != "method"})
    if extra:
        raise AlternateSyntaxError(
            extra[0],
            "only method may be in the query string of the alternate request syntax; "
            "send the other parameters as form fields",
        )
    methods = [value for name, value in query if name == "method"]
    method = methods[0].upper()
    if len(methods) > 1 or method not in METHODS:
        raise AlternateSyntaxError(
            "method", f"must be one of {', '.join(sorted(METHODS))}, got {methods[-1][:20]!r}"
        )
    headers = [(k, v) for k, v in scope["headers"]]
    body = await _read_body(receive)
    given_type = next((v for k, v in headers if k == b"content-type"), b"")
    if body and given_type.split(b";")[0].strip().lower() != FORM_TYPE.encode():
        raise AlternateSyntaxError(
            "Content-Type",
            f"the alternate request syntax sends a form ({FORM_TYPE}), got "
            f"{given_type.decode('latin-1')[:60] or 'none'}",
        )
    fields = _form(body)
    form_headers: dict[str, str] = {}
    params: list[tuple[str, str]] = []
    content: bytes | None = None
    for name, value in fields:
        lowered = name.lower()
        if lowered in HEADER_FIELDS:
            if lowered in form_headers:
                raise AlternateSyntaxError(name, "is given more than once")
            form_headers[lowered] = value
        elif name == "content":
            if content is not None:
                raise AlternateSyntaxError("content", "is given more than once")
            content = value.encode()
        else:
            params.append((name, value))
    form_headers.pop("content-length", None)  # the content's own length is set below
    if content is not None:
        form_headers.setdefault("content-type", "application/json")
    replaced = {*form_headers, "content-type", "content-length"}
    ordinary_headers = [(k, v) for k, v in headers if k.decode("latin-1").lower() not in replaced]
    ordinary_headers += [(k.encode(), v.encode()) for k, v in form_headers.items()]
    ordinary_headers.append((b"content-length", str(len(content or b"")).encode()))
    ordinary = dict(scope)
    ordinary["method"] = method
    ordinary["query_string"] = urlencode(params, quote_via=quote).encode("ascii")
    ordinary["headers"] = ordinary_headers
    return ordinary, content or b""


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise AlternateSyntaxError(
                "body", f"a form of at most {MAX_FORM_BYTES} bytes is accepted", status=413
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _form(body: bytes) -> list[tuple[str, str]]:
    if not body:
        return []
    try:
        text = body.decode("utf-8")
        return parse_qsl(
            text, keep_blank_values=True, strict_parsing=True, encoding="utf-8", errors="strict"
        )
    except UnicodeDecodeError:
        raise AlternateSyntaxError("body", "holds text that is not UTF-8") from None
    except ValueError:
        raise AlternateSyntaxError(
            "body", f"is not a URL-encoded form (name=value&...) as {FORM_TYPE} says"
        ) from None


def _replay(content: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> ReceiveMessage:
        nonlocal sent
        if not sent:
            sent = True
            message: Any = {"type": "http.request", "body": content, "more_body": False}
            return message  # type: ignore[no-any-return]
        return await receive()

    return replay


async def _refuse(send: Send, exc: AlternateSyntaxError) -> None:
    body = msgspec.json.encode(
        {"status_code": exc.status, "detail": str(exc), "extra": {"field": exc.field}}
    )
    headers: Iterable[tuple[bytes, bytes]] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (xapi.VERSION_HEADER.lower().encode(), xapi.XAPI_VERSION.encode()),
    ]
    await send({"type": "http.response.start", "status": exc.status, "headers": list(headers)})
    await send({"type": "http.response.body", "body": body, "more_body": False})
