"""The scheduler tick's statements on PostgreSQL, on the raw asyncpg connection.

A batch costs two statements: :data:`BATCH_SQL` picks the due learners (``FOR UPDATE SKIP
LOCKED`` through the ``next_nudge_at`` index) and returns, per learner, everything the policy
needs as arrays (recent learning, nudges of the last days, badges, kudos, teams, this
month's budget key), so Python never groups rows; :data:`WRITE_SQL` inserts the outbox rows,
stores every ``next_nudge_at`` and records learning after sent nudges in one statement.
Rare inputs (testimonial asks, long-lived dedupe keys) and the budget spend of learners who
may get a budget reminder are one more query each, only when a batch has any.
"""

import json
import secrets
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

from backend.nudges.policy_input import (
    ACTIVITY_DAYS,
    EVENT_DAYS,
    HISTORY_DAYS,
    DueLearner,
    LearnerInput,
    OrgNudgeContext,
    activity_of,
    badge_happening,
    budget_happening,
    budget_key,
    budget_keys_around,
    budget_year,
    challenge_happenings,
    kudos_happening,
    learner_prefs,
    local_today,
    testimonial_asks,
    testimonial_happening,
    wanted_keys,
    welcome_happening,
)
from gamification.nudge_policy import Happening, LearnerPrefs, NudgePlan, SentNudge

LEARNED_WITHIN = timedelta(hours=24)

# every lateral is one index range scan per learner; the arrays of one lateral come from the
# same rows in the same order, so they line up
BATCH_SQL = """
WITH due AS (
    SELECT s.user_id, s.organisation_id, s.current_streak, s.freezes_banked,
           s.last_active_date, s.weekly_goal_minutes
    FROM learner_state s
    WHERE s.next_nudge_at <= $1
    ORDER BY s.next_nudge_at
    LIMIT $2
    FOR UPDATE OF s SKIP LOCKED
)
SELECT d.user_id, d.organisation_id, d.current_streak, d.freezes_banked, d.last_active_date,
       d.weekly_goal_minutes,
       u.timezone, u.locale, u.reminder_time, u.quiet_hours_start, u.quiet_hours_end,
       u.nudge_kinds_off::text, u.start_date, coalesce(u.is_active, false),
       ev.at, ev.day, ev.minutes, ev.kind, ev.course,
       nh.kind, nh.key, nh.due, nh.unlearned, nh.sent,
       bd.code, bd.tier, bd.at, bd.name, bd.name_en,
       kd.id, kd.at, kd.name,
       ARRAY(SELECT m.team_id FROM team_membership m WHERE m.user_id = d.user_id),
       ARRAY(SELECT n.dedupe_key FROM nudge n
             WHERE n.user_id = d.user_id AND n.dedupe_key = ANY($6::text[]))
FROM due d
LEFT JOIN user_account u ON u.id = d.user_id
LEFT JOIN LATERAL (
    SELECT array_agg(e.occurred_at) AS at, array_agg(e.local_date) AS day,
           array_agg(e.minutes) AS minutes, array_agg(e.kind) AS kind,
           array_agg(e.course_id) AS course
    FROM (SELECT e.occurred_at, e.local_date, e.minutes, e.kind, e.course_id
          FROM learning_event e
          WHERE e.user_id = d.user_id AND e.occurred_at >= $3 AND e.occurred_at <= $1
            AND e.kind <> 'testimonial'
          ORDER BY e.occurred_at) e
) ev ON true
LEFT JOIN LATERAL (
    SELECT array_agg(n.kind) AS kind, array_agg(n.dedupe_key) AS key, array_agg(n.due_at) AS due,
           array_agg(n.id) FILTER (WHERE n.sent_at IS NOT NULL AND n.learned_at IS NULL)
               AS unlearned,
           array_agg(n.sent_at) FILTER (WHERE n.sent_at IS NOT NULL AND n.learned_at IS NULL)
               AS sent
    FROM nudge n
    WHERE n.user_id = d.user_id AND n.created_at >= $4
) nh ON true
LEFT JOIN LATERAL (
    SELECT array_agg(a.badge_code) AS code, array_agg(a.tier) AS tier,
           array_agg(a.awarded_at) AS at, array_agg(b.name) AS name,
           array_agg(b.name_en) AS name_en
    FROM badge_award a
    LEFT JOIN badge_definition b
           ON b.organisation_id = a.organisation_id AND b.code = a.badge_code
    WHERE a.user_id = d.user_id AND a.awarded_at >= $5
) bd ON true
LEFT JOIN LATERAL (
    SELECT array_agg(k.id) AS id, array_agg(k.created_at) AS at,
           array_agg(f.display_name) AS name
    FROM kudos k
    JOIN user_account f ON f.id = k.from_user_id
    WHERE k.to_user_id = d.user_id AND k.created_at >= $5
) kd ON true
"""

# the outbox rows, every next_nudge_at and the learning after sent nudges, in one statement;
# the tick's commit need not wait for its WAL flush: a push worker that sees one of these
# nudges commits its claim later in the WAL, and that commit flushes this one with it
WRITE_SQL = """
WITH created AS (
    INSERT INTO nudge (id, organisation_id, user_id, kind, variant, dedupe_key, locale, title,
                       body, url, due_at, status, attempts, last_error, created_at)
    SELECT v.*, 'pending', 0, '', $12
    FROM unnest($1::varchar[], $2::int[], $3::int[], $4::varchar[], $5::varchar[],
                $6::varchar[], $7::varchar[], $8::varchar[], $9::varchar[], $10::varchar[],
                $11::timestamptz[]) AS v
    ON CONFLICT (user_id, dedupe_key) DO NOTHING
    RETURNING 1
), moved AS (
    UPDATE learner_state s SET next_nudge_at = v.at
    FROM unnest($13::int[], $14::timestamptz[]) AS v(user_id, at)
    WHERE s.user_id = v.user_id
), learned AS (
    UPDATE nudge n SET learned_at = v.at
    FROM unnest($15::varchar[], $16::timestamptz[]) AS v(id, at)
    WHERE n.id = v.id AND n.learned_at IS NULL
)
SELECT (SELECT count(*) FROM created), set_config('synchronous_commit', 'off', true)
"""

TESTIMONIALS_SQL = """
SELECT w.user_id, w.course_id, k.title
FROM unnest($1::int[], $2::int[]) AS w(user_id, course_id)
JOIN course k ON k.id = w.course_id
WHERE NOT EXISTS (
    SELECT 1 FROM testimonial t WHERE t.user_id = w.user_id AND t.course_id = w.course_id
)
"""

SPENT_SQL = """
SELECT e.user_id, e.occurred_at, k.cost_cents
FROM learning_event e
JOIN course k ON k.id = e.course_id
WHERE e.user_id = ANY($1::int[]) AND e.kind = 'completion' AND e.occurred_at >= $2
  AND k.cost_cents > 0
"""

KNOWN_KEYS_SQL = """
SELECT n.user_id, n.kind, n.dedupe_key, n.due_at
FROM nudge n
JOIN unnest($1::int[], $2::varchar[]) AS w(user_id, dedupe_key)
  ON n.user_id = w.user_id AND n.dedupe_key = w.dedupe_key
"""


async def fetch_due(pg: Any, now: datetime, limit: int) -> list[Any]:
    """The due learners of one batch (locked), each with their policy input as arrays."""
    return list(await pg.fetch(BATCH_SQL, *batch_parameters(now, limit)))


def batch_parameters(now: datetime, limit: int) -> tuple[Any, ...]:
    """:data:`BATCH_SQL`'s parameters ``$1``-``$6``."""
    return (
        now,
        limit,
        now - timedelta(days=ACTIVITY_DAYS),
        now - timedelta(days=HISTORY_DAYS),
        now - timedelta(days=EVENT_DAYS),
        budget_keys_around(now),
    )


class Batch:
    """One batch's learners built from :data:`BATCH_SQL` rows, and what is still to look up."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.learners: dict[int, LearnerInput] = {}
        self.inactive: list[int] = []
        self.learned_ids: list[str] = []
        self.learned_at: list[datetime] = []
        self.asks: dict[tuple[int, int], datetime] = {}
        # learner -> (local today, first day of the budget year, months left in it)
        self.budget: dict[int, tuple[Any, Any, int]] = {}
        self._prefs: dict[tuple[Any, ...], LearnerPrefs] = {}
        self._budget_happenings: dict[tuple[Any, str, int, int], Happening] = {}

    def add_rows(self, rows: Sequence[Any], orgs: dict[int, OrgNudgeContext]) -> None:
        """Turn every row into a :class:`LearnerInput` (inactive learners: into ``inactive``)."""
        now = self.now
        for row in rows:
            (
                user_id,
                org_id,
                streak,
                freezes,
                last_active,
                goal,
                tz,
                locale,
                reminder,
                quiet_start,
                quiet_end,
                kinds_off,
                start,
                active,
                ev_at,
                ev_day,
                ev_minutes,
                ev_kind,
                ev_course,
                h_kind,
                h_key,
                h_due,
                unlearned,
                sent,
                b_code,
                b_tier,
                b_at,
                b_name,
                b_name_en,
                k_id,
                k_at,
                k_name,
                teams,
                budget_sent,
            ) = row
            org = orgs.get(org_id)
            if not active or org is None:
                self.inactive.append(user_id)
                continue
            due = DueLearner(user_id, org_id, streak, freezes, last_active, goal)
            prefs = self._prefs_of(
                tz, locale, reminder, quiet_start, quiet_end, kinds_off, start, org
            )
            if ev_at is None:
                activity = activity_of(due, (), (), (), ())
            else:
                activity = activity_of(due, ev_at, ev_day, ev_minutes, ev_kind)
            learner = LearnerInput(due, prefs, True, activity)
            history = learner.history
            if h_kind is not None:
                history.extend(map(SentNudge, h_kind, h_key, h_due))
            happenings = learner.happenings
            if b_code is not None:
                for code, tier, awarded_at, name, name_en in zip(
                    b_code, b_tier, b_at, b_name, b_name_en, strict=True
                ):
                    happenings.append(
                        badge_happening(code, tier, awarded_at, name, name_en, prefs.locale)
                    )
            if k_id is not None:
                for kudos_id, created_at, colleague in zip(k_id, k_at, k_name, strict=True):
                    happenings.append(kudos_happening(kudos_id, created_at, colleague))
            if org.challenges:
                happenings.extend(challenge_happenings(org, prefs.timezone, teams, now))
            happenings.extend(org.course_happenings)
            if prefs.start_date is not None:
                welcome = welcome_happening(prefs, org, now)
                if welcome is not None:
                    happenings.append(welcome)
            if ev_at is not None:
                if "completion" in ev_kind:
                    asks = testimonial_asks(ev_at, ev_kind, ev_course, now)
                    for course_id, completed in asks.items():
                        self.asks[(user_id, course_id)] = completed
                if unlearned is not None:
                    self._learned(unlearned, sent, ev_at)
            if org.settings.yearly_budget_cents > 0:
                today = local_today(now, prefs.timezone)
                key = budget_key(today)
                if key not in budget_sent and (h_key is None or key not in h_key):
                    start_of_year, months_left = budget_year(
                        today, org.settings.budget_year_start_month
                    )
                    self.budget[user_id] = (today, start_of_year, months_left)
            self.learners[user_id] = learner

    def _prefs_of(
        self,
        tz: str,
        locale: str,
        reminder: time | None,
        quiet_start: time,
        quiet_end: time,
        kinds_off: str | None,
        start: Any,
        org: OrgNudgeContext,
    ) -> LearnerPrefs:
        # most learners share their settings with many others: build each combination once
        key = (tz, locale, reminder, quiet_start, quiet_end, kinds_off, start, org.organisation_id)
        prefs = self._prefs.get(key)
        if prefs is None:
            off = json.loads(kinds_off) if kinds_off else None
            kinds = frozenset(str(kind) for kind in off) if off else frozenset()
            prefs = learner_prefs(tz, locale, reminder, quiet_start, quiet_end, kinds, start, org)
            self._prefs[key] = prefs
        return prefs

    def _learned(self, nudge_ids: list[str], sent: list[datetime], moments: list[datetime]) -> None:
        # the first learning within 24 h after each sent nudge is what the nudge is measured by
        for nudge_id, sent_at in zip(nudge_ids, sent, strict=True):
            inside = [m for m in moments if sent_at <= m <= sent_at + LEARNED_WITHIN]
            if inside:
                self.learned_ids.append(nudge_id)
                self.learned_at.append(min(inside))

    async def look_up_the_rest(self, pg: Any, orgs: dict[int, OrgNudgeContext]) -> None:
        """Testimonial asks, budget spend and long-lived dedupe keys, where the batch has any."""
        if self.asks:
            await self._testimonials(pg)
        if self.budget:
            await self._budgets(pg, orgs)
        await self._known_keys(pg)

    async def _testimonials(self, pg: Any) -> None:
        pairs = sorted(self.asks)
        rows = await pg.fetch(TESTIMONIALS_SQL, [u for u, _ in pairs], [c for _, c in pairs])
        for user_id, course_id, title in rows:
            completed = self.asks[(user_id, course_id)]
            self.learners[user_id].happenings.append(
                testimonial_happening(course_id, title, completed)
            )

    async def _budgets(self, pg: Any, orgs: dict[int, OrgNudgeContext]) -> None:
        earliest = min(start for _, start, _ in self.budget.values())
        rows = await pg.fetch(
            SPENT_SQL, sorted(self.budget), datetime.combine(earliest, time.min, tzinfo=UTC)
        )
        spent: dict[int, int] = defaultdict(int)
        for user_id, occurred_at, cost in rows:
            if occurred_at.date() >= self.budget[user_id][1]:
                spent[user_id] += cost
        for user_id, (today, _start, months_left) in self.budget.items():
            learner = self.learners[user_id]
            org = orgs[learner.due.organisation_id]
            left = org.settings.yearly_budget_cents - spent.get(user_id, 0)
            if left > 0:
                # most learners of a month, zone and organisation have the same reminder
                key = (today, learner.prefs.timezone, left, months_left)
                happening = self._budget_happenings.get(key)
                if happening is None:
                    happening = self._budget_happenings[key] = budget_happening(*key)
                learner.happenings.append(happening)

    async def _known_keys(self, pg: Any) -> None:
        horizon = self.now - timedelta(days=HISTORY_DAYS)
        recent = {(uid, h.dedupe_key) for uid, li in self.learners.items() for h in li.history}
        wanted = wanted_keys(self.learners, horizon, recent)
        if not wanted:
            return
        pairs = sorted(wanted)
        rows = await pg.fetch(KNOWN_KEYS_SQL, [u for u, _ in pairs], [k for _, k in pairs])
        for user_id, kind, key, due_at in rows:
            self.learners[user_id].history.append(SentNudge(kind, key, due_at))


class Outbox:
    """The batch's writes as column arrays, for :data:`WRITE_SQL`."""

    def __init__(self) -> None:
        self.columns: tuple[list[Any], ...] = tuple([] for _ in range(11))
        self.user_ids: list[int] = []
        self.next_at: list[datetime | None] = []

    def add(self, learner: LearnerInput, result: NudgePlan) -> None:
        """One learner's plan: its nudges and its next moment."""
        due = learner.due
        self.user_ids.append(due.user_id)
        self.next_at.append(result.next_at)
        if not result.nudges:
            return
        ids, orgs, users, kinds, variants, keys, locales, titles, bodies, urls, due_at = (
            self.columns
        )
        for nudge in result.nudges:
            ids.append(None)  # filled in write(): one random draw for the whole batch
            orgs.append(due.organisation_id)
            users.append(due.user_id)
            kinds.append(nudge.kind.value)
            variants.append(nudge.variant)
            keys.append(nudge.dedupe_key)
            locales.append(nudge.locale)
            titles.append(nudge.title[:200])
            bodies.append(nudge.body[:500])
            urls.append(nudge.url)
            due_at.append(nudge.due_at)

    def nothing_for(self, user_ids: Sequence[int]) -> None:
        """Learners with nothing to plan (inactive): not looked at again until woken."""
        self.user_ids.extend(user_ids)
        self.next_at.extend([None] * len(user_ids))

    async def write(self, pg: Any, batch: Batch) -> int:
        """Insert, move and record in one statement; returns the nudges created."""
        ids = self.columns[0]
        if ids:
            blob = secrets.token_hex(16 * len(ids))
            ids[:] = [blob[i : i + 32] for i in range(0, len(blob), 32)]
        created, _ = await pg.fetchrow(
            WRITE_SQL,
            *self.columns,
            batch.now,
            self.user_ids,
            self.next_at,
            batch.learned_ids,
            batch.learned_at,
        )
        return int(created)
