"""The learnloop command line, run as an operator would, against a real database."""

import asyncio
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import text

from backend.db.engine import make_engine


def _cli(
    tmp_path: Path, database_url: str, *args: str, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LEARNLOOP_DATABASE_URL": database_url,
        "LEARNLOOP_SECRET_KEY": "cli-test-secret-" + "y" * 32,
        "LEARNLOOP_ENV": "test",
    }
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        input=input_text,
        timeout=120,
    )


def test_operator_creates_org_user_and_api_key(tmp_path: Path, database_url: str) -> None:
    assert _cli(tmp_path, database_url, "migrate").returncode == 0
    created = _cli(tmp_path, database_url, "create-org", "Bakkerij Jansen", "--locale", "nl")
    assert created.returncode == 0, created.stderr
    assert "slug bakkerij-jansen" in created.stdout
    user = _cli(
        tmp_path,
        database_url,
        "create-user",
        "--org",
        "bakkerij-jansen",
        "--email",
        "Els@Jansen.nl",
        "--name",
        "Els Jansen",
        "--role",
        "ld_admin",
        "--password",
        "brood-en-banket",
    )
    assert user.returncode == 0, user.stderr
    assert "employee, ld_admin" in user.stdout
    key = _cli(
        tmp_path, database_url, "api-key", "create", "--org", "bakkerij-jansen", "--name", "Moodle"
    )
    assert key.returncode == 0, key.stderr
    assert key.stdout.strip().splitlines()[-1].startswith("ll_")
    assert ("api_key.create", "command line") in asyncio.run(_audit(database_url))


async def _audit(database_url: str) -> list[tuple[str, str]]:
    """The audit log's (action, who) pairs."""
    engine = make_engine(database_url, null_pool=True)
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT action, actor_name FROM audit_entry"))).all()
    await engine.dispose()
    return [(action, who) for action, who in rows]


def test_cli_errors_are_plain_sentences(tmp_path: Path, database_url: str) -> None:
    _cli(tmp_path, database_url, "migrate")
    missing = _cli(tmp_path, database_url, "api-key", "create", "--org", "nope", "--name", "x")
    assert missing.returncode != 0
    assert "no organisation with slug 'nope'" in missing.stderr
    short = _cli(
        tmp_path,
        database_url,
        "create-user",
        "--org",
        "nope",
        "--email",
        "a@b.nl",
        "--name",
        "A",
        "--password",
        "kort",
    )
    assert short.returncode != 0 and "at least 10 characters" in short.stderr
    _cli(tmp_path, database_url, "create-org", "Twee", "--slug", "twee")
    again = _cli(tmp_path, database_url, "create-org", "Twee", "--slug", "twee")
    assert again.returncode != 0
    assert "an organisation with slug 'twee' already exists" in again.stderr
    person = ("create-user", "--org", "twee", "--email", "a@b.nl", "--name", "A")
    first = _cli(tmp_path, database_url, *person, "--password", "brood-en-banket")
    assert first.returncode == 0, first.stderr
    twice = _cli(tmp_path, database_url, *person, "--password", "brood-en-banket")
    assert twice.returncode != 0
    assert "a user with e-mail a@b.nl already exists in twee" in twice.stderr


def test_vapid_generate_writes_a_private_key_file_once(tmp_path: Path, database_url: str) -> None:
    result = _cli(tmp_path, database_url, "vapid", "generate")
    assert result.returncode == 0, result.stderr
    key_file = tmp_path / ".config" / "learnloop" / "vapid_private.pem"  # under HOME
    assert key_file.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert oct(key_file.stat().st_mode)[-3:] == "600"
    pem = key_file.read_text()
    public = result.stdout.strip().splitlines()[-1]
    assert len(public) == 87 and public.startswith("B")  # a base64url uncompressed P-256 point
    again = _cli(tmp_path, database_url, "vapid", "generate")
    assert again.returncode != 0 and "--force" in again.stderr
    assert key_file.read_text() == pem, "an existing key is never overwritten without --force"
    forced = _cli(tmp_path, database_url, "vapid", "generate", "--force")
    assert forced.returncode == 0 and forced.stdout.strip().splitlines()[-1] != public


LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: "
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_starts_quietly_in_one_log_format_and_warns_of_a_wrong_base_url(
    tmp_path: Path, database_url: str
) -> None:
    """Migrations, uvicorn and our own lines: no library INFO chatter, one format, and one
    warning that links would point at localhost while the server answers on 127.0.0.1."""
    port = _free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "LEARNLOOP_DATABASE_URL": database_url,
        "LEARNLOOP_SECRET_KEY": "cli-test-secret-" + "y" * 32,
        "LEARNLOOP_ENV": "test",
        "LEARNLOOP_BASE_URL": f"http://localhost:{port}",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--migrate", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("the server did not answer within 60 s")
    finally:
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=30)
    assert f"learnloop is running at http://127.0.0.1:{port}/" in stdout
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert [line for line in lines if not LOG_LINE.match(line)] == [], stderr
    assert not [line for line in lines if "alembic" in line or " INFO uvicorn" in line], stderr
    [warning] = [line for line in lines if " WARNING " in line]
    assert "LEARNLOOP_BASE_URL is http://localhost:" in warning
    assert f"set LEARNLOOP_BASE_URL=http://127.0.0.1:{port}" in warning
