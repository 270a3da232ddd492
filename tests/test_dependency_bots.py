"""A Dependabot or Renovate bump lands with a matching lock, and no hand step.

The bots bump pins: requirements.txt (prefect and its companions, the extra requirements),
requirements-uv.txt and pyproject.toml's dev group. uv.lock must follow, and pyproject.toml's
exclude-newer too, since the new release is usually newer than the day the lock was made as of.

- Dependabot cannot run uv: the workflow's `relock` job runs `make relock` on its pull requests
  (read-only), and `commit-lock` pushes the change of the lock files alone. Here the bot's commit
  is made as Dependabot makes it, and those jobs run for real (tests/support/ci_runner.py).
- Renovate runs renovate.json's postUpgradeTasks after its own edit: here the same edit, then
  exactly those commands, then the CI's own lock check.

Each bump is a real one, of a release made after the lock's day: Prefect 3.8.7's patch release
3.8.8, and pytest 9.1.1 (3.8.7's day) to 9.2.0.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from pathlib import Path

import pytest
import yaml

from support.answer_sets import BOT_BUMPED_RELEASE
from support.ci_runner import DEV_BIN, GitHubRun, Runner, git_repository, github_event, substitute
from support.commands import run

BUMPS = {
    # (file, old text, new text, package, new version): what the bot writes.
    "prefect-patch": ("requirements.txt", "prefect==3.8.7", "prefect==3.8.8", "prefect", "3.8.8"),
    "pytest-dev-group": ("pyproject.toml", '"pytest==9.1.1"', '"pytest==9.2.0"', "pytest", "9.2.0"),
}
COMPANIONS = ["prefect-docker", "prefect-dask", "prefect-kubernetes", "dask-kubernetes"]
GITHUB_WORKFLOW = Path(".github/workflows/ci.yml")
BOT_ENV = dict(os.environ, GIT_AUTHOR_NAME="dependabot[bot]", GIT_AUTHOR_EMAIL="bot@example.com",
               GIT_COMMITTER_NAME="dependabot[bot]", GIT_COMMITTER_EMAIL="bot@example.com")


def locked_version(project: Path, package: str) -> str:
    lock = tomllib.loads((project / "uv.lock").read_text())
    [version] = [entry["version"] for entry in lock["package"] if entry["name"] == package]
    return version


def exclude_newer(project: Path) -> str:
    return tomllib.loads((project / "pyproject.toml").read_text())["tool"]["uv"]["exclude-newer"]


def bump(repository: Path, name: str, author_env: dict | None = None) -> str:
    """The bot's change, committed on a branch of its own; the branch's name."""
    file, old, new, package, version = BUMPS[name]
    branch = f"bot/{package}-{version}"
    run(["git", "checkout", "--quiet", "-b", branch], cwd=repository)
    path = repository / file
    assert old in path.read_text(), (file, old)
    path.write_text(path.read_text().replace(old, new))
    run(["git", "commit", "--quiet", "-am", f"Bump {package} to {version}"], cwd=repository,
        env=author_env or BOT_ENV)
    return branch


def changed_files(repository: Path, old: str, new: str) -> set[str]:
    return set(run(["git", "diff", "--name-only", old, new], cwd=repository).output.split())


def uv_env() -> dict:
    """The bot's environment: uv (the version requirements-uv.txt pins) and make on PATH."""
    return dict(os.environ, PATH=f"{DEV_BIN}{os.pathsep}{os.environ['PATH']}")


# ---------------------------------------------------------------------------------------------
# The bots' configuration, as generated
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lock_requirements", ["yes", "no"])
def test_dependabot_bumps_the_pins_and_leaves_prefects_minor_to_the_user(cookies, lock_requirements):
    result = cookies.bake(extra_context={"ci": "github", "lock_requirements": lock_requirements})
    assert result.exit_code == 0, result.exception
    config = yaml.safe_load((result.project_path / ".github/dependabot.yml").read_text())
    ecosystems = {update["package-ecosystem"]: update for update in config["updates"]}
    assert set(ecosystems) == {"pip", "github-actions"}
    ignored = {rule["dependency-name"]: set(rule["update-types"]) for rule in ecosystems["pip"]["ignore"]}
    assert ignored == {name: {"version-update:semver-major", "version-update:semver-minor"}
                       for name in ["prefect", *COMPANIONS]}
    # The pins Dependabot's pip ecosystem reads (files named *requirements*.txt, pyproject.toml).
    assert (result.project_path / "requirements-uv.txt").exists()
    relock = yaml.safe_load((result.project_path / GITHUB_WORKFLOW).read_text())["jobs"]["relock"]
    script = relock["steps"][-1]["run"]
    assert ("uv lock --check || make relock" in script) == (lock_requirements == "yes")
    assert ("uv lock --dry-run || make relock" in script) == (lock_requirements == "no")


@pytest.mark.parametrize("answers, files", [
    ({}, ["pyproject.toml", "uv.lock"]),
    ({"base_image": "prefecthq/prefect:3.9.1-python3.12"},
     ["pyproject.toml", "uv.lock", "requirements.lock"]),
    ({"lock_requirements": "no"}, ["pyproject.toml"]),
], ids=["default", "prefect-image", "unlocked"])
def test_renovate_locks_again_with_make_relock_and_leaves_prefects_minor_to_the_user(cookies, answers, files):
    result = cookies.bake(extra_context={"ci": "gitlab", "python_version": "3.12", **answers})
    assert result.exit_code == 0, result.exception
    project = result.project_path
    config = json.loads((project / "renovate.json").read_text())
    assert config["postUpgradeTasks"]["commands"] == ["make relock"]
    assert re.search(r"^relock:", (project / "Makefile").read_text(), re.M)
    assert config["postUpgradeTasks"]["fileFilters"] == files
    assert all((project / file).exists() for file in files)
    assert {"matchManagers": ["pep621"], "skipArtifactsUpdate": True} in config["packageRules"]
    [held] = [rule for rule in config["packageRules"] if rule.get("enabled") is False]
    assert set(held["matchPackageNames"]) == {"prefect", *COMPANIONS}
    assert set(held["matchUpdateTypes"]) == {"major", "minor"}


# ---------------------------------------------------------------------------------------------
# A bump, applied as the bot applies it, lands with a matching lock
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bumped", list(BUMPS))
def test_a_dependabot_pull_request_gets_its_lock_made_again_and_committed(bake_shared, tmp_path, bumped):
    """The relock job locks again (read-only) and commit-lock pushes the lock to the pull
    request's branch; the checks then run on that commit. Other pull requests are not touched."""
    project = bake_shared(ci="github", **BOT_BUMPED_RELEASE)
    repository, _ = git_repository(project, tmp_path / "project")
    branch = bump(repository, bumped)
    bot_commit = run(["git", "rev-parse", "HEAD"], cwd=repository).output.strip()
    run(["git", "checkout", "--quiet", "main"], cwd=repository)
    runner = Runner(tmp_path / "ci", repository, bot_commit, BOT_BUMPED_RELEASE["python_version"])

    def pull_request(author: str) -> GitHubRun:
        event = github_event(bot_commit, "pull_request", "refs/pull/9/merge")
        event.update(head_ref=branch, event={**event["event"], "pull_request": {
            "user": {"login": author},
            "head": {"sha": bot_commit, "repo": {"full_name": event["repository"]}}}})
        return GitHubRun(runner, repository / GITHUB_WORKFLOW, event)

    assert not pull_request("a-contributor").will_run("relock")
    bot = pull_request("dependabot[bot]")
    assert bot.run_job("relock") and bot.needs["relock"]["outputs"]["patch"]
    assert bot.run_job("commit-lock")
    relocked = bot.needs["commit-lock"]["outputs"]["commit"]
    assert relocked and run(["git", "rev-parse", branch], cwd=repository).output.strip() == relocked
    assert run(["git", "show", "--format=%an", "--no-patch", relocked], cwd=repository
               ).output.strip() == "github-actions[bot]"
    assert changed_files(repository, bot_commit, relocked) == {"uv.lock", "pyproject.toml"}

    run(["git", "checkout", "--quiet", relocked], cwd=repository)
    _, _, _, package, version = BUMPS[bumped]
    assert locked_version(repository, package) == version
    assert exclude_newer(repository) > exclude_newer(project)
    # Everything else keeps its locked version (uv lock prefers what the lock holds).
    assert locked_version(repository, "prefect-docker") == locked_version(project, "prefect-docker")
    run([DEV_BIN / "uv", "lock", "--check"], cwd=repository, timeout=300)

    # The checks run next, on the relocked commit, as CI runs them.
    assert bot.will_run("check")
    check_out = bot.workflow["jobs"]["check"]["steps"][0]
    assert substitute(check_out["with"]["ref"], bot.contexts) == relocked
    if bumped == "prefect-patch":
        assert bot.run_job("check")
        # A second run on the relocked branch finds nothing to lock.
        again = pull_request("dependabot[bot]")
        again.github["event"]["pull_request"]["head"]["sha"] = relocked
        assert again.run_job("relock") and not again.needs["relock"]["outputs"]["patch"]
        assert not again.will_run("commit-lock")


@pytest.mark.parametrize("answers", [{}, {"base_image": "prefecthq/prefect:3.8.7-python3.12"}],
                         ids=["default", "prefect-image"])
@pytest.mark.parametrize("bumped", list(BUMPS))
def test_a_renovate_update_lands_with_its_lock(bake_shared, tmp_path, answers, bumped):
    """Renovate's edit, then renovate.json's postUpgradeTasks as Renovate runs them (in the
    repository, each command in turn), then the check job's own lock commands pass."""
    project = bake_shared(ci="gitlab", **BOT_BUMPED_RELEASE, **answers)
    repository, _ = git_repository(project, tmp_path / "project")
    bump(repository, bumped)
    config = json.loads((repository / "renovate.json").read_text())
    tasks = config["postUpgradeTasks"]
    for command in tasks["commands"]:
        run(["sh", "-c", command], cwd=repository, env=uv_env(), timeout=600)
    # Renovate commits what the tasks changed, of the files fileFilters names: nothing is left out.
    status = run(["git", "status", "--porcelain"], cwd=repository).output.splitlines()
    changed = {line[3:] for line in status}
    assert changed and changed <= set(tasks["fileFilters"]), status
    run(["git", "commit", "--quiet", "-am", "Lock again (postUpgradeTasks)"], cwd=repository, env=BOT_ENV)

    _, _, _, package, version = BUMPS[bumped]
    assert locked_version(repository, package) == version
    if answers and bumped == "pytest-dev-group":
        # The image's lock holds no test tools: a bump of one leaves it as it was.
        assert "requirements.lock" not in changed
        assert f"\n{package}==" not in (repository / "requirements.lock").read_text()
    elif answers:
        assert "requirements.lock" in changed
        assert f"\n{package}=={version} " in (repository / "requirements.lock").read_text()
    # The check job's lock commands, exactly: every line of its script before the install.
    pipeline = yaml.safe_load((repository / ".gitlab-ci.yml").read_text())
    script = pipeline["check"]["script"]
    for command in script[:script.index("make install")]:
        run(["bash", "-c", command], cwd=repository, env=uv_env(), timeout=600)
