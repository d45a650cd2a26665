"""Login throttling that slows guessing without locking an office out.

- **Per account and address** (the e-mail address tried, from one client address): the
  first ``free_failures`` wrong passwords cost nothing; after that each try waits a delay that
  doubles with every further failure (1 s, 2 s, 4 s, ... at most ``max_delay_seconds``).
  A right password clears the pair. The record is forgotten ``window_seconds`` after its
  last failure.
- **Per address**, a ceiling: past ``address_ceiling`` failures within ``window_seconds``
  from one address (a shared office NAT, or someone trying many accounts), a pair's delays
  start at its first failure. The ceiling never refuses an attempt by itself: a colleague
  behind the same address whose first try is right signs in.

Kept in process memory: with N app processes an attacker gets at most N times the tries,
which still turns an online guessing attack from millions of tries into tens per account.
"""

import math
import time
from collections import deque
from dataclasses import dataclass, field

_MAX_KEYS = 100_000  # bound memory under a spray of random addresses


@dataclass
class _Failures:
    count: int
    last: float


@dataclass
class LoginRateLimiter:
    free_failures: int
    window_seconds: float
    max_delay_seconds: float = 900.0
    address_ceiling: int = 100
    _pairs: dict[tuple[str, str], _Failures] = field(default_factory=dict)
    _addresses: dict[str, deque[float]] = field(default_factory=dict)

    def _pair(self, client: str, email: str, now: float) -> _Failures | None:
        key = (client, email.lower())
        failures = self._pairs.get(key)
        if failures is not None and now - failures.last >= self.window_seconds:
            del self._pairs[key]
            return None
        return failures

    def _address_failures(self, client: str, now: float) -> int:
        recent = self._addresses.get(client)
        if recent is None:
            return 0
        while recent and recent[0] <= now - self.window_seconds:
            recent.popleft()
        return len(recent)

    def over_ceiling(self, client: str, now: float | None = None) -> bool:
        """Whether ``client`` failed more than the address ceiling within the window."""
        now = time.monotonic() if now is None else now
        return self._address_failures(client, now) >= self.address_ceiling

    def retry_after(self, client: str, email: str, now: float | None = None) -> int | None:
        """Whole seconds until ``email`` may be tried again from ``client``, or None: now."""
        now = time.monotonic() if now is None else now
        failures = self._pair(client, email, now)
        if failures is None:
            return None
        free = 1 if self.over_ceiling(client, now) else self.free_failures
        beyond = failures.count - free
        if beyond < 0:
            return None
        delay = min(self.max_delay_seconds, 2.0 ** min(beyond, 30))
        wait = failures.last + delay - now
        return max(1, math.ceil(wait)) if wait > 0 else None

    def record_failure(self, client: str, email: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if len(self._pairs) > _MAX_KEYS or len(self._addresses) > _MAX_KEYS:
            self._pairs.clear()
            self._addresses.clear()
        failures = self._pair(client, email, now)
        if failures is None:
            self._pairs[(client, email.lower())] = _Failures(1, now)
        else:
            failures.count += 1
            failures.last = now
        self._address_failures(client, now)  # drop what fell out of the window
        self._addresses.setdefault(client, deque()).append(now)

    def record_success(self, client: str, email: str) -> None:
        self._pairs.pop((client, email.lower()), None)
