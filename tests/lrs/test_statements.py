"""The Statement resource: what POST/PUT /xapi/statements accept is kept, and GET/HEAD
read it back as xAPI 1.0.3 (Communication 2.1) says, per organisation."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.context import AppContext
from backend.learning import xapi
from backend.lrs import statement_store
from tests.factories import World

XAPI = {"X-Experience-API-Version": "1.0.3"}
COMPLETED = "http://adlnet.gov/expapi/verbs/completed"
ATTEMPTED = "http://adlnet.gov/expapi/verbs/attempted"
COURSE = "https://lms.acme.example/course/safety"
OTHER = "https://lms.acme.example/course/privacy"
Client = AsyncTestClient[Litestar]


def _statement(
    email: str = "sam@example.com", verb: str = COMPLETED, activity: str = COURSE, **extra: Any
) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{email}"},
        "verb": {"id": verb, "display": {"en-US": "did", "nl-NL": "deed"}},
        "object": {
            "objectType": "Activity",
            "id": activity,
            "definition": {"name": {"en-US": "Safety", "nl-NL": "Veiligheid"}},
        },
        **extra,
    }


def _headers(world: World, org: str = "a") -> dict[str, str]:
    return {"Authorization": f"Bearer {getattr(world, org).api_key}", **XAPI}


async def _get(client: Client, world: World, org: str = "a", **params: Any) -> Any:
    return await client.get("/xapi/statements", params=params, headers=_headers(world, org))


async def test_a_posted_statement_reads_back_exactly_with_what_the_lrs_filled_in(
    client: Client, world: World
) -> None:
    sent = _statement()
    before = datetime.now(UTC) - timedelta(seconds=1)
    posted = await client.post("/xapi/statements", json=sent, headers=_headers(world))
    assert posted.status_code == 200
    got = await _get(client, world, statementId=sent["id"])
    assert got.status_code == 200
    statement = got.json()
    stored = datetime.fromisoformat(statement.pop("stored").replace("Z", "+00:00"))
    assert before <= stored <= datetime.now(UTC)
    authority = statement.pop("authority")
    assert authority["objectType"] == "Agent"
    assert authority["account"]["name"] == f"api-key-{world.a.api_key_id}"
    assert statement.pop("version") == "1.0.0"
    assert datetime.fromisoformat(statement.pop("timestamp").replace("Z", "+00:00")) == stored
    assert statement == sent
    assert got.headers["X-Experience-API-Version"] == "1.0.3"
    assert parsedate_to_datetime(got.headers["Last-Modified"]) == stored.replace(microsecond=0)
    consistent = got.headers["X-Experience-API-Consistent-Through"]
    assert datetime.fromisoformat(consistent.replace("Z", "+00:00")) >= stored

    head = await client.head(
        "/xapi/statements", params={"statementId": sent["id"]}, headers=_headers(world)
    )
    assert head.status_code == 200 and head.content == b""
    assert head.headers["Last-Modified"] == got.headers["Last-Modified"]


async def test_put_keeps_its_statement_and_resending_changes_nothing(
    client: Client, world: World
) -> None:
    body = _statement(verb=ATTEMPTED, timestamp="2026-11-30T09:00:00.000Z")
    statement_id = body.pop("id")
    put = await client.put(
        "/xapi/statements",
        params={"statementId": statement_id},
        json=body,
        headers=_headers(world),
    )
    assert put.status_code == 204
    first = (await _get(client, world, statementId=statement_id)).json()
    assert first["timestamp"] == "2026-11-30T09:00:00.000Z"  # kept as sent
    again = await client.post(
        "/xapi/statements", json={**body, "id": statement_id}, headers=_headers(world)
    )
    assert again.status_code == 200
    assert (await _get(client, world, statementId=statement_id)).json() == first
    changed = await client.post(
        "/xapi/statements",
        json={**body, "id": statement_id, "verb": {"id": COMPLETED}},
        headers=_headers(world),
    )
    assert changed.status_code == 409
    assert (await _get(client, world, statementId=statement_id)).json() == first


async def test_a_batch_with_a_conflict_stores_none_of_it(client: Client, world: World) -> None:
    kept = _statement(verb=ATTEMPTED)
    await client.post("/xapi/statements", json=kept, headers=_headers(world))
    fresh = _statement(verb=ATTEMPTED)
    clash = {**kept, "verb": {"id": "http://adlnet.gov/expapi/verbs/failed"}}
    refused = await client.post("/xapi/statements", json=[fresh, clash], headers=_headers(world))
    assert refused.status_code == 409
    assert (await _get(client, world, statementId=fresh["id"])).status_code == 404


async def test_voiding_hides_the_target_from_its_id_and_shows_it_as_voided(
    client: Client, world: World, ctx: AppContext
) -> None:
    target = _statement(verb=ATTEMPTED)
    await client.post("/xapi/statements", json=target, headers=_headers(world))
    # the parser refuses StatementRef objects today: the store is handed a voiding statement
    voiding = {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": "mailto:sam@example.com"},
        "verb": {"id": statement_store.VOIDED_VERB},
        "object": {"objectType": "StatementRef", "id": target["id"]},
    }
    parsed = xapi.ParsedStatement(
        id=voiding["id"],
        verb_id=statement_store.VOIDED_VERB,
        kind=None,
        actor=xapi.ActorRef(email="sam@example.com"),
        activity_id=target["id"],
        activity_name=None,
        duration_minutes=None,
        success=None,
        completion=None,
        score_scaled=None,
        timestamp=None,
        stored_fingerprint="0" * 64,
        statement=voiding,
    )
    authority = statement_store.authority_of(world.a.api_key_id, "", "http://test")
    kept = await statement_store.store(
        ctx.engine, world.a.id, world.a.api_key_id, authority, [parsed], datetime.now(UTC)
    )
    assert kept.inserted == [voiding["id"]] and kept.conflicts == []
    assert (await _get(client, world, statementId=target["id"])).status_code == 404
    shown = await _get(client, world, statementId=voiding["id"])
    assert shown.json()["object"] == voiding["object"]
    voided = await _get(client, world, voidedStatementId=target["id"])
    assert voided.status_code == 200 and voided.json()["id"] == target["id"]
    listed = (await _get(client, world)).json()["statements"]
    assert target["id"] not in [s["id"] for s in listed]
    other = _statement(verb=ATTEMPTED)
    await client.post("/xapi/statements", json=other, headers=_headers(world))
    assert (await _get(client, world, voidedStatementId=other["id"])).status_code == 404


async def test_each_filter_finds_only_its_statements(client: Client, world: World) -> None:
    registration = str(uuid.uuid4())
    sam = _statement(
        context={
            "registration": registration,
            "contextActivities": {"parent": [{"id": OTHER}]},
            "instructor": {"mbox": "mailto:teacher@example.com"},
        },
    )
    other_verb = _statement(verb=ATTEMPTED, activity=OTHER)
    someone = _statement(email="manager@acme.example")
    for statement in (sam, other_verb, someone):
        posted = await client.post("/xapi/statements", json=statement, headers=_headers(world))
        assert posted.status_code == 200, posted.text

    async def ids(**params: Any) -> list[str]:
        answer = await _get(client, world, **params)
        assert answer.status_code == 200, answer.text
        return [s["id"] for s in answer.json()["statements"]]

    sam_agent = json.dumps({"mbox": "mailto:SAM@example.com"})
    teacher = json.dumps({"mbox": "mailto:teacher@example.com"})
    assert await ids() == [someone["id"], other_verb["id"], sam["id"]]  # newest first
    assert await ids(ascending="true") == [sam["id"], other_verb["id"], someone["id"]]
    assert await ids(agent=sam_agent) == [other_verb["id"], sam["id"]]
    assert await ids(agent=teacher) == []
    assert await ids(agent=teacher, related_agents="true") == [sam["id"]]
    assert await ids(verb=ATTEMPTED) == [other_verb["id"]]
    assert await ids(activity=OTHER) == [other_verb["id"]]
    assert await ids(activity=OTHER, related_activities="true") == [other_verb["id"], sam["id"]]
    assert await ids(registration=registration) == [sam["id"]]
    assert await ids(agent=sam_agent, verb=COMPLETED, activity=COURSE) == [sam["id"]]
    first = (await _get(client, world, statementId=sam["id"])).json()["stored"]
    last = (await _get(client, world, statementId=someone["id"])).json()["stored"]
    assert await ids(since=first) == [someone["id"], other_verb["id"]]
    assert await ids(until=first) == [sam["id"]]
    assert await ids(since=first, until=last, limit="1") == [someone["id"]]


async def test_more_pages_through_everything_once(client: Client, world: World) -> None:
    batch = [_statement(verb=ATTEMPTED) for _ in range(7)]
    posted = await client.post("/xapi/statements", json=batch, headers=_headers(world))
    assert posted.status_code == 200
    seen: list[str] = []
    page = (await _get(client, world, limit="3", ascending="true", verb=ATTEMPTED)).json()
    while True:
        seen.extend(s["id"] for s in page["statements"])
        if not page["more"]:
            break
        assert page["more"].startswith("/xapi/statements?more=")
        nxt = await client.get(page["more"], headers=_headers(world))
        assert nxt.status_code == 200
        page = nxt.json()
    assert seen == [s["id"] for s in batch]  # one request: stored order is batch order
    # another organisation's key gets nothing from a's cursor
    first = (await _get(client, world, limit="3")).json()
    other = await client.get(first["more"], headers=_headers(world, "b"))
    assert other.status_code == 200 and other.json() == {"statements": [], "more": ""}


async def test_formats_ids_and_canonical(client: Client, world: World) -> None:
    sent = _statement()
    await client.post("/xapi/statements", json=sent, headers=_headers(world))
    ids = (await _get(client, world, statementId=sent["id"], format="ids")).json()
    assert ids["verb"] == {"id": COMPLETED}
    assert ids["object"] == {"objectType": "Activity", "id": COURSE}
    assert ids["actor"] == {"objectType": "Agent", "mbox": "mailto:sam@example.com"}
    canonical = await client.get(
        "/xapi/statements",
        params={"statementId": sent["id"], "format": "canonical"},
        headers={**_headers(world), "Accept-Language": "nl-NL, en;q=0.5"},
    )
    assert canonical.json()["object"]["definition"]["name"] == {"nl-NL": "Veiligheid"}
    assert canonical.json()["verb"]["display"] == {"nl-NL": "deed"}


async def test_each_key_reads_only_its_own_organisations_statements(
    client: Client, world: World
) -> None:
    sent = _statement()
    await client.post("/xapi/statements", json=sent, headers=_headers(world))
    assert (await _get(client, world, "b", statementId=sent["id"])).status_code == 404
    assert (await _get(client, world, "b")).json() == {"statements": [], "more": ""}
    anonymous = await client.get("/xapi/statements", headers=XAPI)
    assert anonymous.status_code == 401


async def test_bad_queries_answer_400_naming_the_parameter(client: Client, world: World) -> None:
    some_id = str(uuid.uuid4())
    cases = {
        "statementId": {"statementId": "not-a-uuid"},
        "verb": {"statementId": some_id, "verb": COMPLETED},
        "agent": {"agent": "{not json"},
        "limit": {"limit": "-1"},
        "since": {"since": "yesterday"},
        "ascending": {"ascending": "yes"},
        "format": {"format": "full"},
        "more": {"more": "garbage!"},
        "colour": {"colour": "blue"},
    }
    for field, params in cases.items():
        answer = await _get(client, world, **params)
        assert answer.status_code == 400, (field, answer.text)
        assert answer.json()["extra"]["field"] == field, answer.text
        assert "X-Experience-API-Consistent-Through" in answer.headers
    no_version = await client.get(
        "/xapi/statements", headers={"Authorization": f"Bearer {world.a.api_key}"}
    )
    assert no_version.status_code == 400
    unknown = await _get(client, world, statementId=some_id, format="ids")
    assert unknown.status_code == 404
