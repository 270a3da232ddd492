"""Shared, expensive things are made once per test session, even across pytest-xdist workers.

A baked project, a virtualenv with it installed, a Docker image: each is keyed by what it is made
from (the answers, the project's files) and guarded by a file lock in a directory every worker
shares, so the second worker to ask waits for the first and reuses its result.
"""

from __future__ import annotations

import json
import os
import shutil
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from filelock import FileLock

from support.answer_sets import OFFLINE
from support.commands import DOCKER, IN_CI, UV, docker, find_python, make_venv, run
from support.containers import build_image, image_exists, remove_images
from support.digests import context_key, tree_digest

# The README journeys' fixtures (session token, journey bakes, shared installs):
# tests/support/journey_fixtures.py.
pytest_plugins = ["support.journey_fixtures"]

# uv, which locks the baked projects, would download a Python it cannot find on the machine to read
# old source distributions with; the tests use the machine's interpreters (where GitHub, uv's
# source of Pythons, cannot be reached, each failed download costs seconds per lock).
os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")

# The base images the Docker tests build on: on this machine, the stand-ins that .ci/run builds
# with ../shared/docker/standin-python-image.sh. Anywhere else, any python:X.Y-slim image.
BASE_IMAGES = {version: f"python:{version}-slim" for version in ("3.9", "3.11", "3.12", "3.13")}


def pytest_configure(config):
    """Before any worker starts: remove the images earlier sessions left, so that this session
    builds every image it tests itself (Docker's layer cache still makes that quick). Only when
    asked (tests/run asks): a pytest run of a few tests must not remove the images of another
    session running beside it."""
    if os.environ.get("PYTEST_XDIST_WORKER") or shutil.which(DOCKER) is None:
        return
    if os.environ.get("CPD_FRESH_IMAGES") != "1":
        return
    listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=False)
    stale = [image for image in listed.output.split() if image.startswith("cpd-")]
    if listed.returncode == 0:
        remove_images(*stale)


# What only the nightly run (CPD_NIGHTLY=1 tests/run -m nightly) runs: variants whose every
# command a CI run already runs in another variant, kept out of CI to hold it under 30 minutes.
NIGHTLY = os.environ.get("CPD_NIGHTLY") == "1"
NIGHTLY_ONLY = (pytest.mark.nightly,
                pytest.mark.skipif(not NIGHTLY, reason="nightly only (CPD_NIGHTLY=1): CI runs the same "
                                                       "commands in another variant"))


def nightly_only(value, id: str):
    """A parameter of a test that only the nightly run takes."""
    return pytest.param(value, id=id, marks=NIGHTLY_ONLY)


# The costliest modules first (`--durations` ranks them), so that the two workers finish together:
# xdist hands out tests in collection order, and an idle worker takes over the other's queue
# (--dist worksteal), which only helps while that queue holds short tests.
COSTLIEST_FIRST = ("test_journeys", "test_ci", "test_local_stack", "test_release_matrix", "test_kubernetes",
                   "test_dask_cluster", "test_platform",
                   "test_makefile", "test_docker", "test_answers_property", "test_hygiene",
                   "test_readme_references", "test_prefect1", "test_lock", "test_update")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        module = item.path.stem
        return COSTLIEST_FIRST.index(module) if module in COSTLIEST_FIRST else len(COSTLIEST_FIRST)

    items.sort(key=rank)  # stable: each module keeps its own order


def unavailable(reason: str):
    """Missing infrastructure is a failure in CI (it must be there) and a skip elsewhere."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: .ci/run must provide it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def shared_dir(tmp_path_factory) -> Path:
    """A directory all xdist workers of this session share."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="session")
def once(shared_dir):
    """once(key, make): run make(path) for the first caller of key in the session, return path."""

    def make_once(key: str, make) -> Path:
        path = shared_dir / key
        with FileLock(str(path) + ".lock"):
            if not (shared_dir / f"{key}.done").exists():
                if path.exists():
                    shutil.rmtree(path)
                make(path)
                (shared_dir / f"{key}.done").touch()
        return path

    return make_once


@dataclass(frozen=True)
class Baked:
    """A project baked once per session and shared: read it, or copy it before changing it."""

    project: Path  # its folder, named as cookiecutter named it (the slug)
    context: dict  # what cookiecutter rendered from the answers (extra context is Jinja)


def bake_checked(cookies_session, answers: dict):
    """cookies_session.bake(answers), which must succeed."""
    result = cookies_session.bake(extra_context=answers)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return result


@pytest.fixture(scope="session")
def bake_shared(once, cookies_session):
    """bake_shared(**answers): the project baked from those answers, baked once per session (its
    folder is named after the answers, not the slug)."""

    def bake(**answers) -> Path:
        def make(path: Path) -> None:
            shutil.copytree(bake_checked(cookies_session, answers).project_path, path, symlinks=True)

        return once(f"bake-{context_key(answers)}", make)

    return bake


@pytest.fixture(scope="session")
def bake_with_context(once, cookies_session):
    """bake_with_context(**answers): the project baked from those answers once per session, in the
    folder cookiecutter named (the slug), with the context it was rendered from."""

    def bake(**answers) -> Baked:
        def make(path: Path) -> None:
            result = bake_checked(cookies_session, answers)
            path.mkdir()
            shutil.copytree(result.project_path, path / result.project_path.name, symlinks=True)
            (path / "context.json").write_text(json.dumps(result.context))

        folder = once(f"baked-{context_key(answers)}", make)
        [project] = [p for p in folder.iterdir() if p.is_dir()]
        return Baked(project, json.loads((folder / "context.json").read_text()))

    return bake


@pytest.fixture(scope="session")
def offline_project(bake_with_context):
    """offline_project(**answers): the folder of the project those answers bake without locking
    (lock_requirements=no), once per session and shared: read it, or copy it first."""

    def project(**answers) -> Path:
        return bake_with_context(**{**OFFLINE, **answers}).project

    return project


@pytest.fixture(scope="session")
def installed_venv(once):
    """installed_venv(project, python): a fresh virtualenv with the project and its test tools,
    installed as the README says: `uv sync --locked` (`make install`) where the project has its
    uv.lock; else pip, dated as pyproject.toml's exclude-newer dates the lock (the README's pip
    path). Made once per project content and Python."""

    def install(project: Path, python_version: str) -> Path:
        try:
            interpreter = find_python(python_version)
        except LookupError as error:
            unavailable(str(error))

        def make(venv: Path) -> None:
            if (project / "uv.lock").exists():
                run([UV, "sync", "--locked", "--python", interpreter], cwd=project,
                    env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)})
                return
            python = make_venv(venv, interpreter)
            run([python, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
            day = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["uv"]["exclude-newer"]
            run([python, "-m", "pip", "install", "--quiet", f"--uploaded-prior-to={day}", "-e", project,
                 "--group", f"{project / 'pyproject.toml'}:dev"])

        return once(f"venv-{python_version}-{tree_digest(project)}", make)

    return install


@pytest.fixture(scope="session")
def docker_engine() -> str:
    if shutil.which(DOCKER) is None or docker("info", check=False).returncode != 0:
        unavailable("no Docker engine answers (start one with ../shared/docker/start-dockerd.sh)")
    return DOCKER


@pytest.fixture(scope="session")
def base_image(docker_engine):
    """base_image('3.11'): the tag of a local python:3.11-slim image, which must exist."""

    def tag_for(python_version: str) -> str:
        tag = BASE_IMAGES[python_version]
        if not image_exists(tag):
            unavailable(f"base image {tag} is not on this engine (no registry is reachable here: "
                        f"build it with ../shared/docker/standin-python-image.sh {tag})")
        return tag

    return tag_for


@pytest.fixture(scope="session")
def prefect_image(once, base_image):
    """prefect_image(prefect_version, python_version): the tag of Prefect's official image for them
    (a faithful local stand-in, tests/support/official_prefect_image.py), built once per session, with the
    dependencies of the release's day."""
    from support import official_prefect_image

    def ensure(prefect_version: str, python_version: str) -> str:
        base = base_image(python_version)
        once(f"prefect-image-{prefect_version}-{python_version}",
             lambda path: official_prefect_image.ensure(prefect_version, python_version, base))
        return official_prefect_image.tag(prefect_version, python_version)

    return ensure


@pytest.fixture(scope="session")
def project_image(once, docker_engine):
    """project_image(project, builder): the project's image, built once per content and builder.

    The tag carries the project's digest, so every worker asking for the same project gets the
    same image; the first builds it, the others wait on the lock and reuse it.
    """

    def build(project: Path, builder: str = "buildkit") -> str:
        tag = f"cpd-test-{project.name}:{tree_digest(project)}-{builder}"

        def make(path: Path) -> None:
            path.mkdir()
            if not image_exists(tag):
                result = build_image(project, tag, builder)
                (path / "build.log").write_text(result.output)

        once(f"image-{tag.replace(':', '-').replace('/', '-')}", make)
        return tag

    return build
