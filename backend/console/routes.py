"""Every console page controller, collected from the console's modules (one per section)."""

from litestar import Controller

from backend.console import (
    audit,
    badges,
    budget,
    catalogue,
    challenges,
    competencies,
    game,
    imports,
    insights,
    integrations,
    job_families,
    nudges,
    overview,
    people,
    team,
    testimonials,
)

CONSOLE_CONTROLLERS: list[type[Controller]] = [
    *overview.CONTROLLERS,
    *team.CONTROLLERS,
    *budget.CONTROLLERS,
    *people.CONTROLLERS,
    *job_families.CONTROLLERS,
    *catalogue.CONTROLLERS,
    *competencies.CONTROLLERS,
    *imports.CONTROLLERS,
    *game.CONTROLLERS,
    *badges.CONTROLLERS,
    *challenges.CONTROLLERS,
    *nudges.CONTROLLERS,
    *testimonials.CONTROLLERS,
    *integrations.CONTROLLERS,
    *audit.CONTROLLERS,
    *insights.CONTROLLERS,
]
