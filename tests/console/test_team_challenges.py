"""Sponsoring a team challenge from the console, closing it with a celebration, and kudos:
the team hears of each (one push per member), sees it in the app, and a small team cannot."""

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from litestar import Litestar
from sqlmodel import col, select, update

from backend.auth.principal import Principal
from backend.challenges import sponsorship
from backend.context import AppContext
from backend.db.models import AuditEntry, Challenge, Kudos, Nudge, Organisation, User
from backend.demo.team import UPCOMING_TITLE, seed_team
from backend.tenancy import OrgScope
from tests.console.team_world import TeamWorld, build_team, org_today
from tests.factories import World, signed_in_client


def _form(**changes: str) -> dict[str, str]:
    monday = org_today() + timedelta(days=(7 - org_today().weekday()) % 7 or 7)
    form = {
        "title": "Two weeks of feedback",
        "description": "",
        "target_kind": "team_minutes",
        "minutes": "600",
        "share_percent": "80",
        "days_per_week": "2",
        "weeks": "2",
        "starts_on": monday.isoformat(),
        "ends_on": (monday + timedelta(days=13)).isoformat(),
        "pledge": "Lunch together",
        "message": "Let's learn from each other's feedback.",
    }
    form.update(changes)
    return form


async def _nudges(ctx: AppContext, challenge_id: int, moment: str) -> list[Nudge]:
    async with ctx.sessionmaker() as session:
        rows = await session.exec(
            select(Nudge).where(
                Nudge.kind == "team_challenge",
                Nudge.dedupe_key == f"team_challenge:{challenge_id}:{moment}",
            )
        )
        return list(rows.all())


async def _sponsor_api(
    app: Litestar, team: TeamWorld, starts_in: int = 0, **changes: Any
) -> dict[str, Any]:
    today = org_today()
    body = {
        "title": "Learning week",
        "pledge": "Cake",
        "starts_on": (today + timedelta(days=starts_in)).isoformat(),
        "ends_on": (today + timedelta(days=starts_in + 6)).isoformat(),
        "target": {"kind": "team_minutes", "minutes": 300},
        "message": "Go team",
        **changes,
    }
    async with signed_in_client(app, team.manager_email) as manager:
        manager.follow_redirects = False
        response = await manager.post(f"/api/v1/teams/{team.team_id}/challenges", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_manager_sponsors_from_the_console_and_the_team_sees_it_as_upcoming(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    team = await build_team(ctx, world, size=6)
    async with ctx.sessionmaker() as session:
        # member 5 switched challenge nudges off; member 2 keeps quiet around now
        await session.exec(
            update(User)
            .where(col(User.id) == team.member_ids[5])
            .values(nudge_kinds_off=["challenge"])
        )
        here = datetime.now(ZoneInfo("Europe/Amsterdam"))
        await session.exec(
            update(User)
            .where(col(User.id) == team.member_ids[2])
            .values(
                quiet_hours_start=(here - timedelta(hours=1)).time().replace(microsecond=0),
                quiet_hours_end=(here + timedelta(hours=1)).time().replace(microsecond=0),
            )
        )
        await session.commit()
    async with signed_in_client(app, team.manager_email) as manager:
        manager.follow_redirects = False
        form = await manager.get(f"/console/team/challenges/new?team={team.team_id}&lang=en")
        assert form.status_code == 200 and "Sponsor and tell the team" in form.text
        done = await manager.post(f"/console/team/challenges/new?team={team.team_id}", data=_form())
        assert done.status_code == 303, done.text
        challenge_id = int(done.headers["location"].rsplit("/", 1)[1])
        page = await manager.get(done.headers["location"] + "?lang=en")
        assert page.status_code == 200
        assert "Two weeks of feedback" in page.text and "Figures appear once it starts" in page.text
        overview = await manager.get(f"/console/team?team={team.team_id}&lang=en")
        assert "Two weeks of feedback" in overview.text and "Upcoming" in overview.text

    # one push per counted member (not the manager, not who switched them off), in their language
    sent = await _nudges(ctx, challenge_id, "sponsored")
    assert sorted(n.user_id for n in sent) == sorted(team.member_ids[:5])
    english = next(n for n in sent if n.user_id == team.member_ids[1])
    assert english.title == "New team challenge: Two weeks of feedback"
    assert "Lunch together" in english.body and "Let's learn" in english.body
    quiet = next(n for n in sent if n.user_id == team.member_ids[2])
    assert quiet.due_at > quiet.created_at  # held until the quiet hours end
    dutch = next(n for n in sent if n.user_id == team.member_ids[0])
    assert dutch.title.startswith("Nieuwe teamchallenge") and dutch.url == "/team"
    async with ctx.sessionmaker() as session:
        audit = (await session.exec(select(AuditEntry.action))).all()
        assert "team_challenge.create" in audit

    # telling the team again changes nothing: one push per member and moment
    manager_id = world.a.users["manager"].id
    principal = Principal(world.a.id, manager_id, frozenset({"manager"}), "session")
    async with ctx.sessionmaker() as session:
        row = await session.get(Challenge, challenge_id)
        assert row is not None
        await sponsorship.announce(OrgScope(session, principal), row, "Mia", row.created_at)
        await session.commit()
    assert len(await _nudges(ctx, challenge_id, "sponsored")) == 5

    # a member sees it in the app as upcoming, with its start date and the sponsor's message
    starts = date_words(_form()["starts_on"])
    async with signed_in_client(app, team.member_emails[1]) as member:
        mine = await member.get(f"/team?team={team.team_id}&lang=en")
        assert "Two weeks of feedback" in mine.text
        assert "Upcoming" in mine.text and f"Starts on {starts}" in mine.text
        assert "Let&#39;s learn from each other" in mine.text


def date_words(iso: str) -> str:
    return format_date(date.fromisoformat(iso), "EEEE d MMMM", locale="en")


async def test_the_form_keeps_the_values_and_explains_what_is_wrong(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    team = await build_team(ctx, world, size=5)
    async with signed_in_client(app, team.manager_email) as manager:
        manager.follow_redirects = False
        url = f"/console/team/challenges/new?team={team.team_id}&lang=en"
        bad = await manager.post(url, data=_form(title="", minutes="0"))
        assert bad.status_code == 400
        assert "This field is required." in bad.text and "This number is too small." in bad.text
        assert "Lunch together" in bad.text  # kept
        past = await manager.post(url, data=_form(starts_on="2020-01-01"))
        assert past.status_code == 400 and "cannot start in the past" in past.text
        weeks = await manager.post(
            url, data=_form(target_kind="participation", weeks="5", share_percent="80")
        )
        assert weeks.status_code == 400 and "fewer full weeks" in weeks.text
    async with ctx.sessionmaker() as session:
        assert (await session.exec(select(Challenge))).all() == []


async def test_a_team_below_the_floor_cannot_sponsor(app: Litestar, world: World) -> None:
    today = org_today()
    body = {
        "title": "Tiny",
        "pledge": "Cake",
        "starts_on": (today + timedelta(days=1)).isoformat(),
        "ends_on": (today + timedelta(days=8)).isoformat(),
        "target": {"kind": "team_minutes", "minutes": 100},
    }
    async with signed_in_client(app, world.email("a", "manager")) as manager:
        api = await manager.post(f"/api/v1/teams/{world.a.team_id}/challenges", json=body)
        assert api.status_code == 400
        assert "fewer than 5" in api.json()["detail"]
        page = await manager.get(f"/console/team/challenges/new?team={world.a.team_id}&lang=en")
        assert page.status_code == 200 and "fewer than 5 members who take part" in page.text
        form = await manager.post(
            f"/console/team/challenges/new?team={world.a.team_id}&lang=en", data=_form()
        )
        assert form.status_code == 400 and "fewer than 5 members who take part" in form.text


async def test_only_the_teams_leaders_sponsor_and_close(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    team = await build_team(ctx, world, size=5)
    created = await _sponsor_api(app, team)
    url = f"/console/team/challenges/new?team={team.team_id}"
    async with signed_in_client(app, team.other_manager_email) as other:
        assert (await other.post(url, data=_form())).status_code == 403
        assert (await other.get(url, headers={"accept": "text/html"})).status_code == 403
        page = f"/console/team/challenges/{created['id']}"
        assert (await other.get(page, headers={"accept": "text/html"})).status_code == 403
        closing = await other.post(
            f"/api/v1/teams/{team.team_id}/challenges/{created['id']}/close",
            json={"message": "no"},
        )
        assert closing.status_code in (403, 404)
    async with signed_in_client(app, world.email("b", "ld_admin")) as globex:
        page = f"/console/team/challenges/{created['id']}"
        assert (await globex.get(page, headers={"accept": "text/html"})).status_code == 404
        assert (await globex.post(url, data=_form())).status_code == 404
    async with signed_in_client(app, world.email("a", "ld_admin")) as ld:  # L&D: any team
        assert (await ld.get(f"/console/team/challenges/{created['id']}")).status_code == 200


async def test_closing_with_a_celebration_reaches_the_team_once(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    team = await build_team(ctx, world, size=5)
    running = await _sponsor_api(app, team)  # starts today
    upcoming = await _sponsor_api(app, team, starts_in=3, title="Later")
    async with signed_in_client(app, team.manager_email) as manager:
        manager.follow_redirects = False
        page = await manager.get(f"/console/team/challenges/{running['id']}?lang=en")
        assert "Close and celebrate" in page.text
        empty = await manager.post(
            f"/console/team/challenges/{running['id']}/close?lang=en", data={"message": ""}
        )
        assert empty.status_code == 400 and "This field is required." in empty.text
        done = await manager.post(
            f"/console/team/challenges/{running['id']}/close",
            data={"message": "Amazing week, thank you all!"},
        )
        assert done.status_code == 303
        again = await manager.post(
            f"/api/v1/teams/{team.team_id}/challenges/{running['id']}/close",
            json={"message": "Twice?"},
        )
        assert again.status_code == 409
        early = await manager.post(
            f"/api/v1/teams/{team.team_id}/challenges/{upcoming['id']}/close",
            json={"message": "Too soon"},
        )
        assert early.status_code == 409
        wrong_team = await manager.post(
            f"/api/v1/teams/{world.a.team_id}/challenges/{running['id']}/close",
            json={"message": "x"},
        )
        assert wrong_team.status_code == 404
    async with ctx.sessionmaker() as session:
        row = await session.get(Challenge, running["id"])
        assert row is not None and row.closed_at is not None
        assert row.ends_on == org_today()
        assert row.closing_message == "Amazing week, thank you all!"
    closed = await _nudges(ctx, running["id"], "closed")
    assert sorted(n.user_id for n in closed) == sorted(team.member_ids)
    assert all(n.body == "Amazing week, thank you all!" for n in closed)
    async with signed_in_client(app, team.member_emails[0]) as member:
        mine = await member.get(f"/team?team={team.team_id}&lang=en")
        assert "Amazing week, thank you all!" in mine.text and "Celebrated" in mine.text
        api = await member.get(f"/api/v1/challenges/{running['id']}")
        assert api.json()["team"]["closing_message"] == "Amazing week, thank you all!"


async def test_kudos_from_the_team_view(app: Litestar, ctx: AppContext, world: World) -> None:
    team = await build_team(ctx, world, size=5)
    url = f"/console/team/kudos?team={team.team_id}"
    async with signed_in_client(app, team.manager_email) as manager:
        manager.follow_redirects = False
        view = await manager.get(f"/console/team?team={team.team_id}&lang=en")
        assert 'name="to_user_id"' in view.text
        sent = await manager.post(
            url, data={"to_user_id": str(team.member_ids[2]), "message": "Great session!"}
        )
        assert sent.status_code == 303
        assert sent.headers["location"] == f"/console/team?team={team.team_id}"
        stranger = await manager.post(
            url + "&lang=en",
            data={"to_user_id": str(world.a.users["ld_admin"].id), "message": "Hi"},
        )
        assert stranger.status_code == 400 and "Choose a teammate." in stranger.text
        empty = await manager.post(
            url + "&lang=en", data={"to_user_id": str(team.member_ids[2]), "message": ""}
        )
        assert empty.status_code == 400 and "Write a short message." in empty.text
    async with signed_in_client(app, team.other_manager_email) as other:
        refused = await other.post(
            url, data={"to_user_id": str(team.member_ids[2]), "message": "Hi"}
        )
        assert refused.status_code == 403
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(select(Kudos))).all()
        assert [(k.to_user_id, k.message) for k in rows] == [(team.member_ids[2], "Great session!")]


async def test_the_demo_team_has_an_upcoming_sponsored_challenge(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    team = await build_team(ctx, world, size=5)
    async with ctx.sessionmaker() as session:
        manager = await session.get(User, world.a.users["manager"].id)
        assert manager is not None
        row = await seed_team(session, world.a.id, team.team_id, manager, org_today())
        await session.commit()
        assert row.id is not None
    assert len(await _nudges(ctx, row.id, "sponsored")) == 5
    async with signed_in_client(app, team.member_emails[0]) as member:
        page = await member.get(f"/team?team={team.team_id}")
        assert UPCOMING_TITLE in page.text and "Begint op" in page.text


async def test_no_announcement_when_ld_switched_challenge_announcements_off(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    team = await build_team(ctx, world, size=5)
    async with ctx.sessionmaker() as session:
        await session.exec(
            update(Organisation)
            .where(col(Organisation.id) == world.a.id)
            .values(settings={"nudge_kinds_off": ["challenge_launched"]})
        )
        await session.commit()
    created = await _sponsor_api(app, team, starts_in=2)
    assert await _nudges(ctx, created["id"], "sponsored") == []
