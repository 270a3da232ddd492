"""What a Prefect release gives a project, checked against the package index itself (no Docker).

hooks/prefect_release.py works out, per prefect_version and python_version, the Pythons the release
allows, its companions as of its day, and the lock's exclude-newer day, from the index or from its
offline record (hooks/prefect-releases.json). These tests compute the same answers on their own,
from the index's JSON simple API (PEP 691, upload times PEP 700) and the wheels' METADATA, with
`packaging` (which the hook cannot use), and compare them with what a baked project holds.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import subprocess
import sys
import tomllib
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import pytest
import yaml
from conftest import unavailable
from cookiecutter.exceptions import FailedHookException
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from support.answer_sets import ALL_COMPANIONS, OFFLINE
from support.template import COOKIECUTTER_JSON, TEMPLATE_DIR, prefect_release_module

HOOK = prefect_release_module()
INDEX = HOOK.INDEX
RECORD = json.loads((TEMPLATE_DIR / "hooks" / "prefect-releases.json").read_text())
RECORDED_PREFECT = {row[0] for row in RECORD["projects"]["prefect"]}
PYTHON_CHOICES = COOKIECUTTER_JSON["python_version"]
COMPANIONS = ("prefect-docker", "prefect-dask", "prefect-kubernetes", "dask-kubernetes")
# An address where nothing answers: the index, unreachable.
NO_INDEX = "http://127.0.0.1:9/simple"
COOKIECUTTER = Path(sys.executable).with_name("cookiecutter")


# --------------------------------------------------------------------------- the index, read here


def _get(url: str, accept: str = "*/*") -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
        return response.read()


@cache
def index_page(name: str) -> dict:
    """The index's PEP 691 JSON page of a project (skips, or fails in CI, without the index)."""
    try:
        return json.loads(_get(f"{INDEX}/{name}/", "application/vnd.pypi.simple.v1+json"))
    except OSError as error:
        unavailable(f"the package index {INDEX} does not answer ({error})")


def _version_of(filename: str) -> str:
    stem = re.sub(r"\.(tar\.gz|zip|whl)$", "", filename)
    return stem.split("-")[1] if filename.endswith(".whl") else stem.rpartition("-")[2]


@cache
def published(name: str) -> dict[Version, dict]:
    """Each final release on the index: its first upload time, Requires-Python, yanked, a wheel."""
    found: dict[Version, dict] = {}
    for file in index_page(name)["files"]:
        try:
            version = Version(_version_of(file["filename"]))
        except InvalidVersion:
            continue
        if version.is_prerelease or version.is_devrelease:
            continue
        entry = found.setdefault(version, {"uploaded": file["upload-time"], "files": []})
        entry["uploaded"] = min(entry["uploaded"], file["upload-time"])
        entry["files"].append(file)
    for entry in found.values():
        usable = [f for f in entry["files"] if not f.get("yanked")]
        entry["yanked"] = not usable
        entry["requires_python"] = (usable or entry["files"])[0].get("requires-python") or ""
        entry["wheel"] = next((f["url"] for f in usable if f["filename"].endswith(".whl")), None)
        entry["day"] = datetime.date.fromisoformat(entry["uploaded"][:10])
    return found


@cache
def requirement_on_prefect(wheel_url: str) -> SpecifierSet | None:
    """What a wheel's METADATA (Requires-Dist, no extra) asks of prefect."""
    with zipfile.ZipFile(io.BytesIO(_get(wheel_url))) as wheel:
        metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        lines = wheel.read(metadata).decode().splitlines()
    for line in lines:
        if line.startswith("Requires-Dist:"):
            requirement = Requirement(line.split(":", 1)[1].strip())
            if requirement.name.lower() == "prefect" and (
                    requirement.marker is None or "extra" not in str(requirement.marker)):
                return requirement.specifier
    return None


def python_minors(requires_python: str) -> list[int]:
    return [m for m in range(6, 21) if SpecifierSet(requires_python or "").contains(f"3.{m}.0")]


def companion_on_the_day(name: str, prefect_version: str, python: str) -> str:
    """The newest release of a companion uploaded before the Prefect release's day plus one whose
    Requires-Python has the Python and whose requirement on prefect has the release."""
    prefect = published("prefect")[Version(prefect_version)]
    cutoff = prefect["day"] + datetime.timedelta(days=1)
    candidates = [(version, entry) for version, entry in sorted(published(name).items(), reverse=True)
                  if not entry["yanked"] and entry["day"] < cutoff
                  and SpecifierSet(entry["requires_python"]).contains(f"{python}.0")]
    # The wheels' METADATA, read in parallel (the mirror serves no PEP 658 metadata files).
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(requirement_on_prefect, [e["wheel"] for _, e in candidates[:24] if e["wheel"]]))
    for version, entry in candidates:
        wanted = requirement_on_prefect(entry["wheel"]) if entry["wheel"] else None
        if wanted is None or wanted.contains(prefect_version, prereleases=True):
            return str(version)
    raise AssertionError(f"no {name} release fits prefect {prefect_version} on Python {python}")


# --------------------------------------------------------------------------- baking


def refusal(cookies, capfd, tmp_path, **answers) -> str:
    """Bake answers that must be refused: the hook's errors, after checking nothing was left."""
    result = cookies.bake(extra_context={**OFFLINE, **answers})
    errors = capfd.readouterr().err
    assert isinstance(result.exception, FailedHookException), (result.exception, errors)
    assert result.project_path is None
    leftovers = list((tmp_path / "cookies").rglob("*")) if (tmp_path / "cookies").exists() else []
    assert leftovers in ([], [tmp_path / "cookies" / "bake00"]), "a half-made project was left behind"
    return errors


def baked(cookies, **answers) -> Path:
    result = cookies.bake(extra_context={**OFFLINE, **answers})
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return result.project_path


def pins_of(project: Path) -> dict[str, str]:
    pins = {}
    for line in (project / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def cookiecutter_cli(output: Path, env: dict, **answers) -> subprocess.CompletedProcess:
    """The cookiecutter CLI in a process of its own (the hook module caches its index session)."""
    arguments = [f"{key}={value}" for key, value in {**OFFLINE, **answers}.items()]
    return subprocess.run([COOKIECUTTER, "--no-input", "-o", output, TEMPLATE_DIR, *arguments], env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def without_index() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("UV_INDEX_URL", "PIP_INDEX_URL")}
    return {**env, "UV_DEFAULT_INDEX": NO_INDEX}


# --------------------------------------------------------------------------- the Python range


# (prefect_version, python_version): answers the release's own Requires-Python refuses.
OUT_OF_RANGE = [("3.9.1", "3.10"), ("3.5.0", "3.9"), ("3.8.8", "3.9"), ("3.4.24", "3.14")]
# ... and answers it allows (the boundary Pythons).
IN_RANGE = [("3.4.25", "3.14"), ("3.0.0", "3.9"), ("3.5.0", "3.10"), ("3.9.1", "3.11")]


@pytest.mark.parametrize(("prefect_version", "python_version"), OUT_OF_RANGE,
                         ids=[f"{v}-py{p}" for v, p in OUT_OF_RANGE])
def test_a_python_outside_the_releases_own_range_is_refused_naming_the_range(
        cookies, capfd, tmp_path, prefect_version, python_version):
    requires = published("prefect")[Version(prefect_version)]["requires_python"]
    minors = python_minors(requires)
    assert not SpecifierSet(requires).contains(f"{python_version}.0")  # the case is what it claims
    errors = refusal(cookies, capfd, tmp_path, prefect_version=prefect_version, python_version=python_version)
    assert f"python_version {python_version} cannot run prefect_version {prefect_version}" in errors
    assert f"Python 3.{minors[0]} to 3.{minors[-1]}" in errors, errors


@pytest.mark.parametrize(("prefect_version", "python_version"), IN_RANGE,
                         ids=[f"{v}-py{p}" for v, p in IN_RANGE])
def test_a_python_inside_the_releases_own_range_generates(cookies, prefect_version, python_version):
    requires = published("prefect")[Version(prefect_version)]["requires_python"]
    assert SpecifierSet(requires).contains(f"{python_version}.0")
    project = baked(cookies, prefect_version=prefect_version, python_version=python_version,
                    base_image=f"python:{python_version}-slim")
    assert pins_of(project)["prefect"] == prefect_version
    assert (project / ".python-version").read_text().strip() == python_version


def test_every_python_choice_is_accepted_exactly_where_the_release_allows_it():
    """For one release of each Requires-Python the index shows (Prefect 2.11.0 on), the hook's
    answer for each prompt choice is the index's Requires-Python's answer."""
    releases = {v: e for v, e in published("prefect").items() if v >= Version("2.11.0") and not e["yanked"]}
    one_per_range = {}
    for version, entry in sorted(releases.items()):
        one_per_range.setdefault(entry["requires_python"], str(version))
    for requires, version in one_per_range.items():
        for python in PYTHON_CHOICES:
            facts = HOOK.facts({**COOKIECUTTER_JSON, **ALL_COMPANIONS, "prefect_version": version,
                                "python_version": python}, HOOK.Releases())
            fits = SpecifierSet(requires).contains(f"{python}.0")
            if fits:  # where a companion adds a floor, the refusal says which
                assert not facts.problem or "no release of" in facts.problem, (version, python, facts.problem)
            else:
                assert "cannot run prefect_version" in facts.problem, (version, python, facts.problem)


# 2.10.14 and 2.10.15 deploy prefect.yaml's deployments only from a .prefect folder, and 2.10.x
# leaves prefect.yaml's {{ $NAME }} unfilled.
@pytest.mark.parametrize("version", ["2.10.21", "2.10.16", "2.10.15", "2.10.14", "2.10.13", "2.7.0", "2.0.0"])
def test_a_prefect_2_release_before_2_11_is_refused_naming_2_11_0(cookies, capfd, tmp_path, version):
    errors = refusal(cookies, capfd, tmp_path, prefect_version=version, python_version="3.11")
    assert f"prefect_version {version} is older than 2.11.0" in errors
    assert "prefect.yaml" in errors and ".prefect folder" in errors


@pytest.mark.parametrize("version", ["3.0.0rc1", "3.9.2.dev1", "2.20.0b1"])
def test_a_pre_release_is_refused(cookies, capfd, tmp_path, version):
    assert any(not Version(_version_of(f["filename"])).is_prerelease
               for f in index_page("prefect")["files"])  # (the index answers)
    errors = refusal(cookies, capfd, tmp_path, prefect_version=version)
    assert f"prefect_version {version!r} is a pre-release or development release" in errors


@pytest.mark.parametrize("version", ["3.4.99", "2.20.99", "3.99.0"])
def test_a_release_never_published_is_refused_naming_it(cookies, capfd, tmp_path, version):
    assert Version(version) not in published("prefect")
    errors = refusal(cookies, capfd, tmp_path, prefect_version=version)
    assert f"prefect_version {version} was never published" in errors


def test_a_yanked_release_is_refused(cookies, capfd, tmp_path):
    yanked = [v for v, e in published("prefect").items() if e["yanked"] and v >= Version("2.11.0")]
    if not yanked:
        pytest.skip("the index has no yanked Prefect release from 2.11.0 on")
    version = str(yanked[-1])
    errors = refusal(cookies, capfd, tmp_path, prefect_version=version)
    assert f"prefect_version {version} was withdrawn from the index" in errors


@pytest.mark.parametrize("version", ["latest", "three", "3.x"])
def test_an_unknown_release_is_refused_naming_it(cookies, capfd, tmp_path, version):
    errors = refusal(cookies, capfd, tmp_path, prefect_version=version)
    assert f"prefect_version {version!r} is not a release number" in errors


# --------------------------------------------------------------------------- companions by date


# (prefect_version, python_version, what the notes read off the index)
BY_DATE = [
    ("3.4.25", "3.12", {"prefect-docker": "0.6.6", "prefect-dask": "0.3.6", "prefect-kubernetes": "0.6.6"}),
    ("3.6.29", "3.12", {"prefect-docker": "0.7.1", "prefect-dask": "0.3.6", "prefect-kubernetes": "0.7.8"}),
    ("3.8.8", "3.12", {"prefect-docker": "0.7.4", "prefect-dask": "0.3.7", "prefect-kubernetes": "0.7.13"}),
    ("2.20.27", "3.12", {"prefect-docker": "0.5.5", "prefect-dask": "0.2.10", "prefect-kubernetes": "0.4.6"}),
    ("3.1.15", "3.9", {}),
    ("2.11.0", "3.11", {}),
]


@pytest.mark.parametrize(("prefect_version", "python_version", "known"), BY_DATE,
                         ids=[f"{v}-py{p}" for v, p, _ in BY_DATE])
def test_the_companions_are_the_newest_published_by_the_releases_day(cookies, prefect_version,
                                                                     python_version, known):
    expected = {name: companion_on_the_day(name, prefect_version, python_version) for name in COMPANIONS}
    assert expected.items() >= known.items()  # the index still says what it said
    project = baked(cookies, prefect_version=prefect_version, python_version=python_version,
                    base_image=f"python:{python_version}-slim", **ALL_COMPANIONS)
    pins = pins_of(project)
    assert {name: pins.get(name) for name in COMPANIONS} == expected
    assert pins["prefect"] == prefect_version
    # prefect.yaml's every `requires:` (its build step's, and the commented push step's) is that pin.
    text = (project / "prefect.yaml").read_text()
    requires = re.findall(r"requires:\s*(\S+)", text)
    assert requires and set(requires) == {f"prefect-docker=={expected['prefect-docker']}"}, requires
    assert "prefect_docker.deployments.steps.build_docker_image" in yaml.safe_load(text)["build"][0]
    # The lock's day: the release's upload day, plus one.
    day = published("prefect")[Version(prefect_version)]["day"] + datetime.timedelta(days=1)
    uv = tomllib.loads((project / "pyproject.toml").read_text())["tool"]["uv"]
    assert uv["exclude-newer"] == f"{day.isoformat()}T00:00:00Z"


def test_a_docker_pool_project_pins_only_the_companions_it_uses(cookies):
    project = baked(cookies, prefect_version="3.6.29", python_version="3.12", work_pool_type="docker",
                    task_runner="default")
    pins = pins_of(project)
    assert pins["prefect-docker"] == companion_on_the_day("prefect-docker", "3.6.29", "3.12")
    assert not {"prefect-dask", "prefect-kubernetes", "dask-kubernetes"} & pins.keys()


# --------------------------------------------------------------------------- offline


@pytest.mark.parametrize("version", ["3.9.1", "2.20.27"])
def test_offline_a_recorded_release_generates(tmp_path, version):
    assert version in RECORDED_PREFECT
    python = "3.12"
    done = cookiecutter_cli(tmp_path, without_index(), prefect_version=version, python_version=python,
                            **ALL_COMPANIONS)
    assert done.returncode == 0, done.stderr
    [project] = [p for p in tmp_path.iterdir() if p.is_dir()]
    pins = pins_of(project)
    assert pins["prefect"] == version
    # The companions the record gives (test_the_companions_are_... checks them against the index).
    recorded = HOOK.facts({**COOKIECUTTER_JSON, **ALL_COMPANIONS, "prefect_version": version,
                           "python_version": python}, HOOK.Releases(online=False))
    assert not recorded.problem, recorded.problem
    assert {name: pins.get(name) for name in COMPANIONS} == {n: recorded.pins.get(n) for n in COMPANIONS}
    assert all(pins.get(name) for name in COMPANIONS), pins


@pytest.mark.parametrize("version", ["3.4.99", "3.10.0"])
def test_offline_an_unrecorded_release_says_the_index_is_needed_and_leaves_nothing(tmp_path, version):
    assert version not in RECORDED_PREFECT
    done = cookiecutter_cli(tmp_path, without_index(), prefect_version=version)
    assert done.returncode != 0
    assert f"prefect_version {version} is not one this template has on record" in done.stderr
    assert "the package index did not answer" in done.stderr
    assert ("connect to the index (or name a mirror in UV_DEFAULT_INDEX) and run cookiecutter again"
            in done.stderr)
    assert NO_INDEX in done.stderr  # which index it tried
    assert list(tmp_path.iterdir()) == [], "a half-made project was left behind"


# --------------------------------------------------------------------------- the record


@pytest.mark.parametrize("name", ["prefect", *COMPANIONS])
def test_the_record_agrees_with_the_index(name):
    """Each recorded release: its day and Requires-Python as the index has them, not yanked."""
    on_index = published(name)
    for row in RECORD["projects"][name]:
        version, day, requires_python = Version(row[0]), row[1], row[2]
        assert version in on_index, f"{name} {version} is recorded but not on the index"
        entry = on_index[version]
        assert not entry["yanked"], f"{name} {version} is recorded but yanked"
        on_record = (day, requires_python or None)
        assert (entry["uploaded"][:10], entry["requires_python"] or None) == on_record, row


def test_a_release_newer_than_the_record_generates_from_the_index(cookies):
    newest_recorded = max(Version(v) for v in RECORDED_PREFECT)
    newer = [v for v, e in published("prefect").items() if v > newest_recorded and not e["yanked"]]
    if not newer:
        pytest.skip(f"the index has no Prefect release newer than the record's {newest_recorded}")
    version = str(max(newer))
    python = f"3.{python_minors(published('prefect')[max(newer)]['requires_python'])[0]}"
    project = baked(cookies, prefect_version=version, python_version=python,
                    base_image=f"python:{python}-slim", **ALL_COMPANIONS)
    pins = pins_of(project)
    assert pins["prefect"] == version
    assert {name: pins.get(name) for name in COMPANIONS} == {
        name: companion_on_the_day(name, version, python) for name in COMPANIONS}
