"""The xAPI Alternate Request Syntax (Communication 1.3): a POST with ``?method=`` and a
form stands for the ordinary request, on every /xapi resource."""

import json
import uuid
from typing import Any
from urllib.parse import urlencode

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import World

Client = AsyncTestClient[Litestar]
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
AGENT = {"objectType": "Agent", "mbox": "mailto:sam@example.com"}


def _statement() -> dict[str, Any]:
    return {
        "actor": AGENT,
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "did"}},
        "object": {"id": "https://lms.acme.example/course/safety"},
    }


def _auth(world: World, org: str = "a") -> str:
    return f"Bearer {getattr(world, org).api_key}"


async def _alternate(
    client: Client, path: str, method: str, fields: dict[str, str], **headers: str
) -> Any:
    return await client.post(
        f"{path}?method={method}", content=urlencode(fields).encode(), headers={**FORM, **headers}
    )


async def test_a_statement_put_as_a_form_is_stored_with_headers_from_the_form(
    client: Client, world: World
) -> None:
    statement_id = str(uuid.uuid4())
    put = await _alternate(
        client,
        "/xapi/statements",
        "PUT",
        {
            "statementId": statement_id,
            "content": json.dumps(_statement()),
            "Authorization": _auth(world),
            "X-Experience-API-Version": "1.0.3",
        },
    )
    assert put.status_code == 204, put.text
    assert put.headers["X-Experience-API-Version"] == "1.0.3"

    got = await _alternate(
        client,
        "/xapi/statements",
        "GET",
        {"statementId": statement_id, "Authorization": _auth(world)},
        **{"X-Experience-API-Version": "1.0.3"},
    )
    assert got.status_code == 200
    assert got.json()["id"] == statement_id
    # the same form in the other organisation's name finds nothing
    theirs = await _alternate(
        client,
        "/xapi/statements",
        "GET",
        {"statementId": statement_id, "Authorization": _auth(world, "b")},
        **{"X-Experience-API-Version": "1.0.3"},
    )
    assert theirs.status_code == 404


async def test_get_with_a_form_answers_a_statement_result(client: Client, world: World) -> None:
    posted = await client.post(
        "/xapi/statements",
        json=_statement(),
        headers={"Authorization": _auth(world), "X-Experience-API-Version": "1.0.3"},
    )
    assert posted.status_code == 200
    got = await _alternate(
        client,
        "/xapi/statements",
        "GET",
        {"limit": "1"},
        Authorization=_auth(world),
        **{"X-Experience-API-Version": "1.0.3"},
    )
    assert got.status_code == 200
    assert [s["id"] for s in got.json()["statements"]] == posted.json()


async def test_documents_take_the_form_too(client: Client, world: World) -> None:
    place = {
        "activityId": "https://lms.acme.example/course/safety",
        "agent": json.dumps(AGENT),
        "stateId": "bookmark",
    }
    put = await _alternate(
        client,
        "/xapi/activities/state",
        "PUT",
        {
            **place,
            "content": "page 7",
            "Content-Type": "text/plain",
            "Authorization": _auth(world),
            "X-Experience-API-Version": "1.0.3",
        },
    )
    assert put.status_code == 204, put.text
    got = await client.get(
        "/xapi/activities/state",
        params=place,
        headers={"Authorization": _auth(world), "X-Experience-API-Version": "1.0.3"},
    )
    assert got.status_code == 200
    assert got.content == b"page 7"
    assert got.headers["content-type"].startswith("text/plain")


async def test_what_the_syntax_does_not_allow_is_refused_by_name(
    client: Client, world: World
) -> None:
    headers = {"Authorization": _auth(world), "X-Experience-API-Version": "1.0.3"}
    content = {"content": json.dumps(_statement())}
    extra_query = await client.post(
        f"/xapi/statements?method=PUT&statementId={uuid.uuid4()}",
        content=urlencode(content).encode(),
        headers={**FORM, **headers},
    )
    assert extra_query.status_code == 400
    assert extra_query.json()["extra"]["field"] == "statementId"
    assert extra_query.headers["X-Experience-API-Version"] == "1.0.3"

    not_post = await client.put(
        "/xapi/statements?method=POST", content=urlencode(content).encode(), headers=FORM
    )
    assert not_post.status_code == 400
    assert not_post.json()["extra"]["field"] == "method"

    unknown = await _alternate(client, "/xapi/statements", "PATCH", content, **headers)
    assert unknown.status_code == 400
    assert unknown.json()["extra"]["field"] == "method"

    not_a_form = await client.post(
        "/xapi/statements?method=PUT",
        content=json.dumps({"statementId": str(uuid.uuid4()), **content}).encode(),
        headers={**FORM, **headers},
    )
    assert not_a_form.status_code == 400
    assert not_a_form.json()["extra"]["field"] == "body"

    json_body = await client.post(
        "/xapi/statements?method=POST",
        content=json.dumps(_statement()).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    assert json_body.status_code == 400
    assert json_body.json()["extra"]["field"] == "Content-Type"

    old_version = await _alternate(
        client,
        "/xapi/statements",
        "POST",
        {**content, "X-Experience-API-Version": "0.8"},
        Authorization=_auth(world),
    )
    assert old_version.status_code == 400

    no_credentials = await _alternate(client, "/xapi/statements", "POST", content)
    assert no_credentials.status_code == 401
    stored = await client.get("/xapi/statements", headers=headers)
    assert stored.json()["statements"] == []
