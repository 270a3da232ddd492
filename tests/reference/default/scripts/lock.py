# /// script
# requires-python = ">=3.9"
# dependencies = [
#     "packaging==26.2",
#     "tomli==2.5.0; python_version < '3.11'",
# ]
# ///
"""Lock this project's dependencies, with hashes, as they were when your pins were new.

    uv run scripts/lock.py           (the Makefile's `make lock` runs this)
    uv run scripts/lock.py --check   (only check that the locks agree with the pins; no network)

Run it after every change to requirements.txt or to the `test` group of pyproject.toml. It writes
- requirements.lock: every package requirements.txt needs, down to the last one, with hashes
  (the Docker image installs exactly this);
- requirements-dev.lock: the same versions plus the `test` dependency group (your machine and CI
  install this).

Both are resolved by `uv pip compile` as of the day after your newest pin was first uploaded:
old pins get the dependencies of their day, which work with them (today's break them), and the
same pins give the same lock next year. The exact uv command stands at the top of each lock.
Every pin is then checked to be in the locks at its version, and every entry to carry hashes;
a pinned release its maintainers yanked is refused (uv only warns). When anything is wrong, uv's
own words are shown, the locks are left as they were, and a message names the line to fix.
The package index is the one uv uses: UV_DEFAULT_INDEX, UV_INDEX_URL, else PIP_INDEX_URL, else PyPI.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS, PYPROJECT = "requirements.txt", "pyproject.toml"
LOCK, DEV_LOCK = "requirements.lock", "requirements-dev.lock"
TEST_GROUP = "test"
# Exit status when the index cannot be reached: nothing is wrong with the pins, try again later.
INDEX_UNREACHABLE = 3
ONE_DAY = datetime.timedelta(days=1)
AGAIN = "lock again with `uv run scripts/lock.py` (or `make lock`)"


class IndexUnreachable(Exception):
    pass


@dataclass
class Pin:
    where: str  # "requirements.txt line 3 ('pandas==2.2.3')": what every message about it names
    name: str  # PEP 503 normalized
    version: Version


@dataclass
class Release:
    """What the index knows about one pinned release."""

    project_found: bool = True
    files: list = field(default_factory=list)  # PEP 691 JSON objects: filename, upload-time...
    known: bool = True  # False when the index serves no PEP 691 JSON: nothing is known

    def upload_days(self) -> list[datetime.date]:
        times = sorted(f["upload-time"] for f in self.files if f.get("upload-time"))
        return [datetime.date.fromisoformat(time[:10]) for time in times]


# ------------------------------------------------------------------------------ reading the pins


def requirement_lines(path: str):
    """(where, text) of every line of a requirements file that is not blank or a comment."""
    for number, line in enumerate((ROOT / path).read_text().splitlines(), start=1):
        text = re.sub(r"(^|\s)#.*", "", line).strip()
        if text:
            yield f"{path} line {number} ({text!r})", text


def group_lines(pyproject: dict, group: str):
    """(where, text) of every requirement of a PEP 735 dependency group, following includes."""
    for entry in pyproject.get("dependency-groups", {}).get(group, []):
        if isinstance(entry, dict) and "include-group" in entry:
            yield from group_lines(pyproject, entry["include-group"])
        else:
            yield f"{PYPROJECT} [dependency-groups] {group} ({entry!r})", str(entry)


def read_pins(lines, errors: list[str], seen: dict[str, str]) -> list[Pin]:
    """The exact pins among lines; every other line is an error that says how to write it."""
    pins = []
    for where, text in lines:
        if text.startswith("-"):
            errors.append(
                f"{where}: pip options do not belong here; write one requirement a line, "
                "e.g. pandas==2.2.3 (set another index with UV_DEFAULT_INDEX)."
            )
            continue
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            errors.append(
                f"{where} is not a requirement ({error}): write it as name==version, "
                "e.g. pandas==2.2.3."
            )
            continue
        specifiers = list(requirement.specifier)
        exact = (
            len(specifiers) == 1
            and specifiers[0].operator == "=="
            and not specifiers[0].version.endswith(".*")
            and requirement.url is None
        )
        if not exact:
            errors.append(
                f"{where} is not an exact pin: write {requirement.name}==<version> "
                f"(`pip index versions {requirement.name}` lists them)."
            )
            continue
        name = canonicalize_name(requirement.name)
        if name in seen:
            errors.append(
                f"{where} pins {name} again ({seen[name]}): keep one (names compare "
                "case-insensitively, with '-', '_' and '.' alike)."
            )
            continue
        seen[name] = where
        pins.append(Pin(where, name, Version(specifiers[0].version)))
    return pins


def oldest_python(pyproject: dict, errors: list[str]) -> str:
    """The X.Y of requires-python = ">=X.Y": the lock serves that Python and every newer one."""
    text = pyproject.get("project", {}).get("requires-python", "")
    try:
        lower = [s.version for s in SpecifierSet(text) if s.operator == ">="]
    except InvalidSpecifier:
        lower = []
    if not lower:
        errors.append(
            f"{PYPROJECT}: requires-python ({text!r}) names no oldest Python: write "
            'e.g. requires-python = ">=3.12" (the Python of your Docker image).'
        )
        return ""
    return ".".join(str(n) for n in Version(lower[0]).release[:2])


# ------------------------------------------------------------------------------ the package index


def index_url() -> str:
    for variable in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(variable, "").strip():
            return os.environ[variable].strip().rstrip("/")
    return "https://pypi.org/simple"


def project_files(name: str) -> list | None:
    """A project's files from the index's PEP 691 JSON page (PEP 700 adds upload times); None
    when the index has no such project. Raises ValueError for an index that serves HTML only."""
    request = urllib.request.Request(
        f"{index_url()}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 (the index)
            if "json" not in response.headers.get("Content-Type", ""):
                raise ValueError(f"{index_url()} serves no PEP 691 JSON")
            return json.load(response).get("files", [])
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise IndexUnreachable(f"{index_url()} answered {error.code} for {name}") from None
    except OSError as error:
        raise IndexUnreachable(f"could not reach {index_url()} ({error})") from None


def version_of(filename: str) -> Version | None:
    try:
        if filename.endswith(".whl"):
            return parse_wheel_filename(filename)[1]
        return parse_sdist_filename(filename)[1]
    except (ValueError, InvalidVersion):  # an .egg, .exe or odd name: not for uv anyway
        return None


def look_up(pin: Pin) -> Release:
    try:
        files = project_files(pin.name)
    except ValueError:
        return Release(known=False)
    if files is None:
        return Release(project_found=False)
    return Release(files=[f for f in files if version_of(f["filename"]) == pin.version])


def cutoffs(releases: dict[str, Release]) -> tuple[datetime.date | None, dict[str, datetime.date]]:
    """(--exclude-newer, {pin: --exclude-newer-package}): the day after the newest pin's first
    upload; and for a pin whose own files came later (PyYAML 6.0's wheels for Python 3.11 came
    a year after it), the day after its last upload, so those files and hashes are in the lock."""
    days = {name: release.upload_days() for name, release in releases.items()}
    days = {name: d for name, d in days.items() if d}
    if not days:
        return None, {}
    cutoff = max(d[0] for d in days.values()) + ONE_DAY
    return cutoff, {name: d[-1] + ONE_DAY for name, d in days.items() if d[-1] + ONE_DAY > cutoff}


def reuploaded(uv_output: str, cutoff: datetime.date, known: dict) -> dict[str, datetime.date]:
    """Projects uv filtered out by the date that have no file at all from before it: deleted and
    uploaded again later (atomicwrites, which old pytest needs, in July 2022). Their first files
    are let in."""
    found = {}
    filtered = set(re.findall(r"`([^`]+)` was filtered by `exclude-newer`", uv_output))
    for name in filtered - set(known):
        try:
            files = project_files(canonicalize_name(name)) or []
        except ValueError:
            continue
        days = sorted(
            datetime.date.fromisoformat(f["upload-time"][:10])
            for f in files
            if f.get("upload-time")
        )
        if days and days[0] >= cutoff:
            found[canonicalize_name(name)] = days[0] + ONE_DAY
    return found


# ------------------------------------------------------------------------------ uv


def run_uv(arguments: list[str], echo: bool = True) -> tuple[int, str]:
    """Run uv, showing its messages as they come (verbatim) unless echo is False; return
    (exit status, messages)."""
    uv = os.environ.get("UV") or shutil.which("uv") or "uv"  # `uv run` sets UV to itself
    env = dict(os.environ)
    if not (env.get("UV_DEFAULT_INDEX") or env.get("UV_INDEX_URL")) and env.get("PIP_INDEX_URL"):
        env["UV_INDEX_URL"] = env["PIP_INDEX_URL"]  # uv does not read pip's variable
    process = subprocess.Popen(
        [uv, *arguments],
        cwd=ROOT,
        env=env,
        text=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    messages = []
    for line in process.stderr:
        if echo:
            sys.stderr.write(line)
        messages.append(line)
    return process.wait(), "".join(messages)


def compile_lock(
    output: str, python: str, releases: dict[str, Release], extra: list[str], echo: bool = True
) -> tuple[int, str, datetime.date | None]:
    """uv pip compile requirements.txt [extra] into output; (status, uv's messages, cutoff)."""
    cutoff, own = cutoffs(releases)
    # No --only-binary: it would refuse Prefect 1.4.1 on Python 3.11, which installs and runs
    # (msgpack 1.0.4 has no wheel for 3.11; its source falls back to pure Python), and for
    # Prefect 2.20 on 3.11 it silently swaps pendulum 2.1.2 for pendulum 0.4, of 2015.
    universal = ["--universal", "--python-version", python, "--generate-hashes"]
    while True:
        dates = ["--exclude-newer", cutoff.isoformat()] if cutoff else []
        for name, day in sorted(own.items()):
            dates += ["--exclude-newer-package", f"{name}={day.isoformat()}"]
        arguments = ["pip", "compile", REQUIREMENTS, *extra, *universal, *dates]
        status, messages = run_uv([*arguments, "--output-file", output], echo)
        later = reuploaded(messages, cutoff, own) if status and cutoff else {}
        if not later:
            return status, messages, cutoff
        print(
            f"note: {', '.join(sorted(later))} has no file from before {cutoff} (uploaded again "
            "later): locking again with its first files.",
            file=sys.stderr,
        )
        own.update(later)


def supports(requires_python: str, python: str) -> bool:
    try:
        return SpecifierSet(requires_python).contains(python, prereleases=True)
    except InvalidSpecifier:  # an old release's odd metadata: uv decides
        return True


def explain(
    messages: str,
    pins: list[Pin],
    releases: dict[str, Release],
    python: str,
    cutoff: datetime.date | None,
) -> list[str]:
    """uv's failure in plain words, naming the pin to change where the index says which."""
    errors = []
    for pin in pins:
        release = releases[pin.name]
        requires = [f.get("requires-python") or "" for f in release.files if not f.get("yanked")]
        if not release.known:
            continue
        if not release.project_found:
            errors.append(
                f"{pin.where}: {index_url()} has no project {pin.name}: check the "
                "spelling (https://pypi.org/search/ finds the exact name)."
            )
        elif not release.files:
            errors.append(
                f"{pin.where}: {pin.name} has no release {pin.version} on {index_url()}: "
                f"pin a released version (`pip index versions {pin.name}` lists them)."
            )
        elif requires and not any(supports(r, python) for r in requires):
            errors.append(
                f"{pin.where}: {pin.name}=={pin.version} requires Python {requires[0]}, "
                f"not {python}: pin a version that supports Python {python}."
            )
    if errors or "No solution found" not in messages:
        return errors or ["uv could not lock the pins (its message is above)."]
    newest = max(
        (p for p in pins if releases[p.name].upload_days()),
        key=lambda p: releases[p.name].upload_days()[0],
        default=None,
    )
    when = (
        f" uv looked only at files uploaded before {cutoff}, the day after your newest pin "
        f"({newest.name}=={newest.version}) was released, and pins older than Python {python} "
        "may have no release of their day that supports it."
        if cutoff and newest
        else ""
    )
    return [
        f"the pins cannot be locked together for Python {python} and newer: no versions of "
        f"the packages they need satisfy all of them (uv's explanation is above).{when} "
        "Change the pins uv names, or choose newer pins or an older Python."
    ]


# ------------------------------------------------------------------------------ checking a lock


def lock_entries(path: str) -> list[tuple[str, Version, int]]:
    """(name, version, number of hashes) of every entry of a lock that uv wrote."""
    entries = []
    for line in (ROOT / path).read_text().replace("\\\n", " ").splitlines():
        words = re.sub(r"(^|\s)#.*", "", line).split()
        if not words or words[0].startswith("-"):
            continue
        hashes = [word for word in words if word.startswith("--hash=")]
        requirement = Requirement(" ".join(w for w in words if not w.startswith("--hash=")))
        [specifier] = requirement.specifier
        name, version = canonicalize_name(requirement.name), Version(specifier.version)
        entries.append((name, version, len(hashes)))
    return entries


def locked_versions(path: str) -> dict[str, set[Version]]:
    """{name: its versions} in a lock (a universal lock may hold two, for different Pythons)."""
    versions: dict[str, set[Version]] = {}
    for name, version, _ in lock_entries(path):
        versions.setdefault(name, set()).add(version)
    return versions


def check_lock(path: str, pins: list[Pin], same_as: str | None = None) -> list[str]:
    """Each pin is in the lock at its version, each entry has hashes, and (same_as) each package
    of that other lock is here at the same versions."""
    if not (ROOT / path).exists():
        return [f"there is no {path}: run `uv run scripts/lock.py`."]
    errors = [
        f"{path}: {name}=={version} has no --hash, so `pip install --require-hashes` "
        f"refuses it: {AGAIN}."
        for name, version, hashes in lock_entries(path)
        if not hashes
    ]
    locked = locked_versions(path)
    for pin in pins:
        if locked.get(pin.name) != {pin.version}:
            found = ", ".join(map(str, sorted(locked.get(pin.name, ())))) or "nothing"
            errors.append(f"{pin.where}: {path} has {found} for {pin.name}: {AGAIN}.")
    if same_as and (ROOT / same_as).exists():
        for name, versions in locked_versions(same_as).items():
            if locked.get(name) != versions:
                found = ", ".join(map(str, sorted(locked.get(name, ())))) or "nothing"
                errors.append(
                    f"{path} has {found} for {name} but {same_as} has "
                    f"{', '.join(map(str, sorted(versions)))}: {AGAIN}."
                )
    return errors


# ------------------------------------------------------------------------------ main


def yanked(pin: Pin, release: Release) -> list[str]:
    """uv warns about a pinned release its maintainers withdrew (PEP 592); here it is an error,
    so that a withdrawn release (requests 2.32.0: CVE-2024-35195) never reaches the image."""
    if not release.files or not all(f.get("yanked") for f in release.files):
        return []
    reason = next((f["yanked"] for f in release.files if isinstance(f["yanked"], str)), "")
    return [
        f"{pin.where}: {pin.name}=={pin.version} was yanked from the index"
        f"{f' ({reason.strip()})' if reason.strip() else ''}: pin another version "
        f"(`pip index versions {pin.name}` lists them)."
    ]


def lock(runtime: list[Pin], test: list[Pin], python: str) -> list[str]:
    """Write both locks; the problems that stop them, as messages."""
    pins = runtime + test
    with ThreadPoolExecutor(max_workers=8) as pool:  # one index page per pin, fetched at once
        releases = dict(pool.map(lambda pin: (pin.name, look_up(pin)), pins))
    group = ["--group", TEST_GROUP] if test else []
    # The dev lock is first resolved beside the runtime lock, unconstrained and quietly: two
    # resolutions at once take about the time of one. When it holds the runtime lock's versions
    # (the usual case) it stands; otherwise it is resolved again below, constrained to them.
    with ThreadPoolExecutor(max_workers=1) as pool:
        first_try = pool.submit(compile_lock, DEV_LOCK, python, releases, group, False)
        status, messages, cutoff = compile_lock(
            LOCK, python, {pin.name: releases[pin.name] for pin in runtime}, []
        )
        dev_status = first_try.result()[0]
    if status:
        return explain(messages, runtime, releases, python, cutoff)
    if cutoff is None:
        print(
            f"WARNING: {index_url()} gives no upload times (PEP 700), so the locks hold "
            "today's versions of your pins' dependencies, not those of their day.",
            file=sys.stderr,
        )
    # The test group joins the same versions: requirements.lock constrains them, so the later
    # date of a test pin cannot move the packages the image runs.
    if dev_status == 0 and not check_lock(DEV_LOCK, [], same_as=LOCK):
        status = 0
    else:
        status, messages, cutoff = compile_lock(
            DEV_LOCK, python, releases, [*group, "--constraints", LOCK]
        )
    if status:
        return explain(messages, runtime + test, releases, python, cutoff) + [
            f"(The {TEST_GROUP} group in {PYPROJECT} must work with the versions in {LOCK}.)"
        ]
    errors = [error for pin in runtime + test for error in yanked(pin, releases[pin.name])]
    errors += check_lock(LOCK, runtime) + check_lock(DEV_LOCK, runtime + test, same_as=LOCK)
    if not errors:
        print(f"Wrote {LOCK} and {DEV_LOCK} for Python {python} and newer.", file=sys.stderr)
    return errors


def main(check_only: bool) -> int:
    errors: list[str] = []
    pyproject = tomllib.loads((ROOT / PYPROJECT).read_text())
    seen: dict[str, str] = {}
    runtime = read_pins(requirement_lines(REQUIREMENTS), errors, seen)
    test = read_pins(group_lines(pyproject, TEST_GROUP), errors, seen)
    python = oldest_python(pyproject, errors)
    if not errors and check_only:
        errors = check_lock(LOCK, runtime) + check_lock(DEV_LOCK, runtime + test, same_as=LOCK)
    elif not errors:
        saved = {
            path: (ROOT / path).read_bytes() for path in (LOCK, DEV_LOCK) if (ROOT / path).exists()
        }
        try:
            errors = lock(runtime, test, python)
        except IndexUnreachable as error:
            restore(saved)
            print(
                f"ERROR: {error}; the locks were not changed. Run `uv run scripts/lock.py` "
                "when it answers.",
                file=sys.stderr,
            )
            return INDEX_UNREACHABLE
        except BaseException:
            restore(saved)
            raise
        if errors:
            restore(saved)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors and not check_only:
        print(f"{LOCK} and {DEV_LOCK} were left as they were.", file=sys.stderr)
    return 1 if errors else 0


def restore(saved: dict[str, bytes]) -> None:
    """Put the locks back as they were before this run (or remove the ones it made)."""
    for path in (LOCK, DEV_LOCK):
        (ROOT / path).unlink(missing_ok=True)
        if path in saved:
            (ROOT / path).write_bytes(saved[path])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="only check that the locks agree with the pins (no network)",
    )
    sys.exit(main(parser.parse_args().check))
