"""Installs that still work years later. Every project ships scripts/lock.py, the one way it is
locked: the post-gen hook runs it through uv, and users run it again after changing a pin. It locks
every transitive dependency with hashes, as of the day after the newest pin's release, into
requirements.lock (the image's) and requirements-dev.lock (the same versions plus the test group),
checks the locks against the pins, and explains uv's failures in plain words.

Everything talks to the real PyPI and the real uv; an unreachable index is a closed local port.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
import shutil
import socket
import sys
import tomllib
import urllib.request
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from packaging.requirements import Requirement
from packaging.version import Version

from helpers import PREFECT_LINES, newest_prefect, run, venv_python
from lockfiles import INSTALLED_VERSIONS_SCRIPT, MARKER_ENVIRONMENT_SCRIPT, last_json_line, locked_versions

# The article's Prefect, the oldest line: today's versions of its dependencies break it. The same
# answers as tests/test_prefect1.py's, so the session bakes (and locks) each project once.
OLDEST = PREFECT_LINES[0]
PREFECT_OLDEST = {"prefect_version": OLDEST["newest"], "python_version": "3.9",
                  "base_image": "python:3.9-slim"}
PREFECT_1_ON_39 = {"prefect_version": newest_prefect(1), "python_version": "3.9",
                   "base_image": "python:3.9-slim"}
PREFECT_1_ON_311 = {"prefect_version": newest_prefect(1), "python_version": "3.11",
                    "base_image": "python:3.11-slim"}
UV = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
LOCKS = ("requirements.lock", "requirements-dev.lock")


def first_upload(name: str, version: str) -> datetime.date:
    """The day a release's first file reached PyPI, from PyPI's own JSON API (not the simple
    index the lock script reads)."""
    with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=60) as response:
        files = json.load(response)["releases"][version]
    return min(datetime.date.fromisoformat(f["upload_time_iso_8601"][:10]) for f in files)


def header(lock_text: str) -> str:
    """The command uv wrote at the top of a lock."""
    return lock_text.splitlines()[1].removeprefix("#").strip()


def every_version(lock_text: str) -> dict[str, set[str]]:
    """{name: versions} of all of a lock's entries, whatever their markers."""
    versions: dict[str, set[str]] = {}
    for entry in re.sub(r"\\\n", " ", lock_text).splitlines():
        words = [w for w in entry.split(" #")[0].split() if not w.startswith("--hash")]
        if words and not words[0].startswith("#"):
            requirement = Requirement(" ".join(words))
            versions.setdefault(requirement.name, set()).add(str(next(iter(requirement.specifier)).version))
    return versions


def unhashed(lock_text: str) -> list[str]:
    entries = re.sub(r"\\\n", " ", lock_text).splitlines()
    return [e for e in entries if e and not e.startswith(("#", " ")) and "--hash=sha256:" not in e]


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


def load_lock_script(project: Path):
    spec = importlib.util.spec_from_file_location("lock_script", project / "scripts" / "lock.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up there)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------------ what the hook locks


def test_the_locks_are_hashed_and_resolved_as_of_the_day_after_the_pins_release(bake_shared):
    project = bake_shared(**PREFECT_OLDEST)
    lock, dev_lock = ((project / name).read_text() for name in LOCKS)
    # uv writes the command that made each lock at its top: the lock documents itself.
    day = first_upload("prefect", OLDEST["newest"]) + datetime.timedelta(days=1)
    assert header(lock) == ("uv pip compile requirements.txt --universal --python-version 3.9 "
                            f"--generate-hashes --exclude-newer {day} --output-file requirements.lock")
    assert header(dev_lock).startswith("uv pip compile requirements.txt --group test --constraints "
                                       "requirements.lock --universal --python-version 3.9 ")
    assert unhashed(lock) == [] and unhashed(dev_lock) == []
    runtime, dev = every_version(lock), every_version(dev_lock)
    assert len(runtime) > 30
    assert runtime["prefect"] == {OLDEST["newest"]}
    assert {Version(v).major for v in runtime["marshmallow"]} == {3}  # today's marshmallow 4 breaks it
    # The test group joined the very same versions (requirements.lock constrains them), plus the
    # test tools at the line's pin.
    assert {name: dev[name] for name in runtime} == runtime
    test_name, test_version = OLDEST["requirements"]["test"].split("==")
    assert dev[test_name] == {test_version}


@pytest.mark.parametrize("answers", [PREFECT_OLDEST, PREFECT_1_ON_39],
                         ids=[PREFECT_OLDEST["prefect_version"], PREFECT_1_ON_39["prefect_version"]])
def test_the_dev_lock_installs_with_hashes_on_the_host_and_the_projects_tests_pass(
        bake_shared, installed_venv, answers):
    project = bake_shared(**answers)
    # installed_venv installs requirements-dev.lock with --require-hashes, then the project alone.
    python = venv_python(installed_venv(project, answers["python_version"]))
    environment = last_json_line(run([python, "-c", MARKER_ENVIRONMENT_SCRIPT]).output)
    locked = locked_versions((project / "requirements-dev.lock").read_text(), environment)
    installed = last_json_line(run([python, "-c", INSTALLED_VERSIONS_SCRIPT]).output)
    assert {name: installed.get(name) for name in locked} == locked
    result = run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=project, timeout=600)
    assert re.search(r"\b[1-9][0-9]* passed\b", result.output) and "failed" not in result.output


def test_pins_that_cannot_be_installed_together_are_refused(cookies, tmp_path, capfd):
    # requests 2.32.3 needs urllib3>=1.21.1.
    errors = refused(cookies, tmp_path, capfd, {**PREFECT_OLDEST,
                                                "extra_requirements": "requests==2.32.3 urllib3==1.20"})
    assert "No solution found" in errors and "urllib3" in errors  # uv's own explanation
    assert "the pins cannot be locked together for Python 3.9 and newer" in errors
    assert "ERROR: the pins could not be locked" in errors  # the hook: the project is not kept


def test_pins_older_than_the_python_are_refused(cookies, tmp_path, capfd):
    """The oldest Prefect line on the newest Python it allows: the pins of its day cannot be
    locked for that Python (pywin32, which docker needs on Windows, had no wheels for it yet)."""
    newest_python = OLDEST["python"][1]
    errors = refused(cookies, tmp_path, capfd, {**PREFECT_OLDEST, "python_version": newest_python,
                                                "base_image": f"python:{newest_python}-slim"})
    assert f"cannot be locked together for Python {newest_python}" in errors
    assert "the day after your newest pin" in errors and "older Python" in errors


def test_a_pin_whose_newer_wheels_came_later_keeps_them_in_the_lock(bake_shared):
    """PyYAML 6.0 (2021-10-13) gained its Python 3.11 wheels on 2022-09-13: the lock must list
    them, or Python 3.11 would build PyYAML from source."""
    lock = load_lock_script(bake_shared(**PREFECT_OLDEST))
    pins = [lock.Pin("requirements.txt", "prefect", Version(OLDEST["newest"])),
            lock.Pin("requirements.txt", "pyyaml", Version("6.0"))]
    cutoff, own = lock.cutoffs({pin.name: lock.look_up(pin) for pin in pins})
    assert cutoff.isoformat() == "2021-10-14"
    assert {name: day.isoformat() for name, day in own.items()} == {"pyyaml": "2022-09-14"}


def test_a_project_uploaded_again_later_is_let_in_from_its_first_files(bake_shared):
    """atomicwrites, which old pytest needs on Windows, was deleted and uploaded again in July
    2022, so no file of it predates the pins of 2021; PyYAML's do, and stay bounded."""
    lock = load_lock_script(bake_shared(**PREFECT_OLDEST))
    uv_hint = ("hint: `atomicwrites` was filtered by `exclude-newer` to only include packages ...\n"
               "hint: `PyYAML` was filtered by `exclude-newer` to only include packages ...\n")
    found = lock.reuploaded(uv_hint, datetime.date(2021, 8, 31), {})
    assert {name: day.isoformat() for name, day in found.items()} == {"atomicwrites": "2022-07-09"}


@pytest.fixture
def unreachable_index(monkeypatch) -> str:
    """Point the lock script (and uv) at a local port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/simple"
    for variable in ("UV_DEFAULT_INDEX", "PIP_INDEX_URL"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("UV_INDEX_URL", url)
    return url


def test_an_unreachable_index_is_a_warning_not_an_error(cookies, capfd, unreachable_index):
    result = cookies.bake(extra_context={"lock_requirements": "yes"})
    assert result.exception is None and result.exit_code == 0
    stderr = capfd.readouterr().err
    assert "WARNING:" in stderr and "were not written" in stderr and "make lock" in stderr
    assert "ERROR: the pins could not be locked" not in stderr
    assert (result.project_path / "requirements.txt").exists()
    assert not any((result.project_path / name).exists() for name in LOCKS)


# ------------------------------------------------------ the script, as a user runs it afterwards


@pytest.fixture
def own_project(bake_shared, tmp_path) -> Path:
    """A locked project of the user's own (a copy of a shared bake)."""
    return Path(shutil.copytree(bake_shared(**PREFECT_1_ON_311), tmp_path / "project"))


def add_pin(project: Path, pin: str) -> int:
    """Append a pin to requirements.txt as a user does; its line number."""
    requirements = project / "requirements.txt"
    requirements.write_text(requirements.read_text() + pin + "\n")
    return len(requirements.read_text().splitlines())


def lock_script(project: Path, *arguments: str, env=None):
    """`uv run scripts/lock.py`, in the project folder, as the README and `make lock` say."""
    return run([UV, "run", "scripts/lock.py", *arguments], cwd=project, env=env, check=False,
               timeout=900)


def test_the_lock_scripts_own_dependencies_are_locked_with_hashes(bake_shared):
    """scripts/lock.py.lock holds what the script's inline metadata names, with hashes: uv runs
    the script from it, so a new project resolves nothing before it locks, and what runs is what
    was locked."""
    project = bake_shared()
    check = run([UV, "lock", "--script", "scripts/lock.py", "--check"], cwd=project, check=False)
    assert check.returncode == 0, check.output
    packages = tomllib.loads((project / "scripts" / "lock.py.lock").read_text())["package"]
    assert {package["name"] for package in packages} == {"packaging", "tomli"}
    assert all(wheel["hash"].startswith("sha256:") for package in packages
               for wheel in package["wheels"])


def test_a_user_adds_a_pin_and_the_script_locks_it(own_project):
    before = {name: (own_project / name).read_text() for name in LOCKS}
    number = add_pin(own_project, "humanize==4.4.0")
    stale = lock_script(own_project, "--check")
    assert stale.returncode == 1
    assert f"requirements.txt line {number} ('humanize==4.4.0'): requirements.lock has nothing for " \
           "humanize" in stale.output and "uv run scripts/lock.py" in stale.output
    result = lock_script(own_project)
    assert result.returncode == 0, result.output
    assert "Wrote requirements.lock and requirements-dev.lock" in result.output
    for name in LOCKS:
        text = (own_project / name).read_text()
        assert text != before[name]
        assert every_version(text)["humanize"] == {"4.4.0"} and unhashed(text) == []
    assert lock_script(own_project, "--check").returncode == 0


def test_a_pin_that_is_not_exact_is_refused_naming_the_line_and_the_fix(own_project):
    before = {name: (own_project / name).read_bytes() for name in LOCKS}
    number = add_pin(own_project, "humanize>=4")
    result = lock_script(own_project)
    assert result.returncode == 1
    assert (f"ERROR: requirements.txt line {number} ('humanize>=4') is not an exact pin: write "
            "humanize==<version>") in result.output
    assert "were left as they were" in result.output
    assert {name: (own_project / name).read_bytes() for name in LOCKS} == before


# (pin, what uv says, what the script says): uv's words are shown verbatim, then explained.
PINS_UV_REFUSES = {
    "no-such-version": ("humanize==0.0.999", "there is no version of humanize==0.0.999",
                        "humanize has no release 0.0.999 on https://pypi.org/simple: pin a released "
                        "version"),
    "no-such-project": ("humanise-not-a-project==1.0", "was not found in the package registry",
                        "https://pypi.org/simple has no project humanise-not-a-project: check the "
                        "spelling"),
    "too-new-for-the-python": ("numpy==2.5.0", "numpy==2.5.0 depends on Python>=3.12",
                               "numpy==2.5.0 requires Python >=3.12, not 3.11: pin a version that "
                               "supports Python 3.11"),
    "yanked": ("requests==2.32.0", "`requests==2.32.0` is yanked",
               "requests==2.32.0 was yanked from the index (Yanked due to conflicts with "
               "CVE-2024-35195 mitigation): pin another version"),
}


@pytest.mark.parametrize("pin,uv_says,script_says", list(PINS_UV_REFUSES.values()), ids=list(PINS_UV_REFUSES))
def test_a_pin_uv_cannot_lock_is_refused_with_uvs_words_and_the_fix(own_project, pin, uv_says,
                                                                     script_says):
    before = {name: (own_project / name).read_bytes() for name in LOCKS}
    number = add_pin(own_project, pin)
    result = lock_script(own_project)
    assert result.returncode == 1, result.output
    assert uv_says in result.output
    assert f"ERROR: requirements.txt line {number} ({pin!r}): {script_says}" in result.output
    assert {name: (own_project / name).read_bytes() for name in LOCKS} == before


def test_an_unreachable_index_leaves_the_locks_and_says_to_try_again(own_project, unreachable_index,
                                                                    monkeypatch):
    """pip's PIP_INDEX_URL counts too (uv itself ignores it, so it still sets the script up)."""
    monkeypatch.delenv("UV_INDEX_URL")
    monkeypatch.setenv("PIP_INDEX_URL", unreachable_index)
    before = {name: (own_project / name).read_bytes() for name in LOCKS}
    add_pin(own_project, "humanize==4.4.0")
    result = lock_script(own_project)
    assert result.returncode == 3, result.output
    assert f"ERROR: could not reach {unreachable_index}" in result.output
    assert "Run `uv run scripts/lock.py` when it answers" in result.output
    assert {name: (own_project / name).read_bytes() for name in LOCKS} == before
