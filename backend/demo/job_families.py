"""Demo data: the competencies L&D expects of each demo job family, so the recommendations
have roles to recommend towards ("belongs to your role and is new for you").

Written through ``accounts.job_families.set_expected_competencies`` (with its audit entry) by
the demo's L&D admin, inside the seed's transaction.
"""

from sqlmodel.ext.asyncio.session import AsyncSession

from backend.accounts.job_families import set_expected_competencies
from backend.auth.principal import Principal
from backend.db.models import Role
from backend.tenancy import OrgScope

# job family (seed.TEAM_FAMILIES, plus the L&D team's own) -> keys of seed.COMPETENCIES
EXPECTED: dict[str, tuple[str, ...]] = {
    "Logistiek": ("veiligheid", "duurzaam", "digitaal"),
    "Klantenservice": ("klant", "communicatie", "digitaal"),
    "Finance": ("data_ai", "project", "duurzaam"),
    "IT": ("digitaal", "data_ai", "project"),
    "Commercie": ("klant", "communicatie", "duurzaam"),
    "L&D": ("leiderschap", "communicatie", "data_ai"),
}


async def seed_job_families(
    session: AsyncSession,
    organisation_id: int,
    competency_ids: dict[str, int],
    *,
    ld_admin_id: int | None,
    ld_admin_name: str,
) -> None:
    """Expect ``EXPECTED``'s competencies (``competency_ids``: seed key -> id) per family."""
    principal = Principal(
        organisation_id=organisation_id,
        user_id=ld_admin_id,
        roles=frozenset({Role.employee.value, Role.ld_admin.value}),
        via="cli",
        display_name=ld_admin_name,
    )
    scope = OrgScope(session, principal)
    for family, keys in EXPECTED.items():
        await set_expected_competencies(
            scope, family, [competency_ids[key] for key in keys], commit=False
        )
