"""One log format for every process learnloop starts: the command line, uvicorn's server
processes and the push worker. Quiet by default: libraries (alembic, uvicorn, httpx...) say
WARNING and worse, our own few ``learnloop.*`` lines say INFO. ``learnloop --verbose`` or
``LEARNLOOP_LOG_LEVEL`` (DEBUG, INFO, WARNING, ERROR) turns everything to that level.

``LEARNLOOP_LOG_FORMAT=json`` writes one JSON object per line instead of text (for a log
collector; text stays the default for a person at a terminal). Either way a line logged
while a request is handled carries that request's id (:data:`REQUEST_ID`, set by
``backend.ops.middleware``), and the push worker's and the scheduler's lines the id of the
batch or tick in hand; JSON lines name it ``request_id``, text lines end with ``[id]``.
"""

import itertools
import json
import logging
import logging.config
import os
import time
from contextvars import ContextVar
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(request_suffix)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
FORMATS = ("text", "json")

REQUEST_ID: ContextVar[str] = ContextVar("learnloop_request_id", default="")
"""The id of the request (or worker batch, or scheduler tick) this code runs for; "" outside."""


def _seed() -> None:
    global _id_prefix, _id_counter
    _id_prefix, _id_counter = os.urandom(4).hex(), itertools.count()


_id_prefix = ""
_id_counter = itertools.count()
_seed()
os.register_at_fork(after_in_child=_seed)  # a forked process numbers its own


def new_request_id(prefix: str = "") -> str:
    """16 hex digits (``prefix`` first: ``tick-``, ``push-``): 8 random per process, then a
    count, which costs a request half of what 8 random bytes from the system do."""
    return f"{prefix}{_id_prefix}{next(_id_counter) & 0xFFFFFFFF:08x}"


def levels(verbose: bool = False) -> tuple[str, str]:
    """(libraries' level, our own level) from LEARNLOOP_LOG_LEVEL, else ``verbose``."""
    wanted = os.environ.get("LEARNLOOP_LOG_LEVEL", "").strip().upper()
    if wanted in LEVELS:
        return wanted, wanted
    if verbose:
        return "INFO", "DEBUG"
    return "WARNING", "INFO"


def log_format() -> str:
    """``text`` or ``json``, from LEARNLOOP_LOG_FORMAT (anything else: text)."""
    wanted = os.environ.get("LEARNLOOP_LOG_FORMAT", "").strip().lower()
    return wanted if wanted in FORMATS else "text"


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (``request_id``; ``request_suffix``, the
    `` [id]`` the text format ends with), unless the caller passed its own."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        record.request_id = request_id
        record.request_suffix = f" [{request_id}]" if request_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ms), level, logger, message, request id, pid, and
    the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", "")
        if request_id:
            entry["request_id"] = request_id
        entry["pid"] = record.process
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def log_config(verbose: bool = False) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document; uvicorn applies it in each server process."""
    libraries, ours = levels(verbose)
    # uvicorn's loggers lose their own handlers and format and propagate to ours
    uvicorn = {"handlers": [], "propagate": True, "level": libraries}
    formatter: dict[str, Any] = (
        {"()": "backend.log_config.JsonFormatter"}
        if log_format() == "json"
        else {"format": LOG_FORMAT, "datefmt": DATE_FORMAT}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "backend.log_config.RequestIdFilter"}},
        "formatters": {"learnloop": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "learnloop",
                "filters": ["request_id"],
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": libraries, "handlers": ["stderr"]},
        "loggers": {
            "learnloop": {"level": ours},
            "uvicorn": uvicorn,
            "uvicorn.error": uvicorn,
            "uvicorn.access": uvicorn,
        },
    }


def configure_logging(verbose: bool = False) -> None:
    logging.config.dictConfig(log_config(verbose))
