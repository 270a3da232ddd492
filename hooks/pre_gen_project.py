"""Check the answers to the prompts before any file is rendered.

Cookiecutter runs this with its own interpreter (often a pipx environment: the standard library and
cookiecutter's dependencies only) and removes the half-made project when it exits non-zero. Each
check takes the answers and returns messages that name the prompt and the fix; add one to CHECKS.
The Prefect lines (series, Python range, pins) are cookiecutter.json's _prefect_lines.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
import unicodedata

# PEP 440 (the specification's appendix, case-insensitive): the template's one version pattern.
VERSION = (r"v?(?:[0-9]+!)?(?P<release>[0-9]+(?:\.[0-9]+)*)(?:[-_.]?(?:alpha|beta|preview|pre|rc|a|b|c)"
           r"[-_.]?[0-9]*)?(?:-[0-9]+|[-_.]?(?:post|rev|r)[-_.]?[0-9]*)?(?:[-_.]?dev[-_.]?[0-9]*)?"
           r"(?:\+[a-z0-9]+(?:[-_.][a-z0-9]+)*)?")
PEP440_VERSION = re.compile(VERSION, re.IGNORECASE)
# An exact pin as extra_requirements carries it (split on spaces and commas): name[extra]==version.
NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
EXACT_PIN = re.compile(rf"{NAME}(?:\[{NAME}\])?==" + VERSION, re.IGNORECASE)
# Docker image references, after the grammar in distribution/reference (reference.go).
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = "(?:" + _DOMAIN_PART + r"(?:\." + _DOMAIN_PART + r")*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_PATH_PART = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REFERENCE = re.compile(
    "(?:(?P<domain>" + _DOMAIN + ")/)?(?P<path>" + _PATH_PART + "(?:/" + _PATH_PART + ")*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*"
    r":[0-9a-fA-F]{32,}))?")
# A tag that names a Python version: "3.12", "3.12-slim", "3.12.7-bookworm", "py3.11"...
PYTHON_IN_TAG = re.compile(r"(?:^|[^0-9.])(?:py(?:thon)?-?)?(3\.[0-9]+)(?:\.[0-9]+)?(?![0-9.])")
SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
PACKAGE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# Importing the project's package must not shadow what the flow itself imports.
RESERVED_PACKAGE_NAMES = {"prefect", "prefect_dask", "prefect_docker", "dask", "distributed", "workflow",
                          "components", "tests", "test", "src", "setup"}


def release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in PEP440_VERSION.fullmatch(version).group("release").split("."))


def prefect_line(answers: dict) -> dict | None:
    return next((line for line in answers["_prefect_lines"]
                 if answers["prefect_version"].startswith(line["series"])), None)


def check_names(answers: dict) -> list[str]:
    """The project's directory, package and image names, and the registry."""
    name, image, registry = answers["package_name"], answers["image_name"], answers["__registry"]
    errors = [] if SLUG.fullmatch(answers["project_slug"]) else [
        f"project_slug {answers['project_slug']!r} is not a valid directory and distribution name: use "
        "lower-case letters, digits and single hyphens, starting and ending with a letter or digit "
        "(e.g. 'my-data-workflow')."]
    problem = next((problem for failed, problem in [
        (not PACKAGE_NAME.fullmatch(name), "is not a valid Python import name"),
        (keyword.iskeyword(name) or keyword.issoftkeyword(name), "is a Python keyword"),
        (name in getattr(sys, "stdlib_module_names", ()), "would shadow the standard library module of "
                                                          "the same name"),
        (name in RESERVED_PACKAGE_NAMES, "would shadow a module the workflow imports")] if failed), None)
    if problem:
        errors.append(f"package_name {name!r} {problem}: use lower-case letters, digits and underscores, "
                      "starting with a letter, and a name of your own (e.g. 'my_data_workflow').")
    if registry and not IMAGE_REFERENCE.fullmatch(f"{registry}/x"):
        errors.append(f"image_registry {registry!r} is not a registry or repository prefix: write e.g. "
                      "'ghcr.io/acme' or 'docker.io/acme', or leave it empty.")
    if not IMAGE_REFERENCE.fullmatch(image) or ":" in image:
        errors.append(f"image_name {image!r} is not an image name: use lower-case letters, digits, '.', "
                      "'_' and '-', without a registry or tag.")
    return errors


def check_prefect_version(answers: dict) -> list[str]:
    version, python, line = answers["prefect_version"], answers["python_version"], prefect_line(answers)
    if not PEP440_VERSION.fullmatch(version.strip()):
        return [f"prefect_version {version!r} is not a version number (PEP 440): give an exact release "
                "such as '3.9.1'."]
    if version != version.strip():
        return [f"prefect_version {version!r} has surrounding spaces: remove them."]
    if line is None:
        supported = ", ".join(line["series"] + "x" for line in answers["_prefect_lines"])
        return [f"prefect_version {version!r} is not in a release series this template supports "
                f"({supported}): choose one of those."]
    low, high = line["python"]
    if not release(low) <= release(python) <= release(high):
        return [f"python_version {python} cannot run prefect_version {version}: Prefect {line['series']}x "
                f"supports Python {low} to {high}. Choose a Python in that range or another Prefect version."]
    return [] if line["api"] > 1 or answers["task_runner"] != "dask" else [
        "task_runner 'dask' needs Prefect 2 or 3 (prefect-dask): choose task_runner 'default' for "
        "Prefect 1.x, or a Prefect 2.20/3.9 version."]


def check_base_image(answers: dict) -> list[str]:
    image, python = answers["base_image"], answers["python_version"]
    match = IMAGE_REFERENCE.fullmatch(image)
    if not match:
        return [f"base_image {image!r} is not a Docker image reference: write [registry/]name[:tag][@digest],"
                " e.g. 'python:3.12-slim' or 'ghcr.io/acme/python:3.12'. Names are lower-case."]
    tag = match.group("tag") or ""
    named = PYTHON_IN_TAG.search(tag)
    if not tag and not match.group("digest"):
        return [f"base_image {image!r} has no tag, so every build would take whatever 'latest' is that "
                f"day: add a tag such as ':{python}-slim'."]
    if tag == "latest":
        return [f"base_image {image!r} uses the moving 'latest' tag: name a version, e.g. ':{python}-slim'."]
    return [f"base_image {image!r} names Python {named[1]} but python_version is {python}: make them agree "
            f"(e.g. 'python:{python}-slim'), or pick python_version {named[1]}."] if named and (
        named[1] != python) else []


def check_extra_requirements(answers: dict) -> list[str]:
    """requirements.txt holds exact pins only (post_gen_project.py refuses a package pinned twice)."""
    errors = []
    for pin in answers["extra_requirements"].replace(",", " ").split():
        if not EXACT_PIN.fullmatch(pin):
            name = (re.match(NAME, pin) or ["name"])[0]
            errors.append(f"extra_requirements {pin!r} is not an exact pin: write {name}==<version> "
                          f"(`pip index versions {name}` lists them), e.g. pandas==2.2.3.")
    return errors


ONE_LINE = ("project_name", "description", "author_name", "author_email")
FREE_TEXT = ONE_LINE + ("project_slug", "package_name", "base_image", "extra_requirements", "image_name",
                        "image_registry")


def check_text(answers: dict) -> list[str]:
    """Text every file can hold: no Jinja markers (cookiecutter renders recorded answers again on `cruft
    update`, Prefect renders double braces in prefect.yaml); a one-line answer on one line, trimmed."""
    errors, markers, slug = [], ["{" + c for c in ("{", "%", "#")], answers["project_slug"]
    for key, value in ((key, str(answers[key])) for key in FREE_TEXT):
        bad = [c for c in value if unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") or c in "\ufffe\uffff"]
        if any(marker in value for marker in markers):
            errors.append(f"{key} {value!r} has {', '.join(m for m in markers if m in value)}, which "
                          "cookiecutter (`cruft update`) and Prefect read as a template: space them apart.")
        elif key in ONE_LINE and bad:
            errors.append(f"{key} {value!r} has U+{ord(bad[0]):04X}, a line break, tab or control character: "
                          "write the answer on one line, with spaces.")
        elif key in ONE_LINE and (value != value.strip() or not value and key != "author_name"):
            errors.append(f"{key} {value!r} is empty or has spaces around it: give it, without them.")
        elif key == "author_email" and not re.fullmatch(r"[^@]+@[^@]+\.[^@]+", value):
            errors.append(f"author_email {value!r} is not an address (pyproject.toml needs one): a@b.org.")
    host = re.match(r"(\[[^]]*\]|[^./]+):[0-9]+/", answers["base_image"])
    if host:  # hadolint's parser fails on FROM localhost:5000/python:3.12; Docker does not.
        errors.append(f"base_image {answers['base_image']!r}: the Dockerfile linter cannot read a registry "
                      f"{host[1]} with a port: write it with dots (127.0.0.1:5000 for localhost:5000).")
    if slug == answers.get("_unnamed_slug"):
        errors.append(f"project_name {answers['project_name']!r} has no letters or digits to name the project"
                      "'s directory after: give project_slug too (e.g. 'my-data-workflow').")
    if answers["work_pool_type"] == "kubernetes" and len(slug) > 63:
        errors.append(f"project_slug {slug!r} names the Kubernetes namespace, and Kubernetes names have at "
                      f"most 63 characters, not {len(slug)}: choose a shorter one.")
    if len(answers["__image"]) > 255:
        errors.append(f"image_registry and image_name make an image name of {len(answers['__image'])} "
                      "characters; Docker takes at most 255: choose shorter ones.")
    return errors


CHECKS = [check_names, check_prefect_version, check_base_image, check_extra_requirements, check_text]


def main(answers: dict) -> int:
    errors = [error for check in CHECKS for error in check(answers)]
    for error in errors:
        print(f"ERROR: {error}", file=sys.stderr)
    if errors:
        print("The project was not generated. Fix the answers above and run cookiecutter again.",
              file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    # Rendered by cookiecutter: the answers arrive as JSON data, never as Python source.
    sys.exit(main(json.loads(r"""{{ cookiecutter | tojson }}""")))
