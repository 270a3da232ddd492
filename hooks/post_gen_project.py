"""Finish the generated project: drop files the answers do not need, check the pins, lock them.

Cookiecutter runs this file inside the new project directory, with the interpreter that runs
cookiecutter itself (often a pipx environment holding only cookiecutter's dependencies), so it uses
the standard library only. The small PEP 440 / PEP 508 parsers below are tested against
`packaging` in the template's test suite. Exiting non-zero makes cookiecutter delete the project:
a user never keeps a half-checked project.
"""

from __future__ import annotations

import datetime
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

REQUIREMENTS = "requirements.txt"
LOCK = "requirements.lock"
DEFAULT_INDEX = "https://pypi.org/simple"

# ---------------------------------------------------------------------------------------------
# Versions (PEP 440) and requirements (PEP 508)
# ---------------------------------------------------------------------------------------------

VERSION = (
    r"v?(?:[0-9]+!)?[0-9]+(?:\.[0-9]+)*"
    r"(?:[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?"
    r"(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?"
    r"(?:[-_.]?dev[-_.]?[0-9]*)?"
    r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?"
)
VERSION_RE = re.compile(VERSION, re.IGNORECASE)
NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
# One clause of a version specifier. "==" and "!=" may end in ".*"; "===" takes any string.
CLAUSE_RE = re.compile(
    r"\s*(?:(?P<arbitrary>===)\s*(?P<anything>[^\s,;)]+)"
    r"|(?P<op>~=|==|!=|<=|>=|<|>)\s*(?P<version>" + VERSION + r")(?P<wildcard>\.\*)?)\s*",
    re.IGNORECASE,
)
MARKER_VARIABLES = {
    "python_version", "python_full_version", "os_name", "sys_platform", "platform_release",
    "platform_system", "platform_version", "platform_machine", "platform_python_implementation",
    "implementation_name", "implementation_version", "extra", "os.name", "sys.platform",
    "platform.version", "platform.machine", "platform.python_implementation",
    "python_implementation", "dependency_groups",
}
MARKER_TOKEN_RE = re.compile(
    r"""\s*(?:(?P<string>'[^']*'|"[^"]*")|(?P<op>===|==|!=|<=|>=|~=|<|>)"""
    r"""|(?P<paren>[()])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"""
)


def normalize_name(name: str) -> str:
    """PEP 503: 'Foo_Bar.baz' and 'foo-bar-baz' are the same project."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_specifier(text: str) -> list[tuple[str, str]]:
    """'>=1.0, <2' -> [('>=', '1.0'), ('<', '2')]; raises ValueError when it is not PEP 440."""
    clauses = []
    for part in text.split(","):
        match = CLAUSE_RE.fullmatch(part)
        if not match:
            raise ValueError(f"{part.strip()!r} is not a version specifier")
        if match.group("arbitrary"):
            clauses.append(("===", match.group("anything")))
            continue
        op, version, wildcard = match.group("op", "version", "wildcard")
        if wildcard and op not in ("==", "!="):
            raise ValueError(f"'.*' only goes with == or != (in {part.strip()!r})")
        if "+" in version and (op not in ("==", "!=") or wildcard):
            raise ValueError(f"a local version (+...) only goes with == or != (in {part.strip()!r})")
        if op == "~=" and "." not in version.split("+")[0]:
            raise ValueError(f"~= needs at least two release numbers (in {part.strip()!r})")
        clauses.append((op, version + (wildcard or "")))
    return clauses


def check_marker(text: str) -> None:
    """Raise ValueError unless text is a PEP 508 environment marker."""
    tokens, position = [], 0
    text = text.strip()
    while position < len(text):
        match = MARKER_TOKEN_RE.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot read the marker at {text[position:]!r}")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "word" and value == "not":
            rest = MARKER_TOKEN_RE.match(text, match.end())
            if not rest or rest.group("word") != "in":
                raise ValueError("'not' must be followed by 'in' in a marker")
            kind, value, match = "op", "not in", rest
        elif kind == "word" and value == "in":
            kind = "op"
        tokens.append((kind, value))
        position = match.end()

    def value_at(i: int) -> int:
        if i < len(tokens) and (tokens[i][0] == "string"
                                or (tokens[i][0] == "word" and tokens[i][1] in MARKER_VARIABLES)):
            return i + 1
        raise ValueError("a marker compares a variable such as python_version with a quoted string")

    def expression(i: int) -> int:
        i = atom(i)
        while i < len(tokens) and tokens[i] in (("word", "and"), ("word", "or")):
            i = atom(i + 1)
        return i

    def atom(i: int) -> int:
        if i < len(tokens) and tokens[i] == ("paren", "("):
            i = expression(i + 1)
            if i >= len(tokens) or tokens[i] != ("paren", ")"):
                raise ValueError("unbalanced parentheses in the marker")
            return i + 1
        i = value_at(i)
        if i >= len(tokens) or tokens[i][0] != "op":
            raise ValueError("a marker needs a comparison operator")
        return value_at(i + 1)

    if not tokens or expression(0) != len(tokens):
        raise ValueError(f"{text!r} is not a valid environment marker")


def parse_requirement(line: str) -> dict:
    """Parse one PEP 508 requirement; raise ValueError saying what is wrong."""
    text = line.strip()
    name_match = NAME_RE.match(text)
    if not name_match:
        raise ValueError("it does not start with a project name")
    rest = text[name_match.end():].lstrip()
    extras: list[str] = []
    if rest.startswith("["):
        inside, closed, rest = rest[1:].partition("]")
        if not closed:
            raise ValueError("the extras' '[' is never closed")
        extras = [extra.strip() for extra in inside.split(",")] if inside.strip() else []
        if not all(NAME_RE.fullmatch(extra) for extra in extras):
            raise ValueError("the extras must be names separated by commas")
        rest = rest.lstrip()
    url, specifier, marker = None, [], None
    if rest.startswith("@"):
        # The URL runs to the first white space; a marker may follow after ' ;'.
        url, *after = re.split(r"\s+;", rest[1:].strip(), maxsplit=1)
        marker = after[0] if after else None
        if not url or re.search(r"\s", url) or ":" not in url:
            raise ValueError(f"{url!r} is not a URL")
    else:
        specifier_text, semicolon, marker_text = rest.partition(";")
        marker = marker_text if semicolon else None
        specifier_text = specifier_text.strip()
        if specifier_text.startswith("(") and specifier_text.endswith(")"):
            specifier_text = specifier_text[1:-1]
        if specifier_text.strip():
            specifier = parse_specifier(specifier_text)
    if marker is not None:
        check_marker(marker)
        marker = marker.strip()
    return {"name": name_match.group(0), "extras": extras, "specifier": specifier, "url": url,
            "marker": marker}


def exact_pin(requirement: dict) -> str | None:
    """The version of a single exact '==' pin, or None."""
    specifier = requirement["specifier"]
    if len(specifier) == 1 and specifier[0][0] == "==" and not specifier[0][1].endswith(".*"):
        return specifier[0][1]
    return None


def release(version: str) -> tuple[int, ...]:
    """The release numbers of a version: '3.11.4rc1' -> (3, 11, 4)."""
    match = re.match(r"v?(?:[0-9]+!)?([0-9]+(?:\.[0-9]+)*)", version.strip(), re.IGNORECASE)
    if not match:
        raise ValueError(version)
    return tuple(int(part) for part in match.group(1).split("."))


def specifier_contains(specifier: str, version: tuple[int, ...]) -> bool:
    """Whether a final release such as (3, 11, 99) satisfies a specifier such as '>=3.8,<3.13'.

    Enough of PEP 440 for Requires-Python, which names final releases only.
    """
    for op, text in parse_specifier(specifier) if specifier.strip() else []:
        if op == "===":
            ok = text == ".".join(map(str, version))
        elif text.endswith(".*"):
            prefix = release(text[:-2])
            padded = version + (0,) * (len(prefix) - len(version))
            ok = (padded[:len(prefix)] == prefix) == (op == "==")
        else:
            theirs = release(text)
            width = max(len(theirs), len(version))
            ours, theirs_padded = (version + (0,) * width)[:width], (theirs + (0,) * width)[:width]
            ok = {
                "==": ours == theirs_padded, "!=": ours != theirs_padded,
                ">=": ours >= theirs_padded, "<=": ours <= theirs_padded,
                ">": ours > theirs_padded, "<": ours < theirs_padded,
                "~=": ours >= theirs_padded and ours[:len(theirs) - 1] == theirs[:-1],
            }[op]
        if not ok:
            return False
    return True


def python_admitted(requires_python: str, python: str) -> bool:
    """Whether Requires-Python admits python ('3.11'): an image tagged 3.11 carries the newest
    3.11 patch release, so that is the release we ask about."""
    return specifier_contains(requires_python, release(python)[:2] + (99,))


# ---------------------------------------------------------------------------------------------
# requirements.txt and requirements.lock
# ---------------------------------------------------------------------------------------------

def requirement_lines(text: str):
    """(line number, requirement text) for every line that is not blank or a comment."""
    for number, line in enumerate(text.splitlines(), start=1):
        content = re.sub(r"(^|\s)#.*", "", line).strip()
        if content:
            yield number, content


def check_requirements(text: str, prefect_version: str) -> tuple[dict[str, str], list[str]]:
    """Check requirements.txt; return ({normalized name: pinned version}, errors)."""
    pins: dict[str, str] = {}
    first_line: dict[str, int] = {}
    errors = []
    for number, content in requirement_lines(text):
        where = f"{REQUIREMENTS} line {number} ({content!r})"
        if content.startswith("-"):
            errors.append(f"{where}: pip options do not belong here; list one pinned requirement "
                          "a line, e.g. 'pandas==2.2.3'.")
            continue
        try:
            requirement = parse_requirement(content)
        except ValueError as error:
            errors.append(f"{where} is not a valid requirement: {error}. Write it as "
                          "'name==version', e.g. 'pandas==2.2.3'.")
            continue
        name = normalize_name(requirement["name"])
        version = exact_pin(requirement)
        if version is None:
            got = ("a URL" if requirement["url"] else
                   "no version" if not requirement["specifier"] else
                   ",".join(op + v for op, v in requirement["specifier"]))
            errors.append(f"{where} is not pinned to one exact version (it has {got}): write "
                          f"'{requirement['name']}==<version>', e.g. the version "
                          f"`pip index versions {requirement['name']}` shows.")
            continue
        if name in first_line:
            errors.append(f"{where} repeats '{name}' from line {first_line[name]} (names are "
                          "compared case-insensitively, with '-', '_' and '.' alike): keep one.")
            continue
        first_line[name] = number
        pins[name] = version
    if "prefect" not in pins and not any("prefect" in e for e in errors):
        errors.append(f"{REQUIREMENTS} does not pin prefect: add 'prefect=={prefect_version}'.")
    elif "prefect" in pins and pins["prefect"] != prefect_version:
        errors.append(f"{REQUIREMENTS} pins prefect=={pins['prefect']} but prefect_version is "
                      f"{prefect_version}: make them the same.")
    return pins, errors


def parse_lock(text: str) -> dict[str, str]:
    """{normalized name: version} of a hashed lock such as `uv pip compile --generate-hashes` writes."""
    joined = re.sub(r"\\\s*\n", " ", text)
    locked: dict[str, str] = {}
    for _, content in requirement_lines(joined):
        content = re.sub(r"\s--hash[= ]\S+", "", content).strip()
        if content.startswith("-") or not content:
            continue
        requirement = parse_requirement(content)
        version = exact_pin(requirement)
        if version is not None:
            locked[normalize_name(requirement["name"])] = version
    return locked


def check_lock(pins: dict[str, str], lock_text: str) -> list[str]:
    locked = parse_lock(lock_text)
    errors = []
    for name, version in pins.items():
        if name not in locked:
            errors.append(f"{LOCK} has no entry for '{name}', which {REQUIREMENTS} pins: "
                          "lock again (see the README's 'Update the lock' section).")
        elif locked[name] != version:
            errors.append(f"{LOCK} has {name}=={locked[name]} but {REQUIREMENTS} pins "
                          f"{name}=={version}: lock again so they agree.")
    return errors


# ---------------------------------------------------------------------------------------------
# The package index (PEP 691 JSON simple API): release dates and the optional online check
# ---------------------------------------------------------------------------------------------

def index_url() -> str:
    return (os.environ.get("UV_INDEX_URL") or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX).rstrip("/")


def fetch_project(name: str, timeout: float = 30) -> dict:
    request = urllib.request.Request(f"{index_url()}/{normalize_name(name)}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https index)
        return json.load(response)


def release_in_filename(filename: str) -> str:
    """'pandas-2.2.3-cp311-...whl' and 'pandas-2.2.3.tar.gz' -> '2.2.3'."""
    if filename.endswith(".whl"):
        return filename.split("-")[1]
    return re.sub(r"\.(tar\.gz|tar\.bz2|tgz|zip)$", "", filename).rpartition("-")[2]


def files_of(project: dict, version: str) -> list[dict]:
    """The files of one release of a project as the index lists it."""
    return [file for file in project.get("files", [])
            if release_in_filename(file["filename"]).lower() == version.lower()]


def check_pins_online(pins: dict[str, str], python: str) -> tuple[list[str], list[str]]:
    """(errors, warnings): a pin that does not exist, is yanked, or excludes our Python is an error;
    an index that cannot be reached is only a warning."""
    errors, warnings = [], []
    for name, version in pins.items():
        try:
            project = fetch_project(name)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                errors.append(f"{REQUIREMENTS}: '{name}' is not a project on {index_url()}: check "
                              "the spelling.")
            else:
                warnings.append(f"could not check '{name}' online ({error}).")
            continue
        except (OSError, ValueError) as error:
            warnings.append(f"could not reach {index_url()} to check '{name}' ({error}); the pins "
                            "were checked offline only.")
            break
        files = files_of(project, version)
        if not files:
            errors.append(f"{REQUIREMENTS}: {name}=={version} does not exist on {index_url()}: "
                          f"pick a released version (`pip index versions {name}`).")
        elif all(f.get("yanked") for f in files):
            reason = next((f["yanked"] for f in files if isinstance(f.get("yanked"), str)), "")
            errors.append(f"{REQUIREMENTS}: {name}=={version} was yanked{': ' + reason if reason else ''}; "
                          "pin another version.")
        else:
            requires = next((f.get("requires-python") for f in files if f.get("requires-python")), "")
            if requires and not python_admitted(requires, python):
                errors.append(f"{REQUIREMENTS}: {name}=={version} requires Python {requires}, not "
                              f"{python}: pin a version that supports Python {python}.")
    return errors, warnings


def newest_release_date(pins: dict[str, str]) -> datetime.date:
    """The day the newest of the pinned releases was uploaded."""
    newest = datetime.date(1970, 1, 1)
    for name, version in pins.items():
        uploaded = [f["upload-time"] for f in files_of(fetch_project(name), version) if f.get("upload-time")]
        if uploaded:
            newest = max(newest, datetime.date.fromisoformat(min(uploaded)[:10]))
    return newest


# ---------------------------------------------------------------------------------------------
# Locking with uv
# ---------------------------------------------------------------------------------------------

def uv_command() -> list[str] | None:
    if shutil.which("uv"):
        return ["uv"]
    if importlib.util.find_spec("uv"):
        return [sys.executable, "-m", "uv"]
    return None


def lock_arguments(python: str, exclude_newer: datetime.date) -> list[str]:
    """The `uv pip compile` arguments the project's README documents for (re)locking."""
    return ["pip", "compile", REQUIREMENTS, "--universal", "--python-version", python,
            "--generate-hashes", "--exclude-newer", exclude_newer.isoformat(), "--output-file", LOCK]


def lock(pins: dict[str, str], python: str) -> tuple[list[str], list[str]]:
    """Write requirements.lock; (errors, warnings). A resolution conflict is the user's to fix;
    a missing uv or network is reported and leaves a project that installs from requirements.txt."""
    uv = uv_command()
    later = "Lock later with the command in the README's 'Update the lock' section."
    if uv is None:
        return [], [f"uv is not installed, so {LOCK} was not written. {later}"]
    try:
        # Resolve as of the day after the newest pin's release: the lock then holds what worked
        # together at that time, today and in years to come (old Prefect releases need this).
        exclude_newer = newest_release_date(pins) + datetime.timedelta(days=1)
    except (OSError, ValueError) as error:
        return [], [f"could not reach {index_url()} ({error}), so {LOCK} was not written. {later}"]
    result = subprocess.run([*uv, *lock_arguments(python, exclude_newer)],
                            capture_output=True, text=True, check=False)
    if result.returncode == 0:
        return [], []
    Path(LOCK).unlink(missing_ok=True)
    if "No solution found" in result.stderr:
        return [f"the pins in {REQUIREMENTS} cannot be installed together on Python {python}:\n"
                f"{result.stderr.strip()}\nChange the conflicting pins."], []
    return [], [f"uv could not lock ({result.stderr.strip()}), so {LOCK} was not written. {later}"]


# ---------------------------------------------------------------------------------------------
# Files that the answers do not need
# ---------------------------------------------------------------------------------------------

def unneeded_paths(api: int, work_pool_type: str, task_runner: str) -> list[str]:
    paths = []
    if api == 1:  # Prefect 1 has no prefect.yaml deployments nor workers.
        paths += ["prefect.yaml", "deploy/kubernetes"]
    if work_pool_type != "kubernetes":
        paths += ["deploy/kubernetes"]
    if task_runner != "dask":
        paths += ["deploy/kubernetes/dask-cluster.yaml", "deploy/docker-compose.dask.yml"]
    return paths


def remove(paths: list[str]) -> None:
    for path in map(Path, paths):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    for folder in ("deploy",):
        if Path(folder).is_dir() and not any(Path(folder).iterdir()):
            Path(folder).rmdir()


def main(answers: dict) -> int:
    line = next(line for line in answers["_prefect_lines"]
                if answers["prefect_version"].startswith(line["series"]))
    remove(unneeded_paths(line["api"], answers["work_pool_type"], answers["task_runner"]))

    pins, errors = check_requirements(Path(REQUIREMENTS).read_text(), answers["prefect_version"])
    warnings: list[str] = []
    if not errors and answers["check_pins_online"] == "yes":
        errors, warnings = check_pins_online(pins, answers["python_version"])
    if not errors and answers["lock_requirements"] == "yes":
        lock_errors, lock_warnings = lock(pins, answers["python_version"])
        errors += lock_errors
        warnings += lock_warnings
        if Path(LOCK).exists() and not lock_errors:
            errors += check_lock(pins, Path(LOCK).read_text())
    if line["api"] == 1 and not Path(LOCK).exists() and not errors:
        warnings.append(f"Prefect {answers['prefect_version']} installed from top-level pins alone "
                        "takes today's versions of its dependencies, which break it: lock before "
                        "you build.")
    for warning in warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors:
        print("The project was not generated. Fix the answers above and run cookiecutter again.",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    # Rendered by cookiecutter: the answers arrive as JSON data, never as Python source.
    sys.exit(main(json.loads(r"""{{ cookiecutter | tojson }}""")))
