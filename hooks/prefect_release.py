"""What a generated project takes from the Prefect release it is for: a Jinja extension.

cookiecutter.json's `__release_*` variables call `prefect_release(cookiecutter)`, which gives, for
the answers' `prefect_version` and `python_version`:
- `problem`: why no project can be made (the pre-gen hook prints it and stops), or "";
- `day`: the day the project's dependencies resolve as of (`exclude-newer`): the release's
  upload day, plus one;
- `pins`: the companion packages the answers need (prefect-docker, prefect-dask,
  prefect-kubernetes, dask-kubernetes) and pytest, each the newest release published by then that
  installs with this Prefect on this Python; where none does, the first later one that does, which
  `late` names and `notes` explains.
Facts come from the package index (its JSON simple API, PEP 691, with upload times, PEP 700), or,
for what prefect-releases.json beside this file records, from there, so that those releases
generate offline, alike on every machine. Standard library only: cookiecutter's interpreter may
have nothing else. Refresh the record: `python hooks/prefect_release.py` (needs the index).
"""

from __future__ import annotations

import datetime
import io
import json
import os
import re
import sys
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from jinja2.ext import Extension

RECORD = Path(__file__).with_name("prefect-releases.json")
INDEX = (os.environ.get("UV_DEFAULT_INDEX") or os.environ.get("UV_INDEX_URL")
         or os.environ.get("PIP_INDEX_URL") or "https://pypi.org/simple").rstrip("/")
# The first Prefect 2 release whose `prefect deploy` deploys prefect.yaml's deployments as the
# project writes them: 2.10.14 reads them, but it and 2.10.15 load the flow only from a `.prefect`
# folder (`prefect project init`) and fail without one (AttributeError: 'NoneType' object has no
# attribute 'name'); 2.10.16 loads it from the entrypoint but leaves `{{ $NAME }}` as written,
# where 2.11.0 fills in the environment variable (the project's build, network and scheduler
# settings are those). All run here.
FIRST_2X = (2, 11, 0)
# Prefect 1 and 0.15 are the article's: a fixed Python range each (cookiecutter.json's
# _prefect_legacy), no companions.
COMPANIONS = ("prefect-docker", "prefect-dask", "prefect-kubernetes", "dask-kubernetes")
TEST_TOOL = "pytest"
# The project's build backend (pyproject.toml's build-system, cookiecutter.json's
# _build_requirement: from 65.5 an editable install of the src layout is a path entry, which finds
# the code the image copies in after the install).
BUILD_BACKEND = "setuptools"
FINAL = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def release(version: str) -> tuple[int, ...]:
    """The release segment of a PEP 440 version: '3.4.25' -> (3, 4, 25), '3.0.0rc1' -> (3, 0, 0)."""
    found = re.match(r"[0-9]+(?:\.[0-9]+)*", version.strip())
    return tuple(int(part) for part in found[0].split(".")) if found else ()


def allows(specifiers: str | None, version: tuple[int, ...]) -> bool:
    """Whether a final release satisfies a PEP 440 specifier set ('>=3.9,<3.14', '!=3.9.*')."""
    for clause in filter(None, (c.strip() for c in (specifiers or "").split(","))):
        found = re.fullmatch(r"(~=|===|==|!=|<=|>=|<|>)\s*(\S+)", clause)
        if not found:
            return False
        operator, value = found.groups()
        if value.endswith(".*"):
            prefix = release(value[:-2])
            same = (version + (0,) * len(prefix))[:len(prefix)] == prefix
            if same != (operator == "=="):
                return False
            continue
        other = release(value)
        width = max(len(version), len(other))
        left, right = version + (0,) * (width - len(version)), other + (0,) * (width - len(other))
        compatible = left >= right and left[:len(other) - 1] == right[:len(other) - 1]
        if not {"==": left == right, "===": left == right, "!=": left != right, "<=": left <= right,
                ">=": left >= right, "<": left < right, ">": left > right, "~=": compatible}[operator]:
            return False
    return True


@dataclass
class Release:
    version: str
    uploaded: str  # its first file's upload time (ISO 8601, UTC); the record keeps the day
    requires_python: str | None
    requires_prefect: str | None = None  # a companion's requirement on prefect
    yanked: str = ""  # the index's reason, when every file of the release is yanked
    wheel: str = ""  # where its metadata can be read (online only)
    read: bool = True  # whether requires_prefect is known yet

    @property
    def day(self) -> datetime.date:
        return datetime.date.fromisoformat(self.uploaded[:10])

    def row(self) -> list:
        """As prefect-releases.json records it."""
        row = [self.version, self.uploaded[:10], self.requires_python, self.requires_prefect]
        return row if row[-1] else row[:-1]


class IndexUnavailable(Exception):
    pass


def fetch(url: str, accept: str = "*/*") -> bytes:
    headers = {"Accept": accept, "User-Agent": "cookiecutter-prefect-docker"}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            if accept != "*/*" and "json" not in response.headers.get("Content-Type", ""):
                raise IndexUnavailable(f"{url} does not serve the JSON simple API (PEP 691) with "
                                       "upload times (PEP 700), which dating needs")
            return response.read()
    except (OSError, ValueError) as error:  # URLError, timeouts, refused connections
        raise IndexUnavailable(f"{url}: {getattr(error, 'reason', error)}") from None


def index_releases(name: str) -> dict[str, Release]:
    """Every final release of a project on the index, by version."""
    page = json.loads(fetch(f"{INDEX}/{name}/", "application/vnd.pypi.simple.v1+json"))
    files: dict[str, list[dict]] = {}
    for file in page.get("files", []):
        filename = file["filename"]  # name-version.tar.gz, or name-version-tags.whl (PEP 427)
        stem = re.sub(r"\.(tar\.gz|zip|whl)$", "", filename)
        version = stem.split("-")[1] if filename.endswith(".whl") else stem.rpartition("-")[2]
        if FINAL.fullmatch(version):
            files.setdefault(version, []).append(file)
    releases = {}
    for version, found in files.items():
        if not all(f.get("upload-time") for f in found):
            raise IndexUnavailable(f"{INDEX}/{name}/ gives no upload times (PEP 700), which dating needs")
        usable = [f for f in found if not f.get("yanked")] or found
        wheel = next((f["url"] for f in usable if f["filename"].endswith(".whl")), "")
        releases[version] = Release(
            version, min(f["upload-time"] for f in found), usable[0].get("requires-python"),
            yanked="" if usable is not found else str(found[0]["yanked"]), wheel=wheel, read=False)
    return releases


def requires_prefect(wheel_url: str) -> str | None:
    """The specifier a companion's wheel puts on prefect, from the wheel's METADATA."""
    with zipfile.ZipFile(io.BytesIO(fetch(wheel_url))) as wheel:
        name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = wheel.read(name).decode("utf-8", "replace")
    for line in metadata.splitlines():
        found = re.match(r"Requires-Dist:\s*prefect(?:\[[^\]]*\])?\s*\(?([^;)]*)\)?\s*(;.*)?$", line)
        if found and "extra" not in (found[2] or ""):
            return found[1].strip() or None
    return None


class Releases:
    """The releases of the projects a project is made from: recorded, else from the index."""

    def __init__(self, recorded: dict | None = None, online: bool = True):
        self.recorded = recorded if recorded is not None else (
            json.loads(RECORD.read_text()) if RECORD.exists() else {"projects": {}})
        self.online = online
        self.fetched: dict[str, dict[str, Release]] = {}

    def of(self, name: str, *, fresh: bool = False) -> dict[str, Release]:
        """A project's releases; fresh: from the index (raises IndexUnavailable without it)."""
        if not fresh and name in self.recorded["projects"]:
            return {row[0]: Release(*row) for row in self.recorded["projects"][name]}
        if name not in self.fetched:
            if not self.online:
                raise IndexUnavailable("generation runs offline")
            self.fetched[name] = index_releases(name)
        return self.fetched[name]

    def prefect_requirement(self, release: Release) -> str | None:
        if not release.read:
            release.requires_prefect, release.read = requires_prefect(release.wheel), True
        return release.requires_prefect


def choose(releases: dict[str, Release], cutoff: datetime.date, python: tuple[int, ...],
           installs) -> tuple[Release | None, bool]:
    """(the newest release uploaded before cutoff that installs, False), else (the oldest later one
    that does, True), else (None, False). A release installs when its Python range has python and
    installs(release) holds."""
    ordered = sorted((r for r in releases.values() if not r.yanked), key=lambda r: release(r.version))
    fits = [r for r in ordered if allows(r.requires_python, python)]
    earlier = [r for r in fits if r.day < cutoff]
    for candidate in reversed(earlier):
        if installs(candidate):
            return candidate, False
    for candidate in sorted((r for r in fits if r.day >= cutoff), key=lambda r: r.uploaded):
        if installs(candidate):
            return candidate, True
    return None, False


@dataclass
class Facts:
    api: int  # 3, 2, or 1 for Prefect 1 and 0.15 (the article's Prefect)
    problem: str = ""
    day: str = ""  # the dependencies resolve as they were on the day before this date (YYYY-MM-DD)
    pins: dict = field(default_factory=dict)  # name -> version, for requirements.txt and the tests
    exempt: tuple[str, ...] = ()  # uv's exclude-newer-package entries: 'name = false', ...
    notes: tuple[str, ...] = ()  # what generation says about the choice

    def pin(self, name: str) -> str:
        return f"{name}=={self.pins[name]}" if name in self.pins else ""


def needed(answers: dict) -> list[str]:
    """The companions a project's answers need, beside prefect itself."""
    pool, dask = answers["work_pool_type"], answers["task_runner"] == "dask"
    used = (pool in ("docker", "kubernetes"), dask, pool == "kubernetes", dask and pool == "kubernetes")
    return [name for name, use in zip(COMPANIONS, used, strict=True) if use]


def exact_names(requirements: str) -> list[str]:
    """The project names of extra_requirements' pins (the pre-gen hook checks they are pins)."""
    pins = requirements.replace(",", " ").split()
    return [re.split(r"[\[=<>!~ ]", pin, maxsplit=1)[0].lower() for pin in pins]


def facts(answers: dict, releases: Releases) -> Facts:
    """The facts of the answers' Prefect release (see the module's docstring)."""
    version, python_answer = answers["prefect_version"], answers["python_version"]
    python, number = release(python_answer), release(version)
    api = number[0] if number[:1] in ((2,), (3,)) else 1
    legacy = next((line for line in answers["_prefect_legacy"] if version.startswith(line["series"])), None)
    default = answers["_prefect_default"]

    def refuse(problem: str) -> Facts:
        return Facts(api, problem)

    if not FINAL.fullmatch(version):
        kind = ("a pre-release or development release" if re.fullmatch(r"[0-9]+(\.[0-9]+)*[.-]?"
                r"(a|b|c|rc|alpha|beta|pre|preview|post|dev)[.-]?[0-9]*([.-]?(post|dev)[.-]?[0-9]*)*",
                version.strip(), re.IGNORECASE) else "not a release number")
        return refuse(f"prefect_version {version!r} is {kind}: give the final release your Prefect server "
                      f"runs, such as {default} (`pip index versions prefect` lists them).")
    if number[0] > 3:
        return refuse(f"prefect_version {version}: this template makes projects for Prefect 3, 2 (from "
                      f"{'.'.join(map(str, FIRST_2X))}), 1 and 0.15, not yet for Prefect {number[0]}.")
    if legacy is None and number < FIRST_2X:
        first = ".".join(map(str, FIRST_2X))
        return refuse(f"prefect_version {version} is older than {first}, the first Prefect 2 release whose "
                      "`prefect deploy` deploys prefect.yaml's deployments as this project writes them "
                      "(from the entrypoint, without a .prefect folder, and with its $NAME variables "
                      f"filled in from the environment): choose {first} or newer, or a 1.x or 0.15.x "
                      "release (the article's Prefect).")
    try:
        prefect = releases.of("prefect").get(version) or releases.of("prefect", fresh=True).get(version)
    except IndexUnavailable as error:
        return refuse(f"prefect_version {version} is not one this template has on record, and the package "
                      f"index did not answer ({error}): connect to the index (or name a mirror in "
                      "UV_DEFAULT_INDEX) and run cookiecutter again, or choose a release on record, "
                      f"such as {default}.")
    if prefect is None:
        return refuse(f"prefect_version {version} was never published ({INDEX}/prefect/ has no such "
                      "release): give the release your Prefect server runs (`prefect version` on it).")
    if prefect.yanked:
        return refuse(f"prefect_version {version} was withdrawn from the index ({prefect.yanked!r}): "
                      "choose another release.")
    if legacy:
        low, high = legacy["python"]
        fits, supported = release(low) <= python <= release(high), f"Python {low} to {high}"
    else:
        fits = allows(prefect.requires_python, python)
        minors = [m for m in range(6, 21) if allows(prefect.requires_python, (3, m))]
        supported = (f"Python 3.{minors[0]} to 3.{minors[-1]} (Requires-Python {prefect.requires_python})"
                     if minors else f"Python {prefect.requires_python}")
    if not fits:
        return refuse(f"python_version {python_answer} cannot run prefect_version {version}, which supports "
                      f"{supported}: choose a Python in that range, or another Prefect release.")

    cutoff = prefect.day + datetime.timedelta(days=1)
    wanted = {name: (lambda r: allows(releases.prefect_requirement(r), number))
              for name in ([] if legacy else needed(answers))}
    wanted[TEST_TOOL] = lambda r: True
    floor = release(answers["_build_requirement"].split(">=")[-1])
    wanted[BUILD_BACKEND] = lambda r: release(r.version) >= floor
    pins, exempt, notes = {}, [], []
    for name, installs in wanted.items():
        chosen, late = None, False
        try:
            chosen, late = choose(releases.of(name), cutoff, python, installs)
            if chosen is None or late:  # the record may be older than the index
                chosen, late = choose(releases.of(name, fresh=True), cutoff, python, installs)
        except IndexUnavailable as error:
            if chosen is None:
                return refuse(f"prefect_version {version}: the package index did not answer ({error}), "
                              f"and {name} is needed: connect to it and run cookiecutter again.")
        if chosen is None:
            return refuse(f"python_version {python_answer}: no release of {name} installs with Prefect "
                          f"{version} on Python {python_answer}: choose another Python or Prefect release.")
        if name == BUILD_BACKEND:  # not pinned: only dated, later when the build needs a later one
            if late:
                exempt.append(f'{name} = "{chosen.day + datetime.timedelta(days=1)}T00:00:00Z"')
            continue
        pins[name] = chosen.version
        if late:
            exempt.append(f"{name} = false")
            notes.append(f"{name}: no release published by Prefect {version}'s day ({prefect.day}) installs "
                         f"with it on Python {python_answer}, so {name}=={chosen.version} ({chosen.day}), "
                         "the first later one that does, is pinned.")
    exempt += [f"{name} = false" for name in exact_names(answers.get("extra_requirements", ""))]
    return Facts(api, "", cutoff.isoformat(), pins, tuple(exempt), tuple(notes))


# ----------------------------------------------------------------------------- the Jinja extension

_SESSION = Releases()
_FACTS: dict[str, Facts] = {}


def prefect_release(answers) -> Facts:
    """The facts for a cookiecutter context (cached: every __release_* variable asks)."""
    key = json.dumps([answers.get(k) for k in ("prefect_version", "python_version", "work_pool_type",
                                               "task_runner", "extra_requirements")])
    if key not in _FACTS:
        try:
            _FACTS[key] = facts(answers, _SESSION)
        except Exception as error:  # noqa: BLE001 -- the pre-gen hook reports it, never a traceback
            _FACTS[key] = Facts(1, f"prefect_version {answers.get('prefect_version')!r}: the template could "
                                   f"not work out its facts ({type(error).__name__}: {error}).")
    return _FACTS[key]


class PrefectReleaseExtension(Extension):
    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["prefect_release"] = prefect_release
        environment.globals["prefect_server_chart"] = server_chart
        environment.filters["release"] = release


# ----------------------------------------------------------------------------- the record


# What the record holds: each project's final releases from these on (Prefect's article-era lines
# and every 2.x it supports), yanked ones left out.
RECORDED = {"prefect": [("0.15.0", "2"), ("2.10.14", "")], "prefect-docker": [("0.2.0", "")],
            "prefect-dask": [("0.2.0", "")], "prefect-kubernetes": [("0.2.0", "")],
            "dask-kubernetes": [("2022.1.0", "")], TEST_TOOL: [("6.2.0", "")],
            BUILD_BACKEND: [("57.0.0", "")]}


def record() -> dict:
    """What prefect-releases.json holds, read from the index now."""
    releases, projects = Releases({"projects": {}}), {}
    for name, spans in RECORDED.items():
        rows = []
        for found in sorted(releases.of(name).values(), key=lambda r: release(r.version)):
            version = release(found.version)
            if found.yanked or not any(release(low) <= version and (not high or version < release(high))
                                       for low, high in spans):
                continue
            if name in COMPANIONS[:3]:
                releases.prefect_requirement(found)
            rows.append(found.row())
        projects[name] = rows
    return {"index": INDEX, "taken": datetime.date.today().isoformat(), "projects": projects}


# ----------------------------------------------------------------------------- Prefect's Helm chart

# Prefect's Helm chart for a self-hosted server (prefect-helm): each chart release is a date, and
# its appVersion is the Prefect release its image tag was pinned to when it was packaged (the
# newest Prefect 3 then; 2.x until 2024.8.30163822). prefect-server-charts.json records, for each
# Prefect release, the newest chart release that ships it, as read from the chart repository's
# index. Refresh it: `python hooks/prefect_release.py charts <index.yaml>` (the file at
# https://prefecthq.github.io/prefect-helm/index.yaml).
CHARTS = Path(__file__).with_name("prefect-server-charts.json")
CHART_REPOSITORY = "https://prefecthq.github.io/prefect-helm"
# The values key of the server's image tag moved from server.image to global.prefect.image in
# this chart release (read in each release's values.yaml).
GLOBAL_IMAGE_FROM = (2025, 1, 24200354)
# The last chart release packaged with Prefect 2.
LAST_2X_CHART = "2024.8.30163822"


@dataclass(frozen=True)
class ServerChart:
    """How to install the project's Prefect version with Prefect's chart. `version` is the chart
    release that ships it, or "" when none on record does (a release newer than the record, or a
    2.x later than the last 2.x chart): then `fallback` is the chart release to take instead ("" for
    the newest), and the image tag, set to the project's version, makes the server that release."""

    version: str
    fallback: str
    tag_key: str
    recorded: str


def server_chart(prefect_version: str) -> ServerChart:
    record = json.loads(CHARTS.read_text()) if CHARTS.exists() else {"charts": {}, "taken": ""}
    chart = record["charts"].get(prefect_version.strip(), "")
    fallback = "" if chart or release(prefect_version)[:1] != (2,) else LAST_2X_CHART
    used = chart or fallback
    tag_key = ("global.prefect.image.prefectTag" if not used or release(used) >= GLOBAL_IMAGE_FROM
               else "server.image.prefectTag")
    return ServerChart(chart, fallback, tag_key, record["taken"])


def chart_record(index_yaml: str) -> dict:
    """What prefect-server-charts.json holds, from the chart repository's index.yaml."""
    import yaml  # a dependency of cookiecutter; only this maintainer's command needs it

    index = yaml.safe_load(index_yaml)
    charts: dict[str, str] = {}
    for entry in index["entries"]["prefect-server"]:
        app = str(entry["appVersion"])
        if FINAL.fullmatch(app) and release(entry["version"]) > release(charts.get(app, "0")):
            charts[app] = entry["version"]
    taken = str(index.get("generated", ""))[:10] or datetime.date.today().isoformat()
    return {"repository": CHART_REPOSITORY, "taken": taken,
            "charts": dict(sorted(charts.items(), key=lambda item: release(item[0])))}


if __name__ == "__main__" and sys.argv[1:2] == ["charts"]:
    CHARTS.write_text(json.dumps(chart_record(Path(sys.argv[2]).read_text()), indent=0) + "\n")
    print(f"{CHARTS}: refreshed", file=sys.stderr)
elif __name__ == "__main__":
    recorded = record()
    text = json.dumps(recorded, separators=(",", ":")).replace("],[", "],\n[").replace(":[[", ":[\n[")
    RECORD.write_text(text + "\n")
    print(f"{RECORD}: {sum(map(len, recorded['projects'].values()))} releases", file=sys.stderr)
