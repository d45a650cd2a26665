"""The PWA's opt-in: the VAPID public key, and a learner's devices (subscribe, list, remove)."""

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from backend.app import create_app
from backend.context import AppContext
from backend.push.keys import b64url, load_vapid_key
from backend.settings import Settings
from tests.factories import World, signed_in_client
from tests.push.push_service import FakeDevice

URL = "/api/v1/me/push-subscriptions"


def browser_subscription(endpoint: str = "https://fcm.googleapis.com/fcm/send/abc123") -> Any:
    return FakeDevice(endpoint).subscription_json("Firefox on Android")


async def test_public_key_is_the_key_pushes_are_signed_with(
    client: AsyncTestClient[Litestar], ctx: AppContext
) -> None:
    response = await client.get("/api/v1/push/public-key")
    assert response.status_code == 200
    key = response.json()["public_key"]
    assert key == load_vapid_key(ctx.settings).public_key_b64
    assert len(key) == 87 and "=" not in key  # 65 bytes, base64url without padding


async def test_public_key_is_503_with_a_reason_when_push_is_not_configured(
    settings: Settings,
) -> None:
    production = dataclasses.replace(settings, env="production")
    async with AsyncTestClient(app=create_app(production)) as client:
        response = await client.get("/api/v1/push/public-key")
    assert response.status_code == 503
    assert "LEARNLOOP_VAPID_PRIVATE_KEY_FILE" in response.json()["detail"]


async def test_subscribe_list_refresh_and_remove_my_device(app: Litestar, world: World) -> None:
    body = browser_subscription()
    async with signed_in_client(app, world.a.users["employee"].email) as sam:
        before = datetime.now(UTC)
        created = await sam.post(URL, json=body)
        after = datetime.now(UTC)
        assert created.status_code == 201, created.text
        assert created.json()["user_agent_label"] == "Firefox on Android"
        # the browser resubscribed with fresh keys: the same device, refreshed
        body["keys"] = browser_subscription()["keys"]
        again = await sam.post(URL, json=body)
        assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
        listed = (await sam.get(URL)).json()
        assert [(d["endpoint"], d["last_success_at"]) for d in listed] == [(body["endpoint"], None)]
        assert before <= datetime.fromisoformat(listed[0]["created_at"]) <= after
        removed = await sam.delete(URL, params={"endpoint": body["endpoint"]})
        assert removed.status_code == 204
        assert (await sam.get(URL)).json() == []
        # removing it again (or a device that never was mine) is fine: nothing to do
        assert (await sam.delete(URL, params={"endpoint": body["endpoint"]})).status_code == 204
        # an endpoint no browser could have (a NUL byte) is a clear 400
        nul = await sam.delete(URL, params={"endpoint": "https://push.example.com/\x00"})
        assert nul.status_code == 400 and "endpoint" in nul.json()["detail"].lower()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"endpoint": "http://push.example.com/x"}, "endpoint"),
        ({"endpoint": "ftp://push.example.com/x"}, "endpoint"),
        ({"endpoint": "not a url"}, "endpoint"),
        ({"keys": {"p256dh": b64url(b"\x04" + b"1" * 30), "auth": b64url(b"a" * 16)}}, "p256dh"),
        ({"keys": {"p256dh": b64url(b"\x04" + b"\x01" * 64), "auth": b64url(b"a" * 16)}}, "p256dh"),
        ({"keys": {"p256dh": "not base64!", "auth": b64url(b"a" * 16)}}, "p256dh"),
        ({"keys": {"auth": b64url(b"a" * 16)}}, "p256dh"),
        ("auth-15", "auth"),
        ({"user_agent_label": "x" * 121}, "user_agent_label"),
        ({"organisation_id": 2}, "organisation_id"),
    ],
)
async def test_a_subscription_push_could_never_use_is_400_naming_the_field(
    app: Litestar, world: World, change: Any, field: str
) -> None:
    body = browser_subscription()
    if change == "auth-15":
        body["keys"]["auth"] = b64url(b"a" * 15)
    else:
        body |= change
    async with signed_in_client(app, world.a.users["employee"].email) as sam:
        response = await sam.post(URL, json=body)
        assert response.status_code == 400, response.text
        assert field in response.text
        assert (await sam.get(URL)).json() == []


async def test_http_endpoints_only_on_localhost_and_only_when_allowed(
    settings: Settings, ctx: AppContext, world: World
) -> None:
    local = browser_subscription("http://127.0.0.1:9999/push/abc")
    strict = create_app(dataclasses.replace(settings, push_allow_http_endpoints=False))
    async with signed_in_client(strict, world.a.users["employee"].email) as sam:
        assert (await sam.post(URL, json=local)).status_code == 400
    allowing = create_app(dataclasses.replace(settings, push_allow_http_endpoints=True))
    async with signed_in_client(allowing, world.a.users["employee"].email) as sam:
        assert (await sam.post(URL, json=local)).status_code == 201
        remote = browser_subscription("http://push.example.com/abc")
        assert (await sam.post(URL, json=remote)).status_code == 400


async def test_a_device_has_one_owner_even_across_organisations(
    app: Litestar, world: World
) -> None:
    """Whoever signs in on a browser now gets its notifications; the previous person doesn't."""
    body = browser_subscription()
    async with signed_in_client(app, world.a.users["manager"].email) as mia:
        assert (await mia.post(URL, json=body)).status_code == 201
    async with signed_in_client(app, world.b.users["ld_admin"].email) as globex:
        taken = await globex.post(URL, json=body)
        assert taken.status_code == 201  # new to this person: nothing about the previous one
        assert [d["endpoint"] for d in (await globex.get(URL)).json()] == [body["endpoint"]]
    async with signed_in_client(app, world.a.users["manager"].email) as mia:
        assert (await mia.get(URL)).json() == []
        # and Mia cannot remove it from Globex's admin by naming the endpoint
        assert (await mia.delete(URL, params={"endpoint": body["endpoint"]})).status_code == 204
    async with signed_in_client(app, world.b.users["ld_admin"].email) as globex:
        assert len((await globex.get(URL)).json()) == 1


async def test_devices_are_per_person(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.a.users["employee"].email) as sam:
        assert (await sam.post(URL, json=browser_subscription())).status_code == 201
    for role in ("manager", "ld_admin"):
        async with signed_in_client(app, world.a.users[role].email) as colleague:
            assert (await colleague.get(URL)).json() == []
    async with AsyncTestClient(app=app) as anonymous:
        assert (await anonymous.get(URL)).status_code == 401
        # the public key needs no sign-in: it is public
        assert (await anonymous.get("/api/v1/push/public-key")).status_code == 200
    async with AsyncTestClient(app=app) as integration:
        integration.headers["Authorization"] = f"Bearer {world.a.api_key}"
        response = await integration.post(URL, json=browser_subscription())
        assert response.status_code == 403
