"""Goals with a date falling behind: the batch's learners who have open dated goals get a
happening per goal behind its pace (``gamification.nudges.dated_goals_behind``).

One statement per batch, over the batch's learners: only documents with an open dated goal
come back, and of those only the goals and their tallies.
"""

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from backend.nudges.policy_input import Batch
from gamification.goals import DatedGoal, GoalTally
from gamification.nudges import GOAL_PACE_HOUR, dated_goals_behind
from gamification.periods import local_day, local_day_start

GOALS_SQL = """
SELECT s.user_id, (s.data -> 'dated_goals')::text, (s.data -> 'goal_tallies')::text
FROM learner_state s
WHERE s.user_id = ANY($1::int[])
  AND json_typeof(s.data -> 'dated_goals') = 'array'
  AND json_array_length(s.data -> 'dated_goals') > 0
"""


async def add_goal_pace(pg: asyncpg.Connection, batch: Batch) -> None:
    """Add the goal-pace happenings of the batch's learners (see the module docstring)."""
    if not batch.learners:
        return
    now = batch.now
    for user_id, goals_json, tallies_json in await pg.fetch(GOALS_SQL, list(batch.learners)):
        learner = batch.learners[user_id]
        tz = learner.prefs.timezone
        today = local_day(now, tz)
        try:
            goals = [DatedGoal.from_dict(g) for g in json.loads(goals_json)]
            tallies = {
                str(key): GoalTally.from_json(value)
                for key, value in json.loads(tallies_json or "{}").items()
            }
        except (ValueError, TypeError, KeyError):
            continue  # a document this engine cannot read gets no goal nudge, not a failed tick
        due_from = datetime.combine(today, GOAL_PACE_HOUR, tzinfo=ZoneInfo(tz)).astimezone(UTC)
        learner.happenings.extend(
            dated_goals_behind(
                goals,
                tallies,
                today,
                due_from,
                local_day_start(today + timedelta(days=1), tz),
                [(sent.dedupe_key, sent.due_at) for sent in learner.history],
            )
        )
