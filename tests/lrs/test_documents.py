"""The xAPI State, Activity Profile and Agent Profile resources, as a cmi5 player or a
SCORM-to-xAPI wrapper uses them to resume where a learner stopped (xAPI 1.0.3,
Communication 2.2 to 2.7 and 3.1)."""

import asyncio
import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import World, signed_in_client

XAPI = {"X-Experience-API-Version": "1.0.3"}
ACTIVITY = "https://lms.acme.example/courses/feedback/module-1"
SAM = json.dumps({"objectType": "Agent", "mbox": "mailto:sam@example.com"})
REGISTRATION = "ec531277-b57b-4c15-8d91-d292c5b2b8f7"
STATE = "/xapi/activities/state"
ACTIVITY_PROFILE = "/xapi/activities/profile"
AGENT_PROFILE = "/xapi/agents/profile"


def _key(world: World, org: str = "a") -> dict[str, str]:
    return {"Authorization": f"Bearer {getattr(world, org).api_key}", **XAPI}


def _state(state_id: str | None = "bookmark", **extra: str) -> dict[str, str]:
    params = {"activityId": ACTIVITY, "agent": SAM, **extra}
    if state_id is not None:
        params["stateId"] = state_id
    return params


async def test_a_player_stores_its_state_and_reads_it_back_as_sent(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    key = _key(world)
    saved = await client.put(
        STATE,
        params=_state(),
        content=b'{"location": "page-4"}',
        headers={**key, "Content-Type": "application/json"},
    )
    assert saved.status_code == 204 and saved.headers["X-Experience-API-Version"] == "1.0.3"
    read = await client.get(STATE, params=_state(), headers=key)
    assert read.status_code == 200 and read.json() == {"location": "page-4"}
    assert read.headers["content-type"].startswith("application/json")
    assert read.headers["ETag"] == saved.headers["ETag"] and read.headers["ETag"].startswith('"')
    assert read.headers["X-Experience-API-Version"] == "1.0.3"
    assert "GMT" in read.headers["Last-Modified"]
    # HEAD: the same answer without its body (Communication 1.1)
    peek = await client.head(STATE, params=_state(), headers=key)
    assert peek.status_code == 200 and peek.content == b""
    assert peek.headers["ETag"] == read.headers["ETag"]
    for path, params in (
        ("/xapi/agents", {"agent": SAM}),
        ("/xapi/activities", {"activityId": ACTIVITY}),
        (STATE, _state(None)),
        (ACTIVITY_PROFILE, {"activityId": ACTIVITY}),
        (AGENT_PROFILE, {"agent": SAM}),
    ):
        assert (await client.head(path, params=params, headers=key)).status_code == 200, path
    assert (await client.head(STATE, params=_state("nothing"), headers=key)).status_code == 404
    # binary content (a SCORM suspend_data blob) comes back byte for byte, with its type
    blob = bytes(range(256))
    await client.put(
        STATE,
        params=_state("suspend", registration=REGISTRATION),
        content=blob,
        headers={**key, "Content-Type": "application/octet-stream"},
    )
    back = await client.get(STATE, params=_state("suspend", registration=REGISTRATION), headers=key)
    assert back.content == blob and back.headers["content-type"] == "application/octet-stream"
    peek_blob = await client.head(
        STATE, params=_state("suspend", registration=REGISTRATION), headers=key
    )
    assert peek_blob.status_code == 200 and peek_blob.content == b""
    assert peek_blob.headers["content-type"] == "application/octet-stream"
    # a registration is a separate attempt: without it, that document is not there
    other = await client.get(STATE, params=_state("suspend"), headers=key)
    assert other.status_code == 404
    # the same learner by another spelling of the address is the same learner
    shouting = json.dumps({"mbox": "mailto:SAM@example.com"})
    same = await client.get(STATE, params=_state() | {"agent": shouting}, headers=key)
    assert same.json() == {"location": "page-4"}


async def test_posting_merges_json_one_level_deep_and_refuses_what_is_no_object(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    key = {**_key(world), "Content-Type": "application/json"}
    first = await client.post(
        STATE, params=_state(), content=b'{"a": 1, "nested": {"x": 1, "y": 2}}', headers=key
    )
    assert first.status_code == 204  # nothing there: stored as sent
    merged = await client.post(
        STATE, params=_state(), content=b'{"b": 2, "nested": {"z": 3}}', headers=key
    )
    assert merged.status_code == 204
    read = await client.get(STATE, params=_state(), headers=key)
    assert read.json() == {"a": 1, "b": 2, "nested": {"z": 3}}

    for body, content_type in (
        (b"[1, 2]", "application/json"),
        (b"{not json", "application/json"),
        (b"plain words", "text/plain"),
    ):
        refused = await client.post(
            STATE, params=_state(), content=body, headers={**key, "Content-Type": content_type}
        )
        assert refused.status_code == 400, body
        assert refused.json()["extra"]["field"] in ("body", "Content-Type")
    # a stored document that is not JSON cannot be merged into
    await client.put(
        STATE,
        params=_state("notes"),
        content=b"free text",
        headers={**key, "Content-Type": "text/plain"},
    )
    into_text = await client.post(STATE, params=_state("notes"), content=b'{"a": 1}', headers=key)
    assert into_text.status_code == 400
    assert (await client.get(STATE, params=_state(), headers=key)).json()["b"] == 2


async def test_listing_ids_since_a_moment_and_deleting_one_or_all(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    key = _key(world)
    for state_id in ("one", "two"):
        await client.put(STATE, params=_state(state_id), content=b"{}", headers=key)
    await asyncio.sleep(0.01)
    between = datetime.now(UTC)
    await asyncio.sleep(0.01)
    await client.put(STATE, params=_state("three"), content=b"{}", headers=key)
    listed = await client.get(STATE, params=_state(None), headers=key)
    assert listed.status_code == 200 and listed.json() == ["one", "two", "three"]
    later = await client.get(STATE, params=_state(None, since=between.isoformat()), headers=key)
    assert later.json() == ["three"]
    bad_since = await client.get(STATE, params=_state(None, since="yesterday"), headers=key)
    assert bad_since.status_code == 400 and bad_since.json()["extra"]["field"] == "since"

    # an attempt's (registration's) state: listed with it, and among all of the learner's
    await client.put(
        STATE, params=_state("four", registration=REGISTRATION), content=b"", headers=key
    )
    attempt = await client.get(STATE, params=_state(None, registration=REGISTRATION), headers=key)
    assert attempt.json() == ["four"]
    every = await client.get(STATE, params=_state(None), headers=key)
    assert every.json() == ["one", "two", "three", "four"]
    gone = await client.delete(STATE, params=_state(None, registration=REGISTRATION), headers=key)
    assert gone.status_code == 204

    assert (await client.delete(STATE, params=_state("one"), headers=key)).status_code == 204
    assert (await client.get(STATE, params=_state(None), headers=key)).json() == ["two", "three"]
    assert (await client.delete(STATE, params=_state("never"), headers=key)).status_code == 204
    assert (await client.delete(STATE, params=_state(None), headers=key)).status_code == 204
    assert (await client.get(STATE, params=_state(None), headers=key)).json() == []


async def test_profiles_follow_the_concurrency_rules(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    key = {**_key(world), "Content-Type": "application/json"}
    for path, params in (
        (ACTIVITY_PROFILE, {"activityId": ACTIVITY, "profileId": "settings"}),
        (AGENT_PROFILE, {"agent": SAM, "profileId": "preferences"}),
    ):
        created = await client.put(
            path, params=params, content=b'{"v": 1}', headers={**key, "If-None-Match": "*"}
        )
        assert created.status_code == 204, created.text
        etag = created.headers["ETag"]
        again = await client.put(
            path, params=params, content=b'{"v": 9}', headers={**key, "If-None-Match": "*"}
        )
        blind = await client.put(path, params=params, content=b'{"v": 9}', headers=key)
        stale = await client.put(
            path,
            params=params,
            content=b'{"v": 9}',
            headers={**key, "If-Match": '"' + "0" * 40 + '"'},
        )
        assert [again.status_code, blind.status_code, stale.status_code] == [412, 409, 412]
        assert blind.json()["detail"].startswith("If-Match:")
        assert (await client.get(path, params=params, headers=key)).json() == {"v": 1}
        replaced = await client.put(
            path, params=params, content=b'{"v": 2}', headers={**key, "If-Match": etag}
        )
        assert replaced.status_code == 204 and replaced.headers["ETag"] != etag
        read = await client.get(path, params=params, headers=key)
        assert read.json() == {"v": 2} and read.headers["ETag"] == replaced.headers["ETag"]
        # a delete with an old ETag leaves the document; with the current one it goes
        kept = await client.delete(path, params=params, headers={**key, "If-Match": etag})
        assert kept.status_code == 412
        gone = await client.delete(
            path, params=params, headers={**key, "If-Match": replaced.headers["ETag"]}
        )
        assert gone.status_code == 204
        assert (await client.get(path, params=params, headers=key)).status_code == 404
        # no document: If-Match of anything fails, a PUT must say it creates
        missing = await client.put(
            path, params=params, content=b"{}", headers={**key, "If-Match": "*"}
        )
        unsure = await client.put(path, params=params, content=b"{}", headers=key)
        assert [missing.status_code, unsure.status_code] == [412, 400]
        assert unsure.json()["extra"]["field"] == "If-None-Match"
        created = {**key, "If-None-Match": "*"}
        assert (
            await client.put(path, params=params, content=b"{}", headers=created)
        ).status_code == 204
        listed = await client.get(
            path, params={k: v for k, v in params.items() if k != "profileId"}, headers=key
        )
        assert listed.json() == [params["profileId"]]


async def test_concurrent_creates_let_exactly_one_win(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    key = {**_key(world), "If-None-Match": "*"}
    params = {"activityId": ACTIVITY, "profileId": "race"}
    answers = await asyncio.gather(
        *(
            client.put(
                ACTIVITY_PROFILE, params=params, content=f'{{"n": {n}}}'.encode(), headers=key
            )
            for n in range(5)
        )
    )
    assert sorted(a.status_code for a in answers) == [204, 412, 412, 412, 412]


async def test_another_organisations_key_sees_nothing(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    await client.put(STATE, params=_state(), content=b'{"secret": true}', headers=_key(world))
    params = {"agent": SAM, "profileId": "p"}
    await client.put(
        AGENT_PROFILE, params=params, content=b"{}", headers={**_key(world), "If-None-Match": "*"}
    )
    other = _key(world, "b")
    assert (await client.get(STATE, params=_state(), headers=other)).status_code == 404
    assert (await client.get(STATE, params=_state(None), headers=other)).json() == []
    assert (await client.get(AGENT_PROFILE, params=params, headers=other)).status_code == 404
    # org B deleting "all" of Sam's state leaves org A's alone
    assert (await client.delete(STATE, params=_state(None), headers=other)).status_code == 204
    assert (await client.get(STATE, params=_state(), headers=_key(world))).json() == {
        "secret": True
    }
    # and a signed-in person (no API key) is not an xAPI client
    assert (await client.get(STATE, params=_state(), headers=XAPI)).status_code == 401


async def test_bad_requests_answer_400_naming_the_parameter(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    key = _key(world)
    cases: list[tuple[str, str, dict[str, Any], str]] = [
        ("GET", STATE, {"agent": SAM, "stateId": "s"}, "activityId"),
        ("GET", STATE, {"activityId": ACTIVITY, "stateId": "s"}, "agent"),
        ("PUT", STATE, {"activityId": ACTIVITY, "agent": SAM}, "stateId"),
        ("GET", STATE, _state(agent="{not json"), "agent"),
        ("GET", STATE, _state(agent='{"name": "Sam"}'), "agent"),
        (
            "GET",
            STATE,
            _state(
                agent=json.dumps({"mbox": "mailto:a@b.example", "openid": "https://id.example/a"})
            ),
            "agent",
        ),
        ("GET", STATE, _state(agent='{"mbox": "sam@example.com"}'), "agent.mbox"),
        (
            "GET",
            STATE,
            _state(agent='{"objectType": "Group", "mbox": "mailto:a@b.c"}'),
            "agent.objectType",
        ),
        ("GET", STATE, _state(agent='{"account": {"name": "x"}}'), "agent.account.homePage"),
        ("GET", STATE, _state(registration="not-a-uuid"), "registration"),
        ("GET", STATE, _state() | {"activityId": "no scheme"}, "activityId"),
        ("PUT", STATE, _state("with\x00nul"), "stateId"),
        ("PUT", ACTIVITY_PROFILE, {"activityId": ACTIVITY}, "profileId"),
        ("DELETE", ACTIVITY_PROFILE, {"activityId": ACTIVITY}, "profileId"),
        ("POST", AGENT_PROFILE, {"profileId": "p"}, "agent"),
        ("DELETE", AGENT_PROFILE, {"agent": SAM}, "profileId"),
        ("GET", "/xapi/agents", {}, "agent"),
        ("GET", "/xapi/activities", {}, "activityId"),
    ]
    for method, path, params, field in cases:
        answer = await client.request(method, path, params=params, content=b"{}", headers=key)
        assert answer.status_code == 400, (method, path, params, answer.text)
        assert answer.json()["extra"]["field"] == field, (params, answer.json())
        assert answer.headers["X-Experience-API-Version"] == "1.0.3"
    unversioned = await client.get(
        STATE, params=_state(), headers={"Authorization": key["Authorization"]}
    )
    assert unversioned.status_code == 400
    assert unversioned.json()["extra"]["field"] == "X-Experience-API-Version"


async def test_agents_and_activities_say_what_is_known(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    key = _key(world)
    person = await client.get("/xapi/agents", params={"agent": SAM}, headers=key)
    assert person.status_code == 200 and person.headers["X-Experience-API-Version"] == "1.0.3"
    assert person.json() == {
        "objectType": "Person",
        "name": ["Sam Acme"],
        "mbox": ["mailto:sam@example.com"],
    }
    stranger = json.dumps(
        {"name": "Kim", "account": {"homePage": "https://lms.example", "name": "k1"}}
    )
    assert (await client.get("/xapi/agents", params={"agent": stranger}, headers=key)).json() == {
        "objectType": "Person",
        "name": ["Kim"],
        "account": [{"homePage": "https://lms.example", "name": "k1"}],
    }
    course = "https://lms.acme.example/courses/feedback"
    known = await client.get("/xapi/activities", params={"activityId": course}, headers=key)
    assert known.status_code == 200
    assert known.json()["definition"]["name"] == {"nl": "Feedback geven (Acme)"}
    unknown = await client.get("/xapi/activities", params={"activityId": ACTIVITY}, headers=key)
    assert unknown.json() == {"objectType": "Activity", "id": ACTIVITY}
    # org B's catalogue is not org A's: its course is only an id for org A
    theirs = "https://lms.globex.example/courses/feedback"
    assert (
        await client.get("/xapi/activities", params={"activityId": theirs}, headers=key)
    ).json() == {
        "objectType": "Activity",
        "id": theirs,
    }


async def test_hostile_input_is_a_4xx_never_a_500(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    key = _key(world)
    json_key = {**key, "Content-Type": "application/json"}
    deep = "[" * 100_000
    shallow_deep = "[" * 20_000  # as deep as a URL takes
    answers = [
        await client.get(STATE, params=_state(agent=shallow_deep), headers=key),
        await client.get(
            STATE, params=_state(agent='{"mbox": "mailto:a\x00@b.example"}'), headers=key
        ),
        await client.get(f"{STATE}?activityId=%ff%fe&agent=%ff&stateId=%ff", headers=key),
        await client.get(STATE, params=_state("x" * 5000), headers=key),
        await client.get(STATE, params=_state(None, since="9999-12-31T23:59:59Z"), headers=key),
        await client.post(STATE, params=_state(), content=deep.encode(), headers=json_key),
        await client.post(STATE, params=_state(), content=b"\xff\xfe{", headers=json_key),
        await client.get(
            "/xapi/agents", params={"agent": '{"account": {"homePage": 1}}'}, headers=key
        ),
        await client.get("/xapi/activities", params={"activityId": "x" * 5000}, headers=key),
    ]
    assert all(400 <= a.status_code < 500 or a.status_code == 200 for a in answers), [
        (a.status_code, a.text[:100]) for a in answers
    ]
    # huge numbers and NUL bytes are content like any other
    big = b'{"n": 123456789012345678901234567890, "nul": "\\u0000"}'
    assert (
        await client.post(STATE, params=_state(), content=big, headers=json_key)
    ).status_code == 204
    merged = await client.post(STATE, params=_state(), content=b'{"m": 1}', headers=json_key)
    assert merged.status_code == 204
    read = await client.get(STATE, params=_state(), headers=key)
    assert read.json() == {"n": 123456789012345678901234567890, "nul": "\x00", "m": 1}


async def test_an_activity_and_agent_gather_what_statements_said_of_them(
    client: AsyncTestClient[Litestar], world: World
) -> None:
    key = _key(world)
    said = [
        {"name": {"en-US": "Route planning"}, "type": "http://adlnet.gov/expapi/activities/module"},
        {"name": {"nl-NL": "Routeplanning"}, "description": {"nl-NL": "Plan een route"}},
    ]
    for definition in said:
        statement = {
            "actor": {"objectType": "Agent", "name": "S. Acme", "mbox": "mailto:sam@example.com"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
            "object": {"objectType": "Activity", "id": ACTIVITY, "definition": definition},
            "timestamp": datetime.now(UTC).isoformat(),
        }
        posted = await client.post("/xapi/statements", json=statement, headers=key)
        assert posted.status_code == 200, posted.text
    known = await client.get("/xapi/activities", params={"activityId": ACTIVITY}, headers=key)
    assert known.json() == {
        "objectType": "Activity",
        "id": ACTIVITY,
        "definition": {
            "name": {"en-US": "Route planning", "nl-NL": "Routeplanning"},
            "description": {"nl-NL": "Plan een route"},
            "type": "http://adlnet.gov/expapi/activities/module",
        },
    }
    # and the Agents resource knows the name the statements gave their actor
    person = await client.get("/xapi/agents", params={"agent": SAM}, headers=key)
    assert person.json()["name"] == ["Sam Acme", "S. Acme"]
    # what org A's statements said is org A's
    theirs = await client.get(
        "/xapi/activities", params={"activityId": ACTIVITY}, headers=_key(world, "b")
    )
    assert theirs.json() == {"objectType": "Activity", "id": ACTIVITY}
    their_sam = await client.get("/xapi/agents", params={"agent": SAM}, headers=_key(world, "b"))
    assert their_sam.json()["name"] == ["Sam Globex"]


async def test_my_export_holds_my_xapi_documents_and_deleting_me_forgets_them(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    key = {**_key(world), "If-None-Match": "*"}
    sha1 = hashlib.sha1(b"mailto:sam@example.com").hexdigest()
    mia = json.dumps({"mbox": "mailto:manager@acme.example"})
    for agent in (SAM, json.dumps({"mbox_sha1sum": sha1}), mia):
        await client.put(STATE, params=_state(agent=agent), content=b"{}", headers=key)
        await client.put(
            AGENT_PROFILE, params={"agent": agent, "profileId": "p"}, content=b"{}", headers=key
        )
    # the same address in org B is another person
    await client.put(STATE, params=_state(), content=b"{}", headers=_key(world, "b"))
    await client.put(
        STATE, params=_state("blob"), content=b"\xff\x00", headers={**key, "Content-Type": "x/y"}
    )
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        exported = (await sam.get("/api/v1/me/export")).json()["xapi_documents"]
        assert sorted((d["kind"], d["document_id"]) for d in exported) == [
            ("agent_profile", "p"),
            ("agent_profile", "p"),
            ("state", "blob"),
            ("state", "bookmark"),
            ("state", "bookmark"),
        ]
        blob = next(d for d in exported if d["document_id"] == "blob")
        assert (blob["content"], blob["content_encoding"]) == ("/wA=", "base64")
        gone = await sam.request("DELETE", "/api/v1/me", json={"confirm": "DELETE"})
        assert gone.status_code == 204
    for agent, status in ((SAM, 404), (json.dumps({"mbox_sha1sum": sha1}), 404), (mia, 200)):
        state = await client.get(STATE, params=_state(agent=agent), headers=_key(world))
        profile = await client.get(
            AGENT_PROFILE, params={"agent": agent, "profileId": "p"}, headers=_key(world)
        )
        assert [state.status_code, profile.status_code] == [status, status], agent
    assert (await client.get(STATE, params=_state(), headers=_key(world, "b"))).status_code == 200
