"""Reads that may go to a streaming replica (``LEARNLOOP_DATABASE_REPLICA_URL``), and
read-your-writes.

Which reads. Only the routes that pay: the insights (the leadership summary is one of them),
the leaderboards and ``GET /xapi/statements``. They take :func:`provide_read_session` /
:func:`provide_read_scope` or call :func:`read_engine`; every other route, and every write,
uses the primary. Without a replica ``AppContext.replica_engine`` *is* the primary's engine,
so those routes have one code path and nothing below runs.

The choice per read (:meth:`ReplicaRouter.use_replica`): the primary when the replica is
down, is not a standby, has lost its stream from the primary, or is more than
``max_lag_seconds`` behind; the primary too when the reader wrote something the replica has
not replayed yet; else the replica. The replica's state is one query, made by one request
per ``check_seconds`` (``down_seconds`` once it did not answer) while the others use the
last answer; never a query per request.

Read-your-writes by LSN. After a request that may have written (POST, PUT, PATCH, DELETE
answered below 400 for a signed-in person or an API key), :class:`ReplicaMiddleware` reads
``pg_current_wal_insert_lsn()`` on the primary once: the write has committed, so its commit
record lies before that point, and a replica whose ``pg_last_wal_replay_lsn()`` has passed it
shows the write. That LSN is kept

- in a cookie, ``learnloop_lsn`` (browsers): every app process sees it on the next request,
  where a per-process memory would miss behind a round-robin proxy. Not the session cookie:
  that one is encrypted and rewritten by the session middleware. It needs no signature:
  forging it only sends the forger's own reads to the primary, or shows them their own
  writes late;
- and in a per-process map keyed by the person or API key (clients that keep no cookies,
  such as an LMS: exact within one app process), at most ``MAX_REMEMBERED`` entries.

Both last ``LSN_TTL_SECONDS``, longer than ``max_lag_seconds``: a replica further behind than
that is not read at all. Cost with a replica: one ``SELECT`` on the primary per write request,
one on the replica per ``check_seconds`` per process.

A replica that died since its last check: a session on it is taken before the route runs,
and when that fails the route reads the primary. A read that fails on it later (mid-query,
or on a raw asyncpg connection) makes the middleware check at once and, when the replica is
indeed gone, answer that (GET) request again from the primary: the client never sees a 5xx.
"""

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from http.cookies import SimpleCookie
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.tenancy import OrgScope

log = logging.getLogger(__name__)

LSN_COOKIE = "learnloop_lsn"
LSN_TTL_SECONDS = 120
MAX_REMEMBERED = 10_000
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# scope keys: this request read from the replica / must read from the primary (a retry)
ON_REPLICA = "learnloop.on_replica"
PRIMARY_ONLY = "learnloop.primary_only"

# lag: 0 while everything received is replayed (an idle primary sends nothing, so the time
# since the last replayed transaction says nothing then); else the age of that transaction
STATE_SQL = text(
    "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
    "CASE WHEN pg_last_wal_receive_lsn() IS NULL "
    "OR pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0 "
    "ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()) END, "
    "EXISTS (SELECT FROM pg_stat_wal_receiver WHERE status = 'streaming')"
)
PRIMARY_LSN_SQL = text("SELECT pg_current_wal_insert_lsn()::text")
# where the primary's WAL ends, and before when everything stored has committed (now, or the
# start of the oldest transaction still open): once the replica has replayed past that LSN,
# it shows everything stored before that moment (xAPI's X-Experience-API-Consistent-Through)
PRIMARY_SAMPLE_SQL = text(
    "SELECT pg_current_wal_insert_lsn()::text, LEAST(statement_timestamp(), "
    "(SELECT min(xact_start) FROM pg_stat_activity "
    "WHERE datname = current_database() AND pid <> pg_backend_pid()))"
)
SAMPLES_KEPT = 300
# scope key: everything stored before this moment is visible on the replica this request reads
CONSISTENT_THROUGH = "learnloop.consistent_through"


def parse_lsn(value: str | None) -> int | None:
    """``'16/B374D848'`` as a number (LSNs compare as numbers), None when it is not one."""
    high, sep, low = (value or "").strip().partition("/")
    if not sep or len(high) > 8 or len(low) > 8:
        return None
    try:
        return (int(high, 16) << 32) | int(low, 16)
    except ValueError:
        return None


def lsn_text(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class ReplicaState:
    usable: bool
    replayed: int  # the LSN the replica has replayed up to
    lag_seconds: float
    why: str  # why it is not usable (for the log)
    checked_at: float


def reader_key(principal: Principal | None) -> str | None:
    """Whose writes a read must see: the person, or the API key (an LMS)."""
    if principal is None:
        return None
    if principal.user_id is not None:
        return f"user:{principal.user_id}"
    if principal.api_key_id is not None:
        return f"key:{principal.api_key_id}"
    return None


class ReplicaRouter:
    """Per process: the replica's last known state and the LSNs of recent writes."""

    def __init__(
        self,
        primary: AsyncEngine,
        replica: AsyncEngine | None,
        *,
        max_lag_seconds: float = 30.0,
        check_seconds: float = 1.0,
        down_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag_seconds = max_lag_seconds
        self.check_seconds = check_seconds
        self.down_seconds = down_seconds
        self._clock = clock
        self._state: ReplicaState | None = None
        self._lock = asyncio.Lock()
        self._written: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._samples: deque[tuple[int, datetime]] = deque(maxlen=SAMPLES_KEPT)

    @property
    def configured(self) -> bool:
        return self.replica is not None

    # --- the replica's state ----------------------------------------------------------------

    async def state(self, *, fresh: bool = False) -> ReplicaState:
        """The replica's state, at most ``check_seconds`` old (``down_seconds`` when it did not
        answer) unless ``fresh``; while one request asks, the others use the last answer."""
        known = self._state
        if not fresh and known is not None and self._current(known):
            return known
        if known is not None and self._lock.locked() and not fresh:
            return known
        async with self._lock:
            now = self._state  # a check that ended while this one waited is fresh enough
            if now is not None and (now is not known or not fresh) and self._current(now):
                return now
            self._state = await self._check()
            return self._state

    def _current(self, state: ReplicaState) -> bool:
        age = self._clock() - state.checked_at
        unreachable = math.isinf(state.lag_seconds)  # not asked again for down_seconds
        return age < (self.down_seconds if unreachable else self.check_seconds)

    async def _check(self) -> ReplicaState:
        assert self.replica is not None
        was = self._state
        await self._sample_primary()  # first: the replica's answer is then the later one
        try:
            async with asyncio.timeout(3), self.replica.connect() as conn:
                standby, replayed, lag, streaming = (await conn.execute(STATE_SQL)).one()
        except Exception as exc:  # down, refused, timed out: read the primary meanwhile
            state = await self._unreachable(exc)
        else:
            lsn = parse_lsn(replayed) or 0
            lag_seconds = float(lag or 0)
            why = (
                "not a standby (it accepts writes)"
                if not standby
                else "not streaming from the primary"
                if not streaming
                else f"{lag_seconds:.1f} s behind (more than {self.max_lag_seconds:g} s)"
                if lag_seconds > self.max_lag_seconds
                else ""
            )
            state = ReplicaState(not why, lsn, lag_seconds, why, self._clock())
        if was is None or was.usable != state.usable:
            if state.usable:
                log.info("read replica in use (%.1f s behind)", state.lag_seconds)
            else:
                log.warning("read replica not used: %s; reading the primary", state.why)
        return state

    async def _sample_primary(self) -> None:
        try:
            async with asyncio.timeout(3), self.primary.connect() as conn:
                lsn, bound = (await conn.execute(PRIMARY_SAMPLE_SQL)).one()
        except Exception as exc:
            log.info("could not sample the primary's WAL position: %s", exc)
            return
        if (at := parse_lsn(lsn)) is not None and bound is not None:
            self._samples.append((at, bound))

    def consistent_through(self) -> datetime | None:
        """A moment before which everything stored is visible on the replica (by its last
        check), or None when that is not known (it is behind every sample kept)."""
        state = self._state
        if state is None or not state.usable:
            return None
        for lsn, bound in reversed(self._samples):
            if lsn <= state.replayed:
                return bound
        return None

    async def _unreachable(self, exc: BaseException) -> ReplicaState:
        assert self.replica is not None
        # connections kept to a server that went away fail once each: drop them now
        await self.replica.dispose()
        return ReplicaState(False, 0, math.inf, f"unreachable ({exc})", self._clock())

    async def failed(self, exc: BaseException) -> None:
        """A read could not reach the replica: read the primary until the next check."""
        if self._state is None or self._state.usable:
            log.warning("read replica not used: unreachable (%s); reading the primary", exc)
        self._state = await self._unreachable(exc)

    # --- read-your-writes -------------------------------------------------------------------

    async def primary_lsn(self) -> int | None:
        """Where the primary's WAL ends now (after the caller's write committed)."""
        try:
            async with self.primary.connect() as conn:
                return parse_lsn((await conn.execute(PRIMARY_LSN_SQL)).scalar())
        except Exception as exc:
            log.warning("could not read the primary's WAL position: %s", exc)
            return None

    def remember(self, key: str, lsn: int) -> None:
        self._written[key] = (lsn, self._clock() + LSN_TTL_SECONDS)
        self._written.move_to_end(key)
        while len(self._written) > MAX_REMEMBERED:
            self._written.popitem(last=False)

    def written(self, key: str | None) -> int | None:
        """The LSN of ``key``'s last write in this process, while it may matter."""
        entry = self._written.get(key) if key else None
        if entry is None or key is None:
            return None
        lsn, until = entry
        if self._clock() >= until:
            del self._written[key]
            return None
        return lsn

    async def use_replica(self, written: int | None) -> bool:
        """Whether a read that must see the write at ``written`` (None: no recent write)
        can go to the replica."""
        if self.replica is None:
            return False
        state = await self.state()
        return state.usable and (written is None or state.replayed >= written)


# --- choosing per request -------------------------------------------------------------------


def _cookie_lsn(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"cookie" and LSN_COOKIE.encode() in value:
            morsel = SimpleCookie(value.decode("latin-1")).get(LSN_COOKIE)
            return parse_lsn(morsel.value) if morsel else None
    return None


async def reads_replica(scope: Scope, router: ReplicaRouter, *, consistent: bool = False) -> bool:
    """Whether this request's reads go to the replica (and mark it so, for the fallback);
    ``consistent``: only when it is known through when the replica shows everything."""
    if router.replica is None or scope.get(PRIMARY_ONLY):
        return False
    principal = scope.get("user")
    known = [
        lsn
        for lsn in (_cookie_lsn(scope), router.written(reader_key(principal)))
        if lsn is not None
    ]
    chosen = await router.use_replica(max(known) if known else None)
    if chosen and consistent:
        through = router.consistent_through()
        chosen = through is not None
        scope[CONSISTENT_THROUGH] = through  # type: ignore[literal-required]
    scope[ON_REPLICA] = chosen  # type: ignore[literal-required]
    return chosen


async def read_engine(request: Request[Any, Any, Any]) -> AsyncEngine:
    """The engine ``GET /xapi/statements`` reads with: the replica only when it is known
    through when it shows every statement (:func:`consistent_through`)."""
    ctx = request.app.state.ctx
    on_replica = await reads_replica(request.scope, ctx.reads, consistent=True)
    engine: AsyncEngine = ctx.replica_engine if on_replica else ctx.engine
    return engine


def consistent_through(request: Request[Any, Any, Any]) -> datetime | None:
    """For a read :func:`read_engine` sent to the replica: the moment before which it shows
    everything stored (the primary's time, not later than its oldest open transaction's
    start, when it wrote the WAL the replica has replayed); None on the primary."""
    if not request.scope.get(ON_REPLICA):
        return None
    through = request.scope.get(CONSISTENT_THROUGH)
    return through if isinstance(through, datetime) else None


async def provide_read_session(request: Request[Any, Any, Any]) -> AsyncIterator[AsyncSession]:
    """A session on the replica or the primary (see the module's docstring); read only."""
    ctx = request.app.state.ctx
    session: AsyncSession | None = None
    if await reads_replica(request.scope, ctx.reads):
        candidate = ctx.replica_sessionmaker()
        try:
            await candidate.connection()  # the connection it needs anyway, taken now
        except Exception as exc:  # gone since its last check: the primary, without an error
            await candidate.close()
            await ctx.reads.failed(exc)
            request.scope[ON_REPLICA] = False  # type: ignore[literal-required]
        else:
            session = candidate
    async with session or ctx.sessionmaker() as chosen:
        yield chosen


def provide_read_scope(read_session: AsyncSession, principal: Principal) -> OrgScope:
    return OrgScope(read_session, principal)


# --- the middleware -------------------------------------------------------------------------


async def _no_body() -> Any:
    return {"type": "http.request", "body": b"", "more_body": False}


class ReplicaMiddleware:
    """Keeps the LSN of each write for read-your-writes, and answers a read again from the
    primary when the replica failed it. Does nothing without a replica."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ctx = scope["litestar_app"].state.ctx
        router: ReplicaRouter | None = ctx.reads if scope["type"] == ScopeType.HTTP else None
        if router is None or router.replica is None:
            await self.app(scope, receive, send)
        elif scope["method"] in WRITE_METHODS:  # type: ignore[typeddict-item]
            secure = "; Secure" if ctx.settings.secure_cookies else ""
            await self._write(router, scope, receive, send, secure)
        else:
            await self._read(router, scope, receive, send)

    async def _write(
        self, router: ReplicaRouter, scope: Scope, receive: Receive, send: Send, secure: str
    ) -> None:
        key = reader_key(scope.get("user"))

        async def send_with_lsn(message: Message) -> None:
            if message["type"] == "http.response.start" and key and message["status"] < 400:
                lsn = await router.primary_lsn()
                if lsn is not None:
                    router.remember(key, lsn)
                    cookie = (
                        f"{LSN_COOKIE}={lsn_text(lsn)}; Max-Age={LSN_TTL_SECONDS}; Path=/; "
                        f"HttpOnly; SameSite=Lax{secure}"
                    )
                    headers = [*message.get("headers", ()), (b"set-cookie", cookie.encode())]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_lsn)

    async def _read(
        self, router: ReplicaRouter, scope: Scope, receive: Receive, send: Send
    ) -> None:
        again = False

        async def send_unless_replica_failed(message: Message) -> None:
            nonlocal again
            if (
                message["type"] == "http.response.start"
                and message["status"] >= 500
                and scope.get(ON_REPLICA)
                and not (await router.state(fresh=True)).usable
            ):
                again = True
            if not again:
                await send(message)

        await self.app(scope, receive, send_unless_replica_failed)
        if again:
            log.warning("the replica failed %s; answered from the primary", scope["path"])
            scope[ON_REPLICA] = False  # type: ignore[literal-required]
            scope[PRIMARY_ONLY] = True  # type: ignore[literal-required]
            await self.app(scope, _no_body, send)
