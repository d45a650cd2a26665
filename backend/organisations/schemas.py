from typing import Any, Literal

from pydantic import BaseModel

from backend.accounts.schemas import Schema
from backend.organisations.settings import OrganisationSettings
from backend.validation import Name, TimezoneName


class OrganisationPublic(BaseModel):
    id: int
    name: str
    default_timezone: str
    default_locale: str
    settings: OrganisationSettings


class OrganisationUpdate(Schema):
    name: Name | None = None
    default_timezone: TimezoneName | None = None
    default_locale: Literal["nl", "en"] | None = None
    # a partial settings document: merged over the stored one, then validated whole
    settings: dict[str, Any] | None = None
