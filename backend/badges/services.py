"""The badge catalogue (L&D defines badges as data), the learner's badge wall, and loading
an award for its public credential."""

import base64
import binascii
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar.exceptions import ClientException, NotFoundException
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit import services as audit
from backend.auth.principal import Principal
from backend.badges.credentials import (
    CompetencyAlignment,
    CredentialContent,
    hashed_email,
    identity_salt,
)
from backend.badges.emblems import (
    SVG_MEDIA_TYPE,
    EmblemDesign,
    EmblemRejected,
    default_design,
    read_upload,
    render_emblem,
)
from backend.badges.schemas import (
    BadgeCreate,
    BadgeDefinitionOut,
    BadgeOut,
    BadgePreviewIn,
    BadgePreviewOut,
    BadgeStatsOut,
    BadgeUpdate,
    BadgeWallItem,
    CompetencyRef,
    CriterionIn,
    EarnedTier,
    EmblemDesignIn,
    EmblemIn,
    LockedTier,
    TierCountOut,
    TierIn,
    TierOut,
)
from backend.badges.texts import (
    Language,
    how_to_earn,
    language_of,
    localized,
    progress_text,
    tier_label,
)
from backend.db.models import (
    BadgeAward,
    BadgeEmblem,
    Competency,
    Course,
    LearnerState,
    Organisation,
    User,
)
from backend.db.models import BadgeDefinition as BadgeDefinitionRow
from backend.db.types import utcnow
from backend.learning.connections import on_pooled_connection
from backend.learning.history import with_all_tallies, with_tallies
from backend.learning.read_cache import OrgBadges, read_cache_for
from backend.learning.rules import org_rules
from backend.learning.today import learner_document
from backend.settings import Settings
from backend.tenancy import OrgScope
from gamification import (
    BadgeCriterion,
    BadgeDefinition,
    CriterionKind,
    EventKind,
    OrgRules,
    StreakMode,
    measure_criterion,
    refresh,
)
from gamification import LearnerState as EngineState

log = logging.getLogger("learnloop.badges")

# kinds whose measure is not made of facts, so competency/course/date narrowing means nothing
UNNARROWED_KINDS = {CriterionKind.STREAK_LENGTH, CriterionKind.CHALLENGES_COMPLETED}
# kinds that take an event_kind (the other fact kinds fix it themselves)
EVENT_KIND_KINDS = {CriterionKind.EVENT_COUNT, CriterionKind.TOTAL_MINUTES}


def emblem_url(badge_id: int) -> str:
    """The stable address of a badge's emblem (SVG or PNG)."""
    return f"/api/v1/badges/{badge_id}/emblem"


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
    return org_rules(await scope.organisation()).streak.mode


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

    def progress(self, criterion: BadgeCriterion, current: int, threshold: int) -> str:
        return progress_text(
            criterion, current, threshold, self.language, streak_mode=self.streak_mode
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
        emblem_url=emblem_url(row.id),
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
    scope: OrgScope,
    principal: Principal,
    *,
    include_inactive: bool = False,
    locale: str | None = None,
) -> list[BadgeOut]:
    stmt = scope.select(BadgeDefinitionRow)
    if not include_inactive:
        stmt = stmt.where(col(BadgeDefinitionRow.is_active).is_(True))
    rows = readable(await scope.all(stmt.order_by(col(BadgeDefinitionRow.id))))
    texts = await _texts(scope, language_of(locale or principal.locale), rows)
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
    await scope.session.flush()
    assert row.id is not None
    design = data.emblem or EmblemDesignIn(
        **default_design(data.code, definition.criterion.kind.value).__dict__
    )
    _stage_generated_emblem(scope, row.id, design)
    audit.record(
        scope,
        "badge.create",
        target_type="badge",
        target_id=row.id,
        summary=f"Created badge “{row.name}”",
        details={"code": row.code, "criterion": document["criterion"], "tiers": row.tiers},
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
    before = _audited(row)
    row.criterion = document["criterion"]
    row.tiers = document["tiers"]
    row.competency_id = competency_id
    for field in ("name", "name_en", "description", "description_en", "is_active"):
        if field in changes and changes[field] is not None:
            setattr(row, field, changes[field])
    scope.session.add(row)
    _record_update(scope, row, before)
    await _commit(scope, row.code)
    return await _definition_out(scope, principal, row)


# the wall's learner part: the awards, and the names of the competencies the badges name
BADGE_WALL_SQL = """
SELECT o.config_version,
       (SELECT json_agg(json_build_array(
                   a.badge_code, a.tier,
                   to_char(a.awarded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                   a.public_id, a.revoked_at IS NOT NULL)
                        ORDER BY a.awarded_at, a.id)::text
          FROM badge_award a WHERE a.organisation_id = o.id AND a.user_id = $2),
       (SELECT json_object_agg(c.id, c.name)::text
          FROM competency c WHERE c.organisation_id = o.id AND c.id = ANY($3::int[]))
FROM organisation o WHERE o.id = $1
"""


@dataclass(frozen=True, slots=True)
class _WallAward:
    badge_code: str
    tier: str
    awarded_at: datetime
    public_id: str
    revoked: bool


async def _wall_reads(
    scope: OrgScope, user_id: int
) -> tuple[list[_WallAward], OrgBadges, dict[int, str]]:
    """The learner's awards (by award time), the organisation's readable badges (kept per
    process at its ``config_version``) and their competencies' names: one statement, and one
    or two more only when the kept badges are not of the version it read."""
    engine = scope.session.bind
    cache = read_cache_for(engine)
    organisation_id = scope.organisation_id

    async def read(pg: Any) -> tuple[Any, OrgBadges]:
        kept = cache.badge_sets.get(organisation_id)
        ids = list(kept.competency_ids) if kept is not None else []
        row = await pg.fetchrow(BADGE_WALL_SQL, organisation_id, user_id, ids)
        assert row is not None, "the caller read this organisation"
        badges = await cache.badges(pg, organisation_id, row[0])
        if list(badges.competency_ids) != ids:
            row = await pg.fetchrow(
                BADGE_WALL_SQL, organisation_id, user_id, list(badges.competency_ids)
            )
        return row, badges

    row, badges = await on_pooled_connection(engine, read)
    _, awards_json, names_json = row
    awards = [
        _WallAward(code, tier, datetime.fromisoformat(at).replace(tzinfo=UTC), public_id, revoked)
        for code, tier, at, public_id, revoked in json.loads(awards_json or "[]")
    ]
    names = {int(k): v for k, v in json.loads(names_json or "{}").items()}
    return awards, badges, names


async def badge_wall(
    scope: OrgScope,
    principal: Principal,
    base_url: str,
    now: datetime | None = None,
    *,
    locale: str | None = None,
    learner: tuple[OrgRules, EngineState, str] | None = None,
) -> list[BadgeWallItem]:
    """Every active badge (and any switched-off badge the learner earned), with earned tiers
    and the progress towards each tier still locked, in ``locale`` (else the learner's own).
    ``learner``: the organisation's rules, the learner's engine document and timezone, when
    the caller read them already (the Progress page's XP chart does)."""
    now = now or utcnow()
    if learner is None:
        user = await scope.get(User, principal.user_id, what="user")
        rules = org_rules(await scope.organisation())
        learner = (rules, await learner_document(scope.session, user), user.timezone)
    rules, document, timezone = learner
    state = refresh(document, rules, now, timezone)
    user_id = principal.user_id
    assert user_id is not None
    awards, kept, names = await _wall_reads(scope, user_id)
    earned_codes = {a.badge_code for a in awards}
    rows = [row for row in kept.badges if row.is_active or row.code in earned_codes]
    texts = BadgeTexts(
        language=language_of(locale or principal.locale),
        streak_mode=rules.streak.mode,
        competency_names=names,
    )
    definitions = [row.definition for row in rows]
    state = await with_tallies(
        scope.session, scope.organisation_id, user_id, state, badges=definitions
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
                revoked=award.revoked,
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
                current=current,
                fraction=round(min(measure.toward(tier.threshold) / tier.threshold, 1.0), 4),
                progress=texts.progress(criterion, current, tier.threshold),
            )
            for tier in definition.tiers
            # a switched-off badge awards nothing more: only what was earned stays on the wall
            if tier.name not in mine and row.is_active
            for current in [min(measure.toward(tier.threshold), tier.threshold)]
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
                emblem_url=emblem_url(row.id),
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
    learner_name: str = ""


async def find_award(session: AsyncSession, public_id: str) -> AwardRecord | None:
    """The award behind a public credential link (public: the unguessable id is the key)."""
    award = (
        await session.exec(select(BadgeAward).where(BadgeAward.public_id == public_id))
    ).first()
    if award is None:
        return None
    org_id = award.organisation_id
    organisation = await _organisation(session, org_id)
    email, learner_name = (
        await session.exec(
            select(User.email, User.display_name).where(
                User.id == award.user_id, User.organisation_id == org_id
            )
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
        learner_name=learner_name,
    )


async def credential_emblem(session: AsyncSession, record: AwardRecord) -> tuple[str, bytes]:
    """(media type, bytes) of the emblem of the badge behind a public credential."""
    badge = record.badge
    if badge is None or badge.id is None:
        return SVG_MEDIA_TYPE, render_emblem(default_design(record.award.badge_code, ""))
    emblem = (
        await session.exec(
            select(BadgeEmblem).where(
                BadgeEmblem.badge_id == badge.id,
                BadgeEmblem.organisation_id == record.award.organisation_id,
            )
        )
    ).first()
    if emblem is not None:
        return emblem.media_type, emblem.data
    kind = str((badge.criterion or {}).get("kind", ""))
    return SVG_MEDIA_TYPE, render_emblem(default_design(badge.code, kind))


async def revoke_award(
    scope: OrgScope, principal: Principal, public_id: str, reason: str
) -> BadgeAward:
    """Withdraw an awarded tier (L&D): its credential page says it was revoked, and why, and
    verifiers get 410 Gone; it is kept, so the link does not silently vanish."""
    reason = " ".join(reason.split())
    if not reason:
        raise _bad("reason: say why the badge is revoked (the credential page shows it)")
    if len(reason) > 300:
        raise _bad("reason: at most 300 characters")
    rows = await scope.all(scope.select(BadgeAward).where(BadgeAward.public_id == public_id[:40]))
    if not rows:
        raise NotFoundException(f"badge award {public_id[:40]} not found")
    row = rows[0]
    if row.revoked_at is not None:
        raise ClientException("this badge award is already revoked", status_code=409)
    row.revoked_at = utcnow()
    row.revocation_reason = reason
    scope.session.add(row)
    audit.record(
        scope,
        "badge_award.revoke",
        target_type="badge_award",
        target_id=row.id,
        summary=f"Revoked {row.badge_code} ({row.tier}) of learner {row.user_id}",
        details={"public_id": row.public_id, "reason": reason},
    )
    await scope.session.commit()
    return row


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


# ---------------------------------------------------------------------------------------------
# the badge designer: audit, activation, emblems, preview and who would qualify


def _audited(row: BadgeDefinitionRow) -> dict[str, object]:
    return {
        "name": row.name,
        "name_en": row.name_en,
        "description": row.description,
        "description_en": row.description_en,
        "criterion": row.criterion,
        "tiers": row.tiers,
        "competency_id": row.competency_id,
        "is_active": row.is_active,
    }


def _record_update(scope: OrgScope, row: BadgeDefinitionRow, before: dict[str, object]) -> None:
    after = _audited(row)
    changed = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
    if not changed:
        return
    if set(changed) == {"is_active"}:
        action = "badge.reactivate" if row.is_active else "badge.deactivate"
        verb = "Reactivated" if row.is_active else "Deactivated"
    else:
        action, verb = "badge.update", "Changed"
    audit.record(
        scope,
        action,
        target_type="badge",
        target_id=row.id,
        summary=f"{verb} badge “{row.name}”",
        details=changed,
    )


async def set_active(
    scope: OrgScope, principal: Principal, badge_id: int, active: bool
) -> BadgeDefinitionOut:
    """Deactivate (learners no longer see or earn it; earned tiers stay) or reactivate."""
    row = await scope.get(BadgeDefinitionRow, badge_id, what="badge")
    before = _audited(row)
    row.is_active = active
    scope.session.add(row)
    _record_update(scope, row, before)
    await _commit(scope, row.code)
    return await _definition_out(scope, principal, row)


def _stage_generated_emblem(scope: OrgScope, badge_id: int, design: EmblemDesignIn) -> None:
    scope.add(
        BadgeEmblem(
            badge_id=badge_id,
            organisation_id=0,
            source="generated",
            shape=design.shape,
            colour=design.colour,
            icon=design.icon,
            media_type=SVG_MEDIA_TYPE,
            data=render_emblem(EmblemDesign(design.shape, design.colour, design.icon)),
        )
    )


async def stored_emblem(scope: OrgScope, badge_id: int) -> BadgeEmblem | None:
    rows = await scope.all(scope.select(BadgeEmblem).where(BadgeEmblem.badge_id == badge_id))
    return rows[0] if rows else None


async def emblem_image(scope: OrgScope, badge_id: int) -> tuple[str, bytes]:
    """(media type, bytes) of a badge's emblem: the stored one, or the default design."""
    row = await scope.get(BadgeDefinitionRow, badge_id, what="badge")
    emblem = await stored_emblem(scope, badge_id)
    if emblem is not None:
        return emblem.media_type, emblem.data
    kind = str((row.criterion or {}).get("kind", ""))
    return SVG_MEDIA_TYPE, render_emblem(default_design(row.code, kind))


async def set_emblem(
    scope: OrgScope, principal: Principal, badge_id: int, data: EmblemIn
) -> BadgeDefinitionOut:
    """A generated design, or an upload (base64) read by :func:`upload_emblem`'s rules."""
    if (data.design is None) == (data.image_base64 is None):
        raise _bad("design: send either a design or image_base64")
    if data.image_base64 is not None:
        try:
            raw = base64.b64decode(data.image_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _bad("image_base64: not valid base64") from exc
        return await upload_emblem(scope, principal, badge_id, raw, data.filename)
    assert data.design is not None
    return await design_emblem(scope, principal, badge_id, data.design)


async def _replace_emblem(scope: OrgScope, badge_id: int) -> BadgeDefinitionRow:
    row = await scope.get(BadgeDefinitionRow, badge_id, what="badge")
    old = await stored_emblem(scope, badge_id)
    if old is not None:
        await scope.session.delete(old)
        await scope.session.flush()
    return row


async def design_emblem(
    scope: OrgScope, principal: Principal, badge_id: int, design: EmblemDesignIn
) -> BadgeDefinitionOut:
    row = await _replace_emblem(scope, badge_id)
    _stage_generated_emblem(scope, badge_id, design)
    audit.record(
        scope,
        "badge.emblem",
        target_type="badge",
        target_id=badge_id,
        summary=f"Designed the emblem of badge “{row.name}”",
        details=design.model_dump(),
    )
    await _commit(scope, row.code)
    return await _definition_out(scope, principal, row)


async def upload_emblem(
    scope: OrgScope, principal: Principal, badge_id: int, raw: bytes, filename: str = ""
) -> BadgeDefinitionOut:
    """An uploaded SVG (sanitised) or PNG (checked); a 400 says what is wrong with it."""
    try:
        media_type, safe = read_upload(raw, filename)
    except EmblemRejected as exc:
        raise _bad(f"image: {exc}") from exc
    row = await _replace_emblem(scope, badge_id)
    scope.add(
        BadgeEmblem(
            badge_id=badge_id,
            organisation_id=0,
            source="upload",
            media_type=media_type,
            data=safe,
        )
    )
    audit.record(
        scope,
        "badge.emblem",
        target_type="badge",
        target_id=badge_id,
        summary=f"Uploaded an emblem for badge “{row.name}”",
        details={"media_type": media_type, "bytes": len(safe), "filename": filename[:200]},
    )
    await _commit(scope, row.code)
    return await _definition_out(scope, principal, row)


@dataclass(frozen=True)
class Reach:
    """How many learners reach each tier's threshold (``counts`` in tier order)."""

    learners: int
    counts: list[int]


async def qualifying_today(
    scope: OrgScope, definition: BadgeDefinition, now: datetime | None = None
) -> Reach:
    """Per tier, the active learners whose stored learning reaches its threshold today,
    measured by the engine as it would award (streaks refreshed to today; fact-based
    criteria counted from each learner's history when no tally exists yet)."""
    now = now or utcnow()
    people = (
        await scope.session.exec(
            select(User.id, User.timezone).where(scope.owns(User), col(User.is_active).is_(True))
        )
    ).all()
    ids = [uid for uid, _ in people if uid is not None]
    documents = {
        r.user_id: r.data
        for r in await scope.all(
            scope.select(LearnerState).where(col(LearnerState.user_id).in_(ids))
        )
    }
    rules = org_rules(await _organisation(scope.session, scope.organisation_id))
    states = {}
    for uid, tz in people:
        if uid is None:
            continue
        state = EngineState.from_dict(documents.get(uid) or {})
        if definition.criterion.kind is CriterionKind.STREAK_LENGTH:
            state = refresh(state, rules, now, tz)
        states[uid] = state
    filled = await with_all_tallies(
        scope.session, scope.organisation_id, states, badges=[definition]
    )
    bests = [measure_criterion(definition.criterion, s).best for s in filled.values()]
    return Reach(
        learners=len(ids),
        counts=[sum(1 for b in bests if b >= tier.threshold) for tier in definition.tiers],
    )


def _tier_counts(
    definition: BadgeDefinition, texts: BadgeTexts, counts: list[int]
) -> list[TierCountOut]:
    return [
        TierCountOut(
            name=tier.name,
            label=tier_label(tier.name, texts.language),
            threshold=tier.threshold,
            how_to_earn=texts.tier_sentence(definition.criterion, tier.threshold),
            learners=count,
        )
        for tier, count in zip(definition.tiers, counts, strict=True)
    ]


async def preview_badge(scope: OrgScope, data: BadgePreviewIn) -> BadgePreviewOut:
    """The badge as learners would see it, and who would qualify today; nothing is stored."""
    definition = parse_definition("preview", data.name or "preview", data.criterion, data.tiers)
    await _check_references(scope, definition, None)
    language: Language = data.language
    texts = BadgeTexts(
        language=language,
        streak_mode=await _streak_mode(scope),
        competency_names=await _competency_names(scope, [definition.criterion.competency_id]),
    )
    reach = await qualifying_today(scope, definition)
    design = data.emblem or EmblemDesignIn()
    return BadgePreviewOut(
        name=localized(data.name, data.name_en, language),
        description=localized(data.description, data.description_en, language),
        tiers=[
            TierOut(
                name=t.name,
                label=tier_label(t.name, language),
                threshold=t.threshold,
                how_to_earn=texts.tier_sentence(definition.criterion, t.threshold),
            )
            for t in definition.tiers
        ],
        qualify_today=_tier_counts(definition, texts, reach.counts),
        learners=reach.learners,
        emblem_svg=render_emblem(EmblemDesign(design.shape, design.colour, design.icon)).decode(),
    )


async def earned_counts(scope: OrgScope) -> dict[tuple[str, str], int]:
    """How many learners earned each (badge code, tier)."""
    rows = await scope.session.exec(
        select(
            BadgeAward.badge_code, BadgeAward.tier, func.count(col(BadgeAward.user_id).distinct())
        )
        .where(scope.owns(BadgeAward))
        .group_by(col(BadgeAward.badge_code), col(BadgeAward.tier))
    )
    return {(code, tier): int(n) for code, tier, n in rows.all()}


async def badge_stats(
    scope: OrgScope, principal: Principal, badge_id: int, *, locale: str | None = None
) -> BadgeStatsOut:
    row = await scope.get(BadgeDefinitionRow, badge_id, what="badge")
    if not readable([row]):
        raise _bad("criterion: the stored badge is unreadable")
    definition = engine_definition(row)
    texts = await _texts(scope, language_of(locale or principal.locale), [row])
    earned = await earned_counts(scope)
    reach = await qualifying_today(scope, definition)
    return BadgeStatsOut(
        id=badge_id,
        learners=reach.learners,
        earned=_tier_counts(
            definition, texts, [earned.get((row.code, t.name), 0) for t in definition.tiers]
        ),
        qualify_today=_tier_counts(definition, texts, reach.counts),
    )
