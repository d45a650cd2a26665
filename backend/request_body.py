"""Request bodies read as JSON or as a form: the one place bad bytes become a 400.

Every JSON endpoint decodes its body here, either through Litestar (``data`` parameters and
``request.json()`` go through :class:`LearnloopRequest`, the app's request class) or by
calling :func:`decode_json_body` on the raw body (the ingestion routes, which log what they
refuse). What this refuses, each with a message that says what is wrong:

- bytes that are not UTF-8 (JSON is UTF-8 by RFC 8259; a form is read as UTF-8 too);
- JSON nested deeper than :data:`MAX_JSON_DEPTH` arrays and objects: a stated bound, checked
  on the bytes before decoding, so no decoder or later walk over the document can run out of
  stack (which would otherwise be a 500 at a depth that depends on the call stack);
- text that is not JSON, including ``NaN``, ``Infinity`` and numbers beyond a double.
"""

import re
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.exceptions import ClientException
from litestar.types import Empty

MAX_JSON_DEPTH = 100
"""Arrays and objects inside each other; xAPI extensions, the deepest data we take, need few."""

_decoder = msgspec.json.Decoder()
# for the depth check: every byte but quotes and brackets dropped, then strings and brackets
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_BRACKETS_ONLY_STRING = re.compile(rb'"[^"]*"')
_TO_PARENTHESES = bytes.maketrans(b"[{]}", b"(())")


class UndecodableBody(ClientException):
    """A 400 for a body that cannot be read; ``extra`` names the field (``body``)."""

    def __init__(self, message: str) -> None:
        super().__init__(f"body: {message}", extra={"field": "body"})


def decode_json_body(body: bytes, *, float_hook: Callable[[str], Any] | None = None) -> Any:
    """``body`` decoded as JSON; raises :class:`UndecodableBody` (400) saying why not.

    ``float_hook`` is msgspec's: called with the text of each number with a fraction or an
    exponent (the xAPI route notes whether a statement held any).
    """
    if _nested_too_deeply(body):
        raise UndecodableBody(f"JSON nested more than {MAX_JSON_DEPTH} levels deep is refused")
    decoder = _decoder if float_hook is None else msgspec.json.Decoder(float_hook=float_hook)
    try:
        return decoder.decode(body)
    except UnicodeDecodeError as exc:
        raise UndecodableBody(_not_utf8(_where_not_utf8(body) or exc)) from None
    except RecursionError:  # unbalanced brackets the depth check could not measure
        raise UndecodableBody(
            f"JSON nested more than {MAX_JSON_DEPTH} levels deep is refused"
        ) from None
    except msgspec.DecodeError as exc:
        not_utf8 = _where_not_utf8(body)  # only now: bytes outside strings are msgspec's
        raise UndecodableBody(_not_utf8(not_utf8) if not_utf8 else f"not JSON ({exc})") from None


def _not_utf8(exc: UnicodeDecodeError) -> str:
    return f"not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at position {exc.start})"


def _where_not_utf8(body: bytes) -> UnicodeDecodeError | None:
    """The error at the body's first bad byte (msgspec counts from the string it was in)."""
    try:
        body.decode()
    except UnicodeDecodeError as exc:
        return exc
    return None


def _nested_too_deeply(body: bytes) -> bool:
    """Whether the JSON text ``body`` nests arrays and objects more than the bound (or has
    unbalanced brackets at a depth beyond it). Brackets inside strings do not count."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False  # the common case (one statement, one form): nothing to measure
    if b"\\" in body:  # escaped backslashes, then escaped quotes: no quote left inside strings
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = body.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:  # strings that hold brackets
        structure = _BRACKETS_ONLY_STRING.sub(b"", structure)
    structure = structure.translate(_TO_PARENTHESES)
    for _ in range(MAX_JSON_DEPTH):  # each round removes the innermost level
        if not structure:
            return False
        inner_removed = structure.replace(b"()", b"")
        if inner_removed == structure:
            return False  # unbalanced: not JSON, which the decoder says
        structure = inner_removed
    return bool(structure)


class LearnloopRequest(Request[Any, Any, Any]):
    """The app's request class: its JSON and form bodies are read by the rules above."""

    __slots__ = ()

    async def json(self) -> Any:
        if self._json is Empty:
            if (cached := self._connection_state.json) is not Empty:
                self._json = cached
            else:  # as Litestar's own, with the decoding above
                body = await self.body()
                self._json = self._connection_state.json = decode_json_body(body or b"null")
        return self._json

    async def form(self) -> FormMultiDict:
        try:
            return await super().form()
        except UnicodeDecodeError as exc:
            raise UndecodableBody(_not_utf8(exc)) from None
