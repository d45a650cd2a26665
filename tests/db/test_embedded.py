"""The embedded PostgreSQL server: what an operator sees with LEARNLOOP_DATABASE_URL unset.

Real processes (``python -m backend.cli``) in a temporary data directory: the first command
starts the server, concurrent ones share it, the last to exit stops it, the data stays.
"""

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",  # useradd: the server runs as its own user
        "HOME": str(tmp_path),
        "LEARNLOOP_DATA_DIR": str(tmp_path / "data"),
        "LEARNLOOP_SECRET_KEY": "embedded-test-secret-" + "z" * 32,
        "LEARNLOOP_ENV": "test",
    }


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backend.cli", *args],
        capture_output=True,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
        timeout=120,
    )


def _server_running(pgdata: Path) -> bool:
    """A postgres process serves this data directory (postmaster.pid names a live one)."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().split()[0])
    return Path(f"/proc/{pid}").exists()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_command_starts_the_server_says_where_the_data_is_and_stops_it(tmp_path: Path) -> None:
    pgdata = tmp_path / "data" / "pgdata"
    first = _cli(tmp_path, "create-org", "Bakkerij Jansen")
    assert first.returncode == 0, first.stderr
    assert f"embedded PostgreSQL 18.6, data in {pgdata}" in first.stderr
    assert "LEARNLOOP_DATABASE_URL" in first.stderr  # how to use another server instead
    assert not _server_running(pgdata), "the last process to exit stops the server"
    again = _cli(tmp_path, "create-org", "Bakkerij Jansen")
    assert again.returncode != 0
    assert "already exists" in again.stderr, "the data outlives the server"


def test_processes_share_one_server_and_the_last_one_stops_it(tmp_path: Path) -> None:
    pgdata = tmp_path / "data" / "pgdata"
    port = _free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "backend.cli", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 90  # generous: CI machines are busy
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert serve.poll() is None, "serve exited before answering"
                assert time.monotonic() < deadline, "serve did not answer /healthz"
                time.sleep(0.1)
        # postmaster.pid: line 5 is the socket directory, line 6 the TCP addresses (none)
        postmaster = (pgdata / "postmaster.pid").read_text().splitlines()
        assert (postmaster[4], postmaster[5]) == (str(pgdata), "")
        created = _cli(tmp_path, "create-org", "Tweede Organisatie")
        assert created.returncode == 0, created.stderr
        assert _server_running(pgdata), "a process exiting leaves the server to the others"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            assert response.status == 200
    finally:
        serve.send_signal(signal.SIGTERM)
        output, _ = serve.communicate(timeout=60)
    assert serve.returncode == 0, output
    assert not _server_running(pgdata), "serve was the last user: it stopped the server"


def test_a_server_that_cannot_start_is_explained(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a directory")
    failed = _cli(tmp_path, "migrate")
    assert failed.returncode != 0
    assert "embedded PostgreSQL server" in failed.stderr
    assert "LEARNLOOP_DATABASE_URL" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_an_old_sqlite_file_gets_one_line(tmp_path: Path) -> None:
    (tmp_path / "learnloop.db").write_bytes(b"SQLite format 3\x00")
    done = _cli(tmp_path, "migrate")
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "learnloop.db" in line]
    assert len(lines) == 1 and "demo data only" in lines[0]
