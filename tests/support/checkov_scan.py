"""checkov, the policy scanner, run on files of a generated project.

checkov pins packaging<24, which the template's own tools cannot share (requirements-dev.txt pins
packaging 26), so it lives in a virtualenv of its own, .venv-checkov, which tests/run makes from
requirements-checkov.txt. CHECKOV may name another checkov executable.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from support.commands import CommandFailed
from support.template import TEMPLATE_DIR

CHECK_KINDS = ("passed_checks", "failed_checks", "skipped_checks")


def checkov_executable() -> str | None:
    candidates = [os.environ.get("CHECKOV"), str(TEMPLATE_DIR / ".venv-checkov" / "bin" / "checkov"),
                  shutil.which("checkov")]
    return next((path for path in candidates if path and Path(path).exists()), None)


def scan(directory: Path, framework: str) -> dict:
    """checkov's results for the files of framework under directory: {"passed_checks": [...],
    "failed_checks": [...], "skipped_checks": [...]}, each check with its file and resource."""
    executable = checkov_executable()
    if executable is None:
        raise CommandFailed("no checkov: run tests/run (it makes .venv-checkov), or set CHECKOV")
    # --skip-download: no Prisma Cloud metadata (unreachable here; it only adds guideline links).
    command = [executable, "--directory", str(directory), "--framework", framework,
               "--skip-download", "--output", "json", "--compact"]
    process = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if process.returncode not in (0, 1):  # 1: some check failed
        raise CommandFailed(f"exit {process.returncode}: {' '.join(command)}\n{process.stderr[-3000:]}")
    report = json.loads(process.stdout)
    reports = report if isinstance(report, list) else [report]
    return {kind: [check for one in reports for check in one.get("results", {}).get(kind, [])]
            for kind in CHECK_KINDS}
