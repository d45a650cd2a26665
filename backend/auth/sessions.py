"""Sessions in signed, encrypted cookies (AES-GCM), so any replica can serve any request.

Every answer to a signed-in request sets the session cookie again, so it lives
``max_age`` from the last request (a sliding expiry). Encrypting the session and building
its ``Set-Cookie`` header anew each time cost about a tenth of a signed-in request. So an
answer whose session is what its request brought, in a cookie issued less than
:data:`REISSUE_AFTER` seconds ago, sets that very cookie again (its header kept per process);
an older one, or a changed session, gets a fresh cookie. A session therefore expires at most
:data:`REISSUE_AFTER` seconds before ``max_age`` after the last request.
"""

import time
from base64 import b64decode
from dataclasses import dataclass
from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders
from litestar.datastructures.cookie import Cookie
from litestar.middleware.session.client_side import (
    AAD,
    NONCE_SIZE,
    ClientSideSessionBackend,
    CookieBackendConfig,
)
from litestar.serialization import decode_json
from litestar.types import Empty, Message, ScopeSession

REISSUE_AFTER = 60
"""Seconds a session cookie is set again as it is before a fresh one is encrypted."""
MAX_HEADERS = 1024
"""``Set-Cookie`` headers kept per process (then emptied): one per recently issued cookie."""

# where a request's cookie (when it may be set again as it is) waits for its answer
_REUSABLE = "learnloop.session_cookie"


class _ForgivingCookieBackend(ClientSideSessionBackend):
    def __init__(self, config: CookieBackendConfig) -> None:
        super().__init__(config)
        self._headers: dict[str, str] = {}

    def load_data(self, data: list[bytes]) -> dict[str, Any]:
        return self._open(data)[0]

    def _open(self, data: list[bytes]) -> tuple[dict[str, Any], bytes, float]:
        """The session, its serialized form and when the cookie expires; a cookie we cannot
        decrypt or parse, or one that has expired, is simply no session."""
        try:
            decoded = b64decode(b"".join(data))
            aad_starts_from = decoded.find(AAD)
            if aad_starts_from == -1:
                return {}, b"", 0.0
            associated_data = decoded[aad_starts_from:].replace(AAD, b"")
            expires_at = float(decode_json(value=associated_data)["expires_at"])
            if expires_at <= round(time.time()):
                return {}, b"", 0.0
            plain = self.aesgcm.decrypt(
                decoded[:NONCE_SIZE],
                decoded[NONCE_SIZE:aad_starts_from],
                associated_data=associated_data,
            )
            return self.deserialize_data(plain), plain, expires_at
        except Exception:
            return {}, b"", 0.0

    async def load_from_connection(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> dict[str, Any]:
        keys = self.get_cookie_keys(connection)
        if not keys:
            return {}
        values = [connection.cookies[key] for key in keys]
        session, plain, expires_at = self._open([value.encode("utf-8") for value in values])
        issued_at = expires_at - self.config.max_age
        if (
            session
            and keys == [self.config.key]  # one cookie, not a session split over several
            and time.time() - issued_at < REISSUE_AFTER
        ):
            connection.scope[_REUSABLE] = (values[0], plain)  # type: ignore[literal-required]
        return session

    async def store_in_message(
        self,
        scope_session: ScopeSession,
        message: Message,
        connection: ASGIConnection[Any, Any, Any, Any],
    ) -> None:
        reusable: tuple[str, bytes] | None = connection.scope.get(_REUSABLE)  # type: ignore[assignment]
        if reusable is not None and scope_session and scope_session is not Empty:
            value, plain = reusable
            if self.serialize_data(scope_session, connection.scope) == plain:
                MutableScopeHeaders.from_message(message).add("Set-Cookie", self._header(value))
                return
        await super().store_in_message(scope_session, message, connection)

    def _header(self, value: str) -> str:
        header = self._headers.get(value)
        if header is None:
            header = Cookie(value=value, key=self.config.key, **self._set_cookie_params).to_header(
                header=""
            )
            if len(self._headers) >= MAX_HEADERS:
                self._headers.clear()
            self._headers[value] = header
        return header


@dataclass
class SessionCookieConfig(CookieBackendConfig):
    """Litestar's cookie sessions, but a tampered or truncated cookie means "signed out", not 500,
    and an unchanged session's fresh cookie is set again as it is for a minute."""

    _backend_class = _ForgivingCookieBackend
