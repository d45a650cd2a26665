"""The scale-out harness's stack: its own PostgreSQL primary + replica (scripts/replica.sh) and
the learnloop processes on them (2 apps, 2 push workers, 1 scheduler), with their CPU clocks.

Used by benchmarks/scale_out.py only. Every process is started in its own session (process
group), so stopping one stops everything it started; every wait has a timeout.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
REPLICA_SH = ROOT / "scripts" / "replica.sh"

sys.path.append(str(HERE))  # after the project: benchmarks/pwa.py must not shadow pwa/
from ingest import uvicorn_argv  # noqa: E402
from push_fanout import cpu_seconds  # noqa: E402
from server_choice import free_port, group_cpu_seconds, wait_until_up  # noqa: E402


def _ticks_of(stat: str) -> tuple[int, int, int]:
    """(parent pid, own utime+stime, reaped children's cutime+cstime) from /proc/<pid>/stat."""
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])


@dataclass
class Cluster:
    """scripts/replica.sh's primary + streaming standby in ``directory``."""

    directory: Path
    urls: dict[str, str] = field(default_factory=dict)

    def _script(self, command: str, timeout: float = 120) -> str:
        done = subprocess.run(
            ["bash", str(REPLICA_SH), command, str(self.directory)],
            cwd=ROOT, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if done.returncode != 0:
            raise SystemExit(f"replica.sh {command} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> None:
        for line in self._script("start", timeout=300).splitlines():
            name, _, value = line.partition("=")
            if name.startswith("LEARNLOOP_DATABASE"):
                self.urls[name] = value.strip()

    @property
    def primary_url(self) -> str:
        return self.urls["LEARNLOOP_DATABASE_URL"]

    @property
    def replica_url(self) -> str:
        return self.urls["LEARNLOOP_DATABASE_REPLICA_URL"]

    def dsn(self, which: str = "primary") -> str:
        url = self.primary_url if which == "primary" else self.replica_url
        return url.replace("postgresql+asyncpg", "postgresql")

    def stop_replica(self) -> None:
        self._script("stop-replica")

    def start_replica(self) -> None:
        self._script("start-replica")

    def _pg_ctl(self, *args: str) -> None:
        env = dict(line.split("=", 1) for line in (self.directory / "pg.env").read_text().split())
        argv = [f"{env['PG_BIN']}/pg_ctl", *args]
        if os.getuid() == 0:
            argv = ["runuser", "-u", env["PG_USER"], "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=90)

    def stop_primary(self) -> None:
        self._pg_ctl("-D", str(self.directory / "primary"), "-m", "fast", "-w", "-t", "60", "stop")

    def start_primary(self) -> None:
        port = (self.directory / "primary.port").read_text().strip()
        data = self.directory / "primary"
        self._pg_ctl(
            "-D", str(data), "-l", str(data / "server.log"), "-w", "-t", "60",
            "-o", f"-p {port} -k {self.directory.resolve()} -c listen_addresses=127.0.0.1",
            "start",
        )  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._script("stop")

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self._script("destroy")

    def cpu_seconds(self, which: str) -> float:
        """CPU of one server: its postmaster, every live child (backends, WAL sender or
        receiver, checkpointer, startup/recovery) and the children it has reaped (a backend
        that exited takes its CPU along into the postmaster's cutime)."""
        pid_file = self.directory / which / "postmaster.pid"
        try:
            postmaster = int(pid_file.read_text().split("\n", 1)[0])
            _, own, reaped = _ticks_of(Path(f"/proc/{postmaster}/stat").read_text())
        except (OSError, ValueError, IndexError):
            return 0.0
        ticks = own + reaped
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                parent, child_own, _ = _ticks_of(stat.read_text())
                if parent == postmaster:
                    ticks += child_own
        return ticks / os.sysconf("SC_CLK_TCK")


@dataclass
class Proc:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    port: int = 0
    popen: subprocess.Popen[bytes] | None = None
    cpu_done: float = 0.0  # CPU of earlier incarnations (killed and restarted)

    def start(self, wait_http: bool = False) -> None:
        out = self.log.open("ab")
        self.popen = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        out.close()
        if wait_http:
            try:
                wait_until_up(self.port, self.popen, timeout=90)
            except SystemExit:
                sys.stderr.write(self.log.read_text(errors="replace")[-3000:])
                raise

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def cpu(self) -> float:
        if not self.alive():
            return self.cpu_done
        return self.cpu_done + group_cpu_seconds(self.pid)

    def kill(self) -> None:
        """SIGKILL the whole process group: no cleanup, no goodbye."""
        if self.alive():
            self.cpu_done += group_cpu_seconds(self.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            assert self.popen is not None
            self.popen.wait(timeout=15)

    def stop(self, timeout: float = 30) -> None:
        if not self.alive():
            return
        self.cpu_done += group_cpu_seconds(self.pid)
        assert self.popen is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)


@dataclass
class Stack:
    """The learnloop processes of the harness, by role."""

    apps: list[Proc]
    workers: list[Proc]
    scheduler: Proc
    push_service: subprocess.Popen[str] | None = None

    @property
    def ports(self) -> list[int]:
        return [app.port for app in self.apps]

    def all(self) -> list[Proc]:
        return [*self.apps, *self.workers, self.scheduler]

    def cpu(self) -> dict[str, float]:
        return {
            "apps": sum(p.cpu() for p in self.apps),
            "workers": sum(p.cpu() for p in self.workers),
            "scheduler": self.scheduler.cpu(),
            "push service": cpu_seconds(self.push_service.pid) if self.push_service else 0.0,
        }

    def stop(self) -> None:
        for proc in self.all():
            with contextlib.suppress(Exception):
                proc.stop(timeout=20)
        if self.push_service is not None and self.push_service.poll() is None:
            self.push_service.send_signal(signal.SIGTERM)
            with contextlib.suppress(Exception):
                self.push_service.wait(timeout=10)


def app_proc(n: int, env: dict[str, str], logs: Path) -> Proc:
    port = free_port()
    argv = uvicorn_argv(["--factory", "backend.app:create_app"], port)
    return Proc(f"app-{n}", argv, env, logs / f"app-{n}.log", port)


def worker_proc(name: str, env: dict[str, str], logs: Path, scheduler: bool) -> Proc:
    argv = [sys.executable, "-m", "backend.cli", "worker"]
    argv += ["--scheduler", "--senders", "1"] if scheduler else ["--no-scheduler"]
    return Proc(name, argv, env, logs / f"{name}.log")


def wait_for(check: object, timeout: float, step: float = 0.2, what: str = "") -> float:
    """Poll ``check()`` until true; seconds waited (raises TimeoutError past ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if check():  # type: ignore[operator]
            return time.monotonic() - started
        time.sleep(step)
    raise TimeoutError(f"{what or 'condition'} not reached within {timeout:.0f}s")
