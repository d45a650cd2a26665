"""Budget requests end to end through the API and the one service: the year a request
counts in, the manager's and L&D's steps, declines, completions, overspending, concurrency,
overrides, who sees what, and the aggregates under the privacy floor."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.exceptions import ClientException
from litestar.testing import AsyncTestClient
from sqlmodel import col, select

from backend.auth.principal import Principal
from backend.budgets import services
from backend.context import AppContext
from backend.db.models import (
    AuditEntry,
    Course,
    Nudge,
    Organisation,
    Team,
    TeamMembership,
    TrainingRequest,
    User,
)
from backend.insights.privacy import group_for
from backend.tenancy import OrgScope
from tests.factories import World, signed_in_client


async def _settings(ctx: AppContext, org_id: int, **values: Any) -> None:
    async with ctx.sessionmaker() as session:
        org = (await session.exec(select(Organisation).where(Organisation.id == org_id))).one()
        org.settings = {**(org.settings or {}), **values}
        session.add(org)
        await session.commit()


async def _course(ctx: AppContext, org_id: int, cost_cents: int) -> int:
    async with ctx.sessionmaker() as session:
        course = Course(
            organisation_id=org_id, title=f"Course {uuid.uuid4().hex[:6]}", cost_cents=cost_cents
        )
        session.add(course)
        await session.commit()
        assert course.id is not None
        return course.id


async def _request(
    ctx: AppContext,
    world: World,
    cost_cents: int,
    *,
    who: str = "employee",
    at: datetime | None = None,
    status: str = "pending",
    user_id: int | None = None,
) -> int:
    """A request of ``who`` in org A, made at ``at`` (as if asked then)."""
    course_id = await _course(ctx, world.a.id, cost_cents)
    async with ctx.sessionmaker() as session:
        row = TrainingRequest(
            organisation_id=world.a.id,
            user_id=user_id or world.a.users[who].id or 0,
            course_id=course_id,
            cost_cents=cost_cents,
            status=status,
            created_at=at or datetime.now(UTC),
        )
        session.add(row)
        await session.commit()
        assert row.id is not None
        return row.id


async def _status(ctx: AppContext, request_id: int) -> TrainingRequest:
    async with ctx.sessionmaker() as session:
        return (
            await session.exec(select(TrainingRequest).where(TrainingRequest.id == request_id))
        ).one()


def _principal(world: World, who: str, org: str = "a") -> Principal:
    user = getattr(world, org).users[who]
    return Principal(
        organisation_id=getattr(world, org).id,
        user_id=user.id,
        roles=frozenset(user.roles),
        via="session",
        display_name=user.display_name,
        email=user.email,
    )


async def _decide(client: AsyncTestClient[Litestar], request_id: int, **body: Any) -> Any:
    return await client.post(f"/api/v1/budgets/requests/{request_id}/decision", json=body)


async def _my_budget(app: Litestar, world: World) -> dict[str, Any]:
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        response = await sam.get("/api/v1/budgets/me")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def test_a_request_counts_in_the_budget_year_of_its_day() -> None:
    # a budget year from April: December and January are one year, March and April are two
    assert services.budget_year(date(2025, 12, 20), 4) == services.budget_year(date(2026, 1, 5), 4)
    assert services.budget_year(date(2026, 1, 5), 4).start == date(2025, 4, 1)
    assert services.budget_year(date(2026, 3, 31), 4).end == date(2026, 4, 1)
    assert services.budget_year(date(2026, 4, 1), 4).start == date(2026, 4, 1)
    # from January, December and January are two years
    assert services.budget_year(date(2025, 12, 31), 1).start == date(2025, 1, 1)
    assert services.budget_year(date(2026, 1, 1), 1).start == date(2026, 1, 1)


async def test_budget_arithmetic_over_the_year_boundary(ctx: AppContext, world: World) -> None:
    await _settings(ctx, world.a.id, budget_year_start_month=4, yearly_budget_cents=200_000)
    sam = world.a.users["employee"].id
    december = datetime(2025, 12, 20, 10, tzinfo=UTC)
    january = datetime(2026, 1, 10, 10, tzinfo=UTC)
    # 31 March 22:30 UTC is already 1 April in Amsterdam: the new year
    new_year = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)
    await _request(ctx, world, 30_000, at=december, status="approved")
    await _request(ctx, world, 20_000, at=january, status="awaiting_ld")
    await _request(ctx, world, 50_000, at=new_year, status="approved")
    await _request(ctx, world, 70_000, at=january, status="declined")
    async with ctx.sessionmaker() as session:
        scope = OrgScope(session, _principal(world, "ld_admin"))
        organisation = await scope.organisation()
        user = await scope.get(User, sam)
        old = services.year_of_request(january, organisation)
        assert old.start == date(2025, 4, 1)
        assert services.year_of_request(new_year, organisation).start == date(2026, 4, 1)
        before = await services.budget_of(scope, organisation, user, old)
        after = await services.budget_of(
            scope, organisation, user, services.year_of_request(new_year, organisation)
        )
    assert (before.committed_cents, before.pending_cents, before.left_cents) == (
        30_000,
        20_000,
        170_000,
    )
    assert (after.committed_cents, after.pending_cents, after.left_cents) == (50_000, 0, 150_000)


async def test_above_the_threshold_the_manager_approves_then_ld(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _settings(ctx, world.a.id, budget_ld_approval_above_cents=150_000)
    request_id = await _request(ctx, world, 90_000)
    big = await _request(ctx, world, 160_000)
    await _settings(ctx, world.a.id, yearly_budget_cents=300_000)
    async with (
        signed_in_client(app, world.email("a", "manager")) as mia,
        signed_in_client(app, world.email("a", "ld_admin")) as lou,
    ):
        waiting = (await mia.get("/api/v1/budgets/requests")).json()
        assert [r["id"] for r in waiting] == [request_id, big]
        assert all(r["can_decide"] and r["learner_left_cents"] == 300_000 for r in waiting)
        # below the threshold the manager's approval is the decision
        small = (await _decide(mia, request_id, approve=True)).json()
        assert (small["status"], small["stage"]) == ("approved", "approved")
        step = await _decide(mia, big, approve=True, note="Good fit")
        assert step.status_code == 200, step.text
        assert step.json()["stage"] == "waiting_for_ld"
        assert step.json()["manager_name"].startswith("Mia")
        again = await _decide(mia, big, approve=True)
        assert again.status_code == 409 and "waits for L&D" in again.json()["detail"]
        assert [r["id"] for r in (await mia.get("/api/v1/budgets/requests")).json()] == []
        ld_list = (await lou.get("/api/v1/budgets/requests")).json()
        assert [(r["id"], r["stage"]) for r in ld_list] == [(big, "waiting_for_ld")]
        final = await _decide(lou, big, approve=True)
        assert final.json()["status"] == "approved"
        assert final.json()["decided_by_name"].startswith("Lou")
    budget = await _my_budget(app, world)
    assert budget["committed_cents"] == 250_000 and budget["left_cents"] == 50_000
    async with ctx.sessionmaker() as session:
        actions = (
            await session.exec(
                select(AuditEntry.action)
                .where(AuditEntry.organisation_id == world.a.id)
                .order_by(col(AuditEntry.id))
            )
        ).all()
        nudges = (
            await session.exec(select(Nudge).where(Nudge.user_id == world.a.users["employee"].id))
        ).all()
    assert list(actions) == [
        "budget_request.approve",
        "budget_request.approve_step",
        "budget_request.approve",
    ]
    # a push per decision (the manager's step too), saying what is left
    assert [n.kind for n in nudges] == ["budget_decision"] * 3
    assert any("nu naar L&D" in n.title + n.body for n in nudges)
    assert any("€ 500" in n.body or "€500" in n.body for n in nudges)
    assert all(n.url == "/catalogue/budget" for n in nudges)


async def test_a_decline_needs_a_note_and_frees_the_budget(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _settings(ctx, world.a.id, yearly_budget_cents=100_000)
    first = await _request(ctx, world, 80_000)
    async with signed_in_client(app, world.email("a", "manager")) as mia:
        assert (await _my_budget(app, world))["pending_cents"] == 80_000
        silent = await _decide(mia, first, approve=False, note="  ")
        assert silent.status_code == 400 and "note" in silent.json()["detail"]
        declined = await _decide(mia, first, approve=False, note="Next quarter, please")
        assert declined.json()["stage"] == "declined"
        budget = await _my_budget(app, world)
        assert (budget["pending_cents"], budget["left_cents"]) == (0, 100_000)
        assert budget["requests"][0]["decision_note"] == "Next quarter, please"
        # the freed budget pays for another course
        second = await _request(ctx, world, 90_000)
        assert (await _decide(mia, second, approve=True)).json()["status"] == "approved"
        again = await _decide(mia, first, approve=True)
        assert again.status_code == 409 and "already declined" in again.json()["detail"]
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        # asking again after a decline opens the request anew
        course_id = (await _status(ctx, first)).course_id
        await sam.get("/catalogue")
        response = await sam.post(f"/catalogue/{course_id}/request", follow_redirects=False)
        assert response.status_code == 303
    assert (await _status(ctx, first)).status == "pending"


async def test_completed_is_spent_and_over_budget_is_refused(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _settings(ctx, world.a.id, yearly_budget_cents=100_000)
    first = await _request(ctx, world, 60_000)
    second = await _request(ctx, world, 50_000)
    course_id = (await _status(ctx, first)).course_id
    async with signed_in_client(app, world.email("a", "ld_admin")) as lou:
        assert (await _decide(lou, first, approve=True)).status_code == 200
        response = await lou.post(
            "/api/v1/events",
            json={
                "id": f"e-{uuid.uuid4()}",
                "learner": {"email": world.email("a", "employee")},
                "kind": "completion",
                "course": {"id": course_id},
                "minutes": 60,
                "occurred_at": datetime.now(UTC).isoformat(),
            },
            headers={"Authorization": f"Bearer {world.a.api_key}"},
        )
        assert response.status_code == 201, response.text
        budget = await _my_budget(app, world)
        assert (budget["committed_cents"], budget["spent_cents"], budget["left_cents"]) == (
            0,
            60_000,
            40_000,
        )
        assert budget["requests"][-1]["stage"] == "completed"
        over = await _decide(lou, second, approve=True)
        assert over.status_code == 409
        assert "€400 left of €1,000" in over.json()["detail"]
        assert (await _status(ctx, second)).status == "pending"
        # L&D raises Sam's own budget: now it fits
        raised = await lou.put(
            f"/api/v1/budgets/people/{world.a.users['employee'].id}",
            json={"yearly_budget_cents": 120_000},
        )
        assert raised.json()["effective_yearly_cents"] == 120_000
        assert (await _decide(lou, second, approve=True)).json()["status"] == "approved"
        back = await lou.put(
            f"/api/v1/budgets/people/{world.a.users['employee'].id}",
            json={"yearly_budget_cents": None},
        )
        assert back.json()["effective_yearly_cents"] == 100_000
    assert (await _my_budget(app, world))["left_cents"] == 0


async def test_two_approvals_at_once_count_once(ctx: AppContext, world: World) -> None:
    await _settings(ctx, world.a.id, yearly_budget_cents=100_000)
    request_id = await _request(ctx, world, 70_000)

    async def approve(who: str) -> str:
        async with ctx.sessionmaker() as session:
            try:
                await services.decide(
                    OrgScope(session, _principal(world, who)), request_id, approve=True
                )
            except ClientException as exc:
                return str(exc.status_code)
            return "ok"

    outcomes = await asyncio.gather(approve("manager"), approve("ld_admin"))
    assert sorted(outcomes) == ["409", "ok"]
    async with ctx.sessionmaker() as session:
        entries = (
            await session.exec(
                select(AuditEntry).where(AuditEntry.action == "budget_request.approve")
            )
        ).all()
        pushes = (await session.exec(select(Nudge).where(Nudge.kind == "budget_decision"))).all()
    assert len(entries) == 1 and len(pushes) == 1


async def test_two_requests_approved_at_once_never_overspend(ctx: AppContext, world: World) -> None:
    await _settings(ctx, world.a.id, yearly_budget_cents=100_000)
    first = await _request(ctx, world, 70_000)
    second = await _request(ctx, world, 60_000)

    async def approve(request_id: int) -> str:
        async with ctx.sessionmaker() as session:
            try:
                await services.decide(
                    OrgScope(session, _principal(world, "ld_admin")), request_id, approve=True
                )
            except ClientException as exc:
                return str(exc.status_code)
            return "ok"

    assert sorted(await asyncio.gather(approve(first), approve(second))) == ["409", "ok"]


async def _second_team(ctx: AppContext, world: World) -> tuple[int, int, int]:
    """Team "Sales" of org A with its own manager Max and member Noor: (team, Max, Noor)."""
    async with ctx.sessionmaker() as session:
        team = Team(organisation_id=world.a.id, name="Sales")
        max_ = User(
            organisation_id=world.a.id,
            email=f"max-{uuid.uuid4().hex[:6]}@acme.example",
            display_name="Max",
            roles=["employee", "manager"],
        )
        noor = User(
            organisation_id=world.a.id,
            email=f"noor-{uuid.uuid4().hex[:6]}@acme.example",
            display_name="Noor",
            roles=["employee"],
        )
        session.add_all([team, max_, noor])
        await session.flush()
        assert team.id and max_.id and noor.id
        session.add_all(
            [
                TeamMembership(
                    team_id=team.id, user_id=max_.id, organisation_id=world.a.id, is_manager=True
                ),
                TeamMembership(team_id=team.id, user_id=noor.id, organisation_id=world.a.id),
            ]
        )
        await session.commit()
        return team.id, max_.id, noor.id


async def _loner(ctx: AppContext, world: World) -> int:
    """A person of org A in no team (so without a manager)."""
    async with ctx.sessionmaker() as session:
        user = User(
            organisation_id=world.a.id,
            email=f"solo-{uuid.uuid4().hex[:6]}@acme.example",
            display_name="Solo",
            roles=["employee"],
        )
        session.add(user)
        await session.commit()
        assert user.id is not None
        return user.id


async def test_a_manager_sees_and_decides_only_their_teams_requests(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    _, _, noor = await _second_team(ctx, world)
    sams = await _request(ctx, world, 10_000)
    noors = await _request(ctx, world, 10_000, user_id=noor)
    own = await _request(ctx, world, 10_000, who="manager")
    loner = await _request(ctx, world, 10_000, user_id=await _loner(ctx, world))  # L&D decides
    lous = await _request(ctx, world, 10_000, who="ld_admin")
    async with (
        signed_in_client(app, world.email("a", "manager")) as mia,
        signed_in_client(app, world.email("a", "ld_admin")) as lou,
    ):
        mine = (await mia.get("/api/v1/budgets/requests", params={"status": "all"})).json()
        assert [r["id"] for r in mine] == [sams]
        assert (await _decide(mia, noors, approve=True)).status_code == 404
        assert (await _decide(mia, own, approve=True)).status_code == 404
        other_team = await mia.get("/api/v1/budgets/requests", params={"team": 999_999})
        assert other_team.status_code == 404
        everyone = (await lou.get("/api/v1/budgets/requests")).json()
        assert {r["id"] for r in everyone} == {sams, noors, own, loner}
        every = (await lou.get("/api/v1/budgets/requests", params={"status": "all"})).json()
        assert [r["can_decide"] for r in every if r["id"] == lous] == [False]
        assert (await _decide(lou, loner, approve=True)).json()["status"] == "approved"
        mine = await _decide(lou, lous, approve=True)
        assert mine.status_code == 409 and "their own" in mine.json()["detail"]
        decided = (await lou.get("/api/v1/budgets/requests", params={"status": "decided"})).json()
        assert [r["id"] for r in decided] == [loner]


async def test_employees_and_other_organisations_get_nothing(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    request_id = await _request(ctx, world, 10_000)
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        for method, url in (
            ("GET", "/api/v1/budgets/requests"),
            ("GET", f"/api/v1/budgets/overview?team={world.a.team_id}"),
            ("GET", "/api/v1/budgets/utilisation"),
        ):
            assert (await sam.request(method, url)).status_code == 403, url
        assert (await _decide(sam, request_id, approve=True)).status_code == 403
        put = await sam.put(
            f"/api/v1/budgets/people/{world.a.users['employee'].id}",
            json={"yearly_budget_cents": 1},
        )
        assert put.status_code == 403
    async with signed_in_client(app, world.email("b", "ld_admin")) as globex:
        assert (await _decide(globex, request_id, approve=True)).status_code == 404
        assert (await globex.get("/api/v1/budgets/requests")).json() == []
        put = await globex.put(
            f"/api/v1/budgets/people/{world.a.users['employee'].id}",
            json={"yearly_budget_cents": 1},
        )
        assert put.status_code == 404
    assert (await _status(ctx, request_id)).status == "pending"


async def _members(ctx: AppContext, world: World, count: int) -> list[int]:
    async with ctx.sessionmaker() as session:
        people = [
            User(
                organisation_id=world.a.id,
                email=f"m-{uuid.uuid4().hex[:8]}@acme.example",
                display_name=f"Member {i}",
                roles=["employee"],
            )
            for i in range(count)
        ]
        session.add_all(people)
        await session.flush()
        session.add_all(
            TeamMembership(team_id=world.a.team_id, user_id=p.id or 0, organisation_id=world.a.id)
            for p in people
        )
        await session.commit()
        return [p.id or 0 for p in people]


@pytest.mark.parametrize("extra", [3, 4])
async def test_team_figures_only_from_the_privacy_floor(
    app: Litestar, ctx: AppContext, world: World, extra: int
) -> None:
    # Sam plus ``extra`` members: 4 is below the default floor of 5, 5 is at it
    await _settings(ctx, world.a.id, yearly_budget_cents=100_000, budget_year_start_month=1)
    members = await _members(ctx, world, extra)
    await _request(ctx, world, 40_000, status="approved")
    await _request(ctx, world, 20_000, user_id=members[0], status="pending")
    async with (
        signed_in_client(app, world.email("a", "manager")) as mia,
        signed_in_client(app, world.email("a", "ld_admin")) as lou,
    ):
        overview = await mia.get("/api/v1/budgets/overview", params={"team": world.a.team_id})
        utilisation = await lou.get("/api/v1/budgets/utilisation", params={"team": world.a.team_id})
        if extra + 1 < 5:
            assert overview.status_code == 403 and "fewer than 5" in overview.json()["detail"]
            assert "cents" not in overview.text
            assert utilisation.status_code == 403
            return
        assert overview.status_code == 200, overview.text
        figures = overview.json()
        assert (figures["learners"], figures["yearly_cents"]) == (5, 500_000)
        assert (figures["committed_cents"], figures["pending_cents"]) == (40_000, 20_000)
        assert (figures["left_cents"], figures["used_percent"]) == (460_000, 8.0)
        today = datetime.now(UTC).date()
        elapsed = (today - date(today.year, 1, 1)).days + 1
        days = (date(today.year + 1, 1, 1) - date(today.year, 1, 1)).days
        assert figures["forecast_cents"] == round(40_000 * days / elapsed)
        body = utilisation.json()
        assert body["headline"]["committed_cents"] == 40_000
        assert [t["hidden"] for t in body["teams"]] == [False]
        # the whole organisation (3 people + members) for L&D; never for a manager
        assert (await mia.get("/api/v1/budgets/overview")).status_code == 403
        assert (await lou.get("/api/v1/budgets/overview")).status_code == 200


async def test_a_learner_without_a_decision_yet_sees_it_waiting(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    course_id = await _course(ctx, world.a.id, 25_000)
    async with signed_in_client(app, world.email("a", "employee")) as sam:
        await sam.get("/catalogue")
        response = await sam.post(f"/catalogue/{course_id}/request", follow_redirects=False)
        assert response.status_code == 303
        budget = (await sam.get("/api/v1/budgets/me")).json()
    assert budget["pending_cents"] == 25_000
    assert budget["requests"][0]["stage"] == "waiting_for_manager"
    assert budget["year_end"] > budget["year_start"]
    assert date.fromisoformat(budget["year_start"]) <= datetime.now(UTC).date() + timedelta(1)


async def test_the_decision_push_respects_opt_outs_and_quiet_hours(
    ctx: AppContext, world: World
) -> None:
    await _settings(ctx, world.a.id, yearly_budget_cents=100_000, quiet_hours_start=21)
    sam = world.a.users["employee"].id
    quiet = await _request(ctx, world, 10_000)
    off = await _request(ctx, world, 10_000)
    # 22:30 in Amsterdam: inside the quiet hours (21-8), so the push waits for 08:00
    late = datetime(2026, 12, 7, 21, 30, tzinfo=UTC)
    async with ctx.sessionmaker() as session:
        scope = OrgScope(session, _principal(world, "ld_admin"))
        await services.decide(scope, quiet, approve=True, now=late)
        user = await scope.get(User, sam)
        user.nudge_kinds_off = ["budget"]
        session.add(user)
        await session.commit()
        await services.decide(scope, off, approve=False, note="Nee", now=late)
        pushes = (await session.exec(select(Nudge).where(Nudge.user_id == sam))).all()
    assert [p.due_at for p in pushes] == [datetime(2026, 12, 8, 7, 0, tzinfo=UTC)]


async def test_without_a_threshold_the_manager_decides_alone(
    app: Litestar, ctx: AppContext, world: World
) -> None:
    await _settings(ctx, world.a.id, yearly_budget_cents=500_000)
    big = await _request(ctx, world, 400_000)
    async with (
        signed_in_client(app, world.email("a", "ld_admin")) as lou,
        signed_in_client(app, world.email("a", "manager")) as mia,
    ):
        wrong = await lou.patch(
            "/api/v1/organisation", json={"settings": {"budget_ld_approval_above_cents": -1}}
        )
        assert wrong.status_code == 400
        off = await lou.patch(
            "/api/v1/organisation", json={"settings": {"budget_ld_approval_above_cents": 0}}
        )
        assert off.status_code == 200, off.text
        assert (await _decide(mia, big, approve=True)).json()["stage"] == "approved"


async def test_the_share_used_by_a_months_end_counts_what_was_approved_by_then(
    ctx: AppContext, world: World
) -> None:
    await _settings(ctx, world.a.id, yearly_budget_cents=100_000, budget_year_start_month=1)
    await _members(ctx, world, 4)  # Sam and four: five learners, €5,000
    november = datetime(2026, 11, 10, 9, tzinfo=UTC)
    early = await _request(ctx, world, 50_000, at=november, status="approved")
    late = await _request(ctx, world, 100_000, at=november, status="approved")
    await _request(ctx, world, 70_000, at=november, status="declined")
    async with ctx.sessionmaker() as session:
        for request_id, decided in ((early, november), (late, datetime(2026, 12, 2, tzinfo=UTC))):
            row = await session.get(TrainingRequest, request_id)
            assert row is not None
            row.decided_at = decided
            session.add(row)
        await session.commit()
        scope = OrgScope(session, _principal(world, "manager"))
        group = await group_for(scope, team_id=world.a.team_id)
        end_of_november = datetime(2026, 11, 30, 23, tzinfo=UTC)  # 1 December in Amsterdam
        assert await services.used_percent_at(scope, group, end_of_november) == 10.0
        assert (
            await services.used_percent_at(scope, group, datetime(2026, 12, 31, 23, tzinfo=UTC))
            == 30.0
        )
        # a new budget year starts from nothing
        assert await services.used_percent_at(scope, group, datetime(2027, 2, 1, tzinfo=UTC)) == 0.0
