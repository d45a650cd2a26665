"""An organisation's gamification rules and badges, as the engine wants them."""

import logging
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import BadgeDefinition as BadgeDefinitionRow
from backend.db.models import Organisation
from gamification import BadgeDefinition, LevelCurve, OrgRules, StreakMode, StreakPolicy, XpRules

log = logging.getLogger("learnloop.badges")


def org_rules(organisation: Organisation) -> OrgRules:
    """Streak policy from the organisation settings; XP and level rules from ``settings.xp``."""
    return rules_from_settings(organisation.settings)


def rules_from_settings(settings: dict[str, Any] | None) -> OrgRules:
    """:func:`org_rules` from an organisation's ``settings`` document."""
    settings = settings or {}
    streak = StreakPolicy(
        mode=StreakMode(settings.get("streak_mode", "weekly")),
        days_per_week=int(settings.get("streak_days_per_week", 3)),
    )
    return OrgRules(
        streak=streak,
        xp=XpRules.from_dict(settings.get("xp") or {}),
        levels=LevelCurve.from_dict(settings.get("levels") or {}),
    )


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
