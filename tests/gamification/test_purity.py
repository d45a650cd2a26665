"""The engine stays pure: importing it pulls in no web, database or async framework."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import gamification

FORBIDDEN = ("litestar", "sqlmodel", "sqlalchemy", "asyncio", "pydantic")


def test_importing_every_gamification_module_loads_no_framework() -> None:
    modules = [m.name for m in pkgutil.iter_modules(gamification.__path__, "gamification.")]
    assert "gamification.engine" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(','.join(m for m in {FORBIDDEN!r} "
        "if any(k == m or k.startswith(m + '.') for k in sys.modules)))\n"
    )
    root = Path(gamification.__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=root, check=True
    )
    assert result.stdout.strip() == ""


def test_gamification_source_has_no_clock_reads() -> None:
    source_dir = Path(gamification.__file__).parent
    for path in source_dir.glob("*.py"):
        text = path.read_text()
        for banned in ("datetime.now(", "date.today(", "time.time(", "utcnow("):
            assert banned not in text, f"{path.name} reads the clock via {banned}"
