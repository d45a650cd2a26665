"""Login throttling: a sliding window of failed attempts per (client address, e-mail).

Kept in process memory: with N replicas an attacker gets at most N times the budget,
which still turns an online guessing attack from millions into tens of tries per window.
"""

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class LoginRateLimiter:
    max_attempts: int
    window_seconds: float
    _failures: dict[tuple[str, str], deque[float]] = field(default_factory=dict)

    def _recent(self, key: tuple[str, str], now: float) -> deque[float]:
        bucket = self._failures.setdefault(key, deque())
        while bucket and bucket[0] <= now - self.window_seconds:
            bucket.popleft()
        return bucket

    def retry_after(self, client: str, email: str, now: float | None = None) -> int | None:
        """Seconds until another attempt is allowed, or None when allowed now."""
        now = time.monotonic() if now is None else now
        for key in ((client, email.lower()), (client, "*")):
            bucket = self._recent(key, now)
            limit = self.max_attempts if key[1] != "*" else self.max_attempts * 5
            if len(bucket) >= limit:
                return max(1, int(bucket[0] + self.window_seconds - now) + 1)
        return None

    def record_failure(self, client: str, email: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        for key in ((client, email.lower()), (client, "*")):
            self._recent(key, now).append(now)
        if len(self._failures) > 100_000:
            self._failures.clear()  # bound memory under a spray of random addresses

    def record_success(self, client: str, email: str) -> None:
        self._failures.pop((client, email.lower()), None)
