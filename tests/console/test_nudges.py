"""The console's nudge pages: rules, text variants with their results, a preview to oneself.

Every form posts to the same services as the JSON API (tests/nudges/test_governance.py);
these tests check what an L&D admin sees and that each form does what it says.
"""

import re

from litestar import Litestar
from sqlmodel import col, select

from backend.console.nudges import KINDS
from backend.context import AppContext
from backend.db.models import AuditEntry, Nudge, NudgeTextVariant, Organisation, PushSubscription
from backend.db.types import utcnow
from tests.factories import World, signed_in_client

TEXTS = "/console/nudges/texts"


async def audit_actions(ctx: AppContext, organisation_id: int) -> list[str]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(AuditEntry)
            .where(AuditEntry.organisation_id == organisation_id)
            .order_by(col(AuditEntry.id))
        )
        return [row.action for row in rows.all()]


async def settings_of(ctx: AppContext, organisation_id: int) -> dict[str, object]:
    async with ctx.sessionmaker() as session:
        org = (
            await session.exec(select(Organisation).where(Organisation.id == organisation_id))
        ).one()
        return dict(org.settings or {})


async def test_rules_page_shows_and_saves_quiet_hours_weekends_caps_and_kinds(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        page = await ld.get("/console/nudges?lang=en")
        assert page.status_code == 200
        assert "Quiet from" in page.text and "Streak at risk" in page.text
        assert f"{len(KINDS)} of {len(KINDS)} kinds are on." in page.text
        every_kind_but_two = [
            k for k in KINDS if k not in ("budget_reminder", "testimonial_request")
        ]
        saved = await ld.post(
            "/console/nudges?lang=en",
            data={
                "quiet_hours_start": "20",
                "quiet_hours_end": "7",
                "nudges_on_weekends": "1",
                "nudge_reminders_per_day": "2",
                "nudges_per_week": "8",
                "kind_on": every_kind_but_two,
            },
            follow_redirects=False,
        )
        assert saved.status_code == 303 and saved.headers["location"] == "/console/nudges"
        after = await ld.get("/console/nudges?lang=en")
        assert (
            "Nudge rules saved" in after.text
            and f"{len(KINDS) - 2} of {len(KINDS)} kinds are on." in after.text
        )
    settings = await settings_of(ctx, world.a.id)
    assert (settings["quiet_hours_start"], settings["quiet_hours_end"]) == (20, 7)
    assert settings["nudges_on_weekends"] is True
    assert (settings["nudge_reminders_per_day"], settings["nudges_per_week"]) == (2, 8)
    assert settings["nudge_kinds_off"] == ["budget_reminder", "testimonial_request"]
    assert await audit_actions(ctx, world.a.id) == ["organisation.update"]


async def test_rules_form_with_a_bad_number_keeps_the_values_and_names_the_field(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        response = await ld.post(
            "/console/nudges?lang=en",
            data={
                "quiet_hours_start": "21",
                "quiet_hours_end": "8",
                "nudge_reminders_per_day": "9",
                "nudges_per_week": "5",
                "kind_on": ["reminder"],
            },
        )
    assert response.status_code == 400
    assert 'id="f-nudge_reminders_per_day-error"' in response.text
    assert "This number is too large." in response.text
    assert 'value="9"' in response.text  # what was typed stays
    assert await audit_actions(ctx, world.a.id) == []


async def test_texts_page_lists_variants_with_their_results_per_period(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    sam = world.a.users["employee"]
    now = utcnow()
    async with ctx.sessionmaker() as session:
        for i in range(4):
            session.add(
                Nudge(
                    id=f"{i:032x}",
                    organisation_id=world.a.id,
                    user_id=sam.id or 0,
                    kind="reminder",
                    variant="b",
                    dedupe_key=f"reminder:test-{i}",
                    locale="en",
                    title="A moment to learn?",
                    body="x",
                    status="sent",
                    sent_at=now,
                    clicked_at=now if i < 2 else None,
                    learned_at=now if i < 1 else None,
                )
            )
        await session.commit()
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        page = await ld.get(f"{TEXTS}?lang=en&kind=reminder&lang_filter=en&days=7")
    assert page.status_code == 200
    text = page.text
    assert "A moment to learn?" in text and "Time for something new?" in text
    assert "Tijd voor iets nieuws?" not in text  # English only
    assert 'id="kind-reminder"' in text and 'id="kind-streak_at_risk"' not in text
    row = text[text.index("A moment to learn?") :].split("</tr>")[0]
    cells = [
        " ".join(re.sub(r"<[^>]+>", " ", c.split("</td>")[0]).split())
        for c in row.split('<td class="num">')[1:]
    ]
    assert cells == ["4", "2 50%", "1 25%"]  # sent, opened, learned within 24 hours


async def test_add_a_text_in_the_console_then_edit_retire_and_restore_it(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        form = await ld.get(f"{TEXTS}/new?lang=en&kind=streak_at_risk")
        assert form.status_code == 200 and "{streak_length}" in form.text
        bad = await ld.post(
            f"{TEXTS}?lang=en",
            data={"kind": "streak_at_risk", "locale": "en", "title": "Hi {name}", "body": "Go"},
        )
        assert bad.status_code == 400
        assert "{name} is not a placeholder of this kind" in bad.text
        assert 'value="Hi {name}"' in bad.text
        created = await ld.post(
            f"{TEXTS}?lang=en",
            data={
                "kind": "streak_at_risk",
                "locale": "en",
                "title": "{streak_length} and going",
                "body": "One short moment {deadline}.",
            },
            follow_redirects=False,
        )
        assert created.status_code == 303
        url = created.headers["location"]
        assert url.startswith(f"{TEXTS}/streak_at_risk/en/v")
        page = await ld.get(url + "?lang=en")
        # the preview fills in example values
        assert (
            "4 weeks and going" in page.text
            and "One short moment on 2 days this week." in page.text
        )
        assert "Text added" in page.text
        saved = await ld.post(
            url, data={"title": "Keep your {streak_length}", "body": "Now."}, follow_redirects=False
        )
        assert saved.status_code == 303
        retired = await ld.post(url + "/retire?lang=en", follow_redirects=False)
        assert retired.status_code == 303
        page = await ld.get(url + "?lang=en")
        assert "Text retired" in page.text and "Send it again" in page.text
        await ld.post(url + "/restore")
    async with ctx.sessionmaker() as session:
        (row,) = (
            await session.exec(
                select(NudgeTextVariant).where(NudgeTextVariant.organisation_id == world.a.id)
            )
        ).all()
    assert (row.title, row.body, row.retired_at) == ("Keep your {streak_length}", "Now.", None)
    assert await audit_actions(ctx, world.a.id) == [
        "nudge.variant.create",
        "nudge.variant.update",
        "nudge.variant.retire",
        "nudge.variant.restore",
    ]


async def test_edit_a_built_in_text_and_go_back_to_the_default(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    url = f"{TEXTS}/reminder/nl/a"
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        stray = await ld.post(url + "?lang=en", data={"title": "Leren {", "body": "x"})
        assert stray.status_code == 400 and "A { or } on its own" in stray.text
        await ld.post(url, data={"title": "Even tijd voor jezelf?", "body": "Tien minuten."})
        page = await ld.get(url + "?lang=en")
        assert "Even tijd voor jezelf?" in page.text and "Back to the default text" in page.text
        await ld.post(url + "/reset")
        page = await ld.get(url + "?lang=en")
        assert 'value="Tijd voor iets nieuws?"' in page.text
        # the last English text of a kind cannot be retired: a clear notice, nothing changed
        for variant in ("a", "b"):
            await ld.post(
                f"{TEXTS}/goal_reached/en/{variant}/retire?lang=en", follow_redirects=False
            )
        page = await ld.get(f"{TEXTS}/goal_reached/en/b?lang=en")
        assert "This is the last text of this kind in this language" in page.text


async def test_send_to_me_without_a_device_explains_and_with_one_queues_a_preview(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    lou = world.a.users["ld_admin"]
    url = f"{TEXTS}/badge_earned/en/b"
    async with signed_in_client(app, lou.email) as ld:
        await ld.post(url + "/send-to-me?lang=en", follow_redirects=False)
        page = await ld.get(url + "?lang=en")
        assert "You have no device with notifications on yet" in page.text
        async with ctx.sessionmaker() as session:
            session.add(
                PushSubscription(
                    organisation_id=world.a.id,
                    user_id=lou.id or 0,
                    endpoint="https://push.example/lou",
                    p256dh="x",
                    auth="y",
                )
            )
            await session.commit()
        await ld.post(url + "/send-to-me?lang=en", follow_redirects=False)
        page = await ld.get(url + "?lang=en")
        assert "On its way to your devices (1)" in page.text
    async with ctx.sessionmaker() as session:
        (nudge,) = (await session.exec(select(Nudge))).all()
    assert (nudge.user_id, nudge.title, nudge.body) == (
        lou.id,
        "Congratulations!",
        "You earned the Finisher badge.",
    )


async def test_another_organisations_text_is_a_404_in_the_console(
    app: Litestar, world: World
) -> None:
    async with signed_in_client(app, world.email("b", "ld_admin")) as globex:
        created = await globex.post(
            TEXTS,
            data={"kind": "reminder", "locale": "en", "title": "Globex time", "body": "Go"},
            follow_redirects=False,
        )
        url = created.headers["location"]
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:
        assert (await ld.get(url)).status_code == 404
        for action in ("", "/retire", "/restore", "/send-to-me"):
            response = await ld.post(url + action, data={"title": "Mine", "body": "Mine"})
            assert response.status_code == 404, action
        assert "Globex time" not in (await ld.get(TEXTS)).text
