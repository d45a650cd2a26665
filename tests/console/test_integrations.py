"""The integrations console: keys and webhook secrets (shown once, revoked for good, audited),
the xAPI address with examples, and the intake log of what integrations sent, in nl and en."""

import uuid
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import ApiKey, AuditEntry, WebhookSecret
from tests.factories import World, signed_in_client

PAGE = "/console/integrations"
XAPI = {"X-Experience-API-Version": "1.0.3"}


def statement(email: str = "sam@example.com") -> dict:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{email}"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"objectType": "Activity", "id": "https://lms.acme.example/courses/feedback"},
        "timestamp": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }


async def audit_actions(ctx: AppContext, organisation_id: int) -> list[str]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(AuditEntry.action)
            .where(AuditEntry.organisation_id == organisation_id)
            .order_by(col(AuditEntry.id))
        )
        return list(rows.all())


async def test_a_new_key_is_shown_once_works_and_stops_when_revoked(
    app: Litestar, client: AsyncTestClient[Litestar], world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        created = await admin.post(
            f"{PAGE}/keys", data={"key_name": "Moodle LMS"}, follow_redirects=False
        )
        assert created.status_code == 303 and created.headers["location"] == f"{PAGE}/created"
        shown = await admin.get(f"{PAGE}/created?lang=en")
        assert shown.status_code == 200
        async with ctx.sessionmaker() as session:
            row = (await session.exec(select(ApiKey).where(ApiKey.name == "Moodle LMS"))).one()
        page = shown.text
        start = page.index('id="new-secret"')
        key = page[start:].split(">", 1)[1].split("<", 1)[0]
        assert key.startswith("ll_") and row.prefix in key
        assert "only time the key is shown" in page
        assert 'data-copy="#new-secret"' in page
        # never again: the next visit sends the admin back with a notice
        again = await admin.get(f"{PAGE}/created?lang=en", follow_redirects=False)
        assert again.status_code == 303
        listing = (await admin.get(f"{PAGE}?lang=en")).text
        assert key not in listing and f"{row.prefix}…" in listing and "Moodle LMS" in listing

        headers = {"Authorization": f"Bearer {key}", **XAPI}
        ok = await client.post("/xapi/statements", json=statement(), headers=headers)
        assert ok.status_code == 200
        assert "Never" not in (await admin.get(f"{PAGE}?lang=en")).text.split("Moodle LMS")[1][:400]

        revoked = await admin.post(f"{PAGE}/keys/{row.id}/revoke?lang=en", follow_redirects=False)
        assert revoked.status_code == 303
        notice = (await admin.get(f"{PAGE}?lang=en")).text
        assert "Revoked “Moodle LMS”" in notice
        refused = await client.post("/xapi/statements", json=statement(), headers=headers)
        assert refused.status_code == 401
        twice = await admin.post(f"{PAGE}/keys/{row.id}/revoke?lang=en")  # the redirect followed
        assert "already revoked" in twice.text
    assert await audit_actions(ctx, world.a.id) == ["api_key.create", "api_key.revoke"]


async def test_a_webhook_secret_is_shown_once_and_revoked(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        created = await admin.post(
            f"{PAGE}/webhook-secrets", data={"secret_name": "Totara"}, follow_redirects=False
        )
        assert created.status_code == 303
        shown = (await admin.get(f"{PAGE}/created?lang=en")).text
        assert "whsec_" in shown and "only time the secret is shown" in shown
        async with ctx.sessionmaker() as session:
            row = (await session.exec(select(WebhookSecret))).one()
        assert row.key_id in shown
        listing = (await admin.get(f"{PAGE}?lang=en")).text
        assert row.key_id in listing and "whsec_" not in listing
        revoke = await admin.post(f"{PAGE}/webhook-secrets/{row.id}/revoke", follow_redirects=False)
        assert revoke.status_code == 303
        async with ctx.sessionmaker() as session:
            assert (await session.get(WebhookSecret, row.id)).revoked_at is not None  # type: ignore[union-attr]
    assert await audit_actions(ctx, world.a.id) == [
        "webhook_secret.create",
        "webhook_secret.revoke",
    ]


async def test_a_key_without_a_name_is_refused_inline(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        response = await admin.post(f"{PAGE}/keys", data={"key_name": "  "})
        assert response.status_code == 400
        assert 'aria-invalid="true"' in response.text
        too_long = await admin.post(f"{PAGE}/webhook-secrets", data={"secret_name": "x" * 130})
        assert too_long.status_code == 400 and "x" * 130 in too_long.text


async def test_the_api_records_key_and_secret_changes_in_the_audit_log(
    app: Litestar, world: World, ctx: AppContext
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        key = (await admin.post("/api/v1/api-keys", json={"name": "Canvas"})).json()
        assert key["key"].startswith("ll_")
        assert (await admin.delete(f"/api/v1/api-keys/{key['id']}")).status_code == 204
        secret = (await admin.post("/api/v1/webhook-secrets", json={"name": "Moodle"})).json()
        assert (await admin.delete(f"/api/v1/webhook-secrets/{secret['id']}")).status_code == 204
        listed = (await admin.get("/api/v1/api-keys")).json()
        assert all("key" not in k for k in listed)
    assert await audit_actions(ctx, world.a.id) == [
        "api_key.create",
        "api_key.revoke",
        "webhook_secret.create",
        "webhook_secret.revoke",
    ]


async def test_the_page_gives_the_address_and_an_example_with_a_real_course(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        page = (await admin.get(f"{PAGE}?lang=en")).text
    assert "http://testserver.local/xapi/" in page
    assert "https://lms.acme.example/courses/feedback" in page  # the organisation's course
    assert "X-Experience-API-Version: 1.0.3" in page
    assert "X-Learnloop-Signature" in page and "HMAC-SHA256" in page
    assert "Nothing received yet" in page


async def test_the_log_shows_each_outcome_in_english_and_dutch(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    first = statement()
    await client.post("/xapi/statements", json=first, headers=headers)
    await client.post("/xapi/statements", json=first, headers=headers)
    await client.post(
        "/xapi/statements",
        json={**first, "timestamp": datetime.now(UTC).isoformat()},
        headers=headers,
    )
    await client.post("/xapi/statements", json=statement("ghost@acme.example"), headers=headers)
    await client.post("/xapi/statements", content=b"{nope", headers=headers)
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        english = (await admin.get(f"{PAGE}/intake?lang=en")).text
        for label in ("Accepted", "Duplicate", "Conflict", "Rejected", "Learner unknown"):
            assert f">{label}</span>" in english
        assert "ghost@acme.example" in english and "Sam Acme" in english
        assert "body: not JSON" in english
        dutch = (await admin.get(f"{PAGE}/intake?lang=nl")).text
        for label in ("Geaccepteerd", "Dubbel", "Conflict", "Geweigerd", "Onbekende deelnemer"):
            assert f">{label}</span>" in dutch
        only = (await admin.get(f"{PAGE}/intake?lang=en&outcome=unknown_learner")).text
        assert "ghost@acme.example" in only and ">Accepted</span>" not in only
        xapi_only = (await admin.get(f"{PAGE}/intake?lang=en&source=webhook")).text
        assert "Nothing like this among the latest" in xapi_only

        first_row = english.index('href="/console/integrations/intake/')
        href = english[first_row:].split('"')[1]
        detail = await admin.get(href + "?lang=nl")
        assert detail.status_code == 200 and "body: not JSON" in detail.text
        assert "{nope" in detail.text


async def test_a_statement_voided_before_it_arrived_shows_as_voided_not_duplicate(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    first = statement()
    voiding = {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:lms@acme.example"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": first["id"]},
    }
    assert (await client.post("/xapi/statements", json=voiding, headers=headers)).is_success
    assert (await client.post("/xapi/statements", json=first, headers=headers)).is_success
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        [arrived] = (await admin.get("/api/v1/integrations/intake?outcome=voided")).json()
        assert arrived["key"] == first["id"]
        assert arrived["xp"] == 0
        english = (await admin.get(f"{PAGE}/intake?lang=en")).text
        assert ">Voided</span>" in english and ">Duplicate</span>" not in english
        dutch = (await admin.get(f"{PAGE}/intake?lang=nl&outcome=voided")).text
        assert ">Ingetrokken</span>" in dutch and ">Dubbel</span>" not in dutch
        href = dutch[dutch.index('href="/console/integrations/intake/') :].split('"')[1]
        detail = (await admin.get(href + "?lang=en")).text
        assert "the LMS had already sent a statement voiding it" in detail


async def test_the_overview_counts_no_learning_whose_statement_was_voided(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    kept, mistaken = statement(), statement()
    voiding = {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": "mailto:lms@acme.example"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/voided"},
        "object": {"objectType": "StatementRef", "id": mistaken["id"]},
    }
    for body in ([kept, mistaken], voiding):
        assert (await client.post("/xapi/statements", json=body, headers=headers)).is_success
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin:
        page = (await admin.get("/console/?lang=en")).text
    label = page.index("Learning activities recorded")
    assert '<p class="stat">1</p>' in page[label : label + 200]


async def test_org_b_never_sees_org_as_log_or_keys(
    app: Litestar, client: AsyncTestClient[Litestar], world: World
) -> None:
    headers = {"Authorization": f"Bearer {world.a.api_key}", **XAPI}
    await client.post("/xapi/statements", json=statement(), headers=headers)
    async with signed_in_client(app, world.email("a", "ld_admin")) as admin_a:
        page = (await admin_a.get(f"{PAGE}/intake?lang=en")).text
        href = page[page.index('href="/console/integrations/intake/') :].split('"')[1]
        assert (await admin_a.get(href)).status_code == 200
    async with signed_in_client(app, world.email("b", "ld_admin")) as admin_b:
        theirs = (await admin_b.get(f"{PAGE}/intake?lang=en")).text
        assert "Sam Acme" not in theirs and "Nothing received yet" in theirs
        assert (await admin_b.get(href)).status_code == 404
        assert (await admin_b.post(f"{PAGE}/keys/{world.a.api_key_id}/revoke")).status_code == 404
        listing = (await admin_b.get(f"{PAGE}?lang=en")).text
        assert "Acme LMS" not in listing and "Globex LMS" in listing
