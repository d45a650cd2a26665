"""What an import did, and how it reports progress while it runs."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

BATCH = 1000  # rows compared and written per step; progress is reported after each step

Progress = Callable[[int], Awaitable[None]]
"""Called with the number of rows done so far."""


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # e.g. {"competencies": 2}: rows of other kinds the import created along the way
    extra: dict[str, int] = field(default_factory=dict)
    # the people created or changed, for what follows the commit (their stored statements)
    people: list[int] = field(default_factory=list)


async def no_progress(done: int) -> None:
    return None
