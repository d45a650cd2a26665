"""Sessions in signed, encrypted cookies (AES-GCM), so any replica can serve any request."""

from dataclasses import dataclass
from typing import Any

from litestar.middleware.session.client_side import ClientSideSessionBackend, CookieBackendConfig


class _ForgivingCookieBackend(ClientSideSessionBackend):
    def load_data(self, data: list[bytes]) -> dict[str, Any]:
        try:
            return super().load_data(data)
        except Exception:  # a cookie we cannot decrypt or parse is simply no session
            return {}


@dataclass
class SessionCookieConfig(CookieBackendConfig):
    """Litestar's cookie sessions, but a tampered or truncated cookie means "signed out", not 500."""

    _backend_class = _ForgivingCookieBackend
