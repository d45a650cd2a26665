"""Web Push delivery: VAPID keys, device subscriptions, and the workers that send nudges.

Where things are:

- ``controllers.py``, ``schemas.py``, ``services.py``: the API a PWA subscribes a device with.
- ``keys.py``: the VAPID key pair; ``vapid.py``: the signed ``Authorization`` header per
  push service; ``payload.py``: the JSON a device shows and its TTL/Urgency/Topic headers.
- ``sender.py``: one message to one device (encrypt, POST, classify the answer) and the
  send lanes that cap messages in flight.
- ``model.py``: the value types the next two share (a claimed batch, its outcomes, a
  worker's tally); ``outbox.py``: all of the outbox's SQL (claim, release, record);
  ``delivery.py``: a claimed batch sent, judged and recorded; ``worker.py``: the process
  loop (``learnloop worker``, or inside ``serve``).

No module keeps state. Per worker (made in ``PushWorker.run``, gone when it stops): one
aiohttp session (a connection pool of ``push_concurrency`` per push service), header dicts
per (nudge kind, push service) and a VAPID token per push service (a handful each, renewed
before they expire), ``push_concurrency`` send lanes, and the delivery log (at most 50 ms of
deliveries to write, and what it wrote for the batches in hand). The SQL runs on the app's
engine pool; asyncpg prepares each outbox statement once per pooled connection.
"""
