"""Finish the generated project: remove folders the answers left empty, record where it came
from (for `cruft update`), then lock its dependencies with the project's own scripts/lock.py.

Runs inside the new project, under cookiecutter's (or cruft's) interpreter. Exiting non-zero makes
cookiecutter delete the project; a machine that cannot lock now keeps it and is told how to lock
later. Why locking lives in the project: docs/design.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

LOCKS = "requirements.lock and requirements-dev.lock"
LOCK_LATER = ("Lock later, in the project folder: `make lock` (or `uv run scripts/lock.py`), "
              "before you build the image.")
NOT_GENERATED = "The project was not generated. Fix the answers above and run cookiecutter again."
# scripts/lock.py exits with 3 when the package index does not answer; uv itself exits with 2
# when it cannot start the script (e.g. no network to fetch the script's own dependencies).
CANNOT_LOCK_HERE = {2: "uv could not run scripts/lock.py", 3: "the package index did not answer"}


def remove_empty_folders(root: Path) -> None:
    """A conditional file name that renders empty skips its file, which can leave a folder empty
    (deploy/kubernetes/ when the work pool is not Kubernetes)."""
    folders = sorted((path for path in root.rglob("*") if path.is_dir()),
                     key=lambda path: len(path.parts), reverse=True)
    for folder in folders:
        if not any(folder.iterdir()):
            folder.rmdir()


def repeated_packages(requirements: str) -> list[str]:
    """Each package once in requirements.txt: an extra_requirements pin may repeat one the template
    pins (prefect, prefect-docker, ...) or another extra. Names compare as PEP 503 says."""
    first: dict[str, tuple[int, str]] = {}
    errors = []
    for number, line in enumerate(requirements.splitlines(), start=1):
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)  # comments start with '#'
        name = match and re.sub(r"[-_.]+", "-", match[0]).lower()
        if name in first:
            errors.append(f"extra_requirements: requirements.txt line {number} ({line.strip()!r}) repeats "
                          f"'{name}' from line {first[name][0]} ({first[name][1]!r}): keep one (names "
                          "compare case-insensitively, with '-', '_' and '.' alike).")
        elif name:
            first[name] = (number, line.strip())
    return errors


def record_template(answers: dict) -> None:
    """Under plain cookiecutter, write .cruft.json as `cruft create` would (cruft, which answers
    `_commit`, writes it itself), so that `cruft update` can follow the template. `_repo_dir` is
    the template's checkout (cookiecutter's clone of `_template` when that is a URL)."""
    if "_commit" in answers:
        return
    checkout = Path(os.environ.get("PWD", ""), answers["_repo_dir"]).resolve()
    git = ["git", "-C", str(checkout)]
    try:
        top, commit = subprocess.run([*git, "rev-parse", "--show-toplevel", "HEAD"], capture_output=True,
                                     text=True, check=True).stdout.splitlines()
    except (OSError, ValueError, subprocess.CalledProcessError):
        top = commit = ""
    if not top or Path(top).resolve() != checkout:
        print("WARNING: the template is not a git checkout, so .cruft.json was not written: to update "
              "this project from the template later, run `cruft link <template URL>` in it.", file=sys.stderr)
        return
    cloned = answers["_template"] != answers["_repo_dir"]
    template = subprocess.run([*git, "remote", "get-url", "origin"], capture_output=True, text=True
                              ).stdout.strip() if cloned else str(checkout)
    context = {**{k: v for k, v in answers.items() if not k.startswith("_")}, "_template": template,
               "_commit": commit}
    state = {"template": template, "commit": commit, "checkout": answers.get("_checkout"),
             "context": {"cookiecutter": context}, "directory": None}
    Path(".cruft.json").write_text(json.dumps(state, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def uv_command() -> list[str] | None:
    if shutil.which("uv"):
        return ["uv"]
    if importlib.util.find_spec("uv"):  # uv installed as a Python package beside cookiecutter
        return [sys.executable, "-m", "uv"]
    return None


def lock() -> int:
    """Run the project's lock script; the exit status of this hook."""
    uv = uv_command()
    if uv is None:
        print(f"WARNING: uv is not installed, so {LOCKS} were not written. "
              f"Install uv (https://docs.astral.sh/uv/). {LOCK_LATER}", file=sys.stderr)
        return 0
    print("Locking the dependencies: uv run scripts/lock.py", file=sys.stderr, flush=True)
    status = subprocess.run([*uv, "run", "scripts/lock.py"], check=False).returncode
    if status == 0:
        return 0
    if status in CANNOT_LOCK_HERE:
        print(f"WARNING: {CANNOT_LOCK_HERE[status]} (see above), so {LOCKS} were not written. "
              f"{LOCK_LATER}", file=sys.stderr)
        return 0
    print("ERROR: the pins could not be locked (see above). requirements.txt holds your answers "
          f"prefect_version and extra_requirements; the lock is for python_version.\n{NOT_GENERATED}",
          file=sys.stderr)
    return 1


def main(answers: dict) -> int:
    remove_empty_folders(Path.cwd())
    record_template(answers)
    errors = repeated_packages(Path("requirements.txt").read_text())
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors:
        print(NOT_GENERATED, file=sys.stderr)
        return 1
    if answers["lock_requirements"] == "yes":
        return lock()
    if answers["__prefect_api"] == "1":
        print(f"WARNING: Prefect {answers['prefect_version']} installed from requirements.txt "
              "alone takes today's versions of its dependencies, which break it: lock before you "
              f"build. {LOCK_LATER}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    # Rendered by cookiecutter: the answers arrive as JSON data, never as Python source.
    sys.exit(main(json.loads(r"""{{ cookiecutter | tojson }}""")))
