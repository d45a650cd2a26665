"""docker-compose.yml and the Dockerfile: the scale-out shape of ARCHITECTURE.md, decision 8.

The Compose file is validated offline against the Compose Specification's JSON schema that
check-jsonschema (a dev dependency) vendors as ``vendor.compose-spec``; no network, no Docker
engine. Where a ``docker compose`` CLI is installed, ``docker compose config`` checks it too.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
INTERPOLATION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict)
    return data


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {key: value for key, value in pairs}
    return {key: "" if value is None else str(value) for key, value in env.items()}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # short form means "started", not healthy
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


# --- the schema ------------------------------------------------------------------------------


def test_compose_file_is_valid_per_the_compose_specification_schema() -> None:
    result = _check_jsonschema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("service", "change", "complaint"),
    [
        ("postgres", {"healthchek": {"test": ["CMD", "true"]}}, "healthchek"),
        ("app", {"depends_on": {"postgres": {"condition": "service_happy"}}}, "service_happy"),
        ("app", {"deploy": {"replicas": 2, "replica": 3}}, "replica"),
    ],
)
def test_the_schema_check_is_not_vacuous(
    tmp_path: Path, compose: dict[str, Any], service: str, change: dict[str, Any], complaint: str
) -> None:
    broken = {**compose, "services": {**compose["services"]}}
    broken["services"][service] = {**compose["services"][service], **change}
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = _check_jsonschema(path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert complaint in result.stdout


# --- the shape -------------------------------------------------------------------------------


def test_postgres_16_with_a_named_volume_and_a_pg_isready_healthcheck(
    compose: dict[str, Any],
) -> None:
    postgres = compose["services"]["postgres"]
    assert re.fullmatch(r"postgres:16(\.\d+)*(-alpine)?", postgres["image"])
    mounts = [
        v if isinstance(v, str) else f"{v['source']}:{v['target']}" for v in postgres["volumes"]
    ]
    data_mount = next(m for m in mounts if m.endswith(":/var/lib/postgresql/data"))
    volume_name = data_mount.split(":", 1)[0]
    assert volume_name in (compose.get("volumes") or {}), "a named volume, not a bind mount"
    test = postgres["healthcheck"]["test"]
    assert "pg_isready" in (test if isinstance(test, str) else " ".join(test))
    assert "ports" not in postgres, "the database is reached over the compose network only"


def test_migrate_is_a_one_shot_that_waits_for_a_healthy_postgres(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    command = migrate["command"]
    assert (command.split() if isinstance(command, str) else command) == ["learnloop", "migrate"]
    assert migrate.get("restart", "no") == "no"
    assert _depends_on(migrate)["postgres"] == "service_healthy"


def test_app_runs_two_replicas_after_migrate_against_a_healthy_postgres(
    compose: dict[str, Any],
) -> None:
    app = compose["services"]["app"]
    assert app["deploy"]["replicas"] == 2
    deps = _depends_on(app)
    assert deps["postgres"] == "service_healthy"
    assert deps["migrate"] == "service_completed_successfully"
    assert "build" in app
    assert "healthcheck" in app and "/healthz" in " ".join(app["healthcheck"]["test"])
    assert "ports" not in app and "container_name" not in app, "replicas cannot share these"
    env = _environment(app)
    assert env["LEARNLOOP_ENV"] == "production"
    assert env["LEARNLOOP_DATABASE_URL"].startswith("postgresql+asyncpg://learnloop:")
    assert env["LEARNLOOP_DATABASE_URL"].endswith("@postgres:5432/learnloop")


def test_a_streaming_replica_copies_the_primary_and_only_the_app_reads_it(
    tmp_path: Path, compose: dict[str, Any]
) -> None:
    services = compose["services"]
    primary, replica = services["postgres"], services["postgres-replica"]
    assert replica["image"] == primary["image"]
    assert _depends_on(replica)["postgres"] == "service_healthy"
    assert "ports" not in replica, "reached over the compose network only"
    volume = next(v for v in replica["volumes"] if v.endswith(":/var/lib/postgresql/data"))
    assert volume.split(":", 1)[0] in compose["volumes"], "its own named volume"
    assert volume not in primary["volumes"]
    test = replica["healthcheck"]["test"]
    assert "pg_isready" in " ".join(test)
    # its start-up script: a copy made with pg_basebackup -R (a standby), then the server
    script = replica["command"][-1].replace("$$", "$")
    assert re.search(r"pg_basebackup -h postgres .*-R", script)
    assert script.rstrip().endswith("exec postgres")
    (tmp_path / "standby.sh").write_text(script)
    assert subprocess.run(["sh", "-n", str(tmp_path / "standby.sh")]).returncode == 0
    # the primary lets it stream: a replication line in pg_hba.conf, from an init script
    (mount,) = [c for c in primary["configs"] if c["target"].startswith("/docker-entrypoint")]
    hba = compose["configs"][mount["source"]]["content"]
    assert "host replication learnloop all scram-sha-256" in hba
    assert mount["target"].endswith(".sh")
    # the app reads through it; migrate and the worker write, so they know only the primary
    app_env = _environment(services["app"])
    replica_url = app_env["LEARNLOOP_DATABASE_REPLICA_URL"]
    assert replica_url.endswith("@postgres-replica:5432/learnloop")
    primary_url = app_env["LEARNLOOP_DATABASE_URL"]
    assert replica_url.split("@")[0] == primary_url.split("@")[0], "the same credentials"
    assert _depends_on(services["app"])["postgres-replica"] == "service_started"
    for name in ("migrate", "worker"):
        assert "LEARNLOOP_DATABASE_REPLICA_URL" not in _environment(services[name])


def test_the_secret_key_comes_from_a_compose_secret_file(compose: dict[str, Any]) -> None:
    app = compose["services"]["app"]
    env = _environment(app)
    assert env["LEARNLOOP_SECRET_KEY_FILE"] == "/run/secrets/learnloop_secret_key"
    assert "learnloop_secret_key" in app["secrets"]
    assert compose["secrets"]["learnloop_secret_key"] == {"file": "./secrets/learnloop_secret_key"}


def test_no_secret_value_is_written_inline(compose: dict[str, Any]) -> None:
    text = COMPOSE_FILE.read_text()
    # neither KEY=value (list form) nor KEY: value (map form) for the app's secret
    assert not re.search(r"LEARNLOOP_SECRET_KEY\s*[=:]\s*\S", text)
    sensitive = re.compile(r"SECRET|PASSWORD|TOKEN|PRIVATE|_KEY$", re.IGNORECASE)
    for name, service in compose["services"].items():
        for key, value in _environment(service).items():
            if sensitive.search(key) and not key.endswith("_FILE"):
                assert INTERPOLATION.match(value), f"{name}: {key} must come from the environment"
            if "://" in value and "@" in value:  # a URL with credentials
                password = value.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
                assert INTERPOLATION.match(password), f"{name}: {key} has an inline password"
    for name, secret in (compose.get("secrets") or {}).items():
        assert set(secret) <= {"file", "environment", "external", "name"}, name


def test_a_load_balancer_publishes_the_only_port(compose: dict[str, Any]) -> None:
    services = compose["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    assert published == {"proxy"}
    proxy = services["proxy"]
    assert proxy["image"].startswith("caddy:2")
    assert any(str(p).startswith("8080:") for p in proxy["ports"])
    caddyfile = compose["configs"][proxy["configs"][0]["source"]]["content"]
    assert re.search(r"dynamic a app 8000", caddyfile), "every replica, found by DNS"


def test_worker_delivers_push_with_the_vapid_key_from_a_secret_file(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    worker = services["worker"]
    assert worker["command"] == ["learnloop", "worker"]
    assert "profiles" not in worker, "plain `docker compose up` starts the push worker"
    assert worker["restart"] == "unless-stopped"
    assert worker["image"] == services["app"]["image"]
    deps = _depends_on(worker)
    assert deps["postgres"] == "service_healthy"
    assert deps["migrate"] == "service_completed_successfully"
    assert "edge" in worker["networks"], "push services are outside the internal network"
    assert compose["secrets"]["vapid_private_key"] == {"file": "./secrets/vapid_private_key.pem"}
    for name in ("worker", "app"):  # the worker signs; the app serves the public key
        env = _environment(services[name])
        assert env["LEARNLOOP_VAPID_PRIVATE_KEY_FILE"] == "/run/secrets/vapid_private_key"
        assert "vapid_private_key" in services[name]["secrets"]
        assert INTERPOLATION.match(env["LEARNLOOP_VAPID_SUBJECT"]), "the contact comes from .env"
        assert (
            env["LEARNLOOP_DATABASE_URL"] == _environment(services["app"])["LEARNLOOP_DATABASE_URL"]
        )


def test_caddyfile_is_accepted_by_caddy(tmp_path: Path, compose: dict[str, Any]) -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("no caddy binary here (apt-get install caddy) to adapt the inline Caddyfile")
    path = tmp_path / "Caddyfile"
    path.write_text(compose["configs"]["caddyfile"]["content"])
    result = subprocess.run(
        [caddy, "adapt", "--config", str(path), "--adapter", "caddyfile", "--validate"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# --- docker compose itself, where it exists ---------------------------------------------------


def _docker_compose_available() -> str | None:
    docker = shutil.which("docker")
    if docker is None:
        return "no docker CLI"
    try:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`docker compose version` failed: {exc}"
    if probe.returncode != 0:
        return "the docker CLI has no compose plugin (`docker compose version` fails)"
    return None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    reason = _docker_compose_available()
    if reason:
        pytest.skip(reason)
    # A copy beside a throwaway secret, so no real secret or .env is needed or touched.
    shutil.copy(COMPOSE_FILE, tmp_path / "docker-compose.yml")
    shutil.copy(DOCKERFILE, tmp_path / "Dockerfile")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "learnloop_secret_key").write_text("not-a-real-secret\n")
    (tmp_path / "secrets" / "vapid_private_key.pem").write_text("not-a-real-key\n")
    result = subprocess.run(
        ["docker", "compose", "--project-directory", str(tmp_path), "config", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "LEARNLOOP_"))},
            "LEARNLOOP_DB_PASSWORD": "x" * 24,
            "LEARNLOOP_VAPID_SUBJECT": "mailto:ops@example.org",
        },
    )
    assert result.returncode == 0, result.stderr


# --- the image -------------------------------------------------------------------------------


def test_dockerfile_builds_from_the_lock_and_runs_as_a_user() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert "pip install" in text and "uv" in text
    assert re.search(r"uv sync --frozen --no-dev\s*$", text, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r"^EXPOSE 8000\b", text, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK\b.*\n?.*/healthz", text, re.MULTILINE)
    cmd = re.findall(r"^CMD (.+)$", text, re.MULTILINE)[-1]
    assert cmd == '["learnloop", "serve", "--host", "0.0.0.0", "--port", "8000"]'
