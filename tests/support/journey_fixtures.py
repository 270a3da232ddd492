"""Fixtures of the README journeys, shared by the modules that run or read them.

Import the ones a module uses (`from journey_fixtures import installed, journey_bake, ...`).
Every name the journeys give Docker carries this session's token, so that sessions running side by
side (and their xdist workers) never touch each other's images, containers or compose projects.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from support.commands import find_python
from support.digests import context_key
from support.journeys import (
    INSTALL_SECTION,
    Journey,
    JourneyRun,
    documents,
    install_key,
    is_install,
    machine_environment,
)
from support.network import free_port


@pytest.fixture(scope="session")
def session_token(shared_dir) -> str:
    """Short and unique to this test session: it goes into every name the journeys give Docker."""
    return hashlib.sha256(str(shared_dir.resolve()).encode()).hexdigest()[:6]


def journey_answers(journey: Journey, token: str) -> dict:
    """The journey's answers, with a project name of this session's (the same for equal answers,
    so that they share the install) and an image name of the journey's own."""
    return {**journey.answers, "project_name": f"cpd {token} {context_key(journey.answers)[:6]}",
            "image_name": f"cpd-{token}-{journey.name}"}


@pytest.fixture(scope="session")
def journey_bake(bake_shared, session_token):
    """journey_bake(journey): the project the journey runs in, baked once per session."""
    return lambda journey: bake_shared(**journey_answers(journey, session_token))


@pytest.fixture(scope="session")
def tools(once) -> Path:
    """A folder for PATH with what this machine has elsewhere: pythonX.Y (pyenv's, as small
    scripts, so that a virtualenv records the real interpreter) and uv (the dev venv's)."""

    def make(path: Path) -> None:
        path.mkdir()
        for version in ("3.9", "3.10", "3.11", "3.12", "3.13"):
            try:
                interpreter = find_python(version)
            except LookupError:
                continue
            script = path / f"python{version}"
            script.write_text(f'#!/bin/sh\nexec "{interpreter}" "$@"\n')
            script.chmod(0o755)
        uv = shutil.which("uv") or str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "uv")
        (path / "uv").symlink_to(uv)

    return once("journey-tools", make)


def new_run(journey: Journey, project: Path, workdir: Path, tools: Path) -> JourneyRun:
    """A run of journey in project (its README and docs/), with free ports of its own."""
    ports = {"api_port": free_port(), "dask_port": free_port(), "dashboard_port": free_port()}
    return JourneyRun(journey, project, workdir, documents(project), ports, tools)


@pytest.fixture(scope="session")
def installed(once, tools):
    """installed(project): (a copy of project where the install commands of the README's install
    section ran, their transcript); once per install_key, so journeys on equal locks and code
    share one."""

    def install(project: Path) -> tuple[Path, dict]:
        key = install_key(project, (project / "README.md").read_text())

        def make(path: Path) -> None:
            path.mkdir()
            copy = path / "project"
            shutil.copytree(project, copy, symlinks=True)
            journey = Journey("install", {}, (INSTALL_SECTION,), after_install=False, pick=is_install)
            journey_run = new_run(journey, copy, path / "run", tools)
            try:
                journey_run.start(machine_environment(journey_run))
                journey_run.run()
            finally:
                journey_run.close()
            ok = not any(step.failed() for step in journey_run.steps)
            (path / "install.json").write_text(json.dumps({"ok": ok, "report": journey_run.report()}))

        path = once(f"journey-install-{key}", make)
        return path / "project", json.loads((path / "install.json").read_text())

    return install
