"""The Statement resource: what POST/PUT /xapi/statements accept is kept, and GET/HEAD
read it back as xAPI 1.0.3 (Communication 2.1) says, per organisation."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.context import AppContext
from backend.learning.connections import pooled_connection
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
    voiding = {
        "id": str(uuid.uuid4()),
        "actor": {"mbox": "mailto:sam@example.com"},
        "verb": {"id": statement_store.VOIDED_VERB},
        "object": {"objectType": "StatementRef", "id": target["id"]},
    }
    kept = await client.post("/xapi/statements", json=voiding, headers=_headers(world))
    assert kept.status_code == 200 and kept.json() == [voiding["id"]]  # stored, no conflict
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
    assert ids["object"] == {"id": COURSE}  # the suite (XAPI-00171): the id alone
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


def _ref(target: str, verb: str, email: str = "andrew@example.com") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{email}"},
        "verb": {"id": verb},
        "object": {"objectType": "StatementRef", "id": target},
    }


async def _post(client: Client, world: World, *statements: dict[str, Any]) -> None:
    for statement in statements:  # one request each: each its own stored
        posted = await client.post("/xapi/statements", json=statement, headers=_headers(world))
        assert posted.status_code == 200, posted.text


async def _ids(client: Client, world: World, **params: Any) -> list[str]:
    answer = await _get(client, world, **params)
    assert answer.status_code == 200, answer.text
    return [s["id"] for s in answer.json()["statements"]]


async def test_a_filter_also_finds_the_statements_that_target_a_match(
    client: Client, world: World
) -> None:
    # "Ben passed explosives training", "Andrew confirmed <it>", "Chris liked <that>"
    # (Communication 2.1.3, Filter Conditions for StatementRefs: followed recursively)
    registration = str(uuid.uuid4())
    passed = _statement(
        email="ben@example.com",
        verb="http://adlnet.gov/expapi/verbs/passed",
        context={"registration": registration},
    )
    confirmed = _ref(passed["id"], "https://w3id.org/xapi/adl/verbs/confirmed")
    liked = _ref(confirmed["id"], "https://w3id.org/xapi/acrossx/verbs/liked", "chris@x.example")
    unrelated = _statement(email="ben@example.com", verb=ATTEMPTED, activity=OTHER)
    await _post(client, world, passed, confirmed, liked, unrelated)
    chain = [liked["id"], confirmed["id"], passed["id"]]

    ben = json.dumps({"mbox": "mailto:ben@example.com"})
    assert await _ids(client, world, agent=ben) == [unrelated["id"], *chain]
    assert await _ids(client, world, verb="http://adlnet.gov/expapi/verbs/passed") == chain
    assert await _ids(client, world, activity=COURSE) == chain
    assert await _ids(client, world, registration=registration) == chain
    assert await _ids(client, world, agent=ben, verb=ATTEMPTED) == [unrelated["id"]]
    # Andrew's own statement is his; Ben's is not Andrew's
    andrew = json.dumps({"mbox": "mailto:andrew@example.com"})
    assert await _ids(client, world, agent=andrew) == [liked["id"], confirmed["id"]]
    # since, until and limit apply to the statement returned, not to its target
    stored = (await _get(client, world, statementId=confirmed["id"])).json()["stored"]
    assert await _ids(client, world, activity=COURSE, since=stored) == [liked["id"]]
    assert await _ids(client, world, activity=COURSE, until=stored) == chain[1:]
    assert await _ids(client, world, activity=COURSE, limit="1") == chain[:1]
    assert await _ids(client, world, activity=COURSE, ascending="true") == chain[::-1]


async def test_a_voided_statement_is_left_out_and_what_targets_it_is_returned(
    client: Client, world: World
) -> None:
    # the suite's XAPI-00162: a voided statement, its voiding, a StatementRef to it
    verb = f"http://adlnet.gov/expapi/test/voided/target/{uuid.uuid4()}"
    voided = _statement(verb=verb)
    voiding = _ref(voided["id"], statement_store.VOIDED_VERB, "sam@example.com")
    reference = _ref(voided["id"], verb)
    before = datetime.now(UTC) - timedelta(seconds=5)
    await _post(client, world, voided, voiding, reference)
    after = datetime.now(UTC) + timedelta(seconds=5)

    expected = [reference["id"], voiding["id"]]
    assert await _ids(client, world, verb=verb) == expected
    assert await _ids(client, world, verb=verb, since=before.isoformat()) == expected
    assert await _ids(client, world, verb=verb, until=after.isoformat()) == expected
    assert await _ids(client, world, verb=verb, limit="1") == [reference["id"]]
    sam = json.dumps({"mbox": "mailto:sam@example.com"})
    assert voided["id"] not in await _ids(client, world, agent=sam)
    assert voiding["id"] in await _ids(client, world, agent=sam)
    # still there by its id, as voided
    got = await _get(client, world, voidedStatementId=voided["id"])
    assert got.status_code == 200 and got.json()["id"] == voided["id"]


async def test_format_ids_keeps_only_identifiers_inside_substatements_too(
    client: Client, world: World
) -> None:
    group = {
        "objectType": "Group",
        "name": "Safety team",
        "mbox": "mailto:safety@acme.example",
        "member": [{"mbox": "mailto:sam@example.com", "name": "Sam"}],
    }
    anonymous = {
        "objectType": "Group",
        "member": [{"objectType": "Agent", "mbox": "mailto:kim@example.com", "name": "Kim"}],
    }
    sent = {
        "id": str(uuid.uuid4()),
        "actor": group,
        "verb": {"id": "http://adlnet.gov/expapi/verbs/planned", "display": {"en-US": "planned"}},
        "object": {
            "objectType": "SubStatement",
            "actor": anonymous,
            "verb": {"id": COMPLETED, "display": {"en-US": "completed"}},
            "object": {
                "objectType": "Activity",
                "id": COURSE,
                "definition": {"name": {"en-US": "Safety"}},
            },
            "context": {
                "instructor": {"mbox": "mailto:teacher@example.com", "name": "Teacher"},
                "contextActivities": {"parent": [{"id": OTHER, "objectType": "Activity"}]},
            },
        },
    }
    await _post(client, world, sent)
    for answer in (
        await _get(client, world, statementId=sent["id"], format="ids"),
        await _get(client, world, format="ids"),
    ):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        got = body if "statements" not in body else body["statements"][0]
        assert got["actor"] == {"objectType": "Group", "mbox": "mailto:safety@acme.example"}
        assert got["verb"] == {"id": "http://adlnet.gov/expapi/verbs/planned"}
        sub = got["object"]
        assert sub["objectType"] == "SubStatement"
        assert sub["actor"] == {
            "objectType": "Group",
            "member": [{"objectType": "Agent", "mbox": "mailto:kim@example.com"}],
        }
        assert sub["verb"] == {"id": COMPLETED}
        assert sub["object"] == {"id": COURSE}
        assert sub["context"]["instructor"] == {"mbox": "mailto:teacher@example.com"}
        assert sub["context"]["contextActivities"] == {"parent": [{"id": OTHER}]}
        assert got["authority"]["account"]["name"] == f"api-key-{world.a.api_key_id}"
        assert "name" not in got["authority"]


async def test_a_page_says_when_its_newest_statement_was_stored(
    client: Client, world: World
) -> None:
    first, second = _statement(), _statement(verb=ATTEMPTED)
    await _post(client, world, first, second)
    newest = (await _get(client, world, statementId=second["id"])).json()["stored"]
    newest_at = datetime.fromisoformat(newest.replace("Z", "+00:00")).replace(microsecond=0)
    for params in ({}, {"ascending": "true"}, {"verb": ATTEMPTED}):
        page = await _get(client, world, **params)
        assert parsedate_to_datetime(page.headers["Last-Modified"]) == newest_at
        consistent = page.headers["X-Experience-API-Consistent-Through"]
        assert datetime.fromisoformat(consistent.replace("Z", "+00:00")) >= newest_at
    empty = await _get(client, world, verb="http://adlnet.gov/expapi/non/existent")
    assert empty.json() == {"statements": [], "more": ""}
    assert "Last-Modified" not in empty.headers
    assert "X-Experience-API-Consistent-Through" in empty.headers


async def test_a_statementref_sent_before_its_target_is_found_once_the_target_is(
    client: Client, world: World
) -> None:
    target = _statement(email="ben@example.com", verb="http://adlnet.gov/expapi/verbs/passed")
    early = _ref(target["id"], "https://w3id.org/xapi/adl/verbs/confirmed")
    await _post(client, world, early)
    ben = json.dumps({"mbox": "mailto:ben@example.com"})
    assert await _ids(client, world, agent=ben) == []
    await _post(client, world, target)
    assert await _ids(client, world, agent=ben) == [target["id"], early["id"]]
    assert await _ids(client, world, agent=ben, verb=ATTEMPTED) == []
    later = _ref(early["id"], "https://w3id.org/xapi/acrossx/verbs/liked")
    await _post(client, world, later)
    passed = "http://adlnet.gov/expapi/verbs/passed"
    assert await _ids(client, world, verb=passed) == [later["id"], target["id"], early["id"]]


async def test_a_statementref_finds_its_target_only_in_its_own_organisation(
    client: Client, world: World, ctx: AppContext
) -> None:
    """A StatementRef of Globex naming the id of an Acme statement gets nothing of Acme's
    (its target_keys are Globex's own, computed with Globex's id): filtering by Acme's
    learner finds it in neither organisation; once Globex has a statement with that id,
    the reference follows Globex's."""
    target = _statement(email="secret@acme.example")
    await _post(client, world, target)
    ref = _ref(target["id"], "https://w3id.org/xapi/adl/verbs/confirmed", "gus@globex.example")
    posted = await client.post("/xapi/statements", json=ref, headers=_headers(world, "b"))
    assert posted.status_code == 200, posted.text

    async def keys() -> Any:
        async with pooled_connection(ctx.engine) as pg:
            return await pg.fetchval(
                "SELECT target_keys FROM xapi_statement WHERE organisation_id = $1 "
                "AND statement_id = $2",
                world.b.id,
                uuid.UUID(ref["id"]),
            )

    assert await keys() is None  # Acme's statement is no target of Globex's
    secret = json.dumps({"mbox": "mailto:secret@acme.example"})
    for org in ("a", "b"):
        for related in ("false", "true"):
            found = await _get(client, world, org, agent=secret, related_agents=related)
            mine = [target["id"]] if org == "a" else []
            assert [s["id"] for s in found.json()["statements"]] == mine
    assert [
        s["id"] for s in (await _get(client, world, "b", activity=COURSE)).json()["statements"]
    ] == []

    theirs = {**_statement(email="gus@globex.example", activity=OTHER), "id": target["id"]}
    posted = await client.post("/xapi/statements", json=theirs, headers=_headers(world, "b"))
    assert posted.status_code == 200, posted.text
    gus = json.dumps({"mbox": "mailto:gus@globex.example"})
    found = (await _get(client, world, "b", agent=gus)).json()["statements"]
    assert [s["id"] for s in found] == [theirs["id"], ref["id"]]
    for org in ("a", "b"):
        found = (await _get(client, world, org, agent=secret, related_agents="true")).json()
        assert [s["id"] for s in found["statements"]] == ([target["id"]] if org == "a" else [])
    again = _ref(ref["id"], "https://w3id.org/xapi/acrossx/verbs/liked", "gus@globex.example")
    posted = await client.post("/xapi/statements", json=again, headers=_headers(world, "b"))
    assert posted.status_code == 200, posted.text
    for org in ("a", "b"):
        found = (await _get(client, world, org, activity=COURSE)).json()["statements"]
        assert [s["id"] for s in found] == ([target["id"]] if org == "a" else [])


async def test_consistent_through_waits_for_a_transaction_still_open(
    client: Client, world: World, ctx: AppContext
) -> None:
    await _post(client, world, _statement())
    async with pooled_connection(ctx.engine) as pg, pg.transaction():
        began = await pg.fetchval("SELECT now()")  # a write that may still commit
        await asyncio.sleep(0.05)
        page = await _get(client, world)
    consistent = page.headers["X-Experience-API-Consistent-Through"]
    assert datetime.fromisoformat(consistent.replace("Z", "+00:00")) <= began
    after = await _get(client, world)
    later = after.headers["X-Experience-API-Consistent-Through"]
    assert datetime.fromisoformat(later.replace("Z", "+00:00")) > began
