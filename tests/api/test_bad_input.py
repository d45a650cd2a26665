"""Bad bytes, bad depth, bad numbers and bad dates: a 4xx that says what is wrong, never a 5xx.

Every endpoint that reads a body is found from the app's own routes (like test_fuzz.py) and
gets a fixed, small set of hostile bodies: bytes that are not UTF-8, JSON nested a thousand
deep (and unbalanced a hundred thousand deep), NaN and numbers beyond a double, and, built
from the endpoint's OpenAPI request schema, every field filled with 2**63 and year 9999, or
with 2**31 (just past PostgreSQL's INTEGER) and year 1. Then the cases one by one: xAPI's 401, a batch with an id twice, the bound on
when learning happened on all three intake paths, and ids beyond PostgreSQL's INTEGER.
"""

import inspect
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.enums import RequestEncodingType
from litestar.openapi.spec import Operation
from litestar.routes import HTTPRoute
from litestar.testing import AsyncTestClient

from backend.learning.webhook import sign
from backend.request_body import MAX_JSON_DEPTH
from tests.factories import World, sign_in, signed_in_client

XAPI = {"X-Experience-API-Version": "1.0.3"}
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
INTEGRATION_PATHS = ("/api/v1/events", "/xapi")

HOSTILE_JSON: dict[str, bytes] = {
    "not UTF-8 in a string": b'{"title": "caf\xe9 \xff\xfe", "name": "\xc3\x28"}',
    "not UTF-8 at all": b"\xff\xfe{\x00",
    "arrays 1,000 deep": b"[" * 1000 + b"]" * 1000,
    "objects 1,000 deep": b'{"a":' * 1000 + b"1" + b"}" * 1000,
    "unbalanced 100,000 deep": b"[" * 100_000,
    "deep inside a field": b'{"settings": ' + b'{"a":' * 999 + b"1" + b"}" * 999 + b"}",
    "NaN": b'{"minutes": NaN}',
    "beyond a double": b'{"minutes": 1e999}',
}
# forms are read leniently (a byte that is not UTF-8 becomes U+FFFD), so one body each suffices
HOSTILE_FORMS: dict[str, bytes] = {
    "not UTF-8, raw and percent-encoded, and huge numbers": (
        b"email=caf\xe9&password=%FF%FE&title=\xc3\x28&name=%E9&minutes="
        + b"9" * 30
        + b"&team_id=18446744073709551616&user_id=-9223372036854775809&starts_on=9999-12-31"
    ),
}
# fields filled from the OpenAPI schema: (integers, numbers, date, date-time)
SCHEMA_FILLS = {
    "2**63 and year 9999": (2**63, 1e308, "9999-12-31", "9999-12-31T23:59:59+14:00"),
    "2**31 and year 1": (2**31, -1e308, "0001-01-01", "0001-01-01T00:00:00Z"),
}


def _hostile_event(ints: int, when: str) -> dict[str, Any]:
    return {
        "id": "hostile",
        "learner": {"user_id": ints},
        "kind": "completion",
        "occurred_at": when,
        "minutes": ints,
        "course": {"id": ints},
        "competency_id": ints,
    }


def _hostile_statement(ints: int, when: str) -> dict[str, Any]:
    return {
        "actor": {"mbox": "mailto:sam@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://lms.acme.example/courses/feedback"},
        "result": {"score": {"raw": ints, "min": -ints, "max": ints}, "duration": f"PT{ints}S"},
        "timestamp": when,
    }


# the ingestion routes read their own body: their hostile shapes are written out here
HANDWRITTEN = {"/api/v1/events": _hostile_event, "/xapi/statements": _hostile_statement}


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _fill(
    schema: dict[str, Any], components: dict[str, Any], fills: tuple[Any, ...], depth: int = 0
) -> Any:
    """A value of ``schema``'s shape with every leaf a hostile one."""
    integer, number, day, moment = fills
    schema = _resolve(schema, components)
    for key in ("oneOf", "anyOf"):
        if key in schema:
            options = [s for s in schema[key] if _resolve(s, components).get("type") != "null"]
            return _fill(options[0], components, fills, depth) if options else None
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind == "object" or "properties" in schema:
        if depth > 4:
            return {}
        return {
            name: _fill(sub, components, fills, depth + 1)
            for name, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [_fill(schema.get("items", {}), components, fills, depth + 1)]
    if kind == "integer":
        return integer
    if kind == "number":
        return number
    if kind == "string":
        return {"date": day, "date-time": moment}.get(schema.get("format", ""), "x")
    if kind == "boolean":
        return True
    return integer


def _body_routes(app: Litestar) -> Iterator[tuple[str, str, str, Any]]:
    """(method, path template, "json" or "form", handler) of every route that reads a body."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            methods = sorted(set(handler.http_methods) & {"POST", "PUT", "PATCH", "DELETE"})
            if not methods:
                continue
            data = handler.parsed_fn_signature.parameters.get("data")
            media = getattr(data.kwarg_definition, "media_type", None) if data else None
            source = inspect.getsource(handler.fn)
            if media in (RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART):
                kind = "form"
            elif data is not None or handler.operation_class is not Operation:
                kind = "json"
            elif "request.form()" in source:
                kind = "form"
            elif "request.body()" in source or "request.json()" in source:
                kind = "json"
            else:
                continue  # no body is read: sending one would only run the action
            for method in methods:
                yield method, route.path, kind, handler


def _concrete(path: str, world: World) -> str:
    """The path with its parameters set to org A's real rows (or a harmless word)."""
    ids = {
        "user_id": world.a.users["employee"].id,
        "team_id": world.a.team_id,
        "course_id": world.a.course_id,
        "competency_id": world.a.competency_id,
    }
    parts = []
    for part in path.split("/"):
        if part.startswith("{"):
            name, _, kind = part.strip("{}").partition(":")
            part = str(ids.get(name, 1 if kind == "int" else "x"))
        parts.append(part)
    return "/".join(parts)


def readable_problem(response: Any) -> str | None:
    """Why an answer to bad input is wrong: a 5xx, or a JSON 4xx without a message."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    if 400 <= response.status_code < 500 and "json" in response.headers.get("content-type", ""):
        detail = response.json().get("detail")
        if not isinstance(detail, str) or not detail.strip():
            return f"{response.status_code} without a detail: {response.text[:300]}"
    return None


async def test_hostile_bodies_on_every_endpoint_are_a_4xx_with_a_message(
    app: Litestar, world: World
) -> None:
    schema = app.openapi_schema.to_schema()
    components = schema.get("components", {}).get("schemas", {})
    routes = list(_body_routes(app))
    assert len(routes) >= 60, "lost the routes that read a body"
    failures: list[str] = []
    sent = 0
    seen: dict[int, int] = {}
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "ld@acme.example")
        session = client.cookies.get("learnloop_session") or ""
        csrf = client.cookies.get("learnloop_csrf") or ""
        for method, template, kind, _handler in routes:
            url = _concrete(template, world)
            if template.startswith(INTEGRATION_PATHS):
                headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
            else:
                headers = {"x-csrf-token": csrf, "accept": "application/json"}
            bodies = dict(HOSTILE_FORMS if kind == "form" else HOSTILE_JSON)
            if kind == "json":
                operation = schema["paths"].get(template.replace(":int", "").replace(":str", ""))
                body_schema = (
                    ((operation or {}).get(method.lower()) or {})
                    .get("requestBody", {})
                    .get("content", {})
                    .get("application/json", {})
                    .get("schema")
                )
                for name, fills in SCHEMA_FILLS.items():
                    if template in HANDWRITTEN:
                        value = HANDWRITTEN[template](fills[0], fills[3])
                    elif body_schema:
                        value = _fill(body_schema, components, fills)
                    else:
                        continue
                    bodies[name] = json.dumps(value).encode()
            for name, body in bodies.items():
                # only the caller's own credentials, never a cookie a response set (sign-out)
                client.cookies.clear()
                if not template.startswith(INTEGRATION_PATHS):
                    client.cookies.set("learnloop_session", session)
                    client.cookies.set("learnloop_csrf", csrf)
                response = await client.request(
                    method,
                    url,
                    content=body,
                    headers=headers | (FORM if kind == "form" else JSON),
                )
                sent += 1
                seen[response.status_code] = seen.get(response.status_code, 0) + 1
                problem = readable_problem(response)
                if problem:
                    failures.append(f"{method} {url} with {name}: {problem}")
    assert sent >= 500 and seen.get(400, 0) >= sent // 2, sorted(seen.items())
    assert not failures, "\n".join(failures)


def _integer_query_parameters(schema: dict[str, Any], template: str, method: str) -> list[str]:
    operation = schema["paths"].get(template.replace(":int", "").replace(":str", ""), {})
    return [
        p["name"]
        for p in (operation.get(method.lower()) or {}).get("parameters", [])
        if p.get("in") == "query" and p.get("schema", {}).get("type") == "integer"
    ]


@pytest.mark.parametrize("huge", [2**31, -(2**63) - 1])
async def test_ids_beyond_32_bits_in_any_path_or_query_are_a_4xx(
    app: Litestar, world: World, huge: int
) -> None:
    """Every integer a path or a query names, one past PostgreSQL's INTEGER: no such row (404)
    or a 400 naming it, never the driver's error."""
    schema = app.openapi_schema.to_schema()
    failures: list[str] = []
    sent = not_found = 0
    async with AsyncTestClient(app=app) as client:
        await sign_in(client, "ld@acme.example")
        for route in app.routes:
            if not isinstance(route, HTTPRoute):
                continue
            for handler in route.route_handlers:
                for method in sorted(set(handler.http_methods) - {"HEAD", "OPTIONS"}):
                    query = _integer_query_parameters(schema, route.path, method)
                    if ":int}" not in route.path and not query:
                        continue
                    url = route.path
                    for part in url.split("/"):
                        if part.endswith(":int}"):
                            url = url.replace(part, str(huge))
                    url = _concrete(url, world)
                    if url.startswith(INTEGRATION_PATHS):
                        headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
                    else:
                        headers = {"accept": "application/json"}
                    response = await client.request(
                        method,
                        url,
                        params={name: str(huge) for name in query},
                        headers=headers,
                        json={} if method in ("POST", "PUT", "PATCH") else None,
                    )
                    sent += 1
                    not_found += response.status_code == 404
                    problem = readable_problem(response)
                    if problem:
                        failures.append(f"{method} {url} {query}: {problem}")
    assert sent >= 40 and not_found >= sent // 3, (sent, not_found)  # the guards let it through
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize(("name", "body"), list(HOSTILE_JSON.items())[:6])
async def test_undecodable_json_says_why(
    app: Litestar, world: World, name: str, body: bytes
) -> None:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post("/api/v1/courses", content=body, headers=JSON)
    assert response.status_code == 400, response.text
    detail = response.json()["detail"]
    assert detail.startswith("body: ")
    expected = "UTF-8" if "UTF-8" in name else f"more than {MAX_JSON_DEPTH} levels deep"
    assert expected in detail, detail


async def test_json_nested_within_the_bound_is_read(app: Litestar, world: World) -> None:
    """The bound refuses depth, not brackets: brackets in text and shallow bodies pass."""
    key = {"Authorization": f"Bearer {world.a.api_key}", **XAPI, **JSON}
    statement = _hostile_statement(1, datetime.now(UTC).isoformat()) | {
        "result": {"extensions": {"https://x.example/n": "[" * 500 + "{" * 500}},
        "context": {"extensions": {"https://x.example/deep": [[[[[[[[[[1]]]]]]]]]]}},
    }
    async with AsyncTestClient(app=app) as client:
        response = await client.post(
            "/xapi/statements", content=json.dumps(statement).encode(), headers=key
        )
    assert response.status_code == 200, response.text


async def test_login_refuses_bytes_that_are_not_utf8(app: Litestar, world: World) -> None:
    async with AsyncTestClient(app=app) as client:
        await client.get("/")
        token = client.cookies.get("learnloop_csrf") or ""
        api = await client.post(
            "/api/v1/auth/login",
            content=b'{"email": "ld@acme.example", "password": "\xff"}',
            headers=JSON | {"x-csrf-token": token},
        )
        assert api.status_code == 400 and "UTF-8" in api.json()["detail"], api.text
        for raw in (b"email=ld%40acme.example&password=\xff\xfe", b"email=%FF&password=%FE"):
            page = await client.post(
                "/login", content=raw + f"&_csrf_token={token}".encode(), headers=FORM
            )
            assert 200 <= page.status_code < 500, page.text[:300]


# ------------------------------------------------------------------------------- xAPI answers


async def test_xapi_without_credentials_is_a_401_with_a_basic_challenge(
    app: Litestar, world: World
) -> None:
    """xAPI 1.0.3 (part three, 4.1): an LRS answers 401 to a request without credentials;
    403 stays for credentials that may not do this (a person's session)."""
    xapi_routes = [
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith("/xapi")
        for handler in route.route_handlers
        if not handler.opt.get("public")
        for method in sorted(set(handler.http_methods) - {"HEAD", "OPTIONS"})
    ]
    assert ("POST", "/xapi/statements") in xapi_routes
    body = json.dumps(_hostile_statement(1, datetime.now(UTC).isoformat())).encode()
    async with AsyncTestClient(app=app) as client:
        for method, path in xapi_routes:
            response = await client.request(
                method, path, content=body, headers=XAPI | JSON, params={"statementId": "x"}
            )
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["WWW-Authenticate"].startswith("Basic"), (method, path)
            assert response.json()["detail"]
        wrong_key = await client.post(
            "/xapi/statements",
            content=body,
            headers=XAPI | JSON | {"Authorization": "Basic bm9ib2R5Om5vdGhpbmc="},
        )
        assert wrong_key.status_code == 401 and "WWW-Authenticate" in wrong_key.headers
        about = await client.get("/xapi/about")
        assert about.status_code == 200
    async with signed_in_client(app, "ld@acme.example") as person:
        response = await person.post("/xapi/statements", content=body, headers=XAPI | JSON)
        assert response.status_code == 403, response.text
        assert "API key" in response.json()["detail"]


@pytest.mark.parametrize("same_content", [True, False])
async def test_a_batch_with_a_statement_id_twice_is_a_400_naming_it(
    app: Litestar, world: World, same_content: bool
) -> None:
    key = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    statement_id = str(uuid.uuid4())
    first = _hostile_statement(1, datetime.now(UTC).isoformat()) | {"id": statement_id}
    del first["result"]
    second = dict(first) if same_content else first | {"result": {"completion": True}}
    async with AsyncTestClient(app=app) as client:
        refused = await client.post("/xapi/statements", json=[first, second], headers=key)
        assert refused.status_code == 400, refused.text
        assert statement_id in refused.json()["detail"]
        assert refused.json()["detail"].startswith("statement[1].id")
        # nothing of the refused batch was kept: the statement alone is new
        alone = await client.post("/xapi/statements", json=first, headers=key)
        assert alone.status_code == 200 and alone.json() == [statement_id]
        again = await client.post("/xapi/statements", json=[first], headers=key)
        assert again.status_code == 200  # a retry of a stored statement is no batch duplicate


# ------------------------------------------------------------- when learning may have happened

OUT_OF_BOUND = [
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "2100-01-01T00:00:00Z",
]


async def _webhook_secret(app: Litestar) -> dict[str, str]:
    async with signed_in_client(app, "ld@acme.example") as admin:
        response = await admin.post("/api/v1/webhook-secrets", json={"name": "Moodle"})
        assert response.status_code == 201, response.text
        secret: dict[str, str] = response.json()
        return secret


def _signed(secret: dict[str, str], body: bytes) -> dict[str, str]:
    ts = int(datetime.now(UTC).timestamp())
    return JSON | {
        "x-learnloop-webhook-key": secret["key_id"],
        "x-learnloop-timestamp": str(ts),
        "x-learnloop-signature": sign(secret["secret"].encode(), body, ts),
    }


async def test_learning_times_beyond_the_bound_are_a_400_on_every_intake(
    app: Litestar, world: World
) -> None:
    """1970-01-01 <= when < 2100-01-01 (UTC), on xAPI, the events API and the webhook; the
    bound keeps dates away from the calendar's ends, where the local day overflowed (500)."""
    key = {"Authorization": f"Bearer {world.a.api_key}"}
    secret = await _webhook_secret(app)
    async with AsyncTestClient(app=app) as client:
        for n, when in enumerate([*OUT_OF_BOUND, "2099-12-31T12:00:00+00:00"]):
            inside = when.startswith("2099")
            statement = _hostile_statement(1, when)
            del statement["result"]
            xapi = await client.post("/xapi/statements", json=statement, headers=key | XAPI)
            event = _hostile_event(1, when) | {
                "id": f"late-{n}",
                "learner": {"email": "sam@example.com"},
                "course": {"id": world.a.course_id},
                "minutes": 30,
            }
            del event["competency_id"]
            events = await client.post("/api/v1/events", json=event, headers=key)
            delivery = json.dumps(
                {
                    "delivery_id": f"dlv-{n}",
                    "event": "course.completed",
                    "learner": {"email": "sam@example.com"},
                    "course": {"external_id": "ext-1", "title": "Klantgesprekken"},
                    "occurred_at": when.replace("Z", "+00:00"),
                    "minutes": 30,
                }
            ).encode()
            webhook = await client.post(
                "/api/v1/webhooks/lms", content=delivery, headers=_signed(secret, delivery)
            )
            for response, field in ((xapi, "timestamp"), (events, "occurred_at"), (webhook, "")):
                if inside:
                    assert 200 <= response.status_code < 300, (when, response.text)
                    continue
                assert response.status_code == 400, (when, response.text)
                detail = response.json()["detail"]
                assert "1970-01-01 and 2100-01-01" in detail, detail
                assert (field or "occurred_at") in detail, detail


async def test_hostile_bodies_signed_for_the_webhook_are_a_400(app: Litestar, world: World) -> None:
    """The signed webhook reads its own body (after the signature): the same bytes, signed."""
    secret = await _webhook_secret(app)
    async with AsyncTestClient(app=app) as client:
        for name, body in HOSTILE_JSON.items():
            response = await client.post(
                "/api/v1/webhooks/lms", content=body, headers=_signed(secret, body)
            )
            assert response.status_code == 400, (name, response.text)
            detail = response.json()["detail"]
            assert detail.startswith("body") if "deep" in name or "UTF" in name else detail, name


# -------------------------------------------------------------------- ids beyond 32-bit integers


@pytest.mark.parametrize("huge", [2**31, 2**63, 2**64])
async def test_ids_beyond_32_bits_in_the_events_api_are_a_400_naming_the_field(
    app: Litestar, world: World, huge: int
) -> None:
    key = {"Authorization": f"Bearer {world.a.api_key}"}
    now = datetime.now(UTC).isoformat()
    base = {"id": "big", "learner": {"email": "sam@example.com"}, "kind": "informal"}
    async with AsyncTestClient(app=app) as client:
        for extra, field in (
            ({"course": {"id": huge}}, "course.id"),
            ({"learner": {"user_id": huge}}, "learner.user_id"),
            ({"competency_id": huge}, "competency_id"),
        ):
            response = await client.post(
                "/api/v1/events", json=base | {"occurred_at": now} | extra, headers=key
            )
            assert response.status_code == 400, (field, response.text)
            assert field in response.json()["detail"], response.text
            assert "2147483647" in response.json()["detail"]
    async with signed_in_client(app, "sam@example.com") as sam:
        for field in ("competency_id", "colleague_id"):
            moment = {"client_id": str(uuid.uuid4()), "what": "read", "minutes": 5, field: huge}
            response = await sam.post("/api/v1/me/moments", json=moment)
            assert response.status_code == 400 and field in response.text, response.text


async def test_days_beyond_the_calendar_in_a_query_are_a_400(app: Litestar, world: World) -> None:
    """The audit log's local days (year 1 at Amsterdam's offset overflowed: a 500)."""
    async with signed_in_client(app, "ld@acme.example") as admin:
        for params, name in (({"from": "0001-01-01"}, "from"), ({"to": "9999-12-31"}, "to")):
            response = await admin.get("/api/v1/audit", params=params)
            assert response.status_code == 400, response.text
            assert response.json()["detail"].startswith(f"{name}: must be a day from")
        for url in ("/api/v1/insights/nudges", "/api/v1/nudge-variants"):
            for params in ({"since": "0001-01-01"}, {"since": "9999-12-31", "until": "9999-12-31"}):
                response = await admin.get(url, params=params)
                assert response.status_code < 500, (url, params, response.text)


async def test_a_route_that_decodes_its_own_body_still_answers_a_400(
    app: Litestar, world: World
) -> None:
    """The app's handlers catch what a route's own decoder lets through (an xAPI state
    document is the LRS's to parse): bytes that are not UTF-8, JSON past the stack."""
    key = {"Authorization": f"Bearer {world.a.api_key}", **XAPI, **JSON}
    query = {
        "activityId": "https://lms.acme.example/courses/feedback",
        "agent": json.dumps({"mbox": "mailto:sam@example.com"}),
        "stateId": "bookmark",
    }
    async with AsyncTestClient(app=app) as client:
        for body in (b'{"page": "\xff\xfe"}', b"[" * 100_000 + b"]" * 100_000):
            response = await client.post(
                "/xapi/activities/state", params=query, content=body, headers=key
            )
            assert response.status_code == 400, response.text
            assert response.json()["detail"], response.text


async def test_every_xapi_refusal_names_the_version(app: Litestar, world: World) -> None:
    """xAPI 1.0.3 (part three, 3.3): every answer of an LRS carries X-Experience-API-Version,
    a refused statement, a refused PUT and a missing key included."""
    key = {"Authorization": f"Bearer {world.a.api_key}"}
    bad = {"actor": {"mbox": "mailto:sam@example.com"}, "verb": {"id": "not an iri"}}
    async with AsyncTestClient(app=app) as client:
        answers = [
            await client.post("/xapi/statements", json=bad, headers=XAPI | key),
            await client.put(
                "/xapi/statements",
                params={"statementId": str(uuid.uuid4())},
                json=bad,
                headers=XAPI | key,
            ),
            await client.post("/xapi/statements", content=b"\xff", headers=XAPI | JSON | key),
            await client.post("/xapi/statements", json=bad, headers=XAPI),
        ]
    assert [a.status_code for a in answers] == [400, 400, 400, 401]
    for answer in answers:
        assert answer.headers["X-Experience-API-Version"] == "1.0.3", answer.text
