"""An organisation's gamification rules and badges, as the engine wants them."""

import logging
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import BadgeDefinition as BadgeDefinitionRow
from backend.db.models import Organisation
from backend.db.types import utcnow
from backend.organisations.settings import (
    GameRules,
    OrganisationSettings,
    game_rules_at,
    game_rules_timeline,
    settings_from_document,
)
from gamification import (
    BadgeDefinition,
    LevelCurve,
    OrgRules,
    StreakMode,
    StreakPolicy,
    XpRules,
    XpRulesPeriod,
)

log = logging.getLogger("learnloop.badges")


def org_rules(organisation: Organisation, now: datetime | None = None) -> OrgRules:
    """The organisation's game rules in force ``now`` (see :func:`rules_from_settings`)."""
    return rules_from_settings(organisation.settings, now)


def rules_from_settings(settings: dict[str, Any] | None, now: datetime | None = None) -> OrgRules:
    """The game rules an organisation's ``settings`` document holds, as the engine wants them.

    Streak policy and level curve are those in force ``now`` (default: the clock's now);
    when the XP rules ever changed, the engine gets every version (``xp_schedule``) so
    learning is paid by the rules in force when it happened.
    """
    try:
        parsed = settings_from_document(settings or {})
    except ValidationError:
        # a broken document must not stop learning from being recorded
        log.warning("invalid game rules in an organisation's settings: using the defaults")
        parsed = OrganisationSettings()
    current = game_rules_at(parsed, now or utcnow())
    schedule: tuple[XpRulesPeriod, ...] = ()
    if parsed.game_rules_history:
        timeline = game_rules_timeline(parsed)
        ends = [start for start, _ in timeline[1:]] + [None]
        schedule = tuple(
            XpRulesPeriod(xp_rules(version), until)
            for (_, version), until in zip(timeline, ends, strict=True)
        )
    return OrgRules(
        streak=streak_policy(current),
        xp=xp_rules(current),
        levels=level_curve(current),
        xp_schedule=schedule,
    )


def streak_policy(rules: GameRules) -> StreakPolicy:
    streak = rules.streak
    return StreakPolicy(
        mode=StreakMode(streak.mode),
        days_per_week=streak.days_per_week,
        freeze_every_days=streak.freeze_every_days,
        freeze_every_weeks=streak.freeze_every_weeks,
        max_banked_freezes=streak.max_banked_freezes,
        repair_window_days=streak.repair_window_days,
    )


def xp_rules(rules: GameRules) -> XpRules:
    return XpRules.from_dict(rules.xp.model_dump(mode="json"))


def level_curve(rules: GameRules) -> LevelCurve:
    return LevelCurve(step_xp=rules.levels.step_xp)


async def org_badges(session: AsyncSession, organisation_id: int) -> list[BadgeDefinition]:
    rows = (
        await session.exec(
            select(BadgeDefinitionRow)
            .where(
                BadgeDefinitionRow.organisation_id == organisation_id,
                col(BadgeDefinitionRow.is_active).is_(True),
            )
            .order_by(col(BadgeDefinitionRow.id))
        )
    ).all()
    return badges_from_documents(
        organisation_id,
        [
            {"code": r.code, "name": r.name, "criterion": r.criterion, "tiers": r.tiers}
            for r in rows
        ],
    )


def badges_from_documents(
    organisation_id: int, documents: list[dict[str, Any]]
) -> list[BadgeDefinition]:
    """Active badge rows (``code``, ``name``, ``criterion``, ``tiers``, in id order) for the engine."""
    badges: list[BadgeDefinition] = []
    for doc in documents:
        try:
            badges.append(BadgeDefinition.from_dict(doc))
        except (ValueError, KeyError, TypeError):
            # one broken definition must not stop learning from being recorded
            log.warning(
                "skipping badge %r of organisation %s: invalid definition",
                doc.get("code"),
                organisation_id,
            )
    return badges
