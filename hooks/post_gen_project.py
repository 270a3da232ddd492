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

# PEP 440, after the specification's appendix; the named parts serve canonical_version().
VERSION = (
    r"v?(?:(?P<epoch>[0-9]+)!)?(?P<release>[0-9]+(?:\.[0-9]+)*)"
    r"(?:[-_.]?(?P<pre_l>alpha|beta|preview|pre|rc|a|b|c)[-_.]?(?P<pre_n>[0-9]*))?"
    r"(?:-(?P<post_n1>[0-9]+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]*))?"
    r"(?:[-_.]?dev[-_.]?(?P<dev_n>[0-9]*)(?P<dev>))?"
    r"(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?"
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


def lock_entries(text: str) -> list[tuple[int, str, str, int]]:
    """(line number, normalized name, version, number of hashes) of every entry of a hashed lock
    such as `uv pip compile --generate-hashes` writes; raises ValueError naming a bad line."""
    entries = []
    logical, first = "", 0
    for number, line in enumerate(text.splitlines() + [""], start=1):
        stripped = line.strip()
        if not logical:
            first = number
        logical += " " + stripped
        if stripped.endswith("\\"):
            logical = logical[:-1]
            continue
        content = re.sub(r"(^|\s)#.*", "", logical).strip()
        logical = ""
        if not content or content.startswith("-"):
            continue
        hashes = len(re.findall(r"\s--hash[= ]\S+", " " + content))
        content = re.sub(r"\s--hash[= ]\S+", "", " " + content).strip()
        try:
            requirement = parse_requirement(content)
        except ValueError as error:
            raise ValueError(f"{LOCK} line {first} ({content!r}) is not a requirement: {error}") from None
        version = exact_pin(requirement)
        if version is None:
            raise ValueError(f"{LOCK} line {first} ({content!r}) is not pinned to one exact version")
        entries.append((first, normalize_name(requirement["name"]), version, hashes))
    return entries


def parse_lock(text: str) -> dict[str, str]:
    """{normalized name: version} of a hashed lock such as `uv pip compile --generate-hashes` writes."""
    return {name: version for _, name, version, _ in lock_entries(text)}


def check_lock(pins: dict[str, str], lock_text: str) -> list[str]:
    """Every top-level pin is in the lock at the same version, and every entry carries hashes."""
    again = "lock again (see the README's 'Update the lock' section)"
    try:
        entries = lock_entries(lock_text)
    except ValueError as error:
        return [f"{error}: {again}."]
    locked: dict[str, dict[str, str]] = {}  # name: {comparison key: version as the lock writes it}
    for _, name, version, _ in entries:
        locked.setdefault(name, {})[canonical_version(version)] = version
    errors = []
    for name, version in pins.items():
        if name not in locked:
            errors.append(f"{LOCK} has no entry for '{name}', which {REQUIREMENTS} pins: {again}.")
        elif set(locked[name]) != {canonical_version(version)}:
            found = ", ".join(f"{name}=={v}" for v in sorted(locked[name].values()))
            errors.append(f"{LOCK} has {found} but {REQUIREMENTS} pins {name}=={version}: {again} "
                          "so they agree.")
    for number, name, version, hashes in entries:
        if not hashes:
            errors.append(f"{LOCK} line {number} ({name}=={version}) has no --hash, so "
                          f"`pip install --require-hashes -r {LOCK}` refuses it: {again} with "
                          "--generate-hashes.")
    return errors


# ---------------------------------------------------------------------------------------------
# The package index (PEP 691 JSON simple API): release dates and the optional online check
# ---------------------------------------------------------------------------------------------

def index_url() -> str:
    """The index uv and pip would use: UV_DEFAULT_INDEX, UV_INDEX_URL, PIP_INDEX_URL, else PyPI."""
    for variable in ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL"):
        if os.environ.get(variable, "").strip():
            return os.environ[variable].strip().rstrip("/")
    return DEFAULT_INDEX


def fetch_project(name: str, timeout: float = 20) -> dict:
    """The index's PEP 691 JSON page of a project (with PEP 700's versions and upload times)."""
    request = urllib.request.Request(f"{index_url()}/{normalize_name(name)}/",
                                     headers={"Accept": "application/vnd.pypi.simple.v1+json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (https index)
        return json.load(response)


def canonical_version(version: str) -> str:
    """A comparison key after PEP 440's normalization, to match a pin with the index's file names:
    'V1.4.0' and '1.4' are the same release, as are '1.0-RC.1' and '1.0rc1'."""
    match = VERSION_RE.fullmatch(version.strip())
    if not match:
        return version.strip().lower()
    parts = match.groupdict()
    numbers = [int(part) for part in parts["release"].split(".")]
    while len(numbers) > 1 and numbers[-1] == 0:
        numbers.pop()
    text = (f"{int(parts['epoch'])}!" if parts["epoch"] and int(parts["epoch"]) else "")
    text += ".".join(map(str, numbers))
    if parts["pre_l"]:
        label = parts["pre_l"].lower()
        label = {"alpha": "a", "beta": "b", "c": "rc", "pre": "rc", "preview": "rc"}.get(label, label)
        text += f"{label}{int(parts['pre_n'] or 0)}"
    if parts["post_n1"] or parts["post_l"]:
        text += f".post{int(parts['post_n1'] or parts['post_n2'] or 0)}"
    if parts["dev"] is not None:
        text += f".dev{int(parts['dev_n'] or 0)}"
    if parts["local"]:
        text += "+" + re.sub(r"[-_]", ".", parts["local"].lower())
    return text


def release_in_filename(filename: str) -> str:
    """'pandas-2.2.3-cp311-...whl' and 'pandas-2.2.3.tar.gz' -> '2.2.3'."""
    if filename.endswith(".whl"):
        return filename.split("-")[1]
    return re.sub(r"\.(tar\.gz|tar\.bz2|tar\.xz|tgz|zip)$", "", filename).rpartition("-")[2]


def files_of(project: dict, version: str) -> list[dict]:
    """The files of one release of a project as the index lists it."""
    wanted = canonical_version(version)
    return [file for file in project.get("files", [])
            if canonical_version(release_in_filename(file["filename"])) == wanted]


def usable(files: list[dict], python: str) -> bool:
    """Whether a release has a file that is not yanked and admits our Python."""
    return any(not file.get("yanked") and python_admitted(file.get("requires-python") or "", python)
               for file in files)


def newest_usable_release(project: dict, python: str, near: str = "") -> str | None:
    """The newest final release that is not yanked and supports our Python, to suggest as a fix:
    one of near's series (same major.minor) when there is one."""
    by_version: dict[str, list[dict]] = {}
    for file in project.get("files", []):
        by_version.setdefault(release_in_filename(file["filename"]), []).append(file)
    finals = sorted((version for version in by_version if re.fullmatch(r"[0-9]+(\.[0-9]+)*", version)),
                    key=release, reverse=True)
    try:
        series = release(near)[:2]
    except ValueError:
        series = None
    for candidates in ([v for v in finals if release(v)[:2] == series], finals):
        for version in candidates:
            try:
                if usable(by_version[version], python):
                    return version
            except ValueError:  # a Requires-Python this small parser cannot read
                continue
    return None


def pin_lines(text: str) -> dict[str, tuple[int, str]]:
    """{normalized name: (line number, line)} of the requirements in requirements.txt."""
    lines: dict[str, tuple[int, str]] = {}
    for number, content in requirement_lines(text):
        try:
            name = normalize_name(parse_requirement(content)["name"])
        except ValueError:
            continue
        lines.setdefault(name, (number, content))
    return lines


def check_pins_online(pins: dict[str, str], python: str,
                      lines: dict[str, tuple[int, str]] | None = None) -> tuple[list[str], list[str]]:
    """(errors, warnings): a pin that does not exist, is yanked, or excludes our Python is an error;
    an index that cannot be reached is only a warning (the pins were then checked offline only)."""
    errors, warnings = [], []
    for name, version in pins.items():
        number, content = (lines or {}).get(name, (None, f"{name}=={version}"))
        where = f"{REQUIREMENTS} line {number} ({content!r})" if number else f"{REQUIREMENTS} ({content!r})"
        try:
            project = fetch_project(name)
        except urllib.error.HTTPError as error:
            if error.code == 404:
                errors.append(f"{where}: there is no project '{name}' on {index_url()}: check the "
                              "spelling (https://pypi.org/search/ finds the exact name).")
            else:
                warnings.append(f"could not check '{name}' online ({error}); it was checked offline "
                                "only.")
            continue
        except (OSError, ValueError) as error:
            warnings.append(f"could not reach {index_url()} to check the pins ({error}); they were "
                            "checked offline only.")
            break
        files = files_of(project, version)
        suggestion = newest_usable_release(project, python, near=version)
        instead = (f"e.g. {name}=={suggestion} (not yanked, supports Python {python})"
                   if suggestion else f"one that `pip index versions {name}` lists")
        if name == "prefect":
            instead += ", as your prefect_version answer"
        if not files:
            errors.append(f"{where}: {name} has no release {version} on {index_url()}: pin a "
                          f"released version, {instead}.")
        elif all(file.get("yanked") for file in files):
            reason = next((f["yanked"] for f in files if isinstance(f.get("yanked"), str)), "")
            errors.append(f"{where}: {name}=={version} was yanked"
                          f"{' (' + reason.strip() + ')' if reason.strip() else ''}: pin another "
                          f"version, {instead}.")
        else:
            requires = [f.get("requires-python") or "" for f in files if not f.get("yanked")]
            try:
                admitted = any(python_admitted(spec, python) for spec in requires)
            except ValueError:
                warnings.append(f"could not read the Requires-Python of {name}=={version} "
                                f"({requires[0]!r}); not checked.")
                continue
            if not admitted:
                errors.append(f"{where}: {name}=={version} requires Python {requires[0]}, so it "
                              f"cannot be installed on Python {python}: pin a version that supports "
                              f"it, {instead}, or choose another python_version.")
    return errors, warnings


def upload_dates(pins: dict[str, str]) -> dict[str, tuple[datetime.date, datetime.date]]:
    """{name: (day its pinned release was first uploaded, day its last file was)} for the pins
    whose index lists upload times (PEP 700)."""
    dates = {}
    for name, version in pins.items():
        uploaded = sorted(f["upload-time"] for f in files_of(fetch_project(name), version)
                          if f.get("upload-time"))
        if uploaded:
            dates[name] = (datetime.date.fromisoformat(uploaded[0][:10]),
                           datetime.date.fromisoformat(uploaded[-1][:10]))
    return dates


# ---------------------------------------------------------------------------------------------
# Locking with uv
# ---------------------------------------------------------------------------------------------

LOCK_TIMEOUT = 900  # seconds; a resolution that takes longer is left for later, with a warning


def uv_command() -> list[str] | None:
    if shutil.which("uv"):
        return ["uv"]
    if importlib.util.find_spec("uv"):
        return [sys.executable, "-m", "uv"]
    return None


def lock_dates(pins: dict[str, str]) -> tuple[datetime.date | None, dict[str, datetime.date]]:
    """(--exclude-newer, {name: --exclude-newer-package}) for locking these pins.

    Everything is resolved as of the day after the newest pin's release: the lock then holds what
    worked with the pins when they were new, today and years from now (old Prefect releases break
    with today's dependencies). A pin's own files may have been uploaded later (e.g. PyYAML 6.0's
    wheels for Python 3.11, a year after its release): the pinned package's own cutoff is the day
    after its last upload, so those files, and their hashes, count too.
    """
    dates = upload_dates(pins)
    if not dates:
        return None, {}
    one_day = datetime.timedelta(days=1)
    cutoff = max(first for first, _ in dates.values()) + one_day
    own = {name: last + one_day for name, (_, last) in dates.items() if last + one_day > cutoff}
    return cutoff, own


def lock_arguments(python: str, exclude_newer: datetime.date | None,
                   package_cutoffs: dict[str, datetime.date] | None = None) -> list[str]:
    """The `uv pip compile` arguments the project's README documents for (re)locking."""
    dates = ["--exclude-newer", exclude_newer.isoformat()] if exclude_newer else []
    for name, day in sorted((package_cutoffs or {}).items()):
        dates += ["--exclude-newer-package", f"{name}={day.isoformat()}"]
    return ["pip", "compile", REQUIREMENTS, "--universal", "--python-version", python,
            "--generate-hashes", *dates, "--output-file", LOCK]


def lock(pins: dict[str, str], python: str) -> tuple[list[str], list[str]]:
    """Write requirements.lock; (errors, warnings). A resolution conflict is the user's to fix;
    a missing uv or network is reported and leaves a project that installs from requirements.txt."""
    uv = uv_command()
    later = "Lock later with the command in the README's 'Update the lock' section."
    if uv is None:
        return [], [f"uv is not installed, so {LOCK} was not written. {later}"]
    warnings = []
    try:
        exclude_newer, package_cutoffs = lock_dates(pins)
    except (OSError, ValueError) as error:
        return [], [f"could not reach {index_url()} ({error}), so {LOCK} was not written. {later}"]
    if exclude_newer is None:
        warnings.append(f"{index_url()} gives no upload times, so {LOCK} holds today's versions of "
                        "the dependencies rather than those of your pins' release days.")
    env = dict(os.environ)
    if not any(env.get(v) for v in ("UV_DEFAULT_INDEX", "UV_INDEX_URL")) and env.get("PIP_INDEX_URL"):
        env["UV_INDEX_URL"] = index_url()  # uv does not read pip's variable
    command = [*uv, *lock_arguments(python, exclude_newer, package_cutoffs)]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=env,
                                timeout=LOCK_TIMEOUT)
        if result.returncode != 0 and package_cutoffs and "--exclude-newer-package" in result.stderr:
            # An older uv: lock without the per-package cutoffs.
            warnings.append("this uv predates --exclude-newer-package; files your pins gained after "
                            "their release day are not in the lock (uv 0.8 or newer adds them).")
            command = [*uv, *lock_arguments(python, exclude_newer)]
            result = subprocess.run(command, capture_output=True, text=True, check=False, env=env,
                                    timeout=LOCK_TIMEOUT)
    except subprocess.TimeoutExpired:
        Path(LOCK).unlink(missing_ok=True)
        return [], [*warnings, f"uv took more than {LOCK_TIMEOUT} s to lock, so {LOCK} was not "
                               f"written. {later}"]
    if result.returncode == 0:
        return [], warnings
    Path(LOCK).unlink(missing_ok=True)
    if "No solution found" in result.stderr:
        if exclude_newer:
            why = (f" (uv resolved them as of {exclude_newer.isoformat()}, the day after the newest "
                   "pin's release, so only packages released by then take part: pins older than "
                   f"Python {python} may find none that support it)")
            fix = "Choose an older python_version, newer pins, or change the conflicting pins."
        else:
            why, fix = "", "Change the conflicting pins."
        return [f"the pins in {REQUIREMENTS} cannot be locked together for Python {python}{why}:\n"
                f"{result.stderr.strip()}\n{fix}"], []
    return [], [*warnings, f"uv could not lock ({result.stderr.strip()}), so {LOCK} was not "
                           f"written. {later}"]


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

    requirements_text = Path(REQUIREMENTS).read_text()
    pins, errors = check_requirements(requirements_text, answers["prefect_version"])
    warnings: list[str] = []
    if not errors and answers.get("check_pins_online") == "yes":
        errors, warnings = check_pins_online(pins, answers["python_version"],
                                             pin_lines(requirements_text))
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
