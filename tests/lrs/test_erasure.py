"""Deleting my account erases what the LRS keeps about me: the statements I am the actor
of (by address or its SHA-1) or the Agent they are about, in my organisation only (the same
address elsewhere is another person)."""

import hashlib

from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.factories import World, signed_in_client
from tests.lrs.test_statements import _get, _headers, _statement


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
