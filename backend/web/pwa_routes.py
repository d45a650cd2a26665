"""What makes the pages an installable app: manifest, service worker and the offline page."""

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

from litestar import Controller, Request, Response, get
from litestar.response import Template

from backend.web.pages import choose_locale, render

PWA_DIR = Path(__file__).resolve().parents[2] / "pwa"
SERVICE_WORKER = PWA_DIR / "static" / "sw.js"
MANIFEST = PWA_DIR / "static" / "manifest.webmanifest"
VERSION_PLACEHOLDER = "__SHELL_VERSION__"
# browsers check for a new service worker on navigations; the script itself must never be stale
NO_CACHE = "no-cache, max-age=0"


@cache
def shell_version() -> str:
    """A hash of everything the service worker caches: it changes with any of these files."""
    digest = hashlib.sha256()
    roots = [PWA_DIR / "static", PWA_DIR / "templates", PWA_DIR / "translations"]
    for path in sorted(p for root in roots for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".py" or "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(PWA_DIR).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@cache
def service_worker_source() -> str:
    return SERVICE_WORKER.read_text(encoding="utf-8").replace(VERSION_PLACEHOLDER, shell_version())


class PwaController(Controller):
    include_in_schema = False

    @get("/sw.js", name="service-worker")
    async def service_worker(self) -> Response[str]:
        return Response(
            service_worker_source(),
            media_type="text/javascript; charset=utf-8",
            headers={"Service-Worker-Allowed": "/", "Cache-Control": NO_CACHE},
        )

    @get("/manifest.webmanifest", name="manifest")
    async def manifest(self) -> Response[bytes]:
        return Response(
            MANIFEST.read_bytes(),
            media_type="application/manifest+json",
            headers={"Cache-Control": "no-cache"},
        )

    @get("/offline", name="offline")
    async def offline(self, request: Request[Any, Any, Any]) -> Template:
        locale = choose_locale(request, request.scope.get("user"))
        response = render(request, "offline.html", {}, locale=locale)
        response.headers["Cache-Control"] = NO_CACHE
        return response
