"""Finish the generated project: remove folders the answers left empty, record where it came
from (for `cruft update`), lock its dependencies with uv (`uv lock`, as `make lock` does), and make
it a git repository (pre-commit, and so `make lint`, needs one).

Runs inside the new project, under cookiecutter's (or cruft's) interpreter. Exiting non-zero makes
cookiecutter delete the project; a machine without uv keeps it and is told how to lock later.
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

LOCK_LATER = "Lock later, in the project folder: `make lock` (uv lock), before you build the image."
NOT_GENERATED = "The project was not generated. Fix the answers above and run cookiecutter again."


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


def lock(answers: dict) -> int:
    """`make lock`: uv.lock, and for Prefect's image the pip-readable lock its Dockerfile installs.
    The exit status of this hook."""
    uv = uv_command()
    if uv is None:
        print(f"WARNING: uv is not installed, so uv.lock was not written. Install uv "
              f"(https://docs.astral.sh/uv/). {LOCK_LATER}", file=sys.stderr)
        return 0
    commands = [[*uv, "lock"]]
    if answers["__prefect_base_image"]:
        commands.append([*uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--quiet",
                         "--output-file", "requirements.lock"])
    print("Locking the dependencies: uv lock", file=sys.stderr, flush=True)
    for command in commands:
        if subprocess.run(command, check=False).returncode != 0:
            print("ERROR: the pins could not be locked (see uv's message above). requirements.txt holds "
                  "your answers prefect_version and extra_requirements; the lock is for python_version. "
                  "Without the package index, answer lock_requirements=no and lock later (`make lock`).\n"
                  + NOT_GENERATED, file=sys.stderr)
            return 1
    # uv had setuptools read the project's metadata in place: nothing of that is the project's.
    for built in Path("src").glob("*.egg-info"):
        shutil.rmtree(built)
    return 0


def make_repository(answers: dict) -> None:
    """`git init` and stage every file, unless the project lies inside a repository already (a
    monorepo's): pre-commit checks the files git knows. Not under cruft (which answers `_commit`):
    `cruft update` generates the old and the new template side by side and applies their
    difference to your project, which must not include a repository of their own."""
    if "_commit" in answers:
        print("NOTE: run `git init && git add -A` in the project before `make lint` (pre-commit checks "
              "the files git knows).", file=sys.stderr)
        return
    try:
        inside = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], capture_output=True,
                                check=False).returncode == 0
        if not inside:
            subprocess.run(["git", "init", "--quiet"], check=True)
            subprocess.run(["git", "add", "--all"], check=True)
    except (OSError, subprocess.CalledProcessError):
        print("WARNING: git is not installed (or failed), so the project is not a git repository yet: "
              "`git init` in it before `make lint`.", file=sys.stderr)


def main(answers: dict) -> int:
    remove_empty_folders(Path.cwd())
    record_template(answers)
    errors = repeated_packages(Path("requirements.txt").read_text())
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors:
        print(NOT_GENERATED, file=sys.stderr)
        return 1
    if answers["lock_requirements"] == "yes" and lock(answers) != 0:
        return 1
    make_repository(answers)
    return 0


if __name__ == "__main__":
    # Rendered by cookiecutter: the answers arrive as JSON data, never as Python source.
    sys.exit(main(json.loads(r"""{{ cookiecutter | tojson }}""")))
