"""The badge catalogue (L&D defines badges as data), the learner's badge wall, and loading
an award for its public credential."""

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from litestar.exceptions import ClientException
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.auth.principal import Principal
from backend.badges.credentials import (
    CompetencyAlignment,
    CredentialContent,
    hashed_email,
    identity_salt,
)
from backend.badges.schemas import (
    BadgeCreate,
    BadgeDefinitionOut,
    BadgeOut,
    BadgeUpdate,
    BadgeWallItem,
    CompetencyRef,
    CriterionIn,
    EarnedTier,
    LockedTier,
    TierIn,
    TierOut,
)
from backend.badges.texts import Language, how_to_earn, language_of, localized, tier_label
from backend.db.models import BadgeAward, Competency, Course, Organisation, User
from backend.db.models import BadgeDefinition as BadgeDefinitionRow
from backend.db.types import utcnow
from backend.learning.history import with_tallies
from backend.learning.rules import org_rules
from backend.learning.today import learner_document
from backend.settings import Settings
from backend.tenancy import OrgScope
from gamification import (
    BadgeCriterion,
    BadgeDefinition,
    CriterionKind,
    EventKind,
    StreakMode,
    measure_criterion,
    refresh,
)

log = logging.getLogger("learnloop.badges")

# kinds whose measure is not made of facts, so competency/course/date narrowing means nothing
UNNARROWED_KINDS = {CriterionKind.STREAK_LENGTH, CriterionKind.CHALLENGES_COMPLETED}
# kinds that take an event_kind (the other fact kinds fix it themselves)
EVENT_KIND_KINDS = {CriterionKind.EVENT_COUNT, CriterionKind.TOTAL_MINUTES}


def credential_url(base_url: str, public_id: str) -> str:
    return f"{base_url}/badges/credentials/{public_id}"


def _bad(message: str) -> ClientException:
    return ClientException(message, status_code=400)


def engine_definition(row: BadgeDefinitionRow) -> BadgeDefinition:
    """A stored badge as the engine reads it (``backend.learning.rules.org_badges``)."""
    return BadgeDefinition.from_dict(
        {"code": row.code, "name": row.name, "criterion": row.criterion, "tiers": row.tiers}
    )


def readable(rows: Iterable[BadgeDefinitionRow]) -> list[BadgeDefinitionRow]:
    """The rows the engine can read (it skips a broken one too, rather than failing)."""
    good = []
    for row in rows:
        try:
            engine_definition(row)
        except (ValueError, KeyError, TypeError):
            log.warning("badge %r of organisation %s is unreadable", row.code, row.organisation_id)
            continue
        good.append(row)
    return good


def parse_definition(
    code: str, name: str, criterion: CriterionIn, tiers: Iterable[TierIn]
) -> BadgeDefinition:
    """Check a badge the way the engine will read it; a ClientException names the problem."""
    kinds = [k.value for k in CriterionKind]
    if criterion.kind not in kinds:
        raise _bad(
            f"criterion.kind: unknown kind {criterion.kind!r}; use one of {', '.join(kinds)}"
        )
    kind = CriterionKind(criterion.kind)
    if criterion.event_kind is not None:
        event_kinds = [k.value for k in EventKind]
        if criterion.event_kind not in event_kinds:
            raise _bad(
                f"criterion.event_kind: unknown event kind {criterion.event_kind!r}; "
                f"use one of {', '.join(event_kinds)}"
            )
        if kind not in EVENT_KIND_KINDS:
            raise _bad(
                f"criterion.event_kind: a {kind.value} badge counts its own kind of event; "
                "only event_count and total_minutes badges take an event_kind"
            )
    if kind in UNNARROWED_KINDS:
        for field in ("competency_id", "course_ids", "starts_on", "ends_on"):
            if getattr(criterion, field):
                raise _bad(f"criterion.{field}: a {kind.value} badge cannot be narrowed by it")
    if criterion.starts_on and criterion.ends_on and criterion.starts_on > criterion.ends_on:
        raise _bad("criterion.ends_on: the period ends before it starts")
    document = {
        "code": code,
        "name": name,
        "criterion": criterion.model_dump(mode="json"),
        "tiers": [tier.model_dump() for tier in tiers],
    }
    try:
        return BadgeDefinition.from_dict(document)
    except ValueError as exc:
        raise _bad(f"tiers: {exc}") from exc


async def _check_references(
    scope: OrgScope, definition: BadgeDefinition, competency_id: int | None
) -> None:
    """Competencies and courses a badge mentions must be the organisation's own."""
    for field, cid in (
        ("competency_id", competency_id),
        ("criterion.competency_id", definition.criterion.competency_id),
    ):
        if cid is not None and not await scope.all(
            scope.select(Competency).where(Competency.id == cid)
        ):
            raise _bad(f"{field}: no competency {cid} in this organisation")
    wanted = definition.criterion.course_ids
    if wanted:
        found = {
            c.id for c in await scope.all(scope.select(Course).where(col(Course.id).in_(wanted)))
        }
        missing = sorted(wanted - found)
        if missing:
            raise _bad(f"criterion.course_ids: no course {missing[0]} in this organisation")


async def _organisation(session: AsyncSession, organisation_id: int) -> Organisation:
    return (
        await session.exec(select(Organisation).where(Organisation.id == organisation_id))
    ).one()


async def _streak_mode(scope: OrgScope) -> StreakMode:
    return org_rules(await _organisation(scope.session, scope.organisation_id)).streak.mode


async def _competency_names(scope: OrgScope, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = await scope.all(scope.select(Competency).where(col(Competency.id).in_(wanted)))
    return {c.id: c.name for c in rows if c.id is not None}


@dataclass(frozen=True)
class BadgeTexts:
    """What a badge needs to be put in words: the language, streak mode and competency names."""

    language: Language
    streak_mode: StreakMode
    competency_names: Mapping[int, str]

    def tier_sentence(self, criterion: BadgeCriterion, threshold: int) -> str:
        name = self.competency_names.get(criterion.competency_id or 0)
        return how_to_earn(
            criterion,
            threshold,
            self.language,
            streak_mode=self.streak_mode,
            competency_name=name,
        )

    def competency(self, competency_id: int | None) -> CompetencyRef | None:
        if competency_id is None or competency_id not in self.competency_names:
            return None
        return CompetencyRef(id=competency_id, name=self.competency_names[competency_id])


def _badge_out(row: BadgeDefinitionRow, texts: BadgeTexts) -> BadgeOut:
    assert row.id is not None
    definition = engine_definition(row)
    return BadgeOut(
        id=row.id,
        code=row.code,
        name=localized(row.name, row.name_en, texts.language),
        description=localized(row.description, row.description_en, texts.language),
        kind=definition.criterion.kind.value,
        criterion=definition.criterion.to_dict(),
        tiers=[
            TierOut(
                name=tier.name,
                label=tier_label(tier.name, texts.language),
                threshold=tier.threshold,
                how_to_earn=texts.tier_sentence(definition.criterion, tier.threshold),
            )
            for tier in definition.tiers
        ],
        competency=texts.competency(row.competency_id),
        is_active=row.is_active,
    )


async def _texts(
    scope: OrgScope, language: Language, rows: Iterable[BadgeDefinitionRow]
) -> BadgeTexts:
    rows = list(rows)
    ids = [r.competency_id for r in rows]
    ids += [engine_definition(r).criterion.competency_id for r in rows]
    return BadgeTexts(
        language=language,
        streak_mode=await _streak_mode(scope),
        competency_names=await _competency_names(scope, ids),
    )


async def list_badges(
    scope: OrgScope, principal: Principal, *, include_inactive: bool = False
) -> list[BadgeOut]:
    stmt = scope.select(BadgeDefinitionRow)
    if not include_inactive:
        stmt = stmt.where(col(BadgeDefinitionRow.is_active).is_(True))
    rows = readable(await scope.all(stmt.order_by(col(BadgeDefinitionRow.id))))
    texts = await _texts(scope, language_of(principal.locale), rows)
    return [_badge_out(row, texts) for row in rows]


async def _definition_out(
    scope: OrgScope, principal: Principal, row: BadgeDefinitionRow
) -> BadgeDefinitionOut:
    texts = await _texts(scope, language_of(principal.locale), [row])
    return BadgeDefinitionOut(
        **_badge_out(row, texts).model_dump(),
        name_nl=row.name,
        name_en=row.name_en,
        description_nl=row.description,
        description_en=row.description_en,
    )


async def get_badge(scope: OrgScope, principal: Principal, badge_id: int) -> BadgeDefinitionOut:
    row = await scope.get(BadgeDefinitionRow, badge_id, what="badge")
    return await _definition_out(scope, principal, row)


async def _commit(scope: OrgScope, code: str) -> None:
    try:
        await scope.session.commit()
    except IntegrityError as exc:
        await scope.session.rollback()
        raise ClientException(
            f"a badge with code {code!r} already exists", status_code=409
        ) from exc


async def create_badge(
    scope: OrgScope, principal: Principal, data: BadgeCreate
) -> BadgeDefinitionOut:
    definition = parse_definition(data.code, data.name, data.criterion, data.tiers)
    await _check_references(scope, definition, data.competency_id)
    taken = await scope.all(
        scope.select(BadgeDefinitionRow).where(BadgeDefinitionRow.code == data.code)
    )
    if taken:
        raise ClientException(f"a badge with code {data.code!r} already exists", status_code=409)
    document = definition.to_dict()
    row = scope.add(
        BadgeDefinitionRow(
            organisation_id=0,
            code=data.code,
            name=data.name,
            name_en=data.name_en,
            description=data.description,
            description_en=data.description_en,
            criterion=document["criterion"],
            tiers=document["tiers"],
            competency_id=data.competency_id,
            is_active=data.is_active,
        )
    )
    await _commit(scope, data.code)
    return await _definition_out(scope, principal, row)


async def update_badge(
    scope: OrgScope, principal: Principal, badge_id: int, data: BadgeUpdate
) -> BadgeDefinitionOut:
    row = await scope.get(BadgeDefinitionRow, badge_id, what="badge")
    changes = data.model_dump(exclude_unset=True)
    for field in ("name", "is_active", "criterion", "tiers"):
        if field in changes and changes[field] is None:
            raise _bad(f"{field}: cannot be empty")
    criterion, tiers = data.criterion, data.tiers
    if criterion is None or tiers is None:
        if not readable([row]):
            raise _bad("criterion: the stored badge is unreadable; send criterion and tiers")
        current = engine_definition(row)
        criterion = criterion or CriterionIn.model_validate(current.criterion.to_dict())
        tiers = tiers or [TierIn(name=t.name, threshold=t.threshold) for t in current.tiers]
    definition = parse_definition(row.code, data.name or row.name, criterion, tiers)
    competency_id = changes.get("competency_id", row.competency_id)
    await _check_references(scope, definition, competency_id)
    document = definition.to_dict()
    row.criterion = document["criterion"]
    row.tiers = document["tiers"]
    row.competency_id = competency_id
    for field in ("name", "name_en", "description", "description_en", "is_active"):
        if field in changes and changes[field] is not None:
            setattr(row, field, changes[field])
    scope.session.add(row)
    await _commit(scope, row.code)
    return await _definition_out(scope, principal, row)


async def badge_wall(
    scope: OrgScope,
    principal: Principal,
    base_url: str,
    now: datetime | None = None,
    *,
    locale: str | None = None,
) -> list[BadgeWallItem]:
    """Every active badge (and any switched-off badge the learner earned), with earned tiers
    and the progress towards each tier still locked, in ``locale`` (else the learner's own)."""
    now = now or utcnow()
    user = await scope.get(User, principal.user_id, what="user")
    organisation = await _organisation(scope.session, scope.organisation_id)
    rules = org_rules(organisation)
    state = refresh(await learner_document(scope.session, user), rules, now, user.timezone)
    awards = await scope.all(
        scope.select(BadgeAward)
        .where(BadgeAward.user_id == user.id)
        .order_by(col(BadgeAward.awarded_at), col(BadgeAward.id))
    )
    earned_codes = {a.badge_code for a in awards}
    rows = [
        row
        for row in readable(
            await scope.all(scope.select(BadgeDefinitionRow).order_by(col(BadgeDefinitionRow.id)))
        )
        if row.is_active or row.code in earned_codes
    ]
    texts = await _texts(scope, language_of(locale or user.locale), rows)
    definitions = [engine_definition(row) for row in rows]
    assert user.id is not None
    state = await with_tallies(
        scope.session, scope.organisation_id, user.id, state, badges=definitions
    )
    wall: list[BadgeWallItem] = []
    for row, definition in zip(rows, definitions, strict=True):
        criterion = definition.criterion
        measure = measure_criterion(criterion, state)
        mine = {a.tier: a for a in awards if a.badge_code == row.code}
        thresholds = {t.name: t.threshold for t in definition.tiers}
        earned = [
            EarnedTier(
                name=award.tier,
                label=tier_label(award.tier, texts.language),
                threshold=thresholds.get(award.tier),
                how_to_earn=texts.tier_sentence(criterion, thresholds[award.tier])
                if award.tier in thresholds
                else "",
                awarded_at=award.awarded_at,
                public_id=award.public_id,
                credential_url=credential_url(base_url, award.public_id),
            )
            for award in sorted(
                mine.values(), key=lambda a: (thresholds.get(a.tier, 0), a.awarded_at)
            )
        ]
        locked = [
            LockedTier(
                name=tier.name,
                label=tier_label(tier.name, texts.language),
                threshold=tier.threshold,
                how_to_earn=texts.tier_sentence(criterion, tier.threshold),
                current=min(measure.toward(tier.threshold), tier.threshold),
                fraction=round(min(measure.toward(tier.threshold) / tier.threshold, 1.0), 4),
            )
            for tier in definition.tiers
            # a switched-off badge awards nothing more: only what was earned stays on the wall
            if tier.name not in mine and row.is_active
        ]
        wall.append(
            BadgeWallItem(
                code=row.code,
                name=localized(row.name, row.name_en, texts.language),
                description=localized(row.description, row.description_en, texts.language),
                competency=texts.competency(row.competency_id),
                earned=earned,
                locked=locked,
                next_tier=locked[0] if locked else None,
            )
        )
    return wall


@dataclass(frozen=True)
class AwardRecord:
    """Everything a credential says about one award, loaded by its public id."""

    award: BadgeAward
    organisation: Organisation
    learner_email: str
    badge: BadgeDefinitionRow | None
    competency_names: dict[int, str]
    streak_mode: StreakMode


async def find_award(session: AsyncSession, public_id: str) -> AwardRecord | None:
    """The award behind a public credential link (public: the unguessable id is the key)."""
    award = (
        await session.exec(select(BadgeAward).where(BadgeAward.public_id == public_id))
    ).first()
    if award is None:
        return None
    org_id = award.organisation_id
    organisation = await _organisation(session, org_id)
    email = (
        await session.exec(
            select(User.email).where(User.id == award.user_id, User.organisation_id == org_id)
        )
    ).one()
    badge = (
        await session.exec(
            select(BadgeDefinitionRow).where(
                BadgeDefinitionRow.organisation_id == org_id,
                BadgeDefinitionRow.code == award.badge_code,
            )
        )
    ).first()
    if badge is not None and not readable([badge]):
        badge = None
    names: dict[int, str] = {}
    if badge is not None:
        wanted = {badge.competency_id, engine_definition(badge).criterion.competency_id} - {None}
        if wanted:
            rows = await session.exec(
                select(Competency).where(
                    Competency.organisation_id == org_id, col(Competency.id).in_(wanted)
                )
            )
            names = {c.id: c.name for c in rows.all() if c.id is not None}
    return AwardRecord(
        award=award,
        organisation=organisation,
        learner_email=email,
        badge=badge,
        competency_names=names,
        streak_mode=org_rules(organisation).streak.mode,
    )


async def issuing_organisation(session: AsyncSession, organisation_id: int) -> Organisation | None:
    """An organisation that has issued at least one badge (only those publish an issuer
    profile, so the public route does not list every organisation's name by id)."""
    issued = (
        await session.exec(
            select(BadgeAward.id).where(BadgeAward.organisation_id == organisation_id).limit(1)
        )
    ).first()
    if issued is None:
        return None
    return await _organisation(session, organisation_id)


def credential_content(record: AwardRecord, settings: Settings) -> CredentialContent:
    """What the credential of ``record`` states, in the issuing organisation's language."""
    award, organisation = record.award, record.organisation
    assert organisation.id is not None
    language = language_of(organisation.default_locale)
    texts = BadgeTexts(language, record.streak_mode, record.competency_names)
    label = tier_label(award.tier, language)
    name, description, narrative = award.badge_code, "", ""
    alignment = None
    if record.badge is not None:
        badge = record.badge
        definition = engine_definition(badge)
        name = localized(badge.name, badge.name_en, language)
        description = localized(badge.description, badge.description_en, language)
        threshold = next((t.threshold for t in definition.tiers if t.name == award.tier), None)
        if threshold is not None:
            narrative = texts.tier_sentence(definition.criterion, threshold)
        competency = texts.competency(badge.competency_id)
        if competency is not None:
            alignment = CompetencyAlignment(competency.id, competency.name)
    salt = identity_salt(settings, award.public_id)
    return CredentialContent(
        base_url=settings.base_url,
        credential_url=credential_url(settings.base_url, award.public_id),
        organisation_id=organisation.id,
        organisation_name=organisation.name,
        code=award.badge_code,
        name=f"{name} ({label})",
        description=description,
        narrative=narrative or description or name,
        language=language,
        awarded_at=award.awarded_at,
        identity_hash=hashed_email(record.learner_email, salt),
        salt=salt,
        alignment=alignment,
    )
