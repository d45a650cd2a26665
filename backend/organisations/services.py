"""Organisations: creating one, and changing its name, defaults and settings."""

import re

from litestar.exceptions import ClientException, ValidationException
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.audit import services as audit
from backend.badges.defaults import ensure_default_badges
from backend.db.models import Organisation
from backend.organisations.game_rules import change_game_rules
from backend.organisations.schemas import OrganisationPublic, OrganisationUpdate
from backend.organisations.settings import (
    GAME_RULE_KEYS,
    OrganisationSettings,
    newest_game_rules,
    organisation_settings,
)
from backend.tenancy import OrgScope


def _public(organisation: Organisation) -> OrganisationPublic:
    assert organisation.id is not None
    return OrganisationPublic(
        id=organisation.id,
        name=organisation.name,
        default_timezone=organisation.default_timezone,
        default_locale=organisation.default_locale,
        settings=organisation_settings(organisation),
    )


def slug_for(name: str) -> str:
    """The short unique name an organisation gets from its name ("Bakkerij Jansen" ->
    "bakkerij-jansen")."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:80] or "org"


async def create_organisation(
    session: AsyncSession, *, name: str, slug: str, timezone: str, locale: str
) -> Organisation:
    """A new organisation with the default badges; 409 when the slug is taken."""
    organisation = Organisation(
        name=name, slug=slug, default_timezone=timezone, default_locale=locale
    )
    session.add(organisation)
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        raise ClientException(
            f"an organisation with slug {slug!r} already exists", status_code=409
        ) from exc
    assert organisation.id is not None
    await ensure_default_badges(session, organisation.id)
    await session.commit()
    return organisation


async def get_organisation(org: OrgScope) -> OrganisationPublic:
    return _public(await org.organisation())


def _merged_settings(
    organisation: Organisation, changes: dict[str, object]
) -> OrganisationSettings:
    # the merged document is validated, so a partial update can't store a broken setting;
    # a section sent as an object ("xp") is merged over the stored one, key by key
    merged = organisation_settings(organisation).model_dump(mode="json")
    for key, value in changes.items():
        stored = merged.get(key)
        if isinstance(stored, dict) and isinstance(value, dict):
            merged[key] = {**stored, **value}
        else:
            merged[key] = value
    try:
        return OrganisationSettings.model_validate(merged)
    except ValidationError as exc:
        raise ValidationException(
            "invalid organisation settings",
            extra=[
                {"key": f"settings.{'.'.join(map(str, e['loc']))}", "message": e["msg"]}
                for e in exc.errors()
            ],
        ) from exc


async def update_organisation(org: OrgScope, data: OrganisationUpdate) -> OrganisationPublic:
    """Change the caller's organisation: name, defaults, and any settings sent.

    Game rules among the settings (streak, ``xp``, ``levels``) change through
    :func:`change_game_rules`, from now (a streak change from the next week); every change
    is in the audit log with its values before and after.
    """
    organisation = await org.organisation()
    changes = dict(data.settings or {})
    if "game_rules_history" in changes:
        raise ValidationException(
            "invalid organisation settings",
            extra=[{"key": "settings.game_rules_history", "message": "kept by the server"}],
        )
    game_changes = {k: v for k, v in changes.items() if k in GAME_RULE_KEYS}
    other_changes = {k: v for k, v in changes.items() if k not in GAME_RULE_KEYS}
    merged = _merged_settings(organisation, changes) if changes else None
    before: dict[str, object] = {}
    after: dict[str, object] = {}
    if merged is not None and other_changes:
        stored = organisation_settings(organisation).model_dump(mode="json")
        wanted = merged.model_dump(mode="json")
        for key in other_changes:
            if stored.get(key) != wanted.get(key):
                before[key], after[key] = stored.get(key), wanted.get(key)
    for field in ("name", "default_timezone", "default_locale"):
        value = getattr(data, field)
        if value is not None and value != getattr(organisation, field):
            before[field], after[field] = getattr(organisation, field), value
    if merged is not None and game_changes:
        await change_game_rules(org, newest_game_rules(merged), commit=False)
        organisation = await org.organisation()
    if after:
        settings = organisation_settings(organisation).model_dump(mode="json")
        settings.update({k: v for k, v in after.items() if k in other_changes})
        organisation.settings = settings
        for field in ("name", "default_timezone", "default_locale"):
            if field in after:
                setattr(organisation, field, after[field])
        audit.record(
            org,
            "organisation.update",
            target_type="organisation",
            target_id=org.organisation_id,
            summary=f"Changed the organisation's {', '.join(sorted(after))}",
            details={"before": before, "after": after},
        )
    org.session.add(organisation)
    await org.session.commit()
    return _public(organisation)
