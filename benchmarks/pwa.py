"""Lighthouse on the employee PWA: Today, Catalogue, Log and Progress of a signed-in learner.

    npm install --prefix benchmarks          # once: lighthouse 12.2.3 from package-lock.json
    uv run python benchmarks/pwa.py [--runs 1] [--keep DIR]

Starts the app itself (``learnloop serve --demo``) on a free 127.0.0.1 port with a fresh
embedded PostgreSQL in a temporary folder, signs in as the demo employee, and runs Lighthouse
(mobile emulation, its default) against each page with the session cookie passed through
``--extra-headers``. Chromium is Debian's (``CHROME_PATH``, default /usr/bin/chromium), headless.
Prints the four category scores per page (the median over ``--runs``) against the targets
(performance >= 95, accessibility 100, best practices 100), then the JS+CSS weight of Today:
the scripts and stylesheets Lighthouse saw the page load, each gzipped (target < 60 KB).
Only 127.0.0.1 is contacted; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.cookiejar
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = Path(__file__).resolve().parent
LIGHTHOUSE = BENCH / "node_modules" / ".bin" / "lighthouse"
HOST = "127.0.0.1"
PAGES = (("Today", "/"), ("Catalogue", "/catalogue"), ("Log", "/log"), ("Progress", "/progress"))
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
TARGETS = {"performance": 95, "accessibility": 100, "best-practices": 100}
WEIGHT_TARGET_KB = 60
DEMO_PASSWORD = "leren-is-leuk"
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def demo_server(workdir: Path) -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "LEARNLOOP_ENV": "dev",
        "LEARNLOOP_DATA_DIR": str(workdir / "data"),  # the embedded PostgreSQL, thrown away after
        "LEARNLOOP_SECRET_KEY": secrets.token_urlsafe(48),
        "LEARNLOOP_LOG_LEVEL": "WARNING",
    }
    env.pop("LEARNLOOP_DATABASE_URL", None)
    log = (workdir / "server.log").open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backend.cli",
            "serve",
            "--demo",
            "--host",
            HOST,
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 180  # seeding the demo takes a while on a small machine
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the demo server stopped: see {workdir / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the demo server did not start within 180 s")
            time.sleep(0.5)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def demo_login_email() -> str:
    """The demo employee's address, as the seed defines it."""
    sys.path.insert(0, str(ROOT))
    from backend.demo.seed import DEMO_PASSWORD as password
    from backend.demo.seed import demo_logins

    assert password == DEMO_PASSWORD
    return next(login.email for login in demo_logins() if login.role == "employee")


def sign_in(base: str, email: str) -> str:
    """A Cookie header for a signed-in demo learner (session + CSRF cookie)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base}/", timeout=10).read()
    csrf = next(c.value for c in jar if c.name == "learnloop_csrf")
    request = urllib.request.Request(
        f"{base}/api/v1/auth/login",
        data=json.dumps({"email": email, "password": DEMO_PASSWORD}).encode(),
        headers={"content-type": "application/json", "x-csrf-token": csrf},
        method="POST",
    )
    with opener.open(request, timeout=30) as response:
        assert response.status == 200, response.status
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def lighthouse(url: str, cookie: str, out: Path) -> dict:
    env = {**os.environ, "CHROME_PATH": os.environ.get("CHROME_PATH", "/usr/bin/chromium")}
    command = [
        str(LIGHTHOUSE),
        url,
        "--quiet",
        "--output=json",
        f"--output-path={out}",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={CHROME_FLAGS}",
        f"--extra-headers={json.dumps({'Cookie': cookie})}",
        "--max-wait-for-load=30000",
    ]
    subprocess.run(command, env=env, check=True, timeout=300)
    return json.loads(out.read_text(encoding="utf-8"))


def scores(report: dict) -> dict[str, int]:
    return {key: round((report["categories"][key]["score"] or 0) * 100) for key in CATEGORIES}


def failing_audits(report: dict, category: str) -> list[str]:
    refs = report["categories"][category]["auditRefs"]
    out = []
    for ref in refs:
        audit = report["audits"][ref["id"]]
        if ref.get("weight", 0) > 0 and audit.get("score") is not None and audit["score"] < 1:
            out.append(f"{ref['id']} ({audit['score']:.2f})")
    return out


def page_weight(report: dict) -> list[tuple[str, int, int]]:
    """(url, bytes, gzipped bytes) of every script and stylesheet the page loaded."""
    items = report["audits"]["network-requests"]["details"]["items"]
    seen: list[tuple[str, int, int]] = []
    for item in items:
        if item.get("resourceType") not in ("Script", "Stylesheet"):
            continue
        url = item["url"]
        if any(url == u for u, _, _ in seen):
            continue
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read()
        seen.append((url, len(body), len(gzip.compress(body, compresslevel=6))))
    return seen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=1, help="Lighthouse runs per page (median)")
    parser.add_argument("--keep", type=Path, help="keep the JSON reports in this folder")
    args = parser.parse_args()
    if not LIGHTHOUSE.exists():
        raise SystemExit("lighthouse is missing: run `npm install --prefix benchmarks` first")

    workdir = Path(tempfile.mkdtemp(prefix="learnloop-pwa-"))
    results: dict[str, dict[str, int]] = {}
    weight: list[tuple[str, int, int]] = []
    flagged: dict[str, list[str]] = {}
    try:
        with demo_server(workdir) as base:
            cookie = sign_in(base, demo_login_email())
            for name, path in PAGES:
                runs = []
                for run in range(args.runs):
                    out = workdir / f"{name.lower()}-{run}.json"
                    report = lighthouse(f"{base}{path}", cookie, out)
                    final = report.get("finalDisplayedUrl", "")
                    if final.rstrip("/") != f"{base}{path}".rstrip("/"):
                        raise SystemExit(f"{name}: ended at {final}, not signed in?")
                    runs.append(report)
                    if args.keep:
                        args.keep.mkdir(parents=True, exist_ok=True)
                        shutil.copy(out, args.keep / out.name)
                per_category = {
                    key: int(statistics.median(scores(r)[key] for r in runs)) for key in CATEGORIES
                }
                results[name] = per_category
                for key in TARGETS:
                    if per_category[key] < TARGETS[key]:
                        flagged[f"{name} {key}"] = failing_audits(runs[-1], key)
                if name == "Today":
                    weight = page_weight(runs[-1])
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print()
    print(f"{'page':<11}" + "".join(f"{key:>16}" for key in CATEGORIES))
    for name, values in results.items():
        cells = []
        for key in CATEGORIES:
            mark = "" if key not in TARGETS else (" ok" if values[key] >= TARGETS[key] else " !!")
            cells.append(f"{str(values[key]) + mark:>16}")
        print(f"{name:<11}" + "".join(cells))
    print("targets: performance >= 95, accessibility 100, best-practices 100 (seo: no target)")
    for what, audits in flagged.items():
        print(f"  {what}: {', '.join(audits) or 'see the report'}")

    total = sum(z for _, _, z in weight)
    print()
    print("Today: JS + CSS the page loads")
    for url, size, zipped in weight:
        print(f"  {url.split('/', 3)[-1]:<40} {size / 1024:7.1f} KB  {zipped / 1024:6.1f} KB gzip")
    verdict = "ok" if total < WEIGHT_TARGET_KB * 1024 else "!!"
    print(
        f"  {'total':<40} {sum(s for _, s, _ in weight) / 1024:7.1f} KB  {total / 1024:6.1f} KB gzip"
        f"  (target < {WEIGHT_TARGET_KB} KB) {verdict}"
    )
    failed = flagged or total >= WEIGHT_TARGET_KB * 1024
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
