"""The badges every organisation starts with (L&D can change or switch them off later)."""

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.db.models import BadgeDefinition as BadgeDefinitionRow
from backend.db.types import utcnow
from gamification import BadgeCriterion, BadgeDefinition, BadgeTier, CriterionKind, EventKind


def _tiers(bronze: int, silver: int, gold: int) -> tuple[BadgeTier, ...]:
    return (BadgeTier("bronze", bronze), BadgeTier("silver", silver), BadgeTier("gold", gold))


@dataclass(frozen=True)
class DefaultBadge:
    definition: BadgeDefinition
    name_en: str
    description: str
    description_en: str


DEFAULT_BADGES: tuple[DefaultBadge, ...] = (
    DefaultBadge(
        BadgeDefinition(
            "first-moment",
            "Eerste leermoment",
            BadgeCriterion(CriterionKind.FIRST_INFORMAL_LOG),
            (BadgeTier("bronze", 1),),
        ),
        name_en="First learning moment",
        description="Je hebt je eerste leermoment vastgelegd: leren gebeurt ook tussendoor.",
        description_en="You logged your first learning moment: learning happens on the job too.",
    ),
    DefaultBadge(
        BadgeDefinition(
            "explorer",
            "Horizontale verkenner",
            BadgeCriterion(CriterionKind.DISTINCT_COMPETENCIES),
            _tiers(3, 5, 8),
        ),
        name_en="Horizontal explorer",
        description="Je kijkt over de grenzen van je vak en leert binnen steeds meer competenties.",
        description_en="You look beyond your own field and learn across more and more competencies.",
    ),
    DefaultBadge(
        BadgeDefinition(
            "streak",
            "Volhouder",
            BadgeCriterion(CriterionKind.STREAK_LENGTH),
            _tiers(4, 12, 26),
        ),
        name_en="Keeping it up",
        description="Leren is een gewoonte geworden: je houdt je reeks vol.",
        description_en="Learning has become a habit: you keep your streak going.",
    ),
    DefaultBadge(
        BadgeDefinition(
            "finisher",
            "Afmaker",
            BadgeCriterion(CriterionKind.EVENT_COUNT, event_kind=EventKind.COMPLETION),
            _tiers(3, 10, 25),
        ),
        name_en="Finisher",
        description="Je begint niet alleen aan trainingen, je maakt ze ook af.",
        description_en="You don't just start courses, you finish them.",
    ),
    DefaultBadge(
        BadgeDefinition(
            "hot-skills",
            "Toekomstbestendig",
            BadgeCriterion(CriterionKind.HOT_SKILL_COMPLETIONS),
            _tiers(1, 3, 5),
        ),
        name_en="Future-proof",
        description="Je investeert in de vaardigheden die de organisatie het hardst nodig heeft.",
        description_en="You invest in the skills the organisation needs most.",
    ),
    DefaultBadge(
        BadgeDefinition(
            "learning-time",
            "Tijd voor groei",
            BadgeCriterion(CriterionKind.TOTAL_MINUTES),
            _tiers(300, 1200, 3000),
        ),
        name_en="Time to grow",
        description="Je maakt echt tijd vrij om te leren.",
        description_en="You truly make time to learn.",
    ),
    DefaultBadge(
        BadgeDefinition(
            "inspirer",
            "Inspirator",
            BadgeCriterion(CriterionKind.TESTIMONIALS_WRITTEN),
            _tiers(1, 5, 10),
        ),
        name_en="Inspirer",
        description="Je deelt wat je aan een training had, zodat collega's beter kunnen kiezen.",
        description_en="You share what a course gave you, so colleagues can choose better.",
    ),
    DefaultBadge(
        BadgeDefinition(
            "challenger",
            "Uitdagingzoeker",
            BadgeCriterion(CriterionKind.CHALLENGES_COMPLETED),
            _tiers(1, 3, 5),
        ),
        name_en="Challenge seeker",
        description="Je doet mee aan uitdagingen en maakt ze af.",
        description_en="You take on challenges and complete them.",
    ),
)


def default_badge_rows(organisation_id: int) -> list[dict[str, Any]]:
    now = utcnow()
    rows = []
    for badge in DEFAULT_BADGES:
        document = badge.definition.to_dict()
        rows.append(
            {
                "organisation_id": organisation_id,
                "code": badge.definition.code,
                "name": badge.definition.name,
                "name_en": badge.name_en,
                "description": badge.description,
                "description_en": badge.description_en,
                "criterion": document["criterion"],
                "tiers": document["tiers"],
                "competency_id": None,
                "is_active": True,
                "created_at": now,
            }
        )
    return rows


async def ensure_default_badges(session: AsyncSession, organisation_id: int) -> int:
    """Add the default badges the organisation does not have yet (by code); returns how many.

    Does not commit (callers add it to their own transaction). A code L&D already uses,
    changed or switched off, is left alone, and two concurrent calls cannot insert twice.
    """
    existing = set(
        (
            await session.exec(
                select(BadgeDefinitionRow.code).where(
                    BadgeDefinitionRow.organisation_id == organisation_id
                )
            )
        ).all()
    )
    missing = [r for r in default_badge_rows(organisation_id) if r["code"] not in existing]
    if not missing:
        return 0
    table = cast(Table, BadgeDefinitionRow.__table__)  # type: ignore[attr-defined]
    stmt = (
        postgresql.insert(table)
        .values(missing)
        .on_conflict_do_nothing(index_elements=["organisation_id", "code"])
    )
    result = await session.exec(stmt)
    # rows a concurrent call inserted first are skipped, and not counted
    return max(int(result.rowcount), 0)
