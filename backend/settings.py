"""Runtime settings, read once from the environment (see the README's configuration table)."""

import hashlib
import logging
import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from backend.auth.passwords import HashCost

log = logging.getLogger("learnloop")


class ConfigurationError(RuntimeError):
    """Settings that the app refuses to start with."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a whole number, got {raw!r}") from exc


@dataclass(frozen=True)
class Settings:
    # empty: the embedded PostgreSQL server (backend.db.embedded), started on first use
    database_url: str = ""
    # a streaming replica some reads may use (backend/db/replica.py); "": every read the primary
    database_replica_url: str = ""
    # a replica further behind than this is not read (seconds)
    database_replica_max_lag_seconds: float = 30.0
    secret_key: str = field(default="", repr=False)
    env: str = "dev"
    base_url: str = "http://localhost:8000"
    # wrong passwords per account and address before each try waits a growing delay, and
    # from one address before those delays start at the first (backend/auth/rate_limit.py)
    login_attempts_per_window: int = 10
    login_window_seconds: int = 900
    login_address_ceiling: int = 100
    min_group_size: int = 5
    max_body_bytes: int = 1_048_576
    session_max_age_seconds: int = 14 * 24 * 3600
    password_cost: HashCost = field(default_factory=HashCost)
    sql_echo: bool = False
    # Web Push (see backend/push): the VAPID private key (PEM) and the contact push services see
    vapid_private_key_file: str = ""
    vapid_subject: str = ""
    # http://127.0.0.1 / localhost push endpoints (a local push service in tests and benchmarks)
    push_allow_http_endpoints: bool = False
    # run the push workers and the scheduler inside the app process (the embedded default)
    push_in_process: bool = False
    push_senders: int = 8
    push_concurrency: int = 64
    push_batch_size: int = 200
    push_timeout_seconds: float = 10.0
    push_max_attempts: int = 5
    # how long a claim on outbox rows lasts (0: long enough for three timeouts, at least 60 s);
    # only a worker that died leaves one to expire
    push_lease_seconds: float = 0.0
    # learner states an app process keeps for the ingestion fast path (~20 kB each at most)
    ingest_cache_states: int = 5000
    # database connections per process (pool, and overflow for bursts); a request waits at
    # most db_pool_timeout_seconds for one, then answers 503 with Retry-After; no statement
    # of the app runs longer than db_statement_timeout_ms (0: no bound)
    db_pool_size: int = 20
    db_max_overflow: int = 20
    db_pool_timeout_seconds: float = 5.0
    db_statement_timeout_ms: int = 30_000
    # outgoing mail (invitations, password-reset links); no host: the console shows the link
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_from: str = "learnloop <no-reply@localhost>"
    smtp_starttls: bool = True
    # /metrics answers only a request bearing it (unset: no /metrics); docs/operations.md
    metrics_token: str = field(default="", repr=False)

    @property
    def mail_configured(self) -> bool:
        return bool(self.smtp_host)

    @property
    def is_dev(self) -> bool:
        return self.env in {"dev", "test"}

    @property
    def embedded_database(self) -> bool:
        return not self.database_url

    @property
    def secure_cookies(self) -> bool:
        return not self.is_dev

    def derived_key(self, purpose: str, length: int = 32) -> bytes:
        """A key for one purpose (sessions, CSRF, ...) derived from the one secret."""
        return hashlib.blake2b(
            self.secret_key.encode(),
            digest_size=length,
            person=b"learnloop",
            salt=purpose.encode()[:16],
        ).digest()


def _secret_from_environment(env: str) -> str:
    value = os.environ.get("LEARNLOOP_SECRET_KEY", "").strip()
    if value:
        return value
    file_path = os.environ.get("LEARNLOOP_SECRET_KEY_FILE", "").strip()
    if file_path:
        path = Path(file_path)
        if path.exists():
            return path.read_text().strip()
        if env not in {"dev", "test"}:
            raise ConfigurationError(
                f"LEARNLOOP_SECRET_KEY_FILE points to {path}, which does not exist"
            )
    if env not in {"dev", "test"}:
        raise ConfigurationError(
            "LEARNLOOP_SECRET_KEY (or LEARNLOOP_SECRET_KEY_FILE) must be set when LEARNLOOP_ENV is "
            f"{env!r}; generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
        )
    path = Path(file_path or ".learnloop-secret")
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(48)
    path.write_text(value + "\n")
    path.chmod(0o600)
    log.warning(
        "LEARNLOOP_SECRET_KEY is not set: generated one and stored it in %s (dev only)", path
    )
    return value


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from exc


def _database_url(raw: str, name: str = "LEARNLOOP_DATABASE_URL") -> str:
    """A PostgreSQL URL for SQLAlchemy's asyncpg dialect, or "" for the embedded server."""
    url = raw.strip()
    scheme, sep, rest = url.partition("://")
    if not url:
        return ""
    if sep and scheme in {"postgres", "postgresql", "postgresql+asyncpg"}:
        return f"postgresql+asyncpg://{rest}"
    old = " (SQLite is no longer supported)" if scheme.startswith("sqlite") else ""
    raise ConfigurationError(
        f"{name} must be a PostgreSQL URL such as "
        f"postgresql+asyncpg://user:password@host:5432/learnloop, got {url!r}{old}; "
        "unset it to use the embedded PostgreSQL server"
    )


def load_settings() -> Settings:
    env = os.environ.get("LEARNLOOP_ENV", "dev").strip().lower() or "dev"
    if env not in {"dev", "test", "production"}:
        raise ConfigurationError(f"LEARNLOOP_ENV must be dev, test or production, got {env!r}")
    database_url = _database_url(os.environ.get("LEARNLOOP_DATABASE_URL", ""))
    vapid_subject = os.environ.get("LEARNLOOP_VAPID_SUBJECT", "").strip()
    if vapid_subject and not vapid_subject.startswith(("mailto:", "https://")):
        raise ConfigurationError(
            f"LEARNLOOP_VAPID_SUBJECT must be a mailto: or https: contact, got {vapid_subject!r}"
        )
    return Settings(
        database_url=database_url,
        database_replica_url=_database_url(
            os.environ.get("LEARNLOOP_DATABASE_REPLICA_URL", ""), "LEARNLOOP_DATABASE_REPLICA_URL"
        ),
        database_replica_max_lag_seconds=_float("LEARNLOOP_DATABASE_REPLICA_MAX_LAG_SECONDS", 30.0),
        secret_key=_secret_from_environment(env),
        env=env,
        base_url=os.environ.get("LEARNLOOP_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        login_attempts_per_window=_int("LEARNLOOP_LOGIN_ATTEMPTS", 10),
        login_window_seconds=_int("LEARNLOOP_LOGIN_WINDOW_SECONDS", 900),
        login_address_ceiling=_int("LEARNLOOP_LOGIN_ADDRESS_CEILING", 100),
        min_group_size=_int("LEARNLOOP_MIN_GROUP_SIZE", 5),
        max_body_bytes=_int("LEARNLOOP_MAX_BODY_BYTES", 1_048_576),
        sql_echo=_bool(os.environ.get("LEARNLOOP_SQL_ECHO"), False),
        vapid_private_key_file=os.environ.get("LEARNLOOP_VAPID_PRIVATE_KEY_FILE", "").strip(),
        vapid_subject=vapid_subject,
        push_allow_http_endpoints=_bool(os.environ.get("LEARNLOOP_PUSH_ALLOW_HTTP"), False),
        push_in_process=_bool(os.environ.get("LEARNLOOP_PUSH_IN_PROCESS"), not database_url),
        push_senders=_int("LEARNLOOP_PUSH_SENDERS", 8),
        push_concurrency=_int("LEARNLOOP_PUSH_CONCURRENCY", 64),
        push_max_attempts=_int("LEARNLOOP_PUSH_MAX_ATTEMPTS", 5),
        push_batch_size=_int("LEARNLOOP_PUSH_BATCH_SIZE", 200),
        push_timeout_seconds=_float("LEARNLOOP_PUSH_TIMEOUT_SECONDS", 10.0),
        push_lease_seconds=_float("LEARNLOOP_PUSH_LEASE_SECONDS", 0.0),
        ingest_cache_states=_int("LEARNLOOP_INGEST_CACHE_STATES", 5000),
        db_pool_size=_int("LEARNLOOP_DB_POOL_SIZE", 20),
        db_max_overflow=_int("LEARNLOOP_DB_MAX_OVERFLOW", 20),
        db_pool_timeout_seconds=_float("LEARNLOOP_DB_POOL_TIMEOUT_SECONDS", 5.0),
        db_statement_timeout_ms=_int("LEARNLOOP_DB_STATEMENT_TIMEOUT_MS", 30_000),
        smtp_host=os.environ.get("LEARNLOOP_SMTP_HOST", "").strip(),
        smtp_port=_int("LEARNLOOP_SMTP_PORT", 587),
        smtp_username=os.environ.get("LEARNLOOP_SMTP_USERNAME", "").strip(),
        smtp_password=os.environ.get("LEARNLOOP_SMTP_PASSWORD", ""),
        smtp_from=os.environ.get("LEARNLOOP_SMTP_FROM", "").strip()
        or "learnloop <no-reply@localhost>",
        smtp_starttls=_bool(os.environ.get("LEARNLOOP_SMTP_STARTTLS"), True),
        metrics_token=_metrics_token(),
    )


def _metrics_token() -> str:
    """LEARNLOOP_METRICS_TOKEN, else the contents of LEARNLOOP_METRICS_TOKEN_FILE, else ""."""
    value = os.environ.get("LEARNLOOP_METRICS_TOKEN", "").strip()
    file_path = os.environ.get("LEARNLOOP_METRICS_TOKEN_FILE", "").strip()
    if value or not file_path:
        return value
    try:
        return Path(file_path).read_text().strip()
    except OSError as exc:
        raise ConfigurationError(
            f"LEARNLOOP_METRICS_TOKEN_FILE points to {file_path}, which cannot be read ({exc})"
        ) from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


WILDCARD_HOSTS = {"0.0.0.0", "::", ""}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def served_base_url(host: str, port: int) -> str:
    """The address a server bound to ``host``:``port`` is opened at (a wildcard: localhost)."""
    name = "localhost" if host in WILDCARD_HOSTS else host
    if ":" in name:
        name = f"[{name}]"
    return f"http://{name}:{port}"


def base_url_problem(base_url: str, host: str, port: int) -> str | None:
    """A sentence when links built from ``base_url`` (badge credentials, e-mails) would not
    reach a server on ``host``:``port``, else None. A public name is taken to be a proxy in
    front of this server; only a local address that differs is a mistake worth a warning."""
    parts = urlsplit(base_url)
    base_host = (parts.hostname or "").lower()
    try:
        base_port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return f"LEARNLOOP_BASE_URL {base_url!r} has no valid port"
    if base_host not in LOOPBACK_NAMES and base_host != host.lower():
        return None
    same_host = host in WILDCARD_HOSTS or base_host == host.lower()
    if same_host and base_port == port:
        return None
    here = served_base_url(host, port)
    return (
        f"LEARNLOOP_BASE_URL is {base_url} but this server answers at {here}: links in badge "
        f"credentials and e-mails lead elsewhere; set LEARNLOOP_BASE_URL={here} "
        "(or leave it unset: serve then uses the address it binds)"
    )
