"""Check the answers before any file is rendered; each message names the prompt and the fix.

Runs under cookiecutter's own interpreter (the standard library and cookiecutter's dependencies
only), inside the project's directory, which cookiecutter has made (empty) just before; exiting
non-zero makes cookiecutter remove it. A check takes the answers and returns messages: add one to
CHECKS. What a Prefect release allows (its Pythons, its companions) hooks/prefect_release.py has
already worked out, into the __release_* answers. The answers as given, before cookiecutter
rendered them (its `_cookiecutter`), arrive as the answer `_given`.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import subprocess
import sys
import unicodedata

# A PEP 440 version (the specification's appendix, case-insensitive), in the exact pins of extra_requirements.
VERSION = (r"v?(?:[0-9]+!)?(?P<release>[0-9]+(?:\.[0-9]+)*)(?:[-_.]?(?:alpha|beta|preview|pre|rc|a|b|c)"
           r"[-_.]?[0-9]*)?(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?(?:[-_.]?dev[-_.]?[0-9]*)?"
           r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?")
# An exact pin as extra_requirements carries it (split on spaces and commas): name[extra]==version.
NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
EXACT_PIN = re.compile(rf"{NAME}(?:\[{NAME}\])?==" + VERSION, re.IGNORECASE)
# Docker image references, after distribution/reference's grammar (reference.go).
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# (Concatenated, not an f-string: this file is a Jinja template, and regex counts need braces.)
IMAGE_REFERENCE = re.compile("(?:(?:" + _HOST + r"(?:\." + _HOST + r")*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?/)?"
                             + _PATH + "(?:/" + _PATH + r")*(?::(?P<tag>\w[\w.-]{0,127}))?"
                             r"(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}))?")
# The Python a tag names: "3.12-slim", "py3.11", and prefecthq/prefect:3.9.1-python3.12 (named outright wins).
PYTHON_IN_TAG = [re.compile(r"py(?:thon)?-?(3\.[0-9]+)(?![0-9])"),
                 re.compile(r"(?:^|[^0-9.])(3\.[0-9]+)(?:\.[0-9]+)?(?![0-9.])")]
SLUG, PACKAGE_NAME = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"), re.compile(r"[a-z_][a-z0-9_]*")
# The project's package must not shadow what the flow itself imports.
RESERVED = {"prefect", "prefect_dask", "prefect_docker", "dask", "distributed", "workflow", "components",
            "tests", "test", "src", "setup"}
ONE_LINE = ("project_name", "description", "author_name", "author_email")
FREE_TEXT = (*ONE_LINE, "project_slug", "package_name", "base_image", "extra_requirements", "image_name",
             "image_registry", "platform")
# Jinja's markers, written apart: this file is itself rendered by Jinja.
MARKERS = tuple("{" + c for c in ("{", "%", "#"))
# The answers whose defaults in cookiecutter.json are Jinja expressions (tests/test_bad_answers.py
# checks them against the file): given as they stand, they are no answer of the user's.
OPEN, CLOSE = "{" "{ ", " }" "}"
TEMPLATE_DEFAULTS = {
    "project_slug": OPEN + "cookiecutter.project_name | slugify(max_length=40) or cookiecutter._unnamed_slug"
                    + CLOSE,
    "package_name": OPEN + "cookiecutter.project_slug | replace('-', '_')" + CLOSE,
    "base_image": "python:" + OPEN + "cookiecutter.python_version" + CLOSE + "-slim",
    "prefect_version": OPEN + "cookiecutter._prefect_default" + CLOSE,
    "image_name": OPEN + "cookiecutter.project_slug" + CLOSE,
}
# The answers that name a folder of the project (its directory, src/<package_name>), and the
# deepest paths the project holds: under the package (src/<package_name>/ + this), and elsewhere
# (a git object of a SHA-256 repository, which post_gen_project.py's `git init` may make).
# tests/test_bad_answers.py checks them against a bake with every optional file.
PATH_ANSWERS = ("project_slug", "package_name")
DEEPEST_IN_PACKAGE = "components/component_a.py"
DEEPEST_ELSEWHERE = ".git/objects/00/" + "0" * 62


def not_one_folder(name: str) -> str | None:
    """What makes name more, or less, than one folder's name, if anything does."""
    separators = [s for s in ("/", "\\") if s in name]
    return (f"has {separators[0]!r}, which makes it a path of folders" if separators
            else f"is {name!r}, which names a folder that exists already" if name in (".", "..")
            else "is empty, which names no folder" if not name
            else "has a NUL character, which no file name can hold" if "\0" in name else None)


def check_names(a: dict) -> list[str]:
    """The project's directory, package and image names, and the registry."""
    name, errors = a["package_name"], []
    for key in PATH_ANSWERS:
        if problem := not_one_folder(a[key]):
            allowed, example, folder = (
                ("single hyphens", "my-data-workflow", "the project's directory") if key == "project_slug"
                else ("underscores", "my_data_workflow", "src/<package_name>"))
            errors.append(f"{key} {a[key]!r} {problem}, but it is the name of one folder ({folder}): "
                          f"use lower-case letters, digits and {allowed} only (e.g. '{example}').")
    if not not_one_folder(a["project_slug"]) and not SLUG.fullmatch(a["project_slug"]):
        errors.append(f"project_slug {a['project_slug']!r} is not a valid directory and distribution name: "
                      "use lower-case letters, digits and single hyphens, starting and ending with a letter "
                      "or digit (e.g. 'my-data-workflow').")
    problem = ("is not a valid Python import name" if not PACKAGE_NAME.fullmatch(name)
               else "is a Python keyword" if keyword.iskeyword(name) or keyword.issoftkeyword(name)
               else "would shadow the standard library module of the same name"
               if name in getattr(sys, "stdlib_module_names", ())
               else "would shadow a module the workflow imports" if name in RESERVED else None)
    if problem and not not_one_folder(name):
        errors.append(f"package_name {name!r} {problem}: use lower-case letters, digits and underscores, "
                      "starting with a letter, and a name of your own (e.g. 'my_data_workflow').")
    if a["__registry"] and not IMAGE_REFERENCE.fullmatch(a["__registry"] + "/x"):
        errors.append(f"image_registry {a['__registry']!r} is not a registry or repository prefix: write "
                      "e.g. 'ghcr.io/acme' or 'docker.io/acme', or leave it empty.")
    if not IMAGE_REFERENCE.fullmatch(a["image_name"]) or ":" in a["image_name"]:
        errors.append(f"image_name {a['image_name']!r} is not an image name: use lower-case letters, "
                      "digits, '.', '_' and '-', without a registry or tag.")
    return errors


def check_prefect_version(a: dict) -> list[str]:
    """What hooks/prefect_release.py found about the Prefect release (it reads the index)."""
    if a["__release_problem"]:
        return [a["__release_problem"]]
    if a["__prefect_api"] == "1" and a["task_runner"] == "dask":
        return ["task_runner 'dask' needs Prefect 2 or 3 (prefect-dask): choose task_runner 'default' for "
                f"Prefect {a['prefect_version']}, or a Prefect 2 or 3 release."]
    return []


def check_base_image(a: dict) -> list[str]:
    image, python = a["base_image"], a["python_version"]
    match = IMAGE_REFERENCE.fullmatch(image)
    if not match:
        return [f"base_image {image!r} is not a Docker image reference: write [registry/]name[:tag][@digest],"
                " e.g. 'python:3.12-slim' or 'ghcr.io/acme/python:3.12'. Names are lower-case."]
    tag = match.group("tag") or ""
    named = next((found[1] for pattern in PYTHON_IN_TAG if (found := pattern.search(tag))), python)
    if not tag and not match.group("digest"):
        return [f"base_image {image!r} has no tag, so every build would take whatever 'latest' is that "
                f"day: add a tag such as ':{python}-slim'."]
    if tag == "latest":
        return [f"base_image {image!r} uses the moving 'latest' tag: name a version, e.g. ':{python}-slim'."]
    if named != python:
        return [f"base_image {image!r} names Python {named} but python_version is {python}: make them "
                f"agree (e.g. 'python:{python}-slim'), or pick python_version {named}."]
    return []


# The platforms a Linux image can be built for (os/arch[/variant], as Docker and OCI name them).
PLATFORM = re.compile(r"linux/(?:amd64(?:/v[234])?|arm64(?:/v8)?|arm/v[567]|386|ppc64le|s390x|riscv64"
                      r"|mips64le|loong64)")


def check_platform(a: dict) -> list[str]:
    """platform: empty, one os/arch[/variant], or a comma-separated list of them."""
    items = [item.strip() for item in a["platform"].split(",")]
    if not a["platform"].strip():
        return []
    fix = ("write each as os/arch[/variant] (e.g. linux/amd64, linux/arm64, linux/arm/v7), separated by "
           "commas, or leave it empty for your Docker engine's own")
    errors = []
    for item in items:
        if not item:
            errors.append(f"platform {a['platform']!r} has an empty item between its commas: {fix}.")
        elif not PLATFORM.fullmatch(item):
            hint = (f" ('{item}' alone is an architecture: write linux/{item})" if "/" not in item
                    else " (the image is a Linux image: its os is linux)" if not item.startswith("linux/")
                    else "")
            errors.append(f"platform {item!r} is not a platform the image can be built for{hint}: {fix}.")
    if not errors and len(set(items)) < len(items):
        errors.append(f"platform {a['platform']!r} names a platform twice: name each once.")
    return errors[:1] if any("empty item" in error for error in errors) else errors


def check_extra_requirements(a: dict) -> list[str]:
    """Exact pins only (post_gen_project.py refuses a package pinned twice)."""
    errors = []
    for pin in a["extra_requirements"].replace(",", " ").split():
        if not EXACT_PIN.fullmatch(pin):
            name = (re.match(NAME, pin) or ["name"])[0]
            errors.append(f"extra_requirements {pin!r} is not an exact pin: write {name}==<version> "
                          f"(`pip index versions {name}` lists them), e.g. pandas==2.2.3.")
    return errors


def limit(name: str, default: int) -> int:
    try:
        return os.pathconf(".", name)
    except (OSError, ValueError, AttributeError):  # (no pathconf on Windows)
        return default


def check_path_lengths(a: dict) -> list[str]:
    """Each folder name within the file system's NAME_MAX, and the deepest path the project will
    hold within its PATH_MAX (with the terminating NUL), counted in bytes from the root: the
    hook runs in the project's directory, so the output directory is counted too."""
    if any(not_one_folder(a[key]) for key in PATH_ANSWERS):
        return []
    name_max, path_max = limit("PC_NAME_MAX", 255), limit("PC_PATH_MAX", 4096)
    errors = []
    for key in PATH_ANSWERS:
        size = len(os.fsencode(a[key]))
        if size > name_max:
            errors.append(f"{key} has {size} bytes, but a file name on this file system has at most "
                          f"{name_max}: choose a shorter one.")
    if errors:
        return errors
    here = os.fsencode(os.getcwd())
    deepest = max([("package_name", "/".join(("src", a["package_name"], DEEPEST_IN_PACKAGE))),
                   ("project_slug", DEEPEST_ELSEWHERE)], key=lambda kept: len(os.fsencode(kept[1])))
    size = len(here) + 1 + len(os.fsencode(deepest[1]))
    if size >= path_max:
        errors.append(f"{deepest[0]} makes the project's deepest path ({os.fsdecode(here)}/{deepest[1]}) "
                      f"{size} bytes long, but a path on this file system has fewer than {path_max}: "
                      f"choose a shorter {deepest[0]}, or generate the project in a folder with a shorter "
                      "path (cookiecutter -o).")
    return errors


def rendered_without_markers(raw: str) -> str:
    """What Jinja makes of text without markers: its line endings become '\\n'."""
    return re.sub("\r\n?", "\n", raw)


def check_given_answers(a: dict) -> list[str]:
    """An answer given as extra context (`--no-input key=value`, `extra_context`) is rendered by
    Jinja before any hook runs; cookiecutter keeps it as given in `_cookiecutter`. A rendering that
    changed it is refused: no file gets a value the user did not write. (Typed and replayed
    answers are kept as they are; there `_cookiecutter` holds the defaults, or the answers.)"""
    errors, given = [], a.get("_given") or {}
    for key in (*FREE_TEXT, "prefect_version"):
        raw, value = given.get(key), str(a.get(key, ""))
        if not isinstance(raw, str) or raw == value or raw == TEMPLATE_DEFAULTS.get(key):
            continue
        markers = [marker for marker in MARKERS if marker in raw]
        if markers:
            errors.append(f"{key} {raw!r} has {', '.join(markers)}: cookiecutter read the answer as a Jinja "
                          f"template and made it {value!r}. Give the text itself, with no Jinja markers "
                          "(space the braces apart), or type it at the prompt.")
        elif rendered_without_markers(raw) == value:
            errors.append(f"{key} {raw!r} came out of cookiecutter's rendering as {value!r} (Jinja turns "
                          "every line ending into '\\n'): give it as "
                          f"{value!r}.")
    return errors


def check_text(a: dict) -> list[str]:
    """Text every file can hold: no Jinja markers (cookiecutter renders recorded answers again on
    `cruft update`; Prefect renders double braces in prefect.yaml), one-line answers on one line."""
    errors, slug = [], a["project_slug"]
    for key in FREE_TEXT:
        value = str(a[key])
        markers = [marker for marker in ("{" + c for c in ("{", "%", "#")) if marker in value]
        bad = [c for c in value if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in "\ufffe\uffff"]
        if markers:
            errors.append(f"{key} {value!r} has {', '.join(markers)}, which cookiecutter (`cruft update`) "
                          "and Prefect read as a template: space them apart.")
        elif key in ONE_LINE and bad:
            errors.append(f"{key} {value!r} has U+{ord(bad[0]):04X}, a line break, tab or control character: "
                          "write the answer on one line, with spaces.")
        elif key in ONE_LINE and (value != value.strip() or not value and key != "author_name"):
            errors.append(f"{key} {value!r} is empty or has spaces around it: give it, without them.")
        elif key == "author_email" and not re.fullmatch(r"[^@]+@[^@]+\.[^@]+", value):
            errors.append(f"author_email {value!r} is not an address (pyproject.toml needs one): a@b.org.")
    if host := re.match(r"(\[[^]]*\]|[^./]+):[0-9]+/", a["base_image"]):  # Docker reads it; hadolint can't
        errors.append(f"base_image {a['base_image']!r}: the Dockerfile linter cannot read a registry "
                      f"{host[1]} with a port: write it with dots (127.0.0.1:5000 for localhost:5000).")
    if slug == a.get("_unnamed_slug"):
        errors.append(f"project_name {a['project_name']!r} has no letters or digits to name the project's "
                      "directory after: give project_slug too (e.g. 'my-data-workflow').")
    if a["work_pool_type"] == "kubernetes" and len(slug) > 63:
        errors.append(f"project_slug {slug!r} names the Kubernetes namespace, and Kubernetes names have at "
                      f"most 63 characters, not {len(slug)}: choose a shorter one.")
    if len(a["__image"]) > 255:
        errors.append(f"image_registry and image_name make an image name of {len(a['__image'])} characters; "
                      "Docker takes at most 255: choose shorter ones.")
    return errors


CHECKS = [check_names, check_path_lengths, check_given_answers, check_prefect_version, check_base_image,
          check_extra_requirements, check_platform, check_text]

# Removes, once cookiecutter has removed the refused project's directory, the empty folders it
# made above it for a project_slug that is a path (argv: the project directory, then the folders).
REMOVE_FOLDERS_LATER = """
import os, sys, time
project, folders = sys.argv[1], sys.argv[2:]
deadline = time.monotonic() + 60
while os.path.lexists(project) and time.monotonic() < deadline:
    time.sleep(0.005)
for folder in folders if not os.path.lexists(project) else []:
    try:
        os.rmdir(folder)
    except OSError:
        pass
"""


def folders_made_above(a: dict) -> list[str]:
    """The folders cookiecutter made on the way to the project's directory for a project_slug that
    is a relative path (it makes the whole path before the hook runs), deepest first: each folder
    the slug's path passes through, but not the output directory or one that holds it (an
    absolute slug is left alone). Only empty ones are removed."""
    output, project = os.path.realpath(a.get("_output_dir") or "."), os.getcwd()
    parts = [part for part in re.split(r"[/\\]", a["project_slug"]) if part]
    if len(parts) < 2 or os.path.isabs(a["project_slug"]) or not a.get("_output_dir"):
        return []
    folders = {os.path.realpath(os.path.join(output, *parts[:end])) for end in range(1, len(parts))}
    kept = [folder for folder in folders
            if folder != project and os.path.commonpath([folder, output]) != folder]
    return sorted(kept, key=lambda folder: (folder.count(os.sep), folder), reverse=True)


def remove_folders_made_above(a: dict) -> None:
    if folders := folders_made_above(a):
        subprocess.Popen([sys.executable, "-c", REMOVE_FOLDERS_LATER, os.getcwd(), *folders],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True)


def main(answers: dict, given: dict | None = None) -> int:
    answers = {**answers, "_given": given or {}}
    errors = [error for check in CHECKS for error in check(answers)]
    for note in filter(None, answers["__release_notes"].splitlines()):
        print(f"NOTE: {note}", file=sys.stderr)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors:
        print("The project was not generated. Fix the answers above and run cookiecutter again.",
              file=sys.stderr)
        remove_folders_made_above(answers)
    return 1 if errors else 0


if __name__ == "__main__":
    # Rendered by cookiecutter: the answers arrive as JSON data, never as Python source.
    sys.exit(main(json.loads(r"""{{ cookiecutter | tojson }}"""),
                  json.loads(r"""{{ _cookiecutter | default({}) | tojson }}""")))
