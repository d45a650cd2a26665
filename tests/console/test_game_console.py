"""The game design page: every rule through the form, previews without saving, validation
messages in the form, the moment a change applies from, the audit entry."""

from datetime import timedelta
from typing import Any

from litestar import Litestar
from sqlmodel import col, select

from backend.context import AppContext
from backend.db.models import AuditEntry, Organisation
from backend.organisations.settings import newest_game_rules, settings_from_document
from tests.factories import World, signed_in_client
from tests.progress.activity import event, ingest, local_noon, local_today, set_streak_mode

PAGE = "/console/game"


def form(**changes: Any) -> dict[str, Any]:
    """The form as the page fills it with the default rules, with ``changes``."""
    values: dict[str, Any] = {
        "streak_mode": "weekly",
        "days_per_week": "3",
        "freeze_every_days": "7",
        "freeze_every_weeks": "4",
        "max_banked_freezes": "2",
        "repair_window_days": "2",
        "completion_base": "50",
        "completion_xp_per_minute": "0.5",
        "completion_minutes_cap": "240",
        "progress_xp_per_minute": "0.2",
        "progress_minutes_cap": "60",
        "experience_xp": "20",
        "informal_xp": "10",
        "informal_daily_cap": "30",
        "informal_cooldown_minutes": "10",
        "testimonial_xp": "15",
        "goal_reached_xp": "25",
        "challenge_completed_xp": "100",
        "hot_skill_multiplier": "1.5",
        "step_xp": "50",
        "season_rows": "1",
        "applies": "now",
        "effective_from": "",
    }
    values.update(changes)
    return values


async def _stored(ctx: AppContext, org_id: int) -> Any:
    async with ctx.sessionmaker() as session:
        org = (await session.exec(select(Organisation).where(Organisation.id == org_id))).one()
    return newest_game_rules(settings_from_document(org.settings))


async def _audit(ctx: AppContext, org_id: int) -> list[AuditEntry]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(AuditEntry)
            .where(AuditEntry.organisation_id == org_id, AuditEntry.action == "game_rules.change")
            .order_by(col(AuditEntry.id))
        )
        return list(rows.all())


async def test_the_page_shows_the_rules_in_both_languages(app: Litestar, world: World) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        en = await lou.get(f"{PAGE}?lang=en")
        assert en.status_code == 200
        for text in ("Streaks", "XP per kind of learning", "Double-XP seasons", "Level curve"):
            assert text in en.text or text.lower() in en.text.lower()
        assert 'name="completion_base" type="number" value="50"' in en.text
        assert "0 of 3 learners have a streak" in en.text
        assert "<svg" in en.text and "style=" not in en.text
        nl = await lou.get(f"{PAGE}?lang=nl")
        assert nl.status_code == 200 and "Reeksen" in nl.text and "Niveaucurve" in nl.text


async def test_preview_shows_the_effect_without_saving(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await set_streak_mode(ctx, world.a.id, "daily")
    sam, mia = world.email("a", "employee"), world.email("a", "manager")
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        await ingest(
            lou,
            world.a,
            [event(sam, when=local_noon(d)) for d in (0, 1, 2)] + [event(mia, when=local_noon(3))],
        )
        page = await lou.post(
            f"{PAGE}/preview?lang=en",
            data=form(streak_mode="weekly", days_per_week="1", completion_base="100", step_xp="5"),
        )
        assert page.status_code == 200, page.text
        html = page.text
        assert "What this change does" in html
        assert "2 of 3 learners would have a streak (now 1)" in html
        assert "A course completion (45 min)" in html
        assert '<td class="num">73</td>' in html and '<td class="num">123</td>' in html
        assert "The middle learner (20 XP) would be level 2 (now 1)" in html
        assert "Applies to learning from Monday" in html
        assert 'value="100"' in html, "the form keeps what was typed"
    assert (await _stored(ctx, world.a.id)).xp.completion_base == 50
    assert await _audit(ctx, world.a.id) == []


async def test_saving_stores_every_section_and_writes_the_audit_entry(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        response = await lou.post(
            f"{PAGE}?lang=en",
            data=form(
                experience_xp="30",
                informal_daily_cap="40",
                hot_skill_multiplier="2",
                step_xp="75",
                max_banked_freezes="3",
                **{
                    "season-0-name": "Kick-off",
                    "season-0-starts_on": "2027-01-04",
                    "season-0-ends_on": "2027-01-17",
                    "season-0-multiplier": "2,5",
                },
            ),
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
        page = (await lou.get(f"{PAGE}?lang=en")).text
        assert "Saved. The new rules apply to learning from" in page
        assert 'value="Kick-off"' in page and 'name="season-1-name"' in page
    rules = await _stored(ctx, world.a.id)
    assert (rules.xp.experience_xp, rules.xp.informal_daily_cap) == (30, 40)
    assert rules.xp.hot_skill_multiplier == 2 and rules.levels.step_xp == 75
    assert rules.streak.max_banked_freezes == 3
    [season] = rules.xp.seasons
    assert (season.name, season.multiplier, str(season.starts_on)) == (
        "Kick-off",
        2.5,
        "2027-01-04",
    )
    [entry] = await _audit(ctx, world.a.id)
    assert "xp.experience_xp" in entry.details["changed"]
    assert entry.details["before"]["xp"]["experience_xp"] == 20
    assert entry.details["after"]["streak"]["max_banked_freezes"] == 3


async def test_a_season_is_removed_with_its_checkbox(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    season = {
        "season-0-name": "Winter",
        "season-0-starts_on": "2027-01-04",
        "season-0-ends_on": "2027-01-10",
        "season-0-multiplier": "2",
        "season_rows": "2",
    }
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        await lou.post(PAGE, data=form(**season))
        assert len((await _stored(ctx, world.a.id)).xp.seasons) == 1
        await lou.post(PAGE, data=form(**season, **{"season-0-remove": "1"}))
    assert (await _stored(ctx, world.a.id)).xp.seasons == []


async def test_bad_values_come_back_in_the_form_with_messages(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    yesterday = (local_today() - timedelta(days=1)).isoformat()
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        cases = [
            (form(experience_xp="-5"), "experience_xp", "This number is too small."),
            (
                form(informal_xp="20", informal_daily_cap="10"),
                "informal_daily_cap",
                "The daily cap must be at least the XP of one moment.",
            ),
            (form(step_xp="lots"), "step_xp", "Enter a whole number."),
            (
                form(
                    **{
                        "season-0-starts_on": "2027-02-10",
                        "season-0-ends_on": "2027-02-01",
                        "season-0-multiplier": "2",
                    }
                ),
                "season-0-ends_on",
                "A season cannot end before it starts.",
            ),
            (
                form(applies="day", effective_from=yesterday),
                "effective_from",
                "Choose today or a later day.",
            ),
        ]
        for data, name, message in cases:
            for url in (f"{PAGE}?lang=en", f"{PAGE}/preview?lang=en"):
                page = await lou.post(url, data=data)
                assert page.status_code == 400, (name, url)
                assert f'id="f-{name}-error">{message}</p>' in page.text, (name, page.text[-3000:])
        nl = await lou.post(f"{PAGE}?lang=nl", data=form(experience_xp="-5"))
        assert "Dit getal is te klein." in nl.text
        assert 'value="-5"' in nl.text
    assert await _audit(ctx, world.a.id) == []


async def test_a_chosen_day_is_stated_and_waits(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    later = local_today() + timedelta(days=3)
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        preview = await lou.post(
            f"{PAGE}/preview?lang=en",
            data=form(informal_xp="12", applies="day", effective_from=later.isoformat()),
        )
        day = f"{later.day} {later.strftime('%B')} {later.year}"
        assert f"Applies to learning from {later.strftime('%A')} {day}." in preview.text
        await lou.post(
            PAGE, data=form(informal_xp="12", applies="day", effective_from=later.isoformat())
        )
        page = (await lou.get(f"{PAGE}?lang=en")).text
        assert f"A change is scheduled for learning from {later.strftime('%A')} {day}" in page
        assert 'name="informal_xp" type="number" value="12"' in page, "the form shows it"
        [result] = await ingest(
            lou, world.a, [event(world.email("a", "employee"), "informal", title="x")]
        )
        assert result["xp"] == 10, "today still pays the old amount"


async def test_nothing_changed_says_so(app: Litestar, ctx: AppContext, world: World) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        page = (await lou.post(f"{PAGE}?lang=en", data=form())).text
        assert "Nothing changed: these are the rules in force." in page
    assert await _audit(ctx, world.a.id) == []


async def test_the_page_is_per_organisation(app: Litestar, ctx: AppContext, world: World) -> None:
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        await lou.post(PAGE, data=form(experience_xp="33"))
    async with signed_in_client(app, world.email("b", "ld_admin")) as globex:
        page = (await globex.get(f"{PAGE}?lang=en")).text
        assert 'name="experience_xp" type="number" value="20"' in page
    assert (await _stored(ctx, world.b.id)).xp.experience_xp == 20
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        assert (await sam.get(PAGE)).status_code == 403
        assert (await sam.post(PAGE, data=form(experience_xp="99"))).status_code == 403
    assert (await _stored(ctx, world.a.id)).xp.experience_xp == 33
