"""``learnloop doctor``: check a deployment's configuration and what it depends on, one line
per check (OK, WARN or FAIL, and what to do), so an operator sees what is wrong before the
app does. Exit code 1 on any FAIL (``backend.cli``).

Checks, in order: the settings (they load; environment, secret, base URL, database choice,
metrics token), the database (reachable, migrated to this code's head; nudges and learners
overdue for the push workers and the scheduler, i.e. none is running), the VAPID key (it
loads and signs a token its public key verifies), SMTP (when configured: connects, STARTTLS,
signs in), the read replica (when ``LEARNLOOP_DATABASE_REPLICA_URL`` is set: reachable, a
standby, migrated, how far behind). Nothing is written, except what the app itself would do
on first use (attaching to the embedded server).
"""

import asyncio
import base64
import json
import os
import smtplib
import ssl
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from backend.settings import ConfigurationError, Settings, load_settings

Status = Literal["OK", "WARN", "FAIL"]

CONNECT_TIMEOUT_SECONDS = 5.0
SMTP_TIMEOUT_SECONDS = 5.0
REPLICA_ENV = "LEARNLOOP_DATABASE_REPLICA_URL"
REPLICA_LAG_WARN_BYTES = 16 * 1024 * 1024
SHORT_SECRET = 32
SHORT_TOKEN = 16


@dataclass(frozen=True)
class Check:
    status: Status
    name: str
    message: str
    fix: str = ""

    def line(self) -> str:
        fix = f" -> {self.fix}" if self.fix else ""
        return f"{self.status:<4} {self.name}: {self.message}{fix}"


def ok(name: str, message: str) -> Check:
    return Check("OK", name, message)


def warn(name: str, message: str, fix: str = "") -> Check:
    return Check("WARN", name, message, fix)


def fail(name: str, message: str, fix: str = "") -> Check:
    return Check("FAIL", name, message, fix)


def _error(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {detail}" if detail else type(cause).__name__


def _shown(url: str) -> str:
    """A database URL without its password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unreadable URL)"


# --------------------------------------------------------------------------- settings


def settings_checks(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    production = settings.env == "production"
    base = urlsplit(settings.base_url)
    host = (base.hostname or "").lower()
    local = host in {"localhost", "127.0.0.1", "::1", ""} or host.endswith(".localhost")
    if production:
        checks.append(ok("environment", "production (secure cookies, a secret is required)"))
    elif base.scheme == "https" and not local:
        checks.append(
            warn(
                "environment",
                f"{settings.env}, but LEARNLOOP_BASE_URL is public ({settings.base_url}): "
                "development mode has cookies without Secure and generated keys",
                "set LEARNLOOP_ENV=production on a server people use",
            )
        )
    else:
        checks.append(ok("environment", f"{settings.env} (development: keys generated locally)"))

    source = (
        "LEARNLOOP_SECRET_KEY"
        if os.environ.get("LEARNLOOP_SECRET_KEY", "").strip()
        else "LEARNLOOP_SECRET_KEY_FILE"
        if os.environ.get("LEARNLOOP_SECRET_KEY_FILE", "").strip()
        else "generated file .learnloop-secret"
    )
    if production and len(settings.secret_key) < SHORT_SECRET:
        checks.append(
            warn(
                "secret key",
                f"from {source}, only {len(settings.secret_key)} characters",
                "use at least 32 random characters: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'",
            )
        )
    else:
        checks.append(ok("secret key", f"from {source} ({len(settings.secret_key)} characters)"))

    if base.scheme not in {"http", "https"} or not base.hostname:
        checks.append(
            fail(
                "base URL",
                f"LEARNLOOP_BASE_URL {settings.base_url!r} is not an http(s) address",
                "set it to the public address people open, e.g. https://learn.example.com",
            )
        )
    elif production and base.scheme != "https":
        checks.append(
            fail(
                "base URL",
                f"{settings.base_url} is http, but production cookies are Secure (https only): "
                "nobody can stay signed in",
                "serve over https (a proxy in front is fine) and set LEARNLOOP_BASE_URL to it",
            )
        )
    elif production and local:
        checks.append(
            warn(
                "base URL",
                f"{settings.base_url} is this machine: links in e-mails and badge credentials "
                "lead nowhere for anyone else",
                "set LEARNLOOP_BASE_URL to the public address",
            )
        )
    else:
        checks.append(ok("base URL", settings.base_url))

    if settings.embedded_database:
        if production:
            checks.append(
                warn(
                    "database choice",
                    "LEARNLOOP_DATABASE_URL is unset: the embedded PostgreSQL of this machine "
                    "(no replica, no second app server)",
                    "point LEARNLOOP_DATABASE_URL at a managed or self-run PostgreSQL",
                )
            )
        else:
            checks.append(ok("database choice", "the embedded PostgreSQL (development)"))

    token = settings.metrics_token
    if not token:
        message = "no metrics token: /metrics is off"
        checks.append(
            warn("metrics", message, "set LEARNLOOP_METRICS_TOKEN (docs/operations.md)")
            if production
            else ok("metrics", message)
        )
    elif len(token) < SHORT_TOKEN:
        checks.append(
            warn(
                "metrics",
                f"the metrics token has only {len(token)} characters",
                "use at least 16 random characters",
            )
        )
    else:
        checks.append(ok("metrics", "/metrics is on (Authorization: Bearer <token>)"))
    return checks


# --------------------------------------------------------------------------- database


def _engine(url: str) -> AsyncEngine:
    return create_async_engine(
        url, poolclass=NullPool, connect_args={"timeout": CONNECT_TIMEOUT_SECONDS}
    )


def code_heads() -> set[str]:
    from alembic.script import ScriptDirectory

    from backend.db.migrate import alembic_config

    return set(ScriptDirectory.from_config(alembic_config("postgresql://")).get_heads())


async def _revisions(conn: Any) -> set[str] | None:
    """The database's Alembic revisions; None when it was never migrated."""
    exists = (await conn.execute(text("SELECT to_regclass('alembic_version')"))).scalar()
    if exists is None:
        return None
    return {row[0] for row in (await conn.execute(text("SELECT version_num FROM alembic_version")))}


def _migration_check(name: str, revisions: set[str] | None, heads: set[str]) -> Check:
    head = ", ".join(sorted(heads))
    if revisions is None:
        return fail(name, "has no schema (never migrated)", "run: learnloop migrate")
    if revisions == heads:
        return ok(name, f"migrated to head ({head})")
    at = ", ".join(sorted(revisions)) or "nothing"
    return fail(
        name,
        f"at revision {at}, this code expects {head}",
        "run: learnloop migrate (or deploy the code that matches the database)",
    )


async def database_checks(settings: Settings) -> tuple[list[Check], str]:
    """The database's checks, and its URL ("" when it could not be reached)."""
    if settings.embedded_database:
        from backend.db import embedded

        if not (embedded.data_dir() / "pgdata").exists():
            return [
                warn(
                    "database",
                    f"the embedded server has no data yet ({embedded.data_dir()})",
                    "the first learnloop serve or migrate creates it",
                )
            ], ""
        try:
            url = embedded.database_url()
        except embedded.EmbeddedServerError as exc:
            return [fail("database", f"the embedded server did not start: {exc}")], ""
    else:
        url = settings.database_url
    engine = _engine(url)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS * 2):
            async with engine.connect() as conn:
                version = (await conn.execute(text("SHOW server_version"))).scalar()
                in_recovery = (await conn.execute(text("SELECT pg_is_in_recovery()"))).scalar()
                revisions = await _revisions(conn)
                heads = code_heads()
                backlog = await _backlog(conn) if revisions == heads else None
    except Exception as exc:
        return [
            fail(
                "database",
                f"cannot connect to {_shown(url)} ({_error(exc)})",
                "is PostgreSQL running and LEARNLOOP_DATABASE_URL right (host, port, "
                "database, user, password)?",
            )
        ], ""
    finally:
        await engine.dispose()
    checks = [ok("database", f"PostgreSQL {version} at {_shown(url)}")]
    if in_recovery:
        checks.append(
            fail(
                "database",
                "is a read-only standby",
                "LEARNLOOP_DATABASE_URL must be the primary; the standby goes in " + REPLICA_ENV,
            )
        )
    checks.append(_migration_check("schema", revisions, heads))
    if backlog is not None:
        checks += backlog_checks(*backlog)
    return checks, url


OVERDUE_SECONDS = 300

# nudges due for more than OVERDUE_SECONDS and not pushed, and learners the scheduler should
# have looked at by then: both through their due-time indexes
BACKLOG = f"""
SELECT (SELECT count(*) FROM nudge WHERE status = 'pending'
            AND due_at <= now() - interval '{OVERDUE_SECONDS} seconds'),
       (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(due_at)), 0) FROM nudge
            WHERE status = 'pending' AND due_at <= now() - interval '{OVERDUE_SECONDS} seconds'),
       (SELECT count(*) FROM learner_state
            WHERE next_nudge_at <= now() - interval '{OVERDUE_SECONDS} seconds'),
       (SELECT COALESCE(EXTRACT(EPOCH FROM now() - min(next_nudge_at)), 0) FROM learner_state
            WHERE next_nudge_at <= now() - interval '{OVERDUE_SECONDS} seconds')
"""


async def _backlog(conn: Any) -> tuple[int, float, int, float]:
    nudges, nudge_age, learners, learner_age = (await conn.execute(text(BACKLOG))).one()
    return int(nudges), float(nudge_age), int(learners), float(learner_age)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def backlog_checks(nudges: int, nudge_age: float, learners: int, learner_age: float) -> list[Check]:
    """Whether push workers and a scheduler are at work: nothing stays overdue for long."""
    checks: list[Check] = []
    if nudges:
        checks.append(
            warn(
                "push outbox",
                f"{_count(nudges, 'nudge')} overdue, the oldest by {nudge_age / 60:.0f} min: "
                "no push worker is delivering",
                "run learnloop worker (or serve with LEARNLOOP_PUSH_IN_PROCESS=true)",
            )
        )
    else:
        checks.append(ok("push outbox", "no nudge overdue"))
    if learners:
        checks.append(
            warn(
                "scheduler",
                f"{_count(learners, 'learner')} overdue for the nudge scheduler, the oldest "
                f"by {learner_age / 60:.0f} min: no scheduler is ticking",
                "run learnloop worker without --no-scheduler (one is enough)",
            )
        )
    else:
        checks.append(ok("scheduler", "no learner overdue"))
    return checks


# --------------------------------------------------------------------------- push


def _b64(text_: str) -> bytes:
    return base64.urlsafe_b64decode(text_ + "=" * (-len(text_) % 4))


def vapid_signs(key: Any) -> str:
    """Sign a VAPID token as the worker does and verify it with the public key; "" when it
    holds, else what is wrong."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from py_vapid import Vapid02

    claims = {"aud": "https://push.example", "exp": int(time.time()) + 600, "sub": key.subject}
    header = Vapid02(key.private_key).sign(claims)["Authorization"]
    token, public = (part.split("=", 1)[1] for part in header[len("vapid ") :].split(","))
    if public.strip() != key.public_key_b64:
        return "the signed header names another public key"
    signing_input, _, signature = token.strip().rpartition(".")
    raw = _b64(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
    try:
        key.private_key.public_key().verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "a token it signed does not verify"
    if json.loads(_b64(signing_input.split(".")[1])).get("sub") != key.subject:
        return "the token's subject is not the configured one"
    return ""


def vapid_checks(settings: Settings) -> list[Check]:
    from backend.push.keys import PushNotConfigured, load_vapid_key

    if not settings.vapid_private_key_file and settings.is_dev and settings.embedded_database:
        from backend.db import embedded

        if not (embedded.data_dir() / "vapid_private.pem").exists():
            return [ok("VAPID key", "none yet: the first serve generates one (development)")]
    try:
        key = load_vapid_key(settings)
    except PushNotConfigured as exc:
        return [
            # a key file that is named but unusable is a mistake anywhere
            (fail if settings.env == "production" or settings.vapid_private_key_file else warn)(
                "VAPID key",
                f"{exc}: no push notifications",
                "learnloop vapid generate, then set LEARNLOOP_VAPID_PRIVATE_KEY_FILE and "
                "LEARNLOOP_VAPID_SUBJECT",
            )
        ]
    problem = vapid_signs(key)
    if problem:
        return [fail("VAPID key", f"{key.source}: {problem}", "generate a new key pair")]
    checks = [ok("VAPID key", f"P-256 key ({key.source}) signs; subject {key.subject}")]
    if settings.env == "production" and key.subject.endswith("@localhost"):
        checks.append(
            warn(
                "VAPID subject",
                f"{key.subject} reaches nobody",
                "set LEARNLOOP_VAPID_SUBJECT to an address push services can write to",
            )
        )
    return checks


# --------------------------------------------------------------------------- mail


def smtp_check(settings: Settings) -> Check:
    if not settings.mail_configured:
        message = "not configured: the console shows invitation and reset links to pass on"
        if settings.env == "production":
            return warn("SMTP", message, "set LEARNLOOP_SMTP_HOST to send them by e-mail")
        return ok("SMTP", message)
    where = f"{settings.smtp_host}:{settings.smtp_port}"
    step = "connect"
    try:
        with smtplib.SMTP(
            settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS
        ) as smtp:
            step = "EHLO"
            smtp.ehlo()
            if settings.smtp_starttls:
                step = "STARTTLS"
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.smtp_username:
                step = "sign in"
                smtp.login(settings.smtp_username, settings.smtp_password)
    except (OSError, smtplib.SMTPException) as exc:
        return fail(
            "SMTP",
            f"{where}: {step} failed ({_error(exc)})",
            "check LEARNLOOP_SMTP_HOST, _PORT, _STARTTLS, _USERNAME and _PASSWORD",
        )
    how = (", STARTTLS" if settings.smtp_starttls else "") + (
        ", signed in" if settings.smtp_username else ""
    )
    return ok("SMTP", f"{where} answers{how}")


# --------------------------------------------------------------------------- replica


def replica_url() -> str:
    raw = os.environ.get(REPLICA_ENV, "").strip()
    scheme, sep, rest = raw.partition("://")
    if sep and scheme in {"postgres", "postgresql"}:
        return f"postgresql+asyncpg://{rest}"
    return raw


async def replica_checks(primary_url: str) -> list[Check]:
    url = replica_url()
    if not url:
        return [ok("replica", "not configured (every read goes to the primary)")]
    if not url.startswith("postgresql+asyncpg://"):
        return [
            fail(
                "replica",
                f"{REPLICA_ENV} is not a PostgreSQL URL",
                "use postgresql+asyncpg://user:password@host:5432/learnloop",
            )
        ]
    engine = _engine(url)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS * 2):
            async with engine.connect() as conn:
                standby, lsn, behind = (
                    await conn.execute(
                        text(
                            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text, "
                            "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())"
                        )
                    )
                ).one()
                revisions = await _revisions(conn)
    except Exception as exc:
        return [
            fail(
                "replica",
                f"cannot connect to {_shown(url)} ({_error(exc)})",
                f"start it or fix {REPLICA_ENV} (reads fall back to the primary meanwhile)",
            )
        ]
    finally:
        await engine.dispose()
    if not standby:
        return [
            fail(
                "replica",
                f"{_shown(url)} is not a standby (it accepts writes)",
                f"{REPLICA_ENV} must name a streaming replica of the primary",
            )
        ]
    checks = [ok("replica", f"standby at {_shown(url)}")]
    lag = await _replica_lag_bytes(primary_url, lsn) if primary_url and lsn else None
    if lag is not None and lag > REPLICA_LAG_WARN_BYTES:
        checks.append(
            warn(
                "replica lag",
                f"{lag / 1024 / 1024:.0f} MB of WAL behind the primary "
                f"(last replayed transaction {behind or 0:.0f} s ago)",
                "check the replica's disk and network; reads that need fresh data use the primary",
            )
        )
    elif lag is not None:
        checks.append(ok("replica lag", f"{lag} bytes of WAL behind the primary"))
    checks.append(_migration_check("replica schema", revisions, code_heads()))
    return checks


async def _replica_lag_bytes(primary_url: str, replayed_lsn: str) -> int | None:
    engine = _engine(primary_url)
    try:
        async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS * 2), engine.connect() as conn:
            lag = (
                await conn.execute(
                    text("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), CAST(:lsn AS pg_lsn))"),
                    {"lsn": replayed_lsn},
                )
            ).scalar()
    except Exception:
        return None
    finally:
        await engine.dispose()
    return max(0, int(lag)) if lag is not None else None


# --------------------------------------------------------------------------- all of them


async def diagnose() -> list[Check]:
    """Every check, in order (the later ones only when the settings load)."""
    try:
        settings = load_settings()
    except ConfigurationError as exc:
        return [fail("settings", str(exc), "fix that variable (README: Configuration)")]
    checks = [ok("settings", "loaded from the environment"), *settings_checks(settings)]
    database, url = await database_checks(settings)
    checks += database
    checks += vapid_checks(settings)
    checks.append(await asyncio.to_thread(smtp_check, settings))
    checks += await replica_checks(url)
    return checks


def failed(checks: list[Check]) -> bool:
    return any(check.status == "FAIL" for check in checks)
