"""What a user gets from answering the prompts: a complete, clean, lint-free project.

Every supported combination of answers is baked with pytest-cookies and checked file by file;
the expensive checks (installing, building, running) live in the other test modules.
"""

from __future__ import annotations

import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from slugify import slugify

from support.answer_sets import GENERATION as SUPPORTED
from support.answer_sets import OFFLINE
from support.answer_strategies import DERIVED_SLUG_MAX
from support.commands import run
from support.project_checks import (
    assert_dockerfile_is_clean,
    assert_pyproject_holds_the_answers,
    assert_python_compiles,
    assert_readme_renders,
    assert_yaml_holds_the_answers,
)
from support.template import COOKIECUTTER_JSON, DEFAULT_PREFECT, PREFECT_LINES, newest_prefect, prefect_line

PREFECT2, PREFECT1, PREFECT015 = newest_prefect(2), newest_prefect(1), PREFECT_LINES[0]["newest"]


# Jinja left in a file. Some files have double braces of their own, never a cookiecutter variable:
# Prefect's templating in prefect.yaml ({{ build-image.image }}) and in the Kubernetes work pool's
# job template ({{ image }}), and GitHub Actions' expressions (${{ github.sha }}).
UNRENDERED = re.compile(r"\{%|%\}|cookiecutter\.")
# (Python's own braces, e.g. a nested dict's "}}", are not Jinja: a variable is "{{ name ... }}".)
DOUBLE_BRACES = re.compile(r"\{\{ ?[A-Za-z_$][\w.$-]*(?: ?\|[^{}\n]*)? ?\}\}")
OWN_DOUBLE_BRACES = {"prefect.yaml": DOUBLE_BRACES, "base-job-template.json": DOUBLE_BRACES,
                     "ci.yml": re.compile(r"\$\{\{.*?\}\}")}


def project_files(project: Path) -> list[Path]:
    """The files the template wrote (not the repository git keeps of them)."""
    return sorted(p for p in project.rglob("*") if p.is_file() and ".git" not in p.relative_to(project).parts)


@pytest.fixture(params=list(SUPPORTED), ids=list(SUPPORTED))
def answers(request) -> dict:
    return SUPPORTED[request.param]


@pytest.fixture
def baked(bake_with_context, answers):
    """The answer set's project, baked once per session and shared: the tests here only read it."""
    return bake_with_context(**OFFLINE, **answers)


@pytest.fixture
def project(baked) -> Path:
    return baked.project


def prefect_api(answers: dict) -> int:
    return prefect_line(answers.get("prefect_version", DEFAULT_PREFECT))["api"]


def test_every_file_is_fully_rendered(project):
    for path in project_files(project):
        text = path.read_text()
        assert not UNRENDERED.search(text), f"{path.relative_to(project)} has unrendered Jinja"
        own = OWN_DOUBLE_BRACES.get(path.name)
        assert not DOUBLE_BRACES.search(own.sub("", text) if own else text), path.relative_to(project)
    for path in project.rglob("*"):
        assert "cookiecutter" not in path.name


def test_the_project_has_the_expected_layout(project, answers):
    [package] = (project / "src").iterdir()
    for expected in ["README.md", "pyproject.toml", "requirements.txt", "Dockerfile",
                     ".dockerignore", ".gitignore", "workflow/flow.py", "tests/test_flow.py",
                     "tests/test_components.py"]:
        assert (project / expected).is_file(), expected
    for module in ["__init__.py", "flows.py", "components/__init__.py", "components/component_a.py",
                   "components/component_b.py"]:
        assert (package / module).is_file(), module
    assert not (project / "components").exists(), "components live inside the named package"
    # The flow's tasks live in the package, where every process that runs them can import them.
    assert (package / "dask_cluster.py").exists() == (answers.get("task_runner") == "dask")
    assert (project / "prefect.yaml").exists() == (prefect_api(answers) >= 2)
    kubernetes = answers.get("work_pool_type") == "kubernetes" and prefect_api(answers) >= 2
    assert (project / "deploy" / "kubernetes").exists() == kubernetes
    dask = answers.get("task_runner") == "dask"
    assert (project / "deploy" / "docker-compose.dask.yml").exists() == dask


# Issue 17: the user's house is the user's code. No program we ship, outside tests/, is longer
# than a reader takes in (the Dockerfile, a program too, has its own limit: test_dockerfile_scan).
PROGRAM_SUFFIXES, LONGEST_PROGRAM = {".py", ".sh"}, 120


def test_no_program_of_ours_is_longer_than_120_lines(project):
    programs = [path for path in project_files(project)
                if (path.suffix in PROGRAM_SUFFIXES or path.name == "Makefile")
                and "tests" not in path.relative_to(project).parts]
    lines = {str(path.relative_to(project)): len(path.read_text().splitlines()) for path in programs}
    assert "Makefile" in lines and "workflow/flow.py" in lines
    assert {path: count for path, count in lines.items() if count > LONGEST_PROGRAM} == {}


def test_the_package_data_the_code_reads_is_in_the_wheel(project):
    """pip install . (a wheel, not editable) must carry every non-Python file of the package."""
    [package] = (project / "src").iterdir()
    data = sorted(p.name for p in package.rglob("*") if p.is_file() and p.suffix != ".py")
    declared = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert sorted(declared.get("package-data", {}).get(package.name, [])) == data


def test_pyproject_reads_its_dependencies_from_requirements_txt(project, answers):
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["dynamic"] == ["dependencies"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}
    python = answers.get("python_version", COOKIECUTTER_JSON["python_version"][0])
    assert pyproject["project"]["requires-python"] == f"=={python}.*"
    if "description" in answers:
        assert pyproject["project"]["description"] == answers["description"]
    if "author_name" in answers:
        assert pyproject["project"]["authors"][0]["name"] == answers["author_name"]


def test_requirements_are_exact_pins_of_what_the_answers_need(project, answers):
    lines = [line for line in (project / "requirements.txt").read_text().splitlines()
             if line and not line.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][0-9A-Za-z.+-]*", line) for line in lines), lines
    names = [line.split("==")[0] for line in lines]
    assert lines[0] == f"prefect=={answers.get('prefect_version', DEFAULT_PREFECT)}"
    api = prefect_api(answers)
    pool = answers.get("work_pool_type", "docker")
    assert ("prefect-docker" in names) == (api >= 2 and pool in ("docker", "kubernetes"))
    assert ("prefect-dask" in names) == (answers.get("task_runner") == "dask")
    for extra in answers.get("extra_requirements", "").replace(",", " ").split():
        assert extra in lines


def test_ruff_finds_nothing_to_fix(project):
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    result = run([ruff, "check", "--no-cache", "."], cwd=project, check=False)
    assert result.returncode == 0, result.output
    result = run([ruff, "format", "--check", "--no-cache", "."], cwd=project, check=False)
    assert result.returncode == 0, result.output


def test_the_dockerfile_uses_no_buildkit_only_syntax(project, answers):
    dockerfile = (project / "Dockerfile").read_text()
    assert dockerfile.splitlines()[0].startswith("#") and "# syntax" not in dockerfile
    assert "--mount" not in dockerfile, "RUN --mount needs BuildKit; Prefect builds without it"
    base = answers.get("base_image", f"python:{answers.get('python_version', '3.12')}-slim")
    assert f"FROM {base}\n" in dockerfile


def test_the_dockerignore_keeps_secrets_and_clutter_out(project):
    ignored = (project / ".dockerignore").read_text().split()
    for entry in [".env", ".git", ".venv", "**/__pycache__"]:
        assert entry in ignored


def test_every_file_holds_the_answers_exactly(project, baked):
    """The checks of the property tests (tests/support/project_checks.py), on every answer set above:
    every Python file compiles, TOML, YAML and JSON parse and hold the answers, the README keeps its
    structure, hadolint passes; and no YAML file is empty."""
    context = baked.context  # what cookiecutter rendered from the answers (extra context is Jinja)
    assert_python_compiles(project)
    for path in [*project.rglob("*.yaml"), *project.rglob("*.yml")]:
        assert list(yaml.safe_load_all(path.read_text())), path
    assert_pyproject_holds_the_answers(project, context)
    assert_yaml_holds_the_answers(project, context)
    assert_readme_renders(project, context)
    assert_dockerfile_is_clean(project, context)


def test_a_long_project_name_gives_a_slug_that_fits_every_file(project, answers):
    """The derived slug is cut (the package's name on the generated code's longest lines, and a
    Kubernetes namespace, must fit)."""
    if "project_name" in answers and "project_slug" not in answers:
        assert project.name == slugify(answers["project_name"], max_length=DERIVED_SLUG_MAX)
    assert len(project.name) <= DERIVED_SLUG_MAX
