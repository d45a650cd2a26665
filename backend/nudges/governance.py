"""Nudge governance by L&D: the organisation's nudge rules, its own text variants, their
measurements, and a preview sent to one's own devices.

The rules are fields of the organisation's settings, changed (and audited) through
``backend.organisations.services.update_organisation``; the scheduler reads them every
tick. Text variants are ``nudge_text_variant`` rows over the built-in texts of
``gamification.nudge_texts``: a row named like a built-in variant ("a") overrides or retires
it, any other row ("v<id>") is a variant L&D added. Every change of a variant records an
audit entry in its own transaction.
"""

import secrets
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from litestar.exceptions import ClientException, NotFoundException, ValidationException
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col, delete, select

from backend.audit import services as audit
from backend.db.models import Nudge, NudgeTextVariant, PushSubscription
from backend.db.types import utcnow
from backend.nudges.schemas import (
    NudgeKindRule,
    NudgeRulesPublic,
    NudgeRulesUpdate,
    NudgeVariantCreate,
    NudgeVariantList,
    NudgeVariantMeasured,
    NudgeVariantPublic,
    NudgeVariantUpdate,
    SentToMe,
    VariantMeasure,
    placeholder_problem,
)
from backend.organisations.schemas import OrganisationUpdate
from backend.organisations.services import update_organisation
from backend.organisations.settings import OrganisationSettings, organisation_settings
from backend.tenancy import OrgScope
from gamification.nudge_policy import URL
from gamification.nudge_texts import LOCALES, PLACEHOLDERS, SAMPLE_PARAMS, TEXTS, render
from gamification.nudges import NudgeType

# the dedupe key of a preview: never measured, never counted against the admin's caps
PREVIEW_PREFIX = "preview:"
RULE_FIELDS = (
    "quiet_hours_start",
    "quiet_hours_end",
    "nudges_on_weekends",
    "nudge_reminders_per_day",
    "nudges_per_week",
)


# --- rules ------------------------------------------------------------------------------------


def _rules_of(settings: OrganisationSettings) -> NudgeRulesPublic:
    off = set(settings.nudge_kinds_off)
    return NudgeRulesPublic(
        **{name: getattr(settings, name) for name in RULE_FIELDS},
        kinds=[
            NudgeKindRule(
                kind=kind, on=kind.value not in off, placeholders=list(PLACEHOLDERS[kind])
            )
            for kind in NudgeType
        ],
    )


async def get_rules(scope: OrgScope) -> NudgeRulesPublic:
    return _rules_of(organisation_settings(await scope.organisation()))


async def update_rules(scope: OrgScope, data: NudgeRulesUpdate) -> NudgeRulesPublic:
    """Change quiet hours, weekend rule, caps and the kinds switched off; used by every
    learner's next plan. Audited by ``update_organisation``, as every settings change."""
    settings = organisation_settings(await scope.organisation())
    changes: dict[str, object] = {
        name: getattr(data, name)
        for name in RULE_FIELDS
        if getattr(data, name) is not None and getattr(data, name) != getattr(settings, name)
    }
    if data.kinds_off is not None:
        kinds_off = sorted({kind.value for kind in data.kinds_off})
        if kinds_off != sorted(settings.nudge_kinds_off):
            changes["nudge_kinds_off"] = kinds_off
    if not changes:
        return _rules_of(settings)
    # update_organisation records the change (before and after) in the audit log
    updated = await update_organisation(scope, OrganisationUpdate(settings=changes))
    return _rules_of(updated.settings)


# --- variants ---------------------------------------------------------------------------------


def _check_key(kind: str, locale: str) -> None:
    if kind not in PLACEHOLDERS or locale not in LOCALES:
        raise NotFoundException(f"no nudge texts for {kind!r} in {locale!r}")


def _public(
    kind: str, locale: str, variant: str, row: NudgeTextVariant | None
) -> NudgeVariantPublic:
    built_in = TEXTS.get(kind, {}).get(variant, {}).get(locale)
    if row is not None:
        title, body = row.title, row.body
        origin = "custom" if built_in is None else "edited"
        if built_in == (title, body):
            origin = "built_in"
    else:
        assert built_in is not None
        title, body = built_in
        origin = "built_in"
    return NudgeVariantPublic(
        kind=NudgeType(kind),
        locale=locale,
        variant=variant,
        title=title,
        body=body,
        origin=origin,
        retired=row is not None and row.retired_at is not None,
        placeholders=list(PLACEHOLDERS[kind]),
        updated_at=row.updated_at if row is not None else None,
    )


async def _rows(
    scope: OrgScope, kind: str | None = None, locale: str | None = None
) -> list[NudgeTextVariant]:
    query = scope.select(NudgeTextVariant)
    if kind is not None:
        query = query.where(NudgeTextVariant.kind == kind)
    if locale is not None:
        query = query.where(NudgeTextVariant.locale == locale)
    return await scope.all(query.order_by(col(NudgeTextVariant.id)))


def _merged(
    rows: Sequence[NudgeTextVariant], kind: str | None, locale: str | None
) -> list[NudgeVariantPublic]:
    own = {(r.kind, r.locale, r.variant): r for r in rows}
    out: list[NudgeVariantPublic] = []
    for kind_ in NudgeType:
        if kind is not None and kind_.value != kind:
            continue
        for locale_ in LOCALES:
            if locale is not None and locale_ != locale:
                continue
            for variant in TEXTS[kind_.value]:
                out.append(
                    _public(kind_.value, locale_, variant, own.get((kind_.value, locale_, variant)))
                )
            out.extend(
                _public(r.kind, r.locale, r.variant, r)
                for r in rows
                if (r.kind, r.locale) == (kind_.value, locale_) and r.variant not in TEXTS[r.kind]
            )
    return out


async def list_variants(
    scope: OrgScope, *, kind: str | None = None, locale: str | None = None
) -> list[NudgeVariantPublic]:
    """Every variant of ``kind`` (all kinds) in ``locale`` (both), built-in ones first."""
    return _merged(await _rows(scope, kind, locale), kind, locale)


async def _row(scope: OrgScope, kind: str, locale: str, variant: str) -> NudgeTextVariant | None:
    query = scope.select(NudgeTextVariant).where(
        NudgeTextVariant.kind == kind,
        NudgeTextVariant.locale == locale,
        NudgeTextVariant.variant == variant,
    )
    return (await scope.session.exec(query)).first()


async def _found(
    scope: OrgScope, kind: str, locale: str, variant: str
) -> tuple[NudgeTextVariant | None, bool]:
    """The variant's row (None: a built-in text as it is) and whether it is built in; 404
    for a variant this organisation does not have."""
    _check_key(kind, locale)
    built_in = variant in TEXTS[kind]
    row = await _row(scope, kind, locale, variant)
    if row is None and not built_in:
        raise NotFoundException(f"nudge text {kind}/{locale}/{variant} not found")
    return row, built_in


async def get_variant(scope: OrgScope, kind: str, locale: str, variant: str) -> NudgeVariantPublic:
    row, _ = await _found(scope, kind, locale, variant)
    return _public(kind, locale, variant, row)


def _check_texts(kind: str, title: str, body: str) -> None:
    problems = [
        {"key": name, "message": problem}
        for name, text in (("title", title), ("body", body))
        if (problem := placeholder_problem(kind, text))
    ]
    if problems:
        raise ValidationException(
            detail="; ".join(f"{p['key']}: {p['message']}" for p in problems), extra=problems
        )


def _label(kind: str, locale: str, variant: str) -> str:
    return f"{kind}/{locale}/{variant}"


async def create_variant(scope: OrgScope, data: NudgeVariantCreate) -> NudgeVariantPublic:
    """A variant L&D adds: sent (and measured) beside the others from the next tick on."""
    kind = data.kind.value
    _check_texts(kind, data.title, data.body)
    row = scope.add(
        NudgeTextVariant(
            organisation_id=scope.organisation_id,
            kind=kind,
            locale=data.locale,
            variant="new-" + secrets.token_hex(8),
            title=data.title,
            body=data.body,
        )
    )
    await scope.session.flush()
    row.variant = f"v{row.id}"  # unique across organisations: another's name is a 404 here
    scope.session.add(row)
    audit.record(
        scope,
        "nudge.variant.create",
        target_type="nudge_variant",
        target_id=_label(kind, data.locale, row.variant),
        summary=f"Added nudge text {row.variant} for {kind} ({data.locale}): “{data.title}”",
        details={"title": data.title, "body": data.body},
    )
    await scope.session.commit()
    return _public(kind, data.locale, row.variant, row)


async def update_variant(
    scope: OrgScope, kind: str, locale: str, variant: str, data: NudgeVariantUpdate
) -> NudgeVariantPublic:
    """New words for a variant; a built-in one gets the organisation's own text."""
    row, _ = await _found(scope, kind, locale, variant)
    _check_texts(kind, data.title, data.body)
    before = _public(kind, locale, variant, row)
    if row is None:
        row = scope.add(
            NudgeTextVariant(
                organisation_id=scope.organisation_id,
                kind=kind,
                locale=locale,
                variant=variant,
                title=data.title,
                body=data.body,
            )
        )
    else:
        row.title, row.body, row.updated_at = data.title, data.body, utcnow()
        scope.session.add(row)
    audit.record(
        scope,
        "nudge.variant.update",
        target_type="nudge_variant",
        target_id=_label(kind, locale, variant),
        summary=f"Changed nudge text {variant} for {kind} ({locale}): “{data.title}”",
        details={"before": [before.title, before.body], "after": [data.title, data.body]},
    )
    await scope.session.commit()
    return _public(kind, locale, variant, row)


async def _active_count(scope: OrgScope, kind: str, locale: str) -> int:
    return sum(not v.retired for v in await list_variants(scope, kind=kind, locale=locale))


async def retire_variant(
    scope: OrgScope, kind: str, locale: str, variant: str
) -> NudgeVariantPublic:
    """No longer send this variant (its measurements stay); 409 for the last one of its
    kind and language."""
    row, _ = await _found(scope, kind, locale, variant)
    if row is not None and row.retired_at is not None:
        return _public(kind, locale, variant, row)
    if await _active_count(scope, kind, locale) <= 1:
        raise ClientException(
            f"this is the last {kind} text in {locale}: add another one first, or switch "
            "the kind off in the rules",
            status_code=409,
        )
    if row is None:
        title, body = TEXTS[kind][variant][locale]
        row = NudgeTextVariant(
            organisation_id=scope.organisation_id,
            kind=kind,
            locale=locale,
            variant=variant,
            title=title,
            body=body,
        )
    row.retired_at = row.updated_at = utcnow()
    scope.add(row)
    audit.record(
        scope,
        "nudge.variant.retire",
        target_type="nudge_variant",
        target_id=_label(kind, locale, variant),
        summary=f"Retired nudge text {variant} for {kind} ({locale}): “{row.title}”",
    )
    await scope.session.commit()
    return _public(kind, locale, variant, row)


async def restore_variant(
    scope: OrgScope, kind: str, locale: str, variant: str
) -> NudgeVariantPublic:
    """Send a retired variant again."""
    row, _ = await _found(scope, kind, locale, variant)
    if row is None or row.retired_at is None:
        return _public(kind, locale, variant, row)
    row.retired_at, row.updated_at = None, utcnow()
    scope.session.add(row)
    audit.record(
        scope,
        "nudge.variant.restore",
        target_type="nudge_variant",
        target_id=_label(kind, locale, variant),
        summary=f"Restored nudge text {variant} for {kind} ({locale}): “{row.title}”",
    )
    await scope.session.commit()
    return _public(kind, locale, variant, row)


async def reset_variant(
    scope: OrgScope, kind: str, locale: str, variant: str
) -> NudgeVariantPublic:
    """A built-in variant back to its default text, and sent again; 409 for one L&D added
    (retire that instead: its measurements stay with it)."""
    row, built_in = await _found(scope, kind, locale, variant)
    if not built_in:
        raise ClientException(
            "only a built-in text can be reset to its default; retire this one instead",
            status_code=409,
        )
    if row is None:
        return _public(kind, locale, variant, None)
    await scope.session.exec(
        delete(NudgeTextVariant).where(
            scope.owns(NudgeTextVariant), col(NudgeTextVariant.id) == row.id
        )
    )
    audit.record(
        scope,
        "nudge.variant.reset",
        target_type="nudge_variant",
        target_id=_label(kind, locale, variant),
        summary=f"Reset nudge text {variant} for {kind} ({locale}) to its default",
        details={"before": [row.title, row.body], "was_retired": row.retired_at is not None},
    )
    await scope.session.commit()
    return _public(kind, locale, variant, None)


# --- measurements -----------------------------------------------------------------------------


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


async def measured_variants(
    scope: OrgScope,
    since: date,
    until: date,
    *,
    kind: str | None = None,
    locale: str | None = None,
) -> NudgeVariantList:
    """Every variant with the nudges sent with it from ``since`` to ``until`` (UTC days),
    how many were opened and how many were followed by learning within 24 hours."""
    if until < since:
        raise ValidationException(
            detail="until: must not be before since",
            extra=[{"key": "until", "message": "must not be before since"}],
        )
    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    conn = await scope.session.connection()
    query = (
        sa_select(
            col(Nudge.kind),
            col(Nudge.locale),
            col(Nudge.variant),
            func.count(),
            func.count(col(Nudge.clicked_at)),
            func.count(col(Nudge.learned_at)),
        )
        .where(
            scope.owns(Nudge),
            col(Nudge.sent_at) >= start,
            col(Nudge.sent_at) < end,
            col(Nudge.dedupe_key).notlike(PREVIEW_PREFIX + "%"),
        )
        .group_by(col(Nudge.kind), col(Nudge.locale), col(Nudge.variant))
    )
    counts = {(k, lo, v): (s, o, le) for k, lo, v, s, o, le in (await conn.execute(query)).all()}
    measured = []
    for variant in await list_variants(scope, kind=kind, locale=locale):
        sent, opened, learned = counts.get(
            (variant.kind.value, variant.locale, variant.variant), (0, 0, 0)
        )
        measured.append(
            NudgeVariantMeasured(
                **variant.model_dump(),
                measured=VariantMeasure(
                    sent=sent,
                    opened=opened,
                    learned_within_24h=learned,
                    open_rate=_rate(opened, sent),
                    learned_rate=_rate(learned, sent),
                ),
            )
        )
    return NudgeVariantList(since=since, until=until, variants=measured)


# --- a preview on one's own phone -------------------------------------------------------------


async def send_to_me(scope: OrgScope, kind: str, locale: str, variant: str) -> SentToMe:
    """Queue this variant, filled in with example values, as a push to the caller's own
    devices (the push worker delivers it like any nudge); 409 when they have none."""
    row, _ = await _found(scope, kind, locale, variant)
    user_id = scope.principal.user_id
    if user_id is None:
        raise ClientException("only a person can receive a nudge", status_code=409)
    devices = (
        await scope.session.exec(
            select(func.count())
            .select_from(PushSubscription)
            .where(scope.owns(PushSubscription), PushSubscription.user_id == user_id)
        )
    ).one()
    if not devices:
        raise ClientException(
            "you have no device with notifications on: open learnloop on your phone and "
            "turn on notifications in Settings",
            status_code=409,
        )
    shown = _public(kind, locale, variant, row)
    params = dict(SAMPLE_PARAMS[kind])
    if "organisation" in params:
        params["organisation"] = (await scope.organisation()).name
    text = render(
        kind, variant, locale, params, {kind: {locale: {variant: (shown.title, shown.body)}}}
    )
    nudge_id = secrets.token_hex(16)
    scope.add(
        Nudge(
            id=nudge_id,
            organisation_id=scope.organisation_id,
            user_id=user_id,
            kind=kind,
            variant=variant,
            dedupe_key=PREVIEW_PREFIX + nudge_id,
            locale=locale,
            title=text.title[:200],
            body=text.body[:500],
            url=URL[NudgeType(kind)],
            due_at=utcnow(),
        )
    )
    audit.record(
        scope,
        "nudge.send_to_me",
        target_type="nudge_variant",
        target_id=_label(kind, locale, variant),
        summary=f"Sent nudge text {variant} for {kind} ({locale}) to their own devices",
        details={"nudge_id": nudge_id, "devices": int(devices)},
    )
    await scope.session.commit()
    return SentToMe(nudge_id=nudge_id, devices=int(devices), title=text.title, body=text.body)
