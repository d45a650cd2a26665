"""The scale-out harness's load: signed-in learners, managers, L&D and an LMS, round-robin over
the app processes' ports (benchmarks/scale_out.py).

Every operation is one HTTP request to 127.0.0.1; the load is a closed loop (``concurrency``
clients, each sending its next request when the last one answered), operations drawn by
weight. Statements are ``benchmarks/ingest.py``'s, about the seeded learners
(``l<i>@bench.example``, benchmarks/insights.py).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from ingest import COURSES
from ingest import _statement as ingest_statement

HOST = "127.0.0.1"
INSIGHT_KEYS = (
    "weekly_active",
    "streaks",
    "minutes_over_time",
    "completions_over_time",
    "competencies",
    "horizontal_vertical",
    "challenges",
    "nudge_effectiveness",
)


@dataclass
class Signed:
    """A signed-in person: the Cookie header and the CSRF token the app wants on writes."""

    user_id: int
    email: str
    cookie: str
    team_id: int | None = None

    @property
    def csrf(self) -> str:
        for part in self.cookie.split("; "):
            name, _, value = part.partition("=")
            if name == "learnloop_csrf":
                return value
        return ""


@dataclass
class Target:
    """What the load talks to."""

    ports: list[int]
    api_key: str
    learners: list[int]  # user ids statements are about (active learners)
    sessions: list[Signed]  # signed-in learners
    managers: list[Signed]
    ld: Signed
    _next: itertools.count[int] = field(default_factory=itertools.count)

    def url(self, path: str, port: int | None = None) -> str:
        if port is None:
            port = self.ports[next(self._next) % len(self.ports)]  # round robin
        return f"http://{HOST}:{port}{path}"

    @property
    def lms_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key}",
            "X-Experience-API-Version": "1.0.3",
            "Content-Type": "application/json",
        }


def statement(user_id: int) -> dict[str, Any]:
    """benchmarks/ingest.py's statement (a course with an xapi_activity_id, a learning verb),
    about seeded learner ``user_id``."""
    body = ingest_statement(0, COURSES)
    body["actor"] = {"objectType": "Agent", "mbox": f"mailto:l{user_id}@bench.example"}
    return body


@dataclass
class Outcome:
    op: str
    started: float
    seconds: float
    status: int  # 0: no answer (connection error, timeout)
    retry_after: bool
    items: int = 1  # statements in a batch
    error: str = ""


Op = Callable[[aiohttp.ClientSession, Target, random.Random], Awaitable[Outcome]]


async def _request(
    http: aiohttp.ClientSession,
    name: str,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: bytes | None = None,
    items: int = 1,
) -> Outcome:
    started = time.perf_counter()
    try:
        async with http.request(
            method, url, data=body, headers=headers, allow_redirects=False
        ) as resp:
            await resp.read()
            status, retry = resp.status, "Retry-After" in resp.headers
            error = "" if status < 400 else f"{status} {url}"
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        status, retry, error = 0, False, f"{type(exc).__name__}: {exc}"[:200]
    return Outcome(name, started, time.perf_counter() - started, status, retry, items, error)


def _page(name: str, path: str) -> Op:
    async def op(http: aiohttp.ClientSession, t: Target, rnd: random.Random) -> Outcome:
        who = rnd.choice(t.sessions)
        return await _request(http, name, "GET", t.url(path), headers={"Cookie": who.cookie})

    return op


def _xapi(name: str, batch: int) -> Op:
    async def op(http: aiohttp.ClientSession, t: Target, rnd: random.Random) -> Outcome:
        items = [statement(rnd.choice(t.learners)) for _ in range(batch)]
        body = json.dumps(items[0] if batch == 1 else items).encode()
        return await _request(
            http, name, "POST", t.url("/xapi/statements"), headers=t.lms_headers, body=body,
            items=batch,
        )  # fmt: skip

    return op


async def _moment(http: aiohttp.ClientSession, t: Target, rnd: random.Random) -> Outcome:
    who = rnd.choice(t.sessions)
    body = {"client_id": str(uuid.uuid4()), "what": "Read about pivot tables", "minutes": 10}
    headers = {"Cookie": who.cookie, "X-CSRF-Token": who.csrf, "Content-Type": "application/json"}
    return await _request(
        http, "log a moment", "POST", t.url("/api/v1/me/moments"), headers=headers,
        body=json.dumps(body).encode(),
    )  # fmt: skip


async def _manager_insight(http: aiohttp.ClientSession, t: Target, rnd: random.Random) -> Outcome:
    who = rnd.choice(t.managers)
    path = f"/api/v1/insights/{rnd.choice(INSIGHT_KEYS)}?team={who.team_id}"
    return await _request(
        http, "manager: team insight (API)", "GET", t.url(path), headers={"Cookie": who.cookie}
    )


def _ld(name: str, path: str) -> Op:
    async def op(http: aiohttp.ClientSession, t: Target, rnd: random.Random) -> Outcome:
        return await _request(http, name, "GET", t.url(path), headers={"Cookie": t.ld.cookie})

    return op


async def _statements_query(http: aiohttp.ClientSession, t: Target, rnd: random.Random) -> Outcome:
    agent = json.dumps({"mbox": f"mailto:l{rnd.choice(t.learners)}@bench.example"})
    path = f"/xapi/statements?limit=20&agent={aiohttp.helpers.quote(agent, safe='')}"
    return await _request(
        http, "LMS: GET /xapi/statements", "GET", t.url(path), headers=t.lms_headers
    )


# name -> (weight in the mix, the operation): a working day's shape (see docs/scaling.md)
OPERATIONS: dict[str, tuple[float, Op]] = {
    "learner: GET /api/v1/me/today": (30, _page("learner: GET /api/v1/me/today", "/api/v1/me/today")),
    "learner: Today page /": (15, _page("learner: Today page /", "/")),
    "learner: Progress page": (8, _page("learner: Progress page", "/progress")),
    "log a moment": (5, _moment),
    "LMS: xAPI single statement": (10, _xapi("LMS: xAPI single statement", 1)),
    "LMS: xAPI batch of 50": (3, _xapi("LMS: xAPI batch of 50", 50)),
    "LMS: GET /xapi/statements": (2, _statements_query),
    "manager: team insight (API)": (3, _manager_insight),
    "L&D: insights page": (0.5, _ld("L&D: insights page", "/console/insights/")),
    "L&D: leadership summary": (0.5, _ld("L&D: leadership summary", "/console/insights/summary")),
}  # fmt: skip


def client(concurrency: int, timeout: float = 60.0) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency + 8),
        timeout=aiohttp.ClientTimeout(total=timeout),
        cookie_jar=aiohttp.DummyCookieJar(),  # each request carries its person's cookie
    )


async def closed_loop(
    t: Target,
    ops: dict[str, tuple[float, Op]],
    concurrency: int,
    seconds: float,
    seed: int = 1,
) -> list[Outcome]:
    """``concurrency`` clients for ``seconds``, each drawing its next operation by weight."""
    names = list(ops)
    weights = [ops[n][0] for n in names]
    outcomes: list[Outcome] = []
    until = time.perf_counter() + seconds

    async def one(n: int, http: aiohttp.ClientSession) -> None:
        rnd = random.Random(seed * 1000 + n)
        while time.perf_counter() < until:
            name = rnd.choices(names, weights)[0]
            outcomes.append(await ops[name][1](http, t, rnd))

    async with client(concurrency) as http:
        await asyncio.gather(*(one(n, http) for n in range(concurrency)))
    return outcomes


class Lms:
    """An LMS that sends statement batches and retries every batch that did not get a 200
    (another app process on a connection error, after Retry-After on a 429/503), until
    ``deadline``. Remembers every statement id it made."""

    def __init__(self, t: Target, batch: int, seed: int = 7) -> None:
        self.t = t
        self.batch = batch
        self.rnd = random.Random(seed)
        self.ids: list[str] = []
        self.outcomes: list[Outcome] = []
        self.unsent: list[list[str]] = []  # batches still without a 200 at the deadline

    def make(self) -> list[dict[str, Any]]:
        items = [statement(self.rnd.choice(self.t.learners)) for _ in range(self.batch)]
        self.ids.extend(s["id"] for s in items)
        return items

    async def send_until_stored(
        self,
        http: aiohttp.ClientSession,
        deadline: float,
        port: int | None = None,
        items: list[dict[str, Any]] | None = None,
    ) -> Outcome:
        """POST one batch (new, or ``items``) until it gets a 200; the first answer."""
        items = items if items is not None else self.make()
        body = json.dumps(items).encode()
        first: Outcome | None = None
        attempt = 0
        while time.perf_counter() < deadline:
            url = self.t.url("/xapi/statements", port if attempt == 0 else None)
            out = await _request(
                http, "LMS batch (retried)", "POST", url, headers=self.t.lms_headers, body=body,
                items=len(items),
            )  # fmt: skip
            first = first or out
            self.outcomes.append(out)
            if out.status == 200:
                return first
            attempt += 1
            await asyncio.sleep(0.5 if out.status in (429, 503) else 0.2)
        self.unsent.append([s["id"] for s in items])
        return first or Outcome("LMS batch (retried)", time.perf_counter(), 0.0, 0, False, 0)

    async def run(
        self, http: aiohttp.ClientSession, loops: int, send_until: float, deadline: float
    ) -> None:
        """``loops`` senders making new batches until ``send_until``; retries go on to
        ``deadline``."""

        async def loop() -> None:
            while time.perf_counter() < send_until:
                await self.send_until_stored(http, deadline)

        await asyncio.gather(*(loop() for _ in range(loops)))
