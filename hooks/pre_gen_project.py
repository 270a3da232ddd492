"""Check the answers to the prompts before any file is rendered.

Cookiecutter runs this file with the interpreter that runs cookiecutter itself (often a pipx
environment), so it uses the standard library only. When it exits non-zero, cookiecutter removes
the half-made project directory. Every message names the prompt and says how to fix the answer.

The functions take plain values so that the template's test suite can import this file and test
each rule on its own; only the block at the bottom is rendered by cookiecutter.
"""

from __future__ import annotations

import json
import keyword
import re
import sys

# PEP 440, as written in the specification's appendix (canonical, case-insensitive form).
PEP440_VERSION = re.compile(
    r"""
    v?
    (?:(?P<epoch>[0-9]+)!)?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?P<pre>[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview)[-_.]?[0-9]*)?
    (?P<post>-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?
    (?P<dev>[-_.]?dev[-_.]?[0-9]*)?
    (?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?
    """,
    re.VERBOSE | re.IGNORECASE,
)

# Docker image references, after the grammar in distribution/reference (reference.go).
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = (
    "(?:" + _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
)
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
# (Built by concatenation: this file is a Jinja template, so it avoids double braces.)
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(
    "(?:(?P<domain>" + _DOMAIN + ")/)?"
    "(?P<path>" + _PATH_COMPONENT + "(?:/" + _PATH_COMPONENT + ")*)"
    "(?::(?P<tag>" + _TAG + "))?"
    "(?:@(?P<digest>" + _DIGEST + "))?"
)
# A tag that names a Python version: "3.12", "3.12-slim", "3.12.7-bookworm", "py3.11"...
PYTHON_IN_TAG = re.compile(r"(?:^|[^0-9.])(?:py(?:thon)?-?)?(3)\.([0-9]+)(?:\.[0-9]+)?(?![0-9.])")

SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
PACKAGE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# Importing the project's package must not shadow what the flow itself imports.
RESERVED_PACKAGE_NAMES = {"prefect", "prefect_dask", "prefect_docker", "dask", "distributed",
                          "workflow", "components", "tests", "test", "src", "setup"}


def version_tuple(text: str) -> tuple[int, ...]:
    """The release part of a PEP 440 version as integers ("3.9.1rc1" -> (3, 9, 1))."""
    match = PEP440_VERSION.fullmatch(text.strip())
    if not match:
        raise ValueError(text)
    return tuple(int(part) for part in match.group("release").split("."))


def check_slug(slug: str) -> list[str]:
    if SLUG.fullmatch(slug):
        return []
    return [f"project_slug {slug!r} is not a valid directory and distribution name: use lower-case "
            "letters, digits and single hyphens, starting and ending with a letter or digit "
            "(e.g. 'my-data-workflow')."]


def check_package_name(name: str) -> list[str]:
    stdlib = getattr(sys, "stdlib_module_names", frozenset())
    if not PACKAGE_NAME.fullmatch(name):
        problem = "is not a valid Python import name"
    elif keyword.iskeyword(name) or keyword.issoftkeyword(name):
        problem = "is a Python keyword"
    elif name in stdlib:
        problem = "would shadow the standard library module of the same name"
    elif name in RESERVED_PACKAGE_NAMES:
        problem = "would shadow a module the workflow imports"
    else:
        return []
    return [f"package_name {name!r} {problem}: use lower-case letters, digits and underscores, "
            "starting with a letter, and a name of your own (e.g. 'my_data_workflow')."]


def find_prefect_line(prefect_version: str, lines: list[dict]) -> dict | None:
    """The row of cookiecutter.json's _prefect_lines whose release series holds this version."""
    for line in lines:
        if prefect_version.startswith(line["series"]):
            return line
    return None


def check_prefect_version(prefect_version: str, python_version: str, lines: list[dict]) -> list[str]:
    supported = ", ".join(line["series"] + "x" for line in lines)
    if not PEP440_VERSION.fullmatch(prefect_version.strip()):
        return [f"prefect_version {prefect_version!r} is not a version number (PEP 440): give an "
                "exact release such as '3.9.1'."]
    if prefect_version != prefect_version.strip():
        return [f"prefect_version {prefect_version!r} has surrounding spaces: remove them."]
    line = find_prefect_line(prefect_version, lines)
    if line is None:
        return [f"prefect_version {prefect_version!r} is not in a release series this template "
                f"supports ({supported}): choose one of those."]
    low, high = line["python"]
    if not version_tuple(low) <= version_tuple(python_version) <= version_tuple(high):
        return [f"python_version {python_version} cannot run prefect_version {prefect_version}: "
                f"Prefect {line['series']}x supports Python {low} to {high}. Choose a Python in that "
                "range or another Prefect version."]
    return []


def check_base_image(base_image: str, python_version: str) -> list[str]:
    match = IMAGE_REFERENCE.fullmatch(base_image)
    if not match:
        return [f"base_image {base_image!r} is not a Docker image reference: write "
                "[registry/]name[:tag][@digest], e.g. 'python:3.12-slim' or "
                "'ghcr.io/acme/python:3.12'. Names are lower-case."]
    tag = match.group("tag") or ""
    if not tag and not match.group("digest"):
        return [f"base_image {base_image!r} has no tag, so every build would take whatever "
                f"'latest' is that day: add a tag such as ':{python_version}-slim'."]
    if tag == "latest":
        return [f"base_image {base_image!r} uses the moving 'latest' tag: name a version, "
                f"e.g. ':{python_version}-slim'."]
    named = PYTHON_IN_TAG.search(tag)
    if named and f"{named.group(1)}.{named.group(2)}" != python_version:
        return [f"base_image {base_image!r} names Python {named.group(1)}.{named.group(2)} but "
                f"python_version is {python_version}: make them agree (e.g. "
                f"'python:{python_version}-slim'), or pick python_version "
                f"{named.group(1)}.{named.group(2)}."]
    return []


def check_options(answers: dict) -> list[str]:
    """Combinations of choices that cannot work together."""
    errors = []
    line = find_prefect_line(answers["prefect_version"], answers["_prefect_lines"])
    if line and line["api"] == 1 and answers["task_runner"] == "dask":
        errors.append("task_runner 'dask' needs Prefect 2 or 3 (prefect-dask): choose task_runner "
                      "'default' for Prefect 1.x, or a Prefect 2.20/3.9 version.")
    registry = answers["image_registry"].strip().rstrip("/")
    if registry and not IMAGE_REFERENCE.fullmatch(f"{registry}/x"):
        errors.append(f"image_registry {registry!r} is not a registry or repository prefix: write "
                      "e.g. 'ghcr.io/acme' or 'docker.io/acme', or leave it empty.")
    if not IMAGE_REFERENCE.fullmatch(answers["image_name"]) or ":" in answers["image_name"]:
        errors.append(f"image_name {answers['image_name']!r} is not an image name: use lower-case "
                      "letters, digits, '.', '_' and '-', without a registry or tag.")
    return errors


def validate(answers: dict) -> list[str]:
    """Every problem with the answers, as messages for the user (empty when all is well)."""
    return (
        check_slug(answers["project_slug"])
        + check_package_name(answers["package_name"])
        + check_prefect_version(answers["prefect_version"], answers["python_version"],
                                answers["_prefect_lines"])
        + check_base_image(answers["base_image"], answers["python_version"])
        + check_options(answers)
    )


def main(answers: dict) -> int:
    errors = validate(answers)
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors:
        print("The project was not generated. Fix the answers above and run cookiecutter again.",
              file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    # Rendered by cookiecutter: the answers arrive as JSON data, never as Python source.
    sys.exit(main(json.loads(r"""{{ cookiecutter | tojson }}""")))
