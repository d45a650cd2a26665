"""Who is calling: a signed-in user (session cookie) or an integration (API key)."""

from dataclasses import dataclass
from typing import Literal

from backend.db.models import Role


@dataclass(frozen=True, slots=True)
class Principal:
    organisation_id: int
    user_id: int | None
    roles: frozenset[str]
    via: Literal["session", "api_key", "cli"]  # cli: the operator at the command line
    api_key_id: int | None = None
    display_name: str = ""
    locale: str = "nl"
    timezone: str = "Europe/Amsterdam"
    email: str = ""

    @property
    def is_ld_admin(self) -> bool:
        return Role.ld_admin.value in self.roles

    @property
    def is_manager(self) -> bool:
        return Role.manager.value in self.roles

    def has_role(self, role: Role) -> bool:
        return role.value in self.roles
