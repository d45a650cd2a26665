"""Nudge governance by L&D: the organisation's rules reach the scheduler, its own text
variants are sent and measured, a preview reaches only the admin, every change is audited."""

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any

from litestar import Litestar
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import AuditEntry, LearnerState, Nudge, PushSubscription
from backend.learning.model import IncomingEvent
from backend.learning.service import record_events
from backend.nudges.scheduler import run_tick
from tests.factories import World, signed_in_client
from tests.nudges.test_scheduler import NOW, nudges_of, set_next, set_user

SATURDAY = datetime(2026, 12, 5, 18, 0, tzinfo=UTC)  # 19:00 in Amsterdam
VARIANTS = "/api/v1/nudge-variants"


async def audit_actions(ctx: AppContext, organisation_id: int) -> list[str]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(AuditEntry)
            .where(AuditEntry.organisation_id == organisation_id)
            .order_by(col(AuditEntry.id))
        )
        return [row.action for row in rows.all()]


async def rules(app: Litestar, world: World, **changes: Any) -> dict[str, Any]:
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        response = await ld.patch("/api/v1/nudge-rules", json=changes)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def due_for_a_reminder(ctx: AppContext, world: World, at: datetime) -> int:
    """Sam of org A, reminded at 19:00 Amsterdam time, due at ``at``."""
    sam = world.a.users["employee"]
    assert sam.id
    await set_user(ctx, sam.id, reminder_time=time(19, 0), locale="en")
    await set_next(ctx, sam.id, at)
    return sam.id


async def test_a_kind_the_organisation_switched_off_is_not_sent(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = await due_for_a_reminder(ctx, world, NOW)
    shown = await rules(app, world, kinds_off=["reminder", "budget_reminder"])
    assert {k["kind"]: k["on"] for k in shown["kinds"]}["reminder"] is False
    assert await run_tick(ctx, NOW, rng=random.Random(1)) == 0
    assert await nudges_of(ctx, sam) == []
    # switched on again: the same learner gets today's reminder
    await rules(app, world, kinds_off=[])
    await set_next(ctx, sam, NOW)
    assert await run_tick(ctx, NOW) == 1
    assert [n.kind for n in await nudges_of(ctx, sam)] == ["reminder"]
    assert await audit_actions(ctx, world.a.id) == ["organisation.update"] * 2


async def test_weekend_rule_and_quiet_hours_set_by_ld_reach_the_scheduler(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = await due_for_a_reminder(ctx, world, SATURDAY)
    await rules(app, world, kinds_off=["budget_reminder"])
    assert await run_tick(ctx, SATURDAY) == 0  # no nudges on weekends: the default
    await rules(app, world, nudges_on_weekends=True)
    await set_next(ctx, sam, SATURDAY)
    assert await run_tick(ctx, SATURDAY) == 1
    # on Tuesday, quiet hours from 19:00 on keep the 19:00 reminder back
    await rules(app, world, quiet_hours_start=19, quiet_hours_end=7)
    await set_next(ctx, sam, NOW)
    assert await run_tick(ctx, NOW) == 0
    async with ctx.sessionmaker() as session:
        state = (await session.exec(select(LearnerState).where(LearnerState.user_id == sam))).one()
    assert state.next_nudge_at is not None and state.next_nudge_at > NOW


async def test_bad_rules_are_refused_with_the_field_named(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        for bad, name in (
            ({"quiet_hours_start": 24}, "quiet_hours_start"),
            ({"nudges_per_week": 31}, "nudges_per_week"),
            ({"kinds_off": ["spam"]}, "kinds_off"),
        ):
            response = await ld.patch("/api/v1/nudge-rules", json=bad)
            assert response.status_code == 400 and name in response.text, response.text
        for query in (
            {"kind": "spam"},
            {"locale": "de"},
            {"since": "2026-12-01", "until": "2026-11-01"},
        ):
            response = await ld.get(VARIANTS, params=query)
            assert response.status_code == 400, (query, response.text)
            assert list(query)[-1] in response.text


async def test_ld_adds_edits_retires_and_restores_text_variants(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        listed = (await ld.get(VARIANTS, params={"kind": "reminder", "locale": "en"})).json()
        assert [(v["variant"], v["origin"]) for v in listed["variants"]] == [
            ("a", "built_in"),
            ("b", "built_in"),
            ("c", "built_in"),
        ]
        created = await ld.post(
            VARIANTS,
            json={
                "kind": "streak_at_risk",
                "locale": "en",
                "title": "{streak_length} and counting",
                "body": "Learn something {deadline} to keep it.",
            },
        )
        assert created.status_code == 201, created.text
        new = created.json()
        assert new["variant"].startswith("v") and new["origin"] == "custom"
        url = f"{VARIANTS}/streak_at_risk/en/{new['variant']}"
        edited = await ld.patch(url, json={"title": "Still going: {streak_length}", "body": "Go!"})
        assert edited.json()["title"] == "Still going: {streak_length}"
        # a built-in text gets the organisation's own words, and can go back to the default
        own = await ld.patch(
            f"{VARIANTS}/reminder/nl/a", json={"title": "Even leren?", "body": "Vijf minuten."}
        )
        assert own.json()["origin"] == "edited"
        reset = await ld.delete(f"{VARIANTS}/reminder/nl/a")
        assert (reset.json()["origin"], reset.json()["title"]) == (
            "built_in",
            "Tijd voor iets nieuws?",
        )
        assert (await ld.delete(url)).status_code == 409  # an added one is retired, not reset
        retired = await ld.post(f"{url}/retire")
        assert retired.status_code == 200 and retired.json()["retired"] is True
        restored = await ld.post(f"{url}/restore")
        assert restored.json()["retired"] is False
        # the last text of a kind in a language stays
        for variant in ("a", "b"):
            assert (await ld.post(f"{VARIANTS}/goal_reached/en/{variant}/retire")).status_code in (
                200,
                409,
            )
        last = await ld.post(f"{VARIANTS}/goal_reached/en/b/retire")
        assert last.status_code == 409 and "last" in last.text
        assert (await ld.get(f"{VARIANTS}/reminder/de/a")).status_code == 404
        assert (await ld.get(f"{VARIANTS}/reminder/en/zz")).status_code == 404
    assert await audit_actions(ctx, world.a.id) == [
        "nudge.variant.create",
        "nudge.variant.update",
        "nudge.variant.update",
        "nudge.variant.reset",
        "nudge.variant.retire",
        "nudge.variant.restore",
        "nudge.variant.retire",
    ]


async def test_placeholders_and_lengths_are_checked_with_a_clear_400(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        unknown = await ld.post(
            VARIANTS,
            json={"kind": "badge_earned", "locale": "en", "title": "Hi {name}", "body": "{badge}"},
        )
        assert unknown.status_code == 400
        assert "unknown placeholder {name}" in unknown.text and "{badge}" in unknown.text
        stray = await ld.patch(
            f"{VARIANTS}/reminder/en/a", json={"title": "Learn {today", "body": "ok"}
        )
        assert stray.status_code == 400 and "title" in stray.text and "{{" in stray.text
        attribute = await ld.patch(
            f"{VARIANTS}/new_course/en/a", json={"title": "{course.__class__}", "body": "x"}
        )
        assert attribute.status_code == 400 and "plain name" in attribute.text
        long = await ld.post(
            VARIANTS,
            json={"kind": "reminder", "locale": "en", "title": "x" * 201, "body": "ok"},
        )
        assert long.status_code == 400 and "title" in long.text
        empty = await ld.post(
            VARIANTS, json={"kind": "reminder", "locale": "en", "title": "Hi", "body": "  "}
        )
        assert empty.status_code == 400 and "body" in empty.text
        listed = (await ld.get(VARIANTS, params={"kind": "reminder"})).json()["variants"]
        assert all(v["origin"] == "built_in" for v in listed)  # nothing was stored


async def test_a_new_variant_is_sent_by_the_tick_and_measured(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = await due_for_a_reminder(ctx, world, NOW)
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        new = (
            await ld.post(
                VARIANTS,
                json={
                    "kind": "reminder",
                    "locale": "en",
                    "title": "Ten minutes, your way",
                    "body": "Pick a video, a page or a podcast.",
                },
            )
        ).json()
        for variant in ("a", "b", "c"):  # only the new one is left in English
            assert (await ld.post(f"{VARIANTS}/reminder/en/{variant}/retire")).status_code == 200
        await ld.patch("/api/v1/nudge-rules", json={"kinds_off": ["budget_reminder"]})

    assert await run_tick(ctx, NOW) == 1
    (nudge,) = await nudges_of(ctx, sam)
    assert (nudge.variant, nudge.title, nudge.body) == (
        new["variant"],
        "Ten minutes, your way",
        "Pick a video, a page or a podcast.",
    )
    # the push went out, Sam opened it and learned within the hour
    async with ctx.sessionmaker() as session:
        row = (await session.exec(select(Nudge).where(Nudge.id == nudge.id))).one()
        row.status, row.sent_at = "sent", NOW
        session.add(row)
        await session.commit()
    async with signed_in_client(app, world.email("a", "employee")) as sam_client:
        assert (await sam_client.post(f"/api/v1/nudges/{nudge.id}/click")).status_code == 204
    async with ctx.sessionmaker() as session:
        await record_events(
            session,
            world.a.id,
            [
                IncomingEvent(
                    key="pwa:after-the-nudge",
                    user_id=sam,
                    kind="informal",
                    source="pwa",
                    occurred_at=NOW + timedelta(minutes=30),
                    minutes=10,
                    title="Watched a video",
                )
            ],
            now=NOW + timedelta(minutes=31),
        )
    await set_next(ctx, sam, NOW + timedelta(hours=1))
    await run_tick(ctx, NOW + timedelta(hours=1))  # the tick notices the learning

    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        listed = await ld.get(
            VARIANTS,
            params={
                "kind": "reminder",
                "locale": "en",
                "since": "2026-11-01",
                "until": "2026-12-31",
            },
        )
    measured = {v["variant"]: v["measured"] for v in listed.json()["variants"]}
    assert measured[new["variant"]] == {
        "sent": 1,
        "opened": 1,
        "learned_within_24h": 1,
        "open_rate": 1.0,
        "learned_rate": 1.0,
    }
    assert measured["a"]["sent"] == 0 and measured["a"]["open_rate"] is None


async def test_send_to_me_queues_a_preview_for_the_admin_only(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    lou = world.a.users["ld_admin"]
    url = f"{VARIANTS}/kudos_received/nl/a/send-to-me"
    async with signed_in_client(app, lou.email) as ld:
        none = await ld.post(url)
        assert none.status_code == 409 and "no device" in none.text
        async with ctx.sessionmaker() as session:
            session.add(
                PushSubscription(
                    organisation_id=world.a.id,
                    user_id=lou.id or 0,
                    endpoint="https://push.example/lou-phone",
                    p256dh="x",
                    auth="y",
                )
            )
            await session.commit()
        sent = await ld.post(url)
        assert sent.status_code == 202, sent.text
        assert sent.json()["devices"] == 1
        assert sent.json()["title"] == "Kudos van Sam"  # the example values filled in
    (nudge,) = await nudges_of(ctx)
    assert (nudge.user_id, nudge.kind, nudge.variant, nudge.locale) == (
        lou.id,
        "kudos_received",
        "a",
        "nl",
    )
    assert nudge.status == "pending" and nudge.dedupe_key.startswith("preview:")
    assert await audit_actions(ctx, world.a.id) == ["nudge.send_to_me"]
    # a preview is no measurement
    async with ctx.sessionmaker() as session:
        nudge.sent_at = datetime.now(UTC)
        nudge.status = "sent"
        session.add(nudge)
        await session.commit()
    async with signed_in_client(app, lou.email) as ld:
        rows = (await ld.get(VARIANTS, params={"kind": "kudos_received", "locale": "nl"})).json()
        assert all(v["measured"]["sent"] == 0 for v in rows["variants"])


async def test_another_organisations_variants_are_out_of_reach(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("b", "ld_admin")) as globex:
        theirs = (
            await globex.post(
                VARIANTS,
                json={"kind": "reminder", "locale": "en", "title": "Globex time", "body": "Go"},
            )
        ).json()
        await globex.patch("/api/v1/nudge-rules", json={"kinds_off": ["reminder"]})
    url = f"{VARIANTS}/reminder/en/{theirs['variant']}"
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        assert "Globex" not in (await ld.get(VARIANTS)).text
        for method, path in (
            ("GET", url),
            ("PATCH", url),
            ("POST", url + "/retire"),
            ("POST", url + "/send-to-me"),
        ):
            body = {"title": "Mine", "body": "Mine"} if method == "PATCH" else None
            response = await ld.request(method, path, json=body)
            assert response.status_code == 404, (method, path, response.text)
        kinds = (await ld.get("/api/v1/nudge-rules")).json()["kinds"]
        assert all(k["on"] for k in kinds)
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        assert (await sam.get(VARIANTS)).status_code == 403
        assert (await sam.patch("/api/v1/nudge-rules", json={})).status_code == 403
