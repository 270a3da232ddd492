"""The hooks run where users run cookiecutter: an environment that holds cookiecutter and its own
dependencies only (as `pipx install cookiecutter` makes), with no `packaging`, pytest or uv."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from support.commands import make_venv, run, venv_python
from support.template import DEFAULT_PREFECT, TEMPLATE_DIR

COOKIECUTTER = "cookiecutter==2.7.1"
# The uv of the test environment (requirements-dev.txt pins it).
UV = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))


@pytest.fixture(scope="module")
def bare_cookiecutter(once):
    def make(venv):
        python = make_venv(venv)
        run([python, "-m", "pip", "install", "--quiet", COOKIECUTTER])

    venv = once("venv-cookiecutter-only", make)
    return venv / "bin" / "cookiecutter", venv_python(venv)


def without_uv() -> dict:
    """The environment minus any PATH entry that holds uv (the test venv's bin/ among them)."""
    path = [entry for entry in os.environ["PATH"].split(os.pathsep)
            if entry and not shutil.which("uv", path=entry)]
    return dict(os.environ, PATH=os.pathsep.join(path))


def test_the_environment_really_lacks_what_the_hooks_must_not_use(bare_cookiecutter):
    _, python = bare_cookiecutter
    for module in ["packaging", "pytest", "uv"]:
        result = run([python, "-c", f"import {module}"], check=False)
        assert result.returncode != 0, f"{module} is importable: the test would prove nothing"


def test_the_default_project_generates(bare_cookiecutter, tmp_path):
    cookiecutter, _ = bare_cookiecutter
    result = run([cookiecutter, "--no-input", "-o", tmp_path, TEMPLATE_DIR], env=without_uv(),
                 check=False)
    # Without uv the lock cannot be made: a warning says how to make it later, and the rest works.
    assert result.returncode == 0, result.output
    assert "WARNING: uv is not installed" in result.output
    project = tmp_path / "my-data-workflow"
    assert (project / "requirements.txt").read_text().count("==") >= 1
    assert not (project / "requirements.lock").exists()


def test_a_bad_pin_fails_with_the_hooks_message_and_leaves_nothing(bare_cookiecutter, tmp_path):
    cookiecutter, _ = bare_cookiecutter
    result = run([cookiecutter, "--no-input", "-o", tmp_path, TEMPLATE_DIR, "lock_requirements=no",
                  "extra_requirements=pandas>=2"], check=False)
    assert result.returncode != 0
    assert "extra_requirements 'pandas>=2' is not an exact pin: write pandas==<version>" in result.output
    assert list(tmp_path.iterdir()) == []


def test_the_project_locks_itself_through_uv_where_cookiecutter_has_no_packaging(bare_cookiecutter,
                                                                                 tmp_path):
    """The Jinja extension that reads the Prefect release (hooks/prefect_release.py) and the
    post-gen hook's `uv lock` need nothing but cookiecutter's own interpreter and uv on PATH."""
    cookiecutter, _ = bare_cookiecutter
    only_uv = tmp_path / "bin"
    only_uv.mkdir()
    (only_uv / "uv").symlink_to(UV)
    env = without_uv()
    env["PATH"] = f"{only_uv}{os.pathsep}{env['PATH']}"
    result = run([cookiecutter, "--no-input", "-o", tmp_path / "out", TEMPLATE_DIR], env=env, check=False)
    assert result.returncode == 0, result.output
    assert "WARNING" not in result.output
    project = tmp_path / "out" / "my-data-workflow"
    assert f'name = "prefect"\nversion = "{DEFAULT_PREFECT}"' in (project / "uv.lock").read_text()
    assert run(["uv", "lock", "--check"], cwd=project, env=env, check=False).returncode == 0


def test_a_bad_answer_fails_in_the_pre_gen_hook_and_leaves_nothing(bare_cookiecutter, tmp_path):
    cookiecutter, _ = bare_cookiecutter
    result = run([cookiecutter, "--no-input", "-o", tmp_path, TEMPLATE_DIR,
                  "python_version=3.9", f"prefect_version={DEFAULT_PREFECT}"],
                 check=False)
    assert result.returncode != 0
    assert "python_version 3.9 cannot run prefect_version" in result.output
    assert list(tmp_path.iterdir()) == []
