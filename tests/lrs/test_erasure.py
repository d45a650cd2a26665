"""Deleting my account erases what the LRS keeps about me: the statements I am the actor
of (by address or its SHA-1) or the Agent they are about, in my organisation only (the same
address elsewhere is another person)."""

import hashlib
import json

from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.context import AppContext
from backend.learning.connections import pooled_connection
from tests.factories import World, signed_in_client
from tests.lrs.test_statements import _get, _headers, _ref, _statement


async def test_deleting_my_account_removes_the_statements_about_me_and_only_those(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    sam_sha1 = hashlib.sha1(b"mailto:sam@example.com").hexdigest()
    manager = world.email("a", "manager")
    about_sam = [
        _statement(),
        {**_statement(), "actor": {"mbox_sha1sum": sam_sha1}},
        # a manager's statement about Sam: Sam is its object
        {
            **_statement(manager),
            "object": {"objectType": "Agent", "mbox": "mailto:sam@example.com"},
        },
    ]
    mine = _statement(manager)
    for org, statements in (("a", [*about_sam, mine]), ("b", [_statement()])):
        answer = await client.post(
            "/xapi/statements", json=statements, headers=_headers(world, org)
        )
        assert answer.status_code == 200, answer.text

    async with signed_in_client(app, world.email("a", "employee")) as sam:
        gone = await sam.request("DELETE", "/api/v1/me", json={"confirm": "DELETE"})
        assert gone.status_code == 204

    for statement in about_sam:
        found = await _get(client, world, statementId=statement["id"])
        assert found.status_code == 404, statement
    assert (await _get(client, world, statementId=mine["id"])).status_code == 200
    left_in_b = (await _get(client, world, "b")).json()["statements"]
    assert [s["actor"]["mbox"] for s in left_in_b] == ["mailto:sam@example.com"]


async def test_statements_referring_to_my_erased_ones_no_longer_name_me(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    """A colleague's StatementRef to one of my statements, and a StatementRef to that one,
    kept what my statement matched (migration 0033's target_keys); once I am erased, no
    filter by me finds them, and nothing of mine is left in them."""
    mine = _statement()
    confirmed = _ref(mine["id"], "https://w3id.org/xapi/adl/verbs/confirmed")
    liked = _ref(confirmed["id"], "https://w3id.org/xapi/acrossx/verbs/liked")
    for statement in (mine, confirmed, liked):  # one request each: each finds its target
        posted = await client.post("/xapi/statements", json=statement, headers=_headers(world))
        assert posted.status_code == 200, posted.text
    sam = json.dumps({"mbox": "mailto:sam@example.com"})
    before = (await _get(client, world, agent=sam)).json()["statements"]
    assert [s["id"] for s in before] == [liked["id"], confirmed["id"], mine["id"]]

    async with signed_in_client(app, world.email("a", "employee")) as me:
        gone = await me.request("DELETE", "/api/v1/me", json={"confirm": "DELETE"})
        assert gone.status_code == 204

    for related in ("false", "true"):
        found = await _get(client, world, agent=sam, related_agents=related)
        assert found.json()["statements"] == []
    async with pooled_connection(ctx.engine) as pg:
        left = await pg.fetchval(
            "SELECT count(*) FROM xapi_statement WHERE organisation_id = $1 "
            "AND array_to_string(target_keys, ' ') LIKE '%sam@example.com%'",
            world.a.id,
        )
    assert left == 0
    # they are still found by what is theirs: Andrew, and what the chain still reaches
    andrew = json.dumps({"mbox": "mailto:andrew@example.com"})
    found = (await _get(client, world, agent=andrew)).json()["statements"]
    assert [s["id"] for s in found] == [liked["id"], confirmed["id"]]
    confirming = (
        await _get(client, world, verb="https://w3id.org/xapi/adl/verbs/confirmed")
    ).json()
    assert [s["id"] for s in confirming["statements"]] == [liked["id"], confirmed["id"]]
