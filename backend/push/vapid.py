"""VAPID ``Authorization`` headers, signed once per push-service origin and reused.

pywebpush's ``webpush()`` mutates the claims dict it is given and signs a new JWT for every
message; here a JWT per origin (``aud``) lives ``lifetime`` seconds and is re-signed
``refresh_before`` seconds before it expires, so a push service never sees an expired one.
"""

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from py_vapid import Vapid02

from backend.push.keys import VapidKey

LIFETIME_SECONDS = 12 * 3600  # push services refuse tokens valid for more than 24 hours
REFRESH_BEFORE_SECONDS = 3600


def origin_of(endpoint: str) -> str:
    """``scheme://host[:port]`` of a push endpoint (the VAPID ``aud``)."""
    scheme, sep, rest = endpoint.partition("://")
    if sep and scheme in ("https", "http"):  # the fast path: every endpoint we accept
        return f"{scheme}://{rest.split('/', 1)[0].split('?', 1)[0].split('#', 1)[0]}"
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


class VapidHeaderCache:
    def __init__(
        self,
        key: VapidKey,
        *,
        lifetime: int = LIFETIME_SECONDS,
        refresh_before: int = REFRESH_BEFORE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._vapid = Vapid02(key.private_key)
        self.subject = key.subject
        self.lifetime = lifetime
        self.refresh_before = refresh_before
        self._clock = clock
        self._cache: dict[str, tuple[int, dict[str, str]]] = {}

    def headers_for(self, endpoint: str, *, origin: str | None = None) -> dict[str, str]:
        """The ``Authorization: vapid t=<jwt>, k=<public key>`` header for this endpoint.

        The same dict object until the token is re-signed (callers may cache on it).
        """
        origin = origin or origin_of(endpoint)
        now = int(self._clock())
        cached = self._cache.get(origin)
        if cached is not None and cached[0] - now > self.refresh_before:
            return cached[1]
        exp = now + self.lifetime
        # a fresh dict every time: the signer must never see (or change) a shared one
        headers = dict(self._vapid.sign({"aud": origin, "exp": exp, "sub": self.subject}))
        self._cache[origin] = (exp, headers)
        return headers
