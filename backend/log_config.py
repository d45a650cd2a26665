"""One log format for every process learnloop starts: the command line, uvicorn's server
processes and the push worker. Quiet by default: libraries (alembic, uvicorn, httpx...) say
WARNING and worse, our own few ``learnloop.*`` lines say INFO. ``learnloop --verbose`` or
``LEARNLOOP_LOG_LEVEL`` (DEBUG, INFO, WARNING, ERROR) turns everything to that level."""

import logging
import logging.config
import os
from typing import Any

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def levels(verbose: bool = False) -> tuple[str, str]:
    """(libraries' level, our own level) from LEARNLOOP_LOG_LEVEL, else ``verbose``."""
    wanted = os.environ.get("LEARNLOOP_LOG_LEVEL", "").strip().upper()
    if wanted in LEVELS:
        return wanted, wanted
    if verbose:
        return "INFO", "DEBUG"
    return "WARNING", "INFO"


def log_config(verbose: bool = False) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` document; uvicorn applies it in each server process."""
    libraries, ours = levels(verbose)
    # uvicorn's loggers lose their own handlers and format and propagate to ours
    uvicorn = {"handlers": [], "propagate": True, "level": libraries}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"learnloop": {"format": LOG_FORMAT, "datefmt": DATE_FORMAT}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "learnloop",
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
