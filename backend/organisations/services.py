"""Organisations: creating one, and changing its name, defaults and settings."""

from litestar.exceptions import ClientException, ValidationException
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from backend.badges.defaults import ensure_default_badges
from backend.db.models import Organisation
from backend.organisations.schemas import OrganisationPublic, OrganisationUpdate
from backend.organisations.settings import OrganisationSettings, organisation_settings
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


def _merged_settings(organisation: Organisation, changes: dict[str, object]) -> dict[str, object]:
    # the merged document is validated, so a partial update can't store a broken setting
    merged = organisation_settings(organisation).model_dump() | changes
    try:
        return OrganisationSettings.model_validate(merged).model_dump()
    except ValidationError as exc:
        raise ValidationException(
            "invalid organisation settings",
            extra=[
                {"key": f"settings.{'.'.join(map(str, e['loc']))}", "message": e["msg"]}
                for e in exc.errors()
            ],
        ) from exc


async def update_organisation(org: OrgScope, data: OrganisationUpdate) -> OrganisationPublic:
    """Change the caller's organisation: name, defaults, and any settings sent."""
    organisation = await org.organisation()
    if data.settings is not None:
        organisation.settings = _merged_settings(organisation, data.settings)
    for field in ("name", "default_timezone", "default_locale"):
        value = getattr(data, field)
        if value is not None:
            setattr(organisation, field, value)
    org.session.add(organisation)
    await org.session.commit()
    return _public(organisation)
