from litestar import Controller, get, patch, post
from litestar.di import Provide

from backend.auth.guards import requires_ld_admin, requires_signed_in
from backend.deps import provide_scope
from backend.organisations import game_rules, services
from backend.organisations.schemas import (
    GamePreviewOut,
    GameRulesChangeOut,
    GameRulesPublic,
    GameRulesUpdate,
    LevelRowOut,
    OrganisationPublic,
    OrganisationUpdate,
    RulesVersionOut,
    XpExampleOut,
)
from backend.tenancy import OrgScope


class OrganisationController(Controller):
    path = "/api/v1/organisation"
    tags = ["organisation"]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", guards=[requires_signed_in], summary="My organisation and its settings")
    async def get_organisation(self, org: OrgScope) -> OrganisationPublic:
        return await services.get_organisation(org)

    @patch(
        "/",
        guards=[requires_ld_admin],
        summary="Change the organisation's name, defaults or settings (L&D admin)",
        description=(
            "Settings are merged over the stored ones and validated whole. Game rules among "
            "them (streak_*, xp, levels) apply from now, a streak change from the next "
            "Monday; use /api/v1/game-rules to choose the day."
        ),
    )
    async def update_organisation(
        self, org: OrgScope, data: OrganisationUpdate
    ) -> OrganisationPublic:
        return await services.update_organisation(org, data)


def rules_out(view: game_rules.GameRulesView) -> GameRulesPublic:
    return GameRulesPublic(
        rules=view.rules,
        since=view.since,
        upcoming=[RulesVersionOut(starts_at=v.starts_at, rules=v.rules) for v in view.upcoming],
        timezone=view.timezone,
    )


class GameRulesController(Controller):
    path = "/api/v1/game-rules"
    tags = ["game design"]
    guards = [requires_ld_admin]
    dependencies = {"org": Provide(provide_scope, sync_to_thread=False)}

    @get("/", summary="The game rules in force, since when, and scheduled changes (L&D admin)")
    async def get_game_rules(self, org: OrgScope) -> GameRulesPublic:
        return rules_out(await game_rules.get_game_rules(org))

    @patch(
        "/",
        summary="Change streak policy, XP, seasons or the level curve from a day (L&D admin)",
        description=(
            "Each section is merged over the newest rules and validated whole. The change "
            "applies to learning from effective_from (00:00 in the organisation's timezone; "
            "none: now); a streak change starts on the Monday on or after it. XP already "
            "earned and badges stay."
        ),
    )
    async def change_game_rules(self, org: OrgScope, data: GameRulesUpdate) -> GameRulesChangeOut:
        rules = await game_rules.proposed_rules(org, data.sections())
        change = await game_rules.change_game_rules(org, rules, data.effective_from)
        return GameRulesChangeOut(
            effective_from=change.effective_from,
            changed=change.changed,
            rules=rules_out(await game_rules.get_game_rules(org)),
        )

    @post(
        "/preview",
        status_code=200,
        summary="What a change to the game rules would do today, without saving (L&D admin)",
    )
    async def preview_game_rules(self, org: OrgScope, data: GameRulesUpdate) -> GamePreviewOut:
        rules = await game_rules.proposed_rules(org, data.sections())
        plan = await game_rules.plan_for(org, rules, data.effective_from)
        preview = await game_rules.preview_game_rules(org, rules)
        return GamePreviewOut(
            learners=preview.learners,
            streaks_now=preview.streaks_now,
            streaks_new=preview.streaks_new,
            freezes_now=preview.freezes_now,
            freezes_new=preview.freezes_new,
            levels_up=preview.levels_up,
            levels_down=preview.levels_down,
            median_xp=preview.median_xp,
            median_level_now=preview.median_level_now,
            median_level_new=preview.median_level_new,
            season_today_now=preview.season_today_now,
            season_today_new=preview.season_today_new,
            xp_examples=[XpExampleOut(**vars(x)) for x in preview.xp_examples],
            level_rows=[LevelRowOut(**vars(r)) for r in preview.level_rows],
            effective_from=plan.effective_from,
            changed=plan.changed,
        )
