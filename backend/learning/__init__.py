"""Learning-record intake: pure parsing and validation of what LMSs send us.

Two formats arrive from learning management systems:

- ``xapi``: xAPI 1.0.3 statements (``POST``/``PUT /xapi/statements``), parsed into
  :class:`~backend.learning.xapi.ParsedStatement`.
- ``webhook``: learnloop's own signed webhook (HMAC-SHA256, Stripe/GitHub style), verified
  with :func:`~backend.learning.webhook.verify_signature` and parsed into
  :class:`~backend.learning.webhook.WebhookDelivery`.

No database, no web framework, no clock: the ingestion service supplies ``now`` and turns
the parsed values into normalised learning events for the gamification engine. Every
rejection is a ``ValueError`` subclass (:class:`~backend.learning.xapi.XapiError`,
:class:`~backend.learning.webhook.WebhookError`) carrying the offending field, so the
endpoints can answer 400 with a precise message.
"""
