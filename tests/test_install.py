"""A generated project installs with real pip into a fresh virtualenv, and then its own tests
pass and its flow runs to completion: for each Prefect major the template supports on the host."""

from __future__ import annotations

import pytest

from helpers import prefect_env, run, venv_python

# Each is baked with its lock (as a user gets by default) and installed as the README says.
PROJECTS = {
    "prefect3": {"python_version": "3.11"},
    "prefect3-dask": {"python_version": "3.11", "task_runner": "dask"},
    "prefect2": {"python_version": "3.11", "prefect_version": "2.20.25"},
}


@pytest.fixture(scope="module", params=list(PROJECTS), ids=list(PROJECTS))
def installed(request, bake_shared, installed_venv):
    answers = PROJECTS[request.param]
    project = bake_shared(**answers)
    return project, venv_python(installed_venv(project, answers["python_version"]))


def test_the_package_and_its_components_import(installed):
    project, python = installed
    package = next((project / "src").iterdir()).name
    output = run([python, "-c", f"import {package}.components as c; print(c.ComponentA(3).run())"],
                 cwd="/").output
    assert output.strip() == "[1, 2, 3]"


def test_the_installed_versions_are_the_pinned_ones(installed):
    project, python = installed
    pins = dict(line.split("==") for line in (project / "requirements.txt").read_text().split()
                if "==" in line)
    for name, version in pins.items():
        found = run([python, "-c", f"import importlib.metadata as m; print(m.version('{name}'))"])
        assert found.output.strip() == version, name


@pytest.fixture
def own_prefect_home(tmp_path) -> dict:
    return prefect_env(tmp_path / "prefect-home")


def test_the_projects_own_tests_pass(installed, own_prefect_home):
    project, python = installed
    result = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project, timeout=600,
                 env=own_prefect_home)
    assert " passed" in result.output and "failed" not in result.output


def test_the_flow_runs_to_completion(installed, own_prefect_home):
    project, python = installed
    result = run([python, "workflow/flow.py"], cwd=project, timeout=600, env=own_prefect_home)
    assert "Finished in state Completed()" in result.output
    assert "total = 110" in result.output
