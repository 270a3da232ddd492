"""A generated project follows the template: .cruft.json records its answers and the template's
commit, and `cruft update` brings what the template changed since, while the user's edits stay.

The template's history is a throwaway clone of this repository, with commits on top:
- previous: the commit before `current`;
- current: the template as it is now, this checkout's working tree (uncommitted changes too): in a
  clean clone (CI) that is HEAD and previous is HEAD~1; with uncommitted changes, previous is HEAD;
- next: current plus one deliberate change of the template (a line at the top of the generated
  requirements.txt, which the user edits too), so that an update always has something to bring.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.commands import IN_CI, run
from support.reference_projects import differences
from support.template import TEMPLATE_DIR

BIN = Path(sys.executable).parent
CRUFT, COOKIECUTTER, UV = BIN / "cruft", BIN / "cookiecutter", BIN / "uv"
# uv on PATH, as the README asks of users; git commits need a name.
ENV = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ['PATH']}", PYTHONDONTWRITEBYTECODE="1",
           GIT_AUTHOR_NAME="Template Test", GIT_AUTHOR_EMAIL="test@example.com",
           GIT_COMMITTER_NAME="Template Test", GIT_COMMITTER_EMAIL="test@example.com")
TEMPLATE_CHANGE = "# (A change of the template, made by tests/test_update.py.)"
USER_PIN = "tabulate==0.9.0"  # not among the template's pins nor their dependencies
USER_IMPORT = "from .component_c import ComponentC"
USER_COMPONENT = '''"""ComponentC: the user's own component."""


class ComponentC:
    def run(self, records: list[int]) -> list[int]:
        return sorted(records, reverse=True)
'''
PROJECT = "my-data-workflow"
PACKAGE_DIR = Path("src/my_data_workflow/components")
LOCKS = ("uv.lock",)


@dataclass(frozen=True)
class History:
    repository: Path
    previous: str
    current: str
    next: str


def git(cwd: Path, *args: str) -> str:
    return run(["git", "-c", "commit.gpgsign=false", *args], cwd=cwd, env=ENV).output.strip()


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> History:
    repository = tmp_path_factory.mktemp("template") / "cookiecutter-prefect-docker"
    git(TEMPLATE_DIR, "clone", "--quiet", str(TEMPLATE_DIR), str(repository))
    # Make the clone's files this checkout's: edited, added (unless ignored) and deleted ones.
    for name in git(repository, "ls-files", "-z").split("\0"):
        if name:
            (repository / name).unlink(missing_ok=True)
    for name in git(TEMPLATE_DIR, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0"):
        if name and (TEMPLATE_DIR / name).is_file():
            (repository / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(TEMPLATE_DIR / name, repository / name)
    git(repository, "add", "--all")
    if git(repository, "status", "--porcelain"):
        git(repository, "commit", "--quiet", "-m", "The template as it is now")
    current = git(repository, "rev-parse", "HEAD")
    parent = git(repository, "rev-list", "--max-count=1", "--skip=1", "HEAD")
    if not parent:
        reason = "the template's clone has no commit before the current one (a shallow clone?)"
        if IN_CI:
            pytest.fail(f"{reason}: clone with history (e.g. fetch-depth: 2)", pytrace=False)
        pytest.skip(reason)
    requirements = repository / "{{cookiecutter.project_slug}}" / "requirements.txt"
    requirements.write_text(f"{TEMPLATE_CHANGE}\n{requirements.read_text()}")
    git(repository, "commit", "--quiet", "--all", "-m", "A change of the template")
    return History(repository, parent, current, git(repository, "rev-parse", "HEAD"))


def cruft_create(history: History, commit: str, output_dir: Path, **answers: str) -> Path:
    run([CRUFT, "create", "--no-input", "--checkout", commit, "--output-dir", output_dir,
         "--extra-context", json.dumps(answers), history.repository], env=ENV)
    return output_dir / PROJECT


def commit_all(project: Path, message: str) -> None:
    if not (project / ".git").exists():
        git(project, "init", "--quiet")
    git(project, "add", "--all")
    git(project, "commit", "--quiet", "-m", message)


def add_import(init_text: str) -> str:
    """The user's edit of components/__init__.py: an import after the package's own."""
    lines = init_text.splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if line.startswith("from ."))
    return "".join(lines[:last + 1] + [USER_IMPORT + "\n"] + lines[last + 1:])


def edit_as_a_user(project: Path) -> None:
    """A component of their own, imported by the package, and a pin of their own."""
    (project / PACKAGE_DIR / "component_c.py").write_text(USER_COMPONENT)
    init = project / PACKAGE_DIR / "__init__.py"
    init.write_text(add_import(init.read_text()))
    requirements = project / "requirements.txt"
    requirements.write_text(requirements.read_text() + USER_PIN + "\n")


def pins(requirements_text: str) -> list[str]:
    return [line.split("#")[0].strip() for line in requirements_text.splitlines()
            if line.split("#")[0].strip()]


def locked(lock_text: str) -> dict[str, str]:
    """{name: version} of uv.lock's packages."""
    return {package["name"]: package.get("version") for package in tomllib.loads(lock_text)["package"]}


def test_an_update_keeps_the_users_edits_brings_the_templates_changes_and_the_lock_is_made_again(
        history, tmp_path):
    # A project of the previous template commit, locked (the default answer), kept in git.
    project = cruft_create(history, history.previous, tmp_path / "projects", lock_requirements="yes")
    assert json.loads((project / ".cruft.json").read_text())["commit"] == history.previous
    commit_all(project, "Generated")
    edit_as_a_user(project)
    commit_all(project, "My component and my pin")

    update = run([CRUFT, "update", "--skip-apply-ask"], cwd=project, env=ENV)
    assert "Failed to apply" not in update.output and "conflict" not in update.output.lower(), update.output
    assert json.loads((project / ".cruft.json").read_text())["commit"] == history.next

    # Apart from the user's edits (and the locks), the project is now what the template makes today.
    fresh = cruft_create(history, history.next, tmp_path / "fresh", lock_requirements="yes")
    expected = tmp_path / "expected"
    shutil.copytree(fresh, expected)
    edit_as_a_user(expected)
    assert (expected / "requirements.txt").read_text().startswith(TEMPLATE_CHANGE)
    report = differences(expected, project, ignore=frozenset({".git", ".cruft.json", *LOCKS}))
    assert report == "", f"the updated project is not the template's output plus the user's edits:\n{report}"
    run([sys.executable, "-c", "from my_data_workflow.components import ComponentA, ComponentC"],
        cwd=project, env=dict(ENV, PYTHONPATH=str(project / "src")))

    # The lock is made again, from the merged pins: the user's and the template's.
    stale = run([UV, "lock", "--check"], cwd=project, env=ENV, check=False)
    assert stale.returncode != 0, "the lock check (CI's) must see the merged pins"
    run(["make", "lock"], cwd=project, env=ENV, timeout=900)
    lock = locked((project / "uv.lock").read_text())
    wanted = dict(pin.split("==") for pin in pins((project / "requirements.txt").read_text()))
    assert USER_PIN.split("==")[0] in wanted
    answers = json.loads((project / ".cruft.json").read_text())["context"]["cookiecutter"]
    assert wanted["prefect"] == answers["prefect_version"]
    assert {name: lock.get(name) for name in wanted} == wanted
    run([UV, "lock", "--check"], cwd=project, env=ENV)


@pytest.fixture
def config(tmp_path) -> Path:
    """A cookiecutter config of the test's own: no clones or replays in the home directory."""
    path = tmp_path / "cookiecutter.yaml"
    path.write_text(f"cookiecutters_dir: {tmp_path / 'cookiecutters'}\nreplay_dir: {tmp_path / 'replay'}\n")
    return path


def test_a_project_made_by_plain_cookiecutter_records_its_template_and_follows_it(history, config, tmp_path):
    # As `cookiecutter gh:<org>/cookiecutter-prefect-docker` does: clone the template, then generate.
    url = f"git+file://{history.repository}"
    run([COOKIECUTTER, "--no-input", "--config-file", config, "--checkout", history.current,
         "--output-dir", tmp_path, url, "lock_requirements=no", "project_name=My Data Workflow"], env=ENV)
    project = tmp_path / PROJECT
    state = json.loads((project / ".cruft.json").read_text())
    assert state["template"] == f"file://{history.repository}"
    assert state["commit"] == history.current
    assert state["context"]["cookiecutter"]["lock_requirements"] == "no"
    commit_all(project, "Generated")

    run([CRUFT, "update", "--skip-apply-ask"], cwd=project, env=ENV)
    assert (project / "requirements.txt").read_text().startswith(TEMPLATE_CHANGE)
    assert json.loads((project / ".cruft.json").read_text())["commit"] == history.next


def test_a_template_that_is_not_a_git_checkout_says_how_to_link_the_project_later(config, tmp_path):
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE_DIR, template, ignore=shutil.ignore_patterns(".git", ".venv", "reference"))
    result = run([COOKIECUTTER, "--no-input", "--config-file", config, "--output-dir", tmp_path / "out",
                  template, "lock_requirements=no"], env=ENV)
    assert not (tmp_path / "out" / PROJECT / ".cruft.json").exists()
    assert "WARNING: the template is not a git checkout" in result.output
    assert "cruft link" in result.output
