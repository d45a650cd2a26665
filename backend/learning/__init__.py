"""Learning intake: every source of learning through one ingestion service.

- ``xapi``, ``webhook``: pure parsing and validation of what LMSs send (xAPI 1.0.3
  statements; learnloop's signed webhook), every rejection a ``ValueError`` naming the field;
  ``webhook_secrets``: the webhook's signing secrets at rest.
- ``model``: the value types (incoming event, organisation context, learner, course, state
  snapshot, result); ``adapters``: each source's input (xAPI, webhook, events API, moments,
  testimonials, demo seed) as incoming events.
- ``lookup``: what a request reads before it records (directories of learners and courses,
  the organisation's context, states), from ``ingest_cache`` or one statement;
  ``store``: every SQL statement of ingestion; ``connections``: the asyncpg connections they
  run on.
- ``service``: ``record_events``, the one entry point every source uses; ``history`` and
  ``rules``: what the engine needs besides the events.
- ``controllers``, ``schemas``, ``today``: the routes, their shapes and the Today screen.
"""
