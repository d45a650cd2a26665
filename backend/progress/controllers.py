"""A learner's goals, planned pauses, history and XP chart, and the weekly leaderboards."""

from datetime import date
from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.di import Provide
from litestar.params import Parameter

from backend.auth.guards import requires_user
from backend.db.replica import provide_read_scope, provide_read_session
from backend.deps import provide_scope
from backend.progress import services
from backend.progress.schemas import (
    DatedGoalChange,
    DatedGoalIn,
    DatedGoalOut,
    FinishedGoalOut,
    GoalsOut,
    HistoryPage,
    LeaderboardOut,
    PauseIn,
    PauseOut,
    WeeklyGoalIn,
    XpChartOut,
)
from backend.tenancy import OrgScope

ISO_WEEK = r"^\d{4}-W\d{2}$"
CURSOR = r"^[A-Za-z0-9_-]{1,200}$"
GOAL_ID = r"^[0-9a-f]{1,40}$"

WeekParam = Annotated[
    str | None,
    Parameter(pattern=ISO_WEEK, description="ISO week, e.g. 2024-W13 (default: this week)"),
]
BoardLimit = Annotated[int, Parameter(ge=1, le=200, description="At most this many places")]


class MyGoalsController(Controller):
    path = "/api/v1/me/goals"
    tags = ["progress"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get(
        "/",
        summary="My weekly minutes goal, open dated goals with progress and pace, finished ones",
    )
    async def list_goals(self, org: OrgScope) -> GoalsOut:
        return await services.my_goals(org)

    @put("/weekly", summary="Set my weekly learning-minutes goal (0 switches it off)")
    async def set_weekly(self, org: OrgScope, data: WeeklyGoalIn) -> GoalsOut:
        return await services.set_weekly_goal(org, data.minutes)

    @post(
        "/",
        summary="Add a dated goal: finish a course or a set of courses, or learn n times in a competency",
    )
    async def add_goal(self, org: OrgScope, data: DatedGoalIn) -> DatedGoalOut:
        return await services.add_dated_goal(org, data)

    @patch("/{goal_id:str}", summary="Change an open goal's due date, count or courses")
    async def change_goal(
        self,
        org: OrgScope,
        goal_id: Annotated[str, Parameter(pattern=GOAL_ID)],
        data: DatedGoalChange,
    ) -> DatedGoalOut:
        return await services.change_dated_goal(org, goal_id, data)

    @post(
        "/{goal_id:str}/finish",
        status_code=200,
        summary="Finish one of my goals, reached or given up: it moves to the finished ones",
    )
    async def finish_goal(
        self, org: OrgScope, goal_id: Annotated[str, Parameter(pattern=GOAL_ID)]
    ) -> FinishedGoalOut:
        return await services.finish_dated_goal(org, goal_id)

    @delete("/{goal_id:str}", summary="Remove one of my dated goals (it leaves no trace)")
    async def remove_goal(
        self, org: OrgScope, goal_id: Annotated[str, Parameter(pattern=GOAL_ID)]
    ) -> None:
        await services.remove_dated_goal(org, goal_id)


class MyPausesController(Controller):
    path = "/api/v1/me/pauses"
    tags = ["progress"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="My planned pauses (holiday, leave): days that never break a streak")
    async def list_pauses(self, org: OrgScope) -> list[PauseOut]:
        return await services.my_pauses(org)

    @post("/", summary="Plan a pause of at most 60 days, from today on, not overlapping another")
    async def plan(self, org: OrgScope, data: PauseIn) -> PauseOut:
        return await services.plan_pause(org, data)

    @delete("/{start_date:date}", summary="Cancel a planned pause that has not started yet")
    async def cancel(self, org: OrgScope, start_date: date) -> None:
        await services.cancel_pause(org, start_date)


class MyProgressController(Controller):
    path = "/api/v1/me"
    tags = ["progress"]
    guards = [requires_user]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/history", summary="My learning, newest first (pass next_before as ?before=)")
    async def history(
        self,
        org: OrgScope,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        before: Annotated[str | None, Parameter(pattern=CURSOR)] = None,
    ) -> HistoryPage:
        return await services.my_history(org, limit, before)

    @get("/xp", summary="My XP per ISO week (oldest first) and where I am on the level curve")
    async def xp(
        self, org: OrgScope, weeks: Annotated[int, Parameter(ge=1, le=104)] = 12
    ) -> XpChartOut:
        return await services.my_xp_chart(org, weeks)


class LeaderboardController(Controller):
    path = "/api/v1/leaderboards"
    tags = ["progress"]
    guards = [requires_user]
    # read from the replica when there is one, after the caller's own writes (backend/db/replica)
    dependencies = {
        "org": Provide(provide_read_scope, sync_to_thread=False),
        "read_session": Provide(provide_read_session),
    }

    @get("/organisation", summary="This week's XP ranking of everyone who opted in")
    async def organisation(
        self, org: OrgScope, week: WeekParam = None, limit: BoardLimit = 50
    ) -> LeaderboardOut:
        return await services.organisation_leaderboard(org, week, limit)

    @get("/teams/{team_id:int}", summary="A team's weekly XP ranking (members or L&D admin)")
    async def team(
        self, org: OrgScope, team_id: int, week: WeekParam = None, limit: BoardLimit = 50
    ) -> LeaderboardOut:
        return await services.team_leaderboard(org, team_id, week, limit)
