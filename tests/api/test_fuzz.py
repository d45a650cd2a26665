"""Property-based fuzzing of the whole API: whatever comes in, the answer is never a 5xx.

Schemathesis reads the app's own OpenAPI document and generates requests for every operation:
valid ones (which must be handled) and invalid ones (wrong types, missing and extra fields,
out-of-range numbers, odd strings), as an anonymous visitor, as org A's integration key and as
org A's signed-in L&D admin (who can reach every write). Invalid input must come back as a 4xx
with a message that says what is wrong.

Schemathesis calls the ASGI app in-process, on its own event-loop thread; the app's engine has
no connection pool in the tests, so it simply opens connections on that loop.
"""

import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi

from backend.app import create_app
from backend.context import AppContext
from backend.db.models import HotSkillSeason, ImportJob
from backend.db.models import Testimonial as StoredTestimonial
from backend.integrations.services import create_api_key
from backend.settings import Settings
from tests.factories import PASSWORD, World, sign_in, signed_in_client

MAX_EXAMPLES = 25  # per operation for the L&D admin, who gets past every guard
MAX_EXAMPLES_UNPRIVILEGED = 5  # per operation for the anonymous visitor and the API key ...
MAX_EXAMPLES_ESCALATED = 15  # ... and this many more where they got past the guard

pytestmark = pytest.mark.slow

FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,  # no .hypothesis directory in the repository
    derandomize=False,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
    report_multiple_bugs=False,
)


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    cookies: dict[str, str]


@dataclass
class FuzzEnv:
    app: Litestar
    world: World
    callers: dict[str, Caller]
    real_ids: dict[str, int | str]
    """Path parameters that point at existing org A rows, so bodies are fuzzed against real data."""


@pytest.fixture
async def fuzz_env(
    app: Litestar, ctx: AppContext, settings: Settings, world: World
) -> AsyncIterator[FuzzEnv]:
    async with AsyncTestClient(app=app) as client:
        await client.get("/")
        anonymous_csrf = client.cookies.get("learnloop_csrf") or ""
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "ld@acme.example")
        session = client.cookies.get("learnloop_session") or ""
        csrf = client.cookies.get("learnloop_csrf") or ""
        # rows of org A behind the console's ids, made the way L&D makes them
        badge = await client.post(
            "/api/v1/badges",
            json={
                "code": "fuzzed-badge",
                "name": "Fuzzed badge",
                "criterion": {"kind": "event_count", "event_kind": "completion"},
                "tiers": [{"name": "bronze", "threshold": 2}],
            },
        )
        challenge = await client.post(
            "/api/v1/challenges",
            json={
                "title": "Fuzzed challenge",
                "starts_on": (date.today() + timedelta(days=3)).isoformat(),
                "ends_on": (date.today() + timedelta(days=20)).isoformat(),
                "target": {"event_kind": "completion", "target_count": 2},
            },
        )
        secret = await client.post("/api/v1/webhook-secrets", json={"name": "Fuzzed LMS"})
        assert badge.status_code == challenge.status_code == secret.status_code == 201, (
            badge.text,
            challenge.text,
            secret.text,
        )
    assert session and csrf and anonymous_csrf
    async with ctx.sessionmaker() as db:
        spare_key = await create_api_key(db, world.a.id, "Spare key to revoke", None)
        season = HotSkillSeason(
            organisation_id=world.a.id,
            name="Fuzzed season",
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
            competency_ids=[world.a.competency_id],
        )
        testimonial = StoredTestimonial(
            organisation_id=world.a.id,
            course_id=world.a.course_id,
            user_id=world.a.users["employee"].id or 0,
            text="Worth every minute",
        )
        job = ImportJob(organisation_id=world.a.id, kind="courses", status="done")
        db.add_all([season, testimonial, job])
        await db.commit()
    callers = {
        # a visitor with a CSRF token, so requests get past CSRF and meet the authentication checks
        "anonymous": Caller(
            "anonymous", {"x-csrf-token": anonymous_csrf}, {"learnloop_csrf": anonymous_csrf}
        ),
        # an xAPI client always names its version, so the xAPI routes get past that check
        "api_key": Caller(
            "api_key",
            {"Authorization": f"Bearer {world.a.api_key}", "X-Experience-API-Version": "1.0.3"},
            {},
        ),
        "ld_admin": Caller(
            "ld_admin",
            {"x-csrf-token": csrf},
            {"learnloop_session": session, "learnloop_csrf": csrf},
        ),
    }
    real_ids = {
        "user_id": world.a.users["employee"].id or 0,
        "team_id": world.a.team_id,
        "course_id": world.a.course_id,
        "key_id": spare_key.id,
        "competency_id": world.a.competency_id,
        "season_id": season.id or 0,
        "badge_id": badge.json()["id"],
        "challenge_id": challenge.json()["id"],
        "secret_id": secret.json()["id"],
        "testimonial_id": testimonial.id or 0,
        "import_id": job.id or 0,
        "kind": "reminder",
        "locale": "nl",
        "variant": "a",
    }
    # The same app on the same database, but with a connection pool: schemathesis runs every
    # request on one event loop of its own, and opening two connections per request (the test
    # fixtures' NullPool) would make the fuzzing several times slower on PostgreSQL.
    pooled = create_app(context=AppContext.from_settings(settings))
    try:
        yield FuzzEnv(app=pooled, world=world, callers=callers, real_ids=real_ids)
    finally:
        asgi.shutdown_lifespans()  # runs the app's on_shutdown (engine.dispose) on that loop


def load_schema(app: Litestar) -> Any:
    return schemathesis.openapi.from_asgi("/schema/openapi.json", app)


def readable_error(response: Any) -> str | None:
    """Why a 4xx response is not helpful, or None when it says what is wrong."""
    if response.status_code in (401, 403, 404, 405, 409, 413, 429) or response.status_code == 400:
        try:
            body = json.loads(response.content)
        except ValueError:
            return f"{response.status_code} without a JSON body: {response.content[:200]!r}"
        detail = body.get("detail") if isinstance(body, dict) else None
        if not isinstance(detail, str) or not detail.strip():
            return f"{response.status_code} without a detail message: {body!r:.300}"
    return None


ADMIN_UNREACHABLE = {
    "POST /api/v1/events",
    "POST /xapi/statements",
    "PUT /xapi/statements",
    "POST /api/v1/webhooks/lms",
    "GET /api/v1/integration/whoami",
    "POST /api/v1/me/push-subscriptions",
    "POST /api/v1/nudges/{nudge_id}/click",
}


def _keep_signed_in(client: Any, env: FuzzEnv) -> None:
    """Sign the L&D admin in again when an earlier operation's random input ended their
    session (signed them out everywhere, say): the rest are then fuzzed as them, not as
    nobody."""
    caller = env.callers["ld_admin"]
    alive = client.get("/api/v1/me", headers=dict(caller.headers), cookies=dict(caller.cookies))
    if alive.status_code != 401:
        return
    client.cookies.clear()
    again = client.post(
        "/api/v1/auth/login",
        json={"email": env.world.email("a", "ld_admin"), "password": PASSWORD},
        headers=dict(caller.headers),
        cookies={"learnloop_csrf": caller.cookies["learnloop_csrf"]},
    )
    session = again.cookies.get("learnloop_session")
    if again.status_code == 200 and session:
        caller.cookies["learnloop_session"] = session


ENDS_THE_SESSION = {
    "POST /api/v1/auth/logout",
    "POST /api/v1/me/sign-out-everywhere",
    "POST /api/v1/users/{user_id}/sign-out-everywhere",
}


def fuzz_operation(
    operation: Any,
    caller: Caller,
    real_ids: dict[str, int | str],
    client: Any,
    max_examples: int,
    seen: Counter[int],
) -> None:
    """Fuzz one operation; ``seen`` counts the status codes it answered with."""
    names = {p.name for p in operation.path_parameters}
    fixed = {k: v for k, v in real_ids.items() if k in names}
    strategies = [
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    ]
    if fixed and len(fixed) == len(names):
        strategies.append(
            operation.as_strategy(generation_mode=GenerationMode.POSITIVE, path_parameters=fixed)
        )
        strategies.append(
            operation.as_strategy(generation_mode=GenerationMode.NEGATIVE, path_parameters=fixed)
        )

    @settings(FUZZ_SETTINGS, max_examples=max_examples)
    @given(case=st.one_of(strategies))
    def run(case: Any) -> None:
        client.cookies.clear()  # only the caller's own credentials, never a cookie a response set
        response = case.call(
            session=client, headers=dict(caller.headers), cookies=dict(caller.cookies)
        )
        seen[response.status_code] += 1
        assert response.status_code < 500, (
            f"{response.status_code} for {case.as_curl_command()}\n{response.text[:500]}"
        )
        case.validate_response(response, checks=[not_a_server_error])
        problem = readable_error(response)
        assert problem is None, f"{problem}\nfor {case.as_curl_command()}"

    run()


@pytest.mark.parametrize("caller", ["anonymous", "api_key", "ld_admin"])
def test_fuzzed_requests_never_cause_a_server_error(fuzz_env: FuzzEnv, caller: str) -> None:
    schema = load_schema(fuzz_env.app)
    failures: list[str] = []
    operations = 0
    statuses: dict[str, Counter[int]] = {}
    # the operations that end the caller's own session go last, so the rest see it alive
    ordered = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda operation: operation.label in ENDS_THE_SESSION,
    )
    with asgi.get_client(fuzz_env.app) as client:
        for operation in ordered:
            if caller == "ld_admin":
                _keep_signed_in(client, fuzz_env)
            operations += 1
            seen = statuses.setdefault(operation.label, Counter())
            # the L&D admin reaches (almost) every handler; for the others a few examples show
            # the guard, and only operations that let them through are fuzzed in full
            rounds = (
                [MAX_EXAMPLES]
                if caller == "ld_admin"
                else [MAX_EXAMPLES_UNPRIVILEGED, MAX_EXAMPLES_ESCALATED]
            )
            try:
                for round_number, max_examples in enumerate(rounds):
                    if round_number and not set(seen) - {401, 403, 404, 405}:
                        break  # only the guard answered: nothing more to learn here
                    fuzz_operation(
                        operation,
                        fuzz_env.callers[caller],
                        fuzz_env.real_ids,
                        client,
                        max_examples,
                        seen,
                    )
            except Exception as exc:  # collect every operation's failure, then report them all
                failures.append(f"--- {caller} {operation.label}:\n{exc}")
    assert operations >= 15, "the OpenAPI document lost its operations"
    # the fuzzing really got through: the caller's credentials worked where they should
    reached = {label for label, seen in statuses.items() if any(200 <= c < 300 for c in seen)}
    refused = {label for label, seen in statuses.items() if seen[401] or seen[403]}
    if caller == "ld_admin":
        # most operations, leaving out those a person can't or random input won't pass:
        # integration-only ones (API key, signed webhook), a push subscription (needs a real
        # P-256 point) and a nudge click (a random 128-bit token)
        # every xAPI resource but About takes an integration key only (a session gets 403)
        xapi_only = {label for label in statuses if " /xapi/" in label} - {"GET /xapi/about"}
        reachable = set(statuses) - ADMIN_UNREACHABLE - xapi_only
        assert len(reached) >= len(reachable) * 2 // 3, f"only reached {sorted(reached)}"
    elif caller == "api_key":
        assert "GET /api/v1/integration/whoami" in reached and len(refused) >= operations // 2
    else:
        assert len(refused) >= operations // 2, f"anonymous got through to {sorted(reached)}"
    assert not failures, "\n".join(failures)


# ---------------------------------------------------------------------------------------------
# explicit bad input: 4xx, and the message says what is wrong


async def test_wrong_types_are_a_400_naming_the_field(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            "/api/v1/courses", json={"title": "Excel", "duration_minutes": "long"}
        )
        assert response.status_code == 400
        assert "duration_minutes" in response.text
        response = await admin.patch(
            f"/api/v1/users/{world.a.users['employee'].id}", json={"is_active": "maybe"}
        )
        assert response.status_code == 400 and "is_active" in response.text
        response = await admin.post(
            "/api/v1/teams", json={"name": "Ops", "manager_ids": "everyone"}
        )
        assert response.status_code == 400 and "manager_ids" in response.text
        response = await admin.get("/api/v1/courses", params={"limit": "lots"})
        assert response.status_code == 400 and "limit" in response.text
        response = await admin.get("/api/v1/courses/not-a-number")
        assert 400 <= response.status_code < 500
        response = await admin.post("/api/v1/courses", json=["a", "list"])
        assert response.status_code == 400 and response.json()["detail"]


async def test_missing_fields_are_a_400_naming_the_field(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        for url, body, field in (
            ("/api/v1/courses", {}, "title"),
            ("/api/v1/competencies", {"description": "no name"}, "name"),
            ("/api/v1/users", {"display_name": "No Mail"}, "email"),
            ("/api/v1/api-keys", {}, "name"),
        ):
            response = await admin.post(url, json=body)
            assert response.status_code == 400, (url, response.text)
            assert field in response.text, (url, response.text)
            assert response.json()["detail"]
    async with AsyncTestClient(app=app) as client:
        await client.get("/")
        token = client.cookies.get("learnloop_csrf") or ""
        response = await client.post(
            "/api/v1/auth/login", json={"email": "ld@acme.example"}, headers={"x-csrf-token": token}
        )
        assert response.status_code == 400 and "password" in response.text


async def test_unknown_ids_are_a_404_naming_what_was_missing(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        for method, url, body, what in (
            ("GET", "/api/v1/users/999999", None, "user 999999"),
            ("PATCH", "/api/v1/users/999999", {"display_name": "Ghost"}, "user 999999"),
            ("GET", "/api/v1/teams/999999", None, "team 999999"),
            ("PUT", f"/api/v1/teams/{world.a.team_id}/members/999999", {}, "user 999999"),
            ("DELETE", f"/api/v1/teams/{world.a.team_id}/members/999999", None, "999999"),
            ("GET", "/api/v1/courses/999999", None, "course 999999"),
            ("PATCH", "/api/v1/courses/999999", {"title": "Ghost"}, "course 999999"),
            ("DELETE", "/api/v1/api-keys/999999", None, "API key 999999"),
            (
                "POST",
                "/api/v1/courses",
                {
                    "title": "Linked",
                    "format": "book",
                    "duration_minutes": 30,
                    "competency_ids": [999999],
                },
                "competency 999999",
            ),
            ("POST", "/api/v1/teams", {"name": "Led", "manager_ids": [999999]}, "user 999999"),
        ):
            response = await admin.request(method, url, json=body)
            assert response.status_code == 404, (method, url, response.text)
            assert what in response.json()["detail"], (method, url, response.text)


async def test_ids_beyond_the_database_range_are_not_found(app: Litestar, world: World) -> None:
    """PostgreSQL INTEGER ends at 2**31-1; larger ids must not reach the driver as a 500."""
    huge, negative = 2**31, -(2**31) - 1
    async with signed_in_client(app, "ld@acme.example") as admin:
        for method, url, body in (
            ("GET", f"/api/v1/users/{huge}", None),
            ("GET", f"/api/v1/users/{2**63}", None),
            ("PATCH", f"/api/v1/users/{huge}", {"display_name": "Big"}),
            ("GET", f"/api/v1/teams/{negative}", None),
            ("PUT", f"/api/v1/teams/{world.a.team_id}/members/{huge}", {}),
            ("DELETE", f"/api/v1/teams/{world.a.team_id}/members/{huge}", None),
            ("GET", f"/api/v1/courses/{huge}", None),
            ("DELETE", f"/api/v1/api-keys/{huge}", None),
            (
                "POST",
                "/api/v1/courses",
                {
                    "title": "Huge link",
                    "format": "book",
                    "duration_minutes": 30,
                    "competency_ids": [huge],
                },
            ),
            ("POST", "/api/v1/teams", {"name": "Huge lead", "manager_ids": [huge]}),
        ):
            response = await admin.request(method, url, json=body)
            assert 400 <= response.status_code < 500, (method, url, response.text)
            assert response.json()["detail"], (method, url, response.text)


async def test_a_two_megabyte_body_is_a_413(app: Litestar, world: World) -> None:
    payload = json.dumps({"title": "x" * (2 * 1024 * 1024)})
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post(
            "/api/v1/courses", content=payload, headers={"content-type": "application/json"}
        )
        assert response.status_code == 413
        assert "large" in response.json()["detail"].lower()
    async with AsyncTestClient(app=app) as client:  # also before anyone signed in
        await client.get("/")
        token = client.cookies.get("learnloop_csrf") or ""
        response = await client.post(
            "/api/v1/auth/login",
            content=json.dumps({"email": "a@b.c", "password": "p" * (2 * 1024 * 1024)}),
            headers={"content-type": "application/json", "x-csrf-token": token},
        )
        assert response.status_code == 413


async def test_invalid_json_is_a_400(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        for raw in (
            '{"title": "unterminated',
            "{'title': 'single quotes'}",
            "",
            "\xff\xfe",
            "null",
        ):
            response = await admin.post(
                "/api/v1/courses",
                content=raw.encode("latin-1"),
                headers={"content-type": "application/json"},
            )
            assert response.status_code == 400, (raw, response.text)
            assert response.json()["detail"], raw
        titles = [c["title"] for c in (await admin.get("/api/v1/courses")).json()]
        assert titles == ["Feedback geven (Acme)"]


@pytest.mark.parametrize(
    "field, value",
    [("title", "nul\x00byte"), ("description", "\x00"), ("provider", "a\x00b")],
)
async def test_nul_characters_are_refused_not_a_crash(
    app: Litestar, world: World, field: str, value: str
) -> None:
    """PostgreSQL text cannot hold U+0000; it must be a 400, not a driver error."""
    async with signed_in_client(app, "ld@acme.example") as admin:
        body = {"title": "Valid title", "format": "book", "duration_minutes": 30} | {field: value}
        response = await admin.post("/api/v1/courses", json=body)
        assert response.status_code == 400, response.text
        assert field in response.text
        response = await admin.get("/api/v1/courses", params={"q": "x\x00y"})
        assert 200 <= response.status_code < 500 and response.status_code != 500


async def test_nul_in_login_or_search_is_not_a_crash(app: Litestar, world: World) -> None:
    async with AsyncTestClient(app=app) as client:
        await client.get("/")
        token = client.cookies.get("learnloop_csrf") or ""
        response = await client.post(
            "/api/v1/auth/login",
            json={"email": "ld@acme\x00.example", "password": PASSWORD},
            headers={"x-csrf-token": token},
        )
        assert 400 <= response.status_code < 500, response.text
        assert response.json()["detail"]
    async with signed_in_client(app, "ld@acme.example") as admin:
        for url in ("/api/v1/users", "/api/v1/courses"):
            response = await admin.get(url, params={"q": "\x00"})
            assert 200 <= response.status_code < 500, (url, response.text)


async def test_malformed_authorization_headers_are_a_401(app: Litestar, world: World) -> None:
    async with AsyncTestClient(app=app) as client:
        for value in (
            "Bearer nonsense",
            "Bearer ll_zzzzzzzzzzzz_secret",
            "Bearer ll_",
            "Basic !!!not-base64!!!",
            "Basic " + "w6k=",  # valid base64 of a non-ASCII username
            "Basic \u00e9\u00e9\u00e9\u00e9",  # latin-1 on the wire, not base64
            "Bearer ll_\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9_secret",
            "Bearer ll_0000000000\u00e9\u00e9_secret",
            "Token abc",
            "Bearer " + "x" * 5000,
        ):
            response = await client.get(
                "/api/v1/integration/whoami", headers={"Authorization": value.encode("latin-1")}
            )
            assert response.status_code == 401, (value, response.text)
            assert response.json()["detail"], value


async def test_invalid_settings_and_oversized_urls_are_a_400(app: Litestar, world: World) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        for settings_patch, field in (
            ({"streak_days_per_week": 9}, "streak_days_per_week"),
            ({"streak_mode": "hourly"}, "streak_mode"),
            ({"no_such_setting": True}, "no_such_setting"),
        ):
            response = await admin.patch("/api/v1/organisation", json={"settings": settings_patch})
            assert response.status_code == 400, (settings_patch, response.text)
            assert field in response.text, response.text
        organisation = (await admin.get("/api/v1/organisation")).json()
        assert organisation["settings"]["streak_days_per_week"] == 3
        long_url = "https://example.com/" + "a" * 1200
        response = await admin.post(
            "/api/v1/courses",
            json={"title": "Long link", "format": "book", "duration_minutes": 30, "url": long_url},
        )
        assert response.status_code == 400, response.text
        assert "url" in response.text
        response = await admin.patch(f"/api/v1/courses/{world.a.course_id}", json={"url": long_url})
        assert response.status_code == 400, response.text


async def test_nul_characters_in_ingestion_are_a_400(app: Litestar, world: World) -> None:
    """The ingestion endpoints store what they get in PostgreSQL text columns too."""
    key = {"Authorization": f"Bearer {world.a.api_key}"}
    now = datetime.now(UTC).isoformat()
    event = {
        "id": "e1",
        "learner": {"email": "sam@example.com"},
        "kind": "informal",
        "occurred_at": now,
    }
    async with AsyncTestClient(app=app) as client:
        for body, field in (
            (event | {"id": "x\x00y"}, "id"),
            (event | {"learner": {"email": "sam\x00@example.com"}}, "learner"),
            (event | {"learner": {"external_id": "lms\x00"}}, "learner"),
            (event | {"title": "t\x00"}, "title"),
        ):
            response = await client.post("/api/v1/events", json=body, headers=key)
            assert response.status_code == 400, (body, response.text)
            assert field in response.json()["detail"], response.text
        statement = {
            "actor": {"objectType": "Agent", "mbox": "mailto:sam@example.com"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
            "object": {"objectType": "Activity", "id": "https://lms.acme.example/c\x00"},
        }
        response = await client.post(
            "/xapi/statements",
            json=statement,
            headers=key | {"X-Experience-API-Version": "1.0.3"},
        )
        assert 400 <= response.status_code < 500, response.text
    async with signed_in_client(app, "sam@example.com") as sam:
        moment = {"client_id": str(uuid.uuid4()), "what": "re\x00ad", "minutes": 5}
        response = await sam.post("/api/v1/me/moments", json=moment)
        assert response.status_code == 400, response.text
        assert "what" in response.json()["detail"] or "what" in response.text
