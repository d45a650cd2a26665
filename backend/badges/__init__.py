"""Badges: the organisation's badge definitions, the learner's badge wall and Open Badges 3.0
credentials for every awarded tier (the engine in ``gamification.badges`` decides awards)."""
