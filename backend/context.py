"""Process-wide objects of one app instance: settings, database engine, login limiter."""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.auth.rate_limit import LoginRateLimiter
from backend.db.engine import PoolBounds, database_url, make_engine, make_sessionmaker
from backend.db.replica import ReplicaRouter
from backend.learning.ingest_cache import cache_for
from backend.settings import Settings


class ApiKeyCache:
    """Successful API key verifications of this process, for ``ttl`` seconds.

    Keyed by the SHA-256 of the whole key (what the database stores), so a hit means exactly
    the key that was verified. Revoking a key through the API calls :meth:`forget`, which takes
    effect immediately in this process; other processes/replicas keep accepting a revoked key
    until their entry expires, i.e. for at most ``ttl`` seconds (60 by default).
    Only successes are cached (a wrong key always goes to the database), and at most
    ``max_entries`` keys are kept.
    """

    def __init__(
        self,
        ttl: float = 60.0,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, str, Principal]] = {}
        # bumped by forget(): a verification that started before a revocation is not cached
        self.generation = 0

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        expires, _prefix, principal = entry
        if self._clock() >= expires:
            self._entries.pop(key_hash, None)
            return None
        return principal

    def put(self, key_hash: str, prefix: str, principal: Principal, generation: int) -> None:
        """Remember a verification that started when :attr:`generation` was ``generation``."""
        if generation != self.generation:
            return  # a key was revoked meanwhile: this one may have been read before that
        if len(self._entries) >= self.max_entries and key_hash not in self._entries:
            now = self._clock()
            self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
            if len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))  # the oldest insertion
        self._entries[key_hash] = (self._clock() + self.ttl, prefix, principal)

    def forget(self, prefix: str) -> None:
        """Drop the key with this prefix (revoked): the next request goes to the database."""
        self.generation += 1
        for key_hash in [k for k, v in self._entries.items() if v[1] == prefix]:
            del self._entries[key_hash]

    def clear(self) -> None:
        self._entries.clear()


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    # a streaming replica's engine (None: none); replica_engine/replica_sessionmaker are then
    # the primary's, so the routes that may read the replica have one code path
    replica: AsyncEngine | None = None
    replica_engine: AsyncEngine = field(init=False)
    replica_sessionmaker: async_sessionmaker[AsyncSession] = field(init=False)
    reads: ReplicaRouter = field(init=False)
    login_limiter: LoginRateLimiter = field(init=False)
    api_keys: ApiKeyCache = field(init=False)

    def __post_init__(self) -> None:
        self.replica_engine = self.replica or self.engine
        self.replica_sessionmaker = (
            make_sessionmaker(self.replica) if self.replica else self.sessionmaker
        )
        self.reads = ReplicaRouter(
            self.engine,
            self.replica,
            max_lag_seconds=self.settings.database_replica_max_lag_seconds,
        )
        self.login_limiter = LoginRateLimiter(
            free_failures=self.settings.login_attempts_per_window,
            window_seconds=self.settings.login_window_seconds,
            address_ceiling=self.settings.login_address_ceiling,
        )
        self.api_keys = ApiKeyCache()
        cache_for(self.engine).max_states = self.settings.ingest_cache_states

    @classmethod
    def from_settings(cls, settings: Settings, *, null_pool: bool = False) -> "AppContext":
        bounds = PoolBounds(
            size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            timeout_seconds=settings.db_pool_timeout_seconds,
            statement_timeout_ms=settings.db_statement_timeout_ms,
        )
        engine = make_engine(
            database_url(settings), echo=settings.sql_echo, null_pool=null_pool, bounds=bounds
        )
        replica = (
            make_engine(settings.database_replica_url, null_pool=null_pool, bounds=bounds)
            if settings.database_replica_url
            else None
        )
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=make_sessionmaker(engine),
            replica=replica,
        )
