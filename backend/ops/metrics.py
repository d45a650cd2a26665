"""This process's counters, and the Prometheus text format they are served in at ``/metrics``.

Hand-written rather than ``prometheus_client``: its counters take a lock per increment, and
a request here pays one dictionary update (:meth:`Counter.inc`), nothing else. Every
increment happens on the event loop's thread, so none needs a lock. Values are per process
(docs/operations.md says how to scrape several); the gauges read from the database at scrape
time (outbox depth and age) are the deployment's, whichever process answers.

Standard library only: the intake log and the push worker import it on their hot paths.
"""

import math
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Counter:
    """A monotonic count per label values (a tuple, in :attr:`label_names` order)."""

    kind = "counter"

    def __init__(self, name: str, help_text: str, label_names: Labels = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = label_names
        self.values: dict[Labels, float] = {}

    def inc(self, labels: Labels = (), amount: float = 1) -> None:
        self.values[labels] = self.values.get(labels, 0) + amount

    def value(self, labels: Labels = ()) -> float:
        return self.values.get(labels, 0)

    def samples(self) -> Iterable[str]:
        for labels, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.label_names, labels)} {_number(value)}"


class Histogram:
    """Observations counted into cumulative buckets, with their sum and count (unlabelled)."""

    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        self.name = name
        self.help = help_text
        self.label_names: Labels = ()
        self.buckets = (*sorted(buckets), math.inf)
        self.counts = [0] * len(self.buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1
                break
        self.sum += value
        self.count += 1

    def samples(self) -> Iterable[str]:
        cumulative = 0
        for bound, count in zip(self.buckets, self.counts, strict=True):
            cumulative += count
            yield f'{self.name}_bucket{{le="{_number(bound)}"}} {cumulative}'
        yield f"{self.name}_sum {_number(self.sum)}"
        yield f"{self.name}_count {self.count}"


class Gauge:
    """A value per label values, set when scraped (see ``backend.ops.exposition``)."""

    kind = "gauge"

    def __init__(self, name: str, help_text: str, label_names: Labels = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = label_names

    def render(self, values: dict[Labels, float]) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} gauge"]
        for labels, value in sorted(values.items()):
            lines.append(f"{self.name}{_labels(self.label_names, labels)} {_number(value)}")
        return lines


def render(metrics: Iterable[Counter | Histogram]) -> list[str]:
    lines: list[str] = []
    for metric in metrics:
        lines.append(f"# HELP {metric.name} {metric.help}")
        lines.append(f"# TYPE {metric.name} {metric.kind}")
        lines.extend(metric.samples())
    return lines


# --------------------------------------------------------------------------- the counters

REQUESTS = Counter(
    "learnloop_http_requests_total",
    "HTTP requests answered by this process, by route template, method and status class.",
    ("route", "method", "status"),
)
INGESTED = Counter(
    "learnloop_ingested_total",
    "Statements and events an integration sent, by source and outcome (the intake log's).",
    ("source", "outcome"),
)
TICK_SECONDS = Histogram(
    "learnloop_nudge_tick_seconds",
    "How long the nudge scheduler's ticks in this process took.",
    (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
TICKS = Counter(
    "learnloop_nudge_ticks_total",
    "Nudge scheduler ticks run by this process, by result (ok, failed).",
    ("result",),
)
NUDGES_QUEUED = Counter(
    "learnloop_nudges_queued_total", "Nudges the scheduler ticks of this process put in the outbox."
)
PUSH_OUTCOMES = Counter(
    "learnloop_push_total",
    "Push outcomes of this process's workers: messages delivered to devices (delivered), "
    "nudges sent, retried later, dead, and devices removed as gone.",
    ("outcome",),
)
PUSH_BATCHES = Counter(
    "learnloop_push_batches_total",
    "Outbox batches this process's workers claimed, by result (ok, failed).",
    ("result",),
)

COUNTERS: list[Counter | Histogram] = [
    REQUESTS,
    INGESTED,
    TICKS,
    TICK_SECONDS,
    NUDGES_QUEUED,
    PUSH_OUTCOMES,
    PUSH_BATCHES,
]

STARTED_AT = time.time()
PID = os.getpid()


def count_ingestion(source: str, items: Sequence[dict[str, Any]]) -> None:
    """Count one intake log entry's items by outcome (``o``)."""
    values = INGESTED.values
    for item in items:
        key = (source, item.get("o", "unknown"))
        values[key] = values.get(key, 0) + 1


def count_push(report: Any) -> None:
    """Count a delivered batch's :class:`backend.push.model.DeliveryReport`."""
    PUSH_BATCHES.inc(("ok",))
    for outcome, amount in (
        ("delivered", report.sent),
        ("nudge_sent", report.nudges_sent),
        ("retried", report.retried),
        ("dead", report.dead),
        ("gone", report.gone),
    ):
        if amount:
            PUSH_OUTCOMES.inc((outcome,), amount)
