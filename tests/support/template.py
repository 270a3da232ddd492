"""The template under test: its folder, cookiecutter.json, its hooks, and the Prefect releases the
tests bake (what each allows is the template's own answer: hooks/prefect_release.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

TEMPLATE_DIR = Path(__file__).resolve().parents[2]
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


def load_hook(name: str):
    """Import hooks/<name>.py as a module (its main() runs only when cookiecutter runs the file)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"hook_{name}", TEMPLATE_DIR / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
