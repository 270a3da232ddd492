"""Installs that still work years later, with uv's own lock and nothing of ours.

The post-gen hook runs `uv lock` (the project's `make lock`). pyproject.toml's `[tool.uv]` says how:
`exclude-newer`, the day after the Prefect release's, dates every package the pins leave open;
`exclude-newer-package` lets in the user's own pins (and a companion the template had to take
later) whatever their day; `cache-keys` makes a change to requirements.txt a change to the project.
Everything talks to the real index and the real uv; an unreachable index is a closed local port.
"""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import tomllib
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException

from support.answer_sets import PREFECT015_ON_39, PREFECT1_ON_39, PREFECT2_UNLOCKED
from support.commands import PATIENT_PREFECT, UV, docker, run, venv_python
from support.template import DEFAULT_PREFECT, release_facts

# The user's tools: uv and make find uv beside this interpreter.
ENV = {**os.environ, "PATH": f"{Path(UV).parent}{os.pathsep}{os.environ['PATH']}"}


def lock_of(project: Path) -> dict:
    return tomllib.loads((project / "uv.lock").read_text())


def uv_settings(project: Path) -> dict:
    return tomllib.loads((project / "pyproject.toml").read_text())["tool"]["uv"]


def locked(project: Path) -> dict[str, str]:
    return {package["name"]: package.get("version") for package in lock_of(project)["package"]}


def copy(project: Path, tmp_path: Path) -> Path:
    """A project of the test's own, to change (the shared bakes stay as generated)."""
    mine = tmp_path / project.name
    shutil.copytree(project, mine, symlinks=True)
    return mine


def refused(cookies, tmp_path, capfd, answers: dict) -> str:
    """Bake; assert the hook refused and left nothing behind; return its stderr."""
    result = cookies.bake(extra_context=answers)
    assert isinstance(result.exception, FailedHookException), result.exception
    assert result.project_path is None
    leftovers = list((tmp_path / "cookies").rglob("*"))
    assert leftovers in ([], [tmp_path / "cookies" / "bake00"]), "a half-made project was left behind"
    errors = capfd.readouterr().err
    assert "ERROR:" in errors and "The project was not generated" in errors
    return errors


# ------------------------------------------------------------------------ what the hook locks


def test_the_lock_holds_the_pins_and_every_file_is_as_old_as_the_prefect_releases_day(bake_shared):
    project = bake_shared(extra_requirements="tomli-w==1.2.0", prefect_version="3.0.0", python_version="3.12")
    settings, versions = uv_settings(project), locked(project)
    facts = release_facts("3.0.0", "3.12", "docker", "default", "tomli-w==1.2.0")
    # The day after 3.0.0's upload (2024-09-03), in the project and in the lock uv made from it.
    assert settings["exclude-newer"] == "2024-09-04T00:00:00Z" == lock_of(project)["options"]["exclude-newer"]
    assert versions["prefect"] == "3.0.0" and versions["tomli-w"] == "1.2.0"
    assert versions["prefect-docker"] == facts.pins["prefect-docker"]
    # The user's own pin came later than the day (2025-01-15): it is let in by name, nothing else is.
    exempt = set(settings.get("exclude-newer-package", {}))
    assert "tomli-w" in exempt
    cutoff = datetime.datetime.fromisoformat(settings["exclude-newer"])
    for package in lock_of(project)["package"]:
        files = package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else [])
        for file in files:
            assert file["hash"].startswith("sha256:"), package["name"]
            if package["name"] not in exempt and "upload-time" in file:
                assert datetime.datetime.fromisoformat(file["upload-time"]) < cutoff, (package["name"], file)


@pytest.mark.parametrize("answers", [PREFECT015_ON_39, PREFECT1_ON_39], ids=["prefect0.15", "prefect1"])
def test_make_install_then_make_test_pass_on_the_host_exactly_as_locked(bake_shared, tmp_path, answers):
    project = copy(bake_shared(**answers), tmp_path)
    run(["make", "install"], cwd=project, env=ENV, timeout=900)
    assert "passed" in run(["make", "test"], cwd=project, env=ENV).output
    assert run([UV, "lock", "--check"], cwd=project, env=ENV, check=False).returncode == 0


def test_pins_that_cannot_be_installed_together_are_refused(cookies, tmp_path, capfd):
    # Prefect 3 needs pydantic 2.
    errors = refused(cookies, tmp_path, capfd, {"extra_requirements": "pydantic==1.10.13"})
    assert "the pins could not be locked" in errors and "pydantic" in errors
    assert "extra_requirements" in errors


@pytest.fixture
def unreachable_index(monkeypatch):
    """UV_DEFAULT_INDEX at a local port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("UV_DEFAULT_INDEX", f"http://127.0.0.1:{port}/simple")
    monkeypatch.setenv("UV_OFFLINE", "")
    monkeypatch.setenv("UV_NO_CACHE", "1")


def test_without_the_index_a_locked_project_is_refused_and_the_message_says_how_to_go_on(
        cookies, tmp_path, capfd, unreachable_index):
    errors = refused(cookies, tmp_path, capfd, {"prefect_version": DEFAULT_PREFECT})
    assert "lock_requirements=no" in errors and "make lock" in errors


# ------------------------------------------------------------------------ what the user does next


def test_a_user_adds_a_pin_and_make_lock_locks_it(bake_shared, tmp_path):
    project = copy(bake_shared(), tmp_path)
    with (project / "requirements.txt").open("a") as requirements:
        requirements.write("six==1.16.0\n")
    stale = run([UV, "lock", "--check"], cwd=project, env=ENV, check=False)
    assert stale.returncode != 0, "CI's lock check must see that requirements.txt changed"
    run(["make", "lock"], cwd=project, env=ENV)
    assert locked(project)["six"] == "1.16.0"
    assert run([UV, "lock", "--check"], cwd=project, env=ENV, check=False).returncode == 0


def test_a_pin_newer_than_the_lock_s_day_is_let_in_by_make_relock(bake_shared, tmp_path):
    """ruff 0.17.4 was published on 2026-11-05, after Prefect 3.9.1's day: `make lock` refuses it
    with uv's own hint; `make relock` moves the day to now and locks it, the other versions kept."""
    project = copy(bake_shared(), tmp_path)
    before, versions = uv_settings(project)["exclude-newer"], locked(project)
    with (project / "requirements.txt").open("a") as requirements:
        requirements.write("ruff==0.17.4\n")
    refused = run(["make", "lock"], cwd=project, env=ENV, check=False)
    assert refused.returncode != 0 and "filtered by `exclude-newer`" in refused.output
    run(["make", "relock"], cwd=project, env=ENV)
    after = uv_settings(project)["exclude-newer"]
    assert after > before and after[:10] == datetime.datetime.now(datetime.UTC).date().isoformat()
    assert lock_of(project)["options"]["exclude-newer"] == after
    assert locked(project) == {**versions, "ruff": "0.17.4"}
    assert not (project / "pyproject.toml.bak").exists()
    assert run([UV, "lock", "--check"], cwd=project, env=ENV, check=False).returncode == 0


# ------------------------------------------------------------------------ without a lock


def test_an_unlocked_project_installs_with_pip_as_of_its_day_and_its_flow_completes(bake_shared,
                                                                                     installed_venv):
    project = bake_shared(**PREFECT2_UNLOCKED)
    assert not (project / "uv.lock").exists()
    venv = installed_venv(project, "3.12")  # pip install --uploaded-prior-to=<exclude-newer> -e .
    result = run([venv_python(venv), "workflow/flow.py"], cwd=project,
                 env={**os.environ, **PATIENT_PREFECT, "PREFECT_HOME": str(venv / "prefect-home")})
    assert "Completed" in result.output


def test_an_unlocked_project_builds_an_image_whose_flow_completes(bake_shared, project_image, base_image):
    base_image("3.12")
    image = project_image(bake_shared(**PREFECT2_UNLOCKED))
    assert "Completed" in docker("run", "--rm", "--network", "host", image).output
