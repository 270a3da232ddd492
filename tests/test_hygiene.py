"""Project hygiene a generated project keeps: pre-commit's checks, `.python-version`, and a
dependency-update bot whose configuration its own schema accepts.

pre-commit runs for real, as `make lint` runs it (uvx pre-commit@..., hooks installed from PyPI),
in a git repository made of the baked project; its hook environments are installed once per
test session (PRE_COMMIT_HOME shared by every worker).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from support.answer_sets import PRE_COMMIT as KINDS
from support.commands import run

HOOKS = ("ruff (lint)", "ruff format", "hadolint (Dockerfile)", "check yaml", "check toml")
# The dev tools beside this test suite's Python (requirements-dev.txt): uv (and uvx), check-jsonschema.
DEV_BIN = Path(sys.executable).parent



@pytest.fixture(scope="session")
def lint_env(shared_dir) -> dict:
    """make's environment: uvx on PATH, pre-commit's hook environments shared by the session."""
    home = shared_dir / "pre-commit-home"
    home.mkdir(exist_ok=True)
    return dict(os.environ, PATH=f"{DEV_BIN}{os.pathsep}{os.environ['PATH']}",
                PRE_COMMIT_HOME=str(home), UV_PYTHON_DOWNLOADS="never")


def git_repository(project: Path, where: Path) -> Path:
    """The project as its user commits it: a git repository holding every file."""
    copy = where / project.name
    shutil.copytree(project, copy, symlinks=True)
    run(["git", "init", "-q"], cwd=copy)
    run(["git", "add", "-A"], cwd=copy)
    return copy


def hook_results(output: str) -> dict[str, str]:
    """{hook name: Passed/Failed/Skipped} from pre-commit's report."""
    return dict(re.findall(r"^(.+?)\.{3,}(?:\(no files to check\))?(Passed|Failed|Skipped)$",
                           output, re.MULTILINE))


@pytest.mark.parametrize("kind", list(KINDS))
def test_make_lint_passes_on_every_kind_of_project(offline_project, tmp_path, lint_env, kind):
    project = git_repository(offline_project(**KINDS[kind]), tmp_path)
    result = run(["make", "lint"], cwd=project, env=lint_env, timeout=900, check=False)
    assert result.returncode == 0, result.output[-5000:]
    results = hook_results(result.output)
    assert {hook: results.get(hook) for hook in HOOKS} == dict.fromkeys(HOOKS, "Passed"), result.output
    if KINDS[kind].get("ci") == "github":
        assert results["check .github/dependabot.yml against its schema"] == "Passed"
    if KINDS[kind].get("ci") == "gitlab":
        assert results["check renovate.json against its schema"] == "Passed"


def test_make_lint_fails_on_what_each_check_is_for(offline_project, tmp_path, lint_env):
    project = git_repository(offline_project(work_pool_type="kubernetes"), tmp_path)
    package = next((project / "src").iterdir())
    (package / "careless.py").write_text("import os\nx=1\n")  # an unused import, unformatted
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("COPY . .", "ADD . ."))  # hadolint DL3020
    manifest = next((project / "deploy" / "kubernetes").glob("*.yaml"))
    manifest.write_text(manifest.read_text() + "\n---\nkey: [unclosed\n")  # a broken 2nd document
    (project / "settings.toml").write_text("[oops\n")  # (not pyproject.toml, which ruff reads)
    run(["git", "add", "-A"], cwd=project)

    result = run(["make", "lint"], cwd=project, env=lint_env, timeout=900, check=False)
    assert result.returncode != 0
    results = hook_results(result.output)
    assert {hook: results.get(hook) for hook in HOOKS} == dict.fromkeys(HOOKS, "Failed"), result.output
    assert "F401" in result.output and "DL3020" in result.output, result.output


def test_python_version_names_the_projects_python(offline_project):
    project = offline_project(python_version="3.13")
    assert (project / ".python-version").read_text() == "3.13\n"
    assert ".python-version" in (project / ".dockerignore").read_text().split()


def check_jsonschema(schema: str, path: Path):
    return run([DEV_BIN / "check-jsonschema", "--builtin-schema", schema, path], check=False)


def test_dependabot_updates_the_pins_and_never_the_locks(offline_project, tmp_path):
    project = offline_project(ci="github")
    config_path = project / ".github" / "dependabot.yml"
    result = check_jsonschema("vendor.dependabot", config_path)
    assert result.returncode == 0, result.output
    config = yaml.safe_load(config_path.read_text())
    # pip updates requirements.txt; no uv ecosystem would rewrite uv.lock past pyproject.toml's
    # exclude-newer: CI relocks the bot's pull requests with `make relock` (test_dependency_bots.py).
    assert {update["package-ecosystem"] for update in config["updates"]} == {"pip", "github-actions"}
    # The check itself refuses a configuration Dependabot would refuse.
    config["updates"][0]["schedule"]["interval"] = "sometimes"
    broken = tmp_path / "dependabot.yml"
    broken.write_text(yaml.safe_dump(config))
    assert check_jsonschema("vendor.dependabot", broken).returncode != 0


def test_renovate_updates_the_pins_and_never_the_locks(offline_project, tmp_path):
    project = offline_project(ci="gitlab")
    result = check_jsonschema("vendor.renovate", project / "renovate.json")
    assert result.returncode == 0, result.output
    config = json.loads((project / "renovate.json").read_text())
    assert set(config["enabledManagers"]) == {"pip_requirements", "pep621"}
    config["schedule"] = "every full moon, twice"
    config["enabledManagers"] = "pip_requirements"
    broken = tmp_path / "renovate.json"
    broken.write_text(json.dumps(config))
    assert check_jsonschema("vendor.renovate", broken).returncode != 0


def test_no_bot_without_a_ci_to_lock_its_updates(offline_project):
    project = offline_project(ci="none")
    assert not (project / ".github").exists() and not (project / "renovate.json").exists()
