"""Running the real tools a generated project meets: cookiecutter, pip, Python, Docker.

Every command runs for real; a failure raises with the command's own output, so a red test says
what the user would have seen.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[1]
COOKIECUTTER_JSON = json.loads((TEMPLATE_DIR / "cookiecutter.json").read_text())
# The releases the tests bake, one per line the template supports, newest last (the article's
# 0.15.4, Prefect 1's last, 2.x's last, the default). What each allows (its Pythons, its
# companions) is the template's own answer: hooks/prefect_release.py, from its offline record.
TESTED_RELEASES = ["0.15.4", "1.4.1", "2.20.27", COOKIECUTTER_JSON["_prefect_default"]]
DEFAULT_PREFECT = COOKIECUTTER_JSON["_prefect_default"]
# The Pythons the tests bake for: the prompt's choices that this machine has interpreters and
# base images of (../shared/docker/standin-python-image.sh builds 3.9 to 3.13).
PYTHONS = sorted((p for p in COOKIECUTTER_JSON["python_version"] if p in {f"3.{m}" for m in range(9, 14)}),
                 key=lambda p: tuple(map(int, p.split("."))))


def prefect_release_module():
    """hooks/prefect_release.py, as cookiecutter imports it (the template folder on sys.path)."""
    sys.path.insert(0, str(TEMPLATE_DIR))
    try:
        from hooks import prefect_release
    finally:
        sys.path.remove(str(TEMPLATE_DIR))
    return prefect_release


def release_facts(prefect_version: str, python_version: str, work_pool_type: str = "kubernetes",
                  task_runner: str = "dask", extra_requirements: str = ""):
    """What the template works out for these answers (hooks/prefect_release.py's Facts)."""
    return prefect_release_module().prefect_release({
        **COOKIECUTTER_JSON, "prefect_version": prefect_version, "python_version": python_version,
        "work_pool_type": work_pool_type, "task_runner": task_runner,
        "extra_requirements": extra_requirements})


def line_of(version: str) -> dict:
    """A tested release as the tests use it: its series, api, Python range (lowest and highest
    Python it accepts, every companion needed) and requirements (by kind: docker, dask, ...)."""
    api = int(version.split(".")[0]) if version[0] in "23" else 1
    fitting = [python for python in PYTHONS if not release_facts(version, python).problem]
    facts = release_facts(version, fitting[-1])
    kinds = {"docker": "prefect-docker", "dask": "prefect-dask", "kubernetes": "prefect-kubernetes",
             "dask_kubernetes": "dask-kubernetes", "test": "pytest"}
    return {"series": version.rsplit(".", 1)[0] + "." if api >= 2 else version.split(".")[0] + ".",
            "newest": version, "api": api, "python": [fitting[0], fitting[-1]],
            "requirements": {kind: facts.pin(name) for kind, name in kinds.items() if facts.pin(name)}}


PREFECT_LINES = [line_of(version) for version in TESTED_RELEASES]
PREFECT_LINES[0]["series"] = "0.15."


def prefect_line(version: str) -> dict:
    """The tested line whose series holds version (e.g. '2.20.27' -> the 2.20. line)."""
    return next(line for line in PREFECT_LINES if version.startswith(line["series"]))


def newest_prefect(api: int) -> str:
    """The newest tested release of a Prefect major API (3, 2 or 1)."""
    return [line["newest"] for line in PREFECT_LINES if line["api"] == api][-1]


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


def tree_digest(root: Path, exclude=(".git", "__pycache__", ".pytest_cache", ".ruff_cache")) -> str:
    """A digest of every file's path and content below root: equal trees give equal digests."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root)
        if any(part in exclude for part in relative.parts):
            continue
        digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def context_key(context: dict) -> str:
    return hashlib.sha256(json.dumps(context, sort_keys=True).encode()).hexdigest()[:12]


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def build_image(context_dir: Path, tag: str, builder: str, *extra: str, check: bool = True) -> Completed:
    """docker build with the classic builder or BuildKit, on the host network (no bridge here)."""
    env = dict(os.environ, DOCKER_BUILDKIT="1" if builder == "buildkit" else "0")
    # The classic builder keeps a failed step's container unless told not to.
    progress = ["--progress=plain"] if builder == "buildkit" else ["--force-rm"]
    return docker("build", "--network", "host", *progress, *extra, "-t", tag, ".",
                  cwd=context_dir, env=env, timeout=1800, check=check)


def load_hook(name: str):
    """Import hooks/<name>.py as a module (its main() runs only when cookiecutter runs the file)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"hook_{name}", TEMPLATE_DIR / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The temporary server Prefect 3 starts for a run without PREFECT_API_URL must answer within 20 s
# by default; on a loaded two-core CI machine it sometimes takes longer.
PATIENT_PREFECT = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120"}


def prefect_env(home: Path, **extra: str) -> dict:
    """The environment for running Prefect in a test: a Prefect home of its own (Prefect 2 cannot
    open a database that Prefect 3 has migrated) and a patient temporary server."""
    return dict(os.environ, PREFECT_HOME=str(home), **PATIENT_PREFECT, **extra)
