"""Running the real tools a generated project meets: cookiecutter, pip, Python, Docker.

Every command runs for real; a failure raises with the command's own output, so a red test says
what the user would have seen.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# The Docker client that has BuildKit built in (a newer `docker` earlier on PATH may lack buildx).
DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# uv, as the test tools pin it (requirements-dev.txt), beside this interpreter.
UV = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))


class CommandFailed(AssertionError):
    pass


@dataclass
class Completed:
    args: list[str]
    returncode: int
    output: str
    seconds: float


def run(args, *, cwd=None, env=None, timeout=1800, check=True, input=None) -> Completed:
    """Run a command, capturing stdout and stderr together; raise with that output on failure."""
    args = [str(a) for a in args]
    started = time.monotonic()
    try:
        process = subprocess.run(args, cwd=cwd, env=env, timeout=timeout, input=input,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 check=False)
    except subprocess.TimeoutExpired as error:
        raise CommandFailed(f"timed out after {timeout}s: {' '.join(args)}\n{error.output or ''}") from None
    done = Completed(args, process.returncode, process.stdout, time.monotonic() - started)
    if check and process.returncode != 0:
        raise CommandFailed(f"exit {process.returncode}: {' '.join(args)} (in {cwd})\n"
                            f"{process.stdout[-6000:]}")
    return done


def docker(*args, **kwargs) -> Completed:
    return run([DOCKER, *args], **kwargs)


def find_python(version: str) -> str:
    """An interpreter for python_version (e.g. '3.11'): on PATH, or under pyenv."""
    found = shutil.which(f"python{version}")
    # (A pyenv shim is on PATH for every installed version but fails unless that version is active.)
    if found and subprocess.run([found, "-c", ""], capture_output=True, check=False).returncode == 0:
        return found
    candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python{version}")))
    if candidates:
        return candidates[-1]
    raise LookupError(f"no Python {version} on this machine")


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def make_venv(venv: Path, python: str = sys.executable) -> Path:
    run([python, "-m", "venv", venv])
    return venv_python(venv)


# The temporary server Prefect 3 starts for a run without PREFECT_API_URL must answer within 20 s
# by default; on a loaded two-core CI machine it sometimes takes longer.
PATIENT_PREFECT = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}


def prefect_env(home: Path, **extra: str) -> dict:
    """The environment for running Prefect in a test: a Prefect home of its own (Prefect 2 cannot
    open a database that Prefect 3 has migrated) and a patient temporary server."""
    return dict(os.environ, PREFECT_HOME=str(home), **PATIENT_PREFECT, **extra)
