"""The pre-gen hook's rules, one by one, called as cookiecutter calls them (with the answers).

The hooks cannot import `packaging` (a pipx-installed cookiecutter does not have it), so the one
PEP 440 pattern of the template, and the exact-pin rule built on it, must agree with the real
library on every answer a user can type. Everything else about pins (existence, Python support,
yanked releases) is uv's, through the project's lock (tests/test_lock.py).
"""

from __future__ import annotations

import pytest
from cookiecutter.generate import generate_context
from cookiecutter.prompt import prompt_for_config
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import InvalidVersion, Version

from support.template import (
    COOKIECUTTER_JSON,
    PREFECT_LINES,
    TEMPLATE_DIR,
    load_hook,
    prefect_release_module,
    release_facts,
)

pre = load_hook("pre_gen_project")
FINAL_RELEASE = prefect_release_module().FINAL
post = load_hook("post_gen_project")


# The context cookiecutter renders from cookiecutter.json's defaults and hands to the hook.
DEFAULTS = dict(prompt_for_config(generate_context(TEMPLATE_DIR / "cookiecutter.json"), no_input=True))


def answers(**changes) -> dict:
    """The default answers with some changed; of the derived ones, only what the Prefect release
    decides (__release_problem, __prefect_api) is derived again, as cookiecutter.json derives it."""
    changed = {**DEFAULTS, **changes}
    facts = release_facts(changed["prefect_version"], changed["python_version"], changed["work_pool_type"],
                          changed["task_runner"], changed["extra_requirements"])
    return {**changed, "__release_problem": facts.problem, "__prefect_api": str(facts.api)}


def test_the_default_answers_are_valid():
    assert [error for check in pre.CHECKS for error in check(answers())] == []


# ----------------------------------------------------------------------------- versions and pins

VERSIONS = ["3.9.1", "0.15.4", "1!2.0", "2.0rc1", "2.0.post1", "2.0.dev3", "1.0+local.7", "v1.0",
            "1.0-1", "1.0_a1", "1.0c1", "1.0-preview2", "1.0.RC1", "1.0.post", "1", "latest", "3.9.x",
            "3..9", "3.9.", ".3", "1.0+", "1.0+a..b", "1.0-", "3.9.1 rc", "", "1.0beta"]


@pytest.mark.parametrize("text", VERSIONS)
def test_prefect_version_is_taken_exactly_when_packaging_calls_it_a_final_release_written_plainly(text):
    try:
        version = Version(text)
        final = (str(version) == text and not version.is_prerelease and not version.is_postrelease
                 and version.local is None and version.epoch == 0)
    except InvalidVersion:
        final = False
    assert bool(FINAL_RELEASE.fullmatch(text)) == final


# What a user may type as one extra requirement (extra_requirements is split on spaces and commas).
PINS = ["pandas==2.2.3", "Pandas==2.2.3", "typing_extensions==4.12.2", "zope.interface==7.1",
        "pandas[excel]==2.2.3", "torch==2.5.1+cpu", "pandas==2.2.3rc1", "pandas==1!2.0", "a==1",
        "pandas", "pandas>=2", "pandas~=2.2", "pandas==2.*", "pandas===2.2.3", "pandas!=2.2.3",
        "pandas==two", "pandas==", "==2.2.3", "pandas=2.2.3", "-e", ".", "pandas[excel", "_pandas==1",
        "pandas-==1", "pip@https://example.com/pip.whl", "pandas==2.2.3;python_version<'3.12'"]


def packaging_says_exact_pin(text: str) -> bool:
    try:
        requirement = Requirement(text)
    except InvalidRequirement:
        return False
    specifiers = list(requirement.specifier)
    return (len(specifiers) == 1 and specifiers[0].operator == "==" and requirement.url is None
            and not specifiers[0].version.endswith(".*") and requirement.marker is None)


@pytest.mark.parametrize("pin", PINS)
def test_an_extra_requirement_is_accepted_exactly_when_packaging_calls_it_an_exact_pin(pin):
    errors = pre.check_extra_requirements(answers(extra_requirements=pin))
    assert (errors == []) == packaging_says_exact_pin(pin)


def test_a_pin_that_is_not_exact_names_the_prompt_and_the_fix():
    [error] = pre.check_extra_requirements(answers(extra_requirements="pandas==2.2.3, pandas>=2"))
    assert error.startswith("extra_requirements 'pandas>=2' is not an exact pin: write pandas==<version>")


def test_requirements_txt_names_each_package_once():
    requirements = ("# comment\nprefect==3.9.1\nprefect-docker==0.7.4\nPandas==2.2.3\n"
                    "prefect_docker==0.7.3\npandas==2.2.3\n")
    first, second = post.repeated_packages(requirements)
    assert "line 5 ('prefect_docker==0.7.3') repeats 'prefect-docker' from line 3" in first
    assert "line 6 ('pandas==2.2.3') repeats 'pandas' from line 4 ('Pandas==2.2.3')" in second
    assert post.repeated_packages("prefect==3.9.1\n# prefect, again, in a comment\n") == []


# ----------------------------------------------------------------------------- Prefect and Python

@pytest.mark.parametrize("line", PREFECT_LINES, ids=[line["series"] for line in PREFECT_LINES])
def test_each_tested_release_runs_on_the_pythons_the_tests_bake_it_for(line):
    for python in line["python"]:
        assert pre.check_prefect_version(answers(prefect_version=line["newest"], python_version=python)) == []


@pytest.mark.parametrize("prefect,python", [("0.15.4", "3.11"), ("1.4.1", "3.12"), ("3.9.1", "3.10")])
def test_a_python_the_release_does_not_support_is_refused_with_its_range(prefect, python):
    [error] = pre.check_prefect_version(answers(prefect_version=prefect, python_version=python))
    assert error.startswith(f"python_version {python} cannot run prefect_version {prefect}, which supports")


@pytest.mark.parametrize("prefect", ["2.10.13", "2.9.0", "4.0.0", "10.0", "latest", " 3.9.1", "3.0.0rc1"])
def test_a_prefect_version_outside_the_supported_series_is_refused(prefect):
    [error] = pre.check_prefect_version(answers(prefect_version=prefect))
    assert "prefect_version" in error


def test_every_python_choice_runs_some_supported_prefect():
    for python in COOKIECUTTER_JSON["python_version"]:
        assert any(pre.check_prefect_version(answers(prefect_version=line["newest"], python_version=python))
                   == [] for line in PREFECT_LINES), python


# ----------------------------------------------------------------------------- images

@pytest.mark.parametrize("reference", [
    "python:3.12-slim", "python:3.12", "library/python:3.12-slim-bookworm", "ghcr.io/acme/py:3.12",
    "localhost:5000/python:3.12-slim", "registry.example.com:443/a/b/c:3.12-x",
    "python@sha256:" + "a" * 64, "python:3.12-slim@sha256:" + "0" * 64, "[::1]:5000/python:3.12",
    "my_org/my__img:3.12", "a-b.c/d-e:tag_1.2", "ghcr.io/acme/runtime:2024.10.1",
])
def test_valid_image_references_are_accepted(reference):
    assert pre.check_base_image(answers(base_image=reference, python_version="3.12")) == []


@pytest.mark.parametrize("reference,fragment", [
    ("Python:3.12", "not a Docker image reference"), ("python:3.12 slim", "not a Docker image reference"),
    ("python:", "not a Docker image reference"), ("python:-x", "not a Docker image reference"),
    ("python@sha256:abc", "not a Docker image reference"), ("-python:3.12", "not a Docker image reference"),
    ("python", "no tag"), ("ghcr.io/acme/py", "no tag"), ("python:latest", "moving 'latest'"),
    ("python:3.11-slim", "names Python 3.11"), ("python:3.1-slim", "names Python 3.1"),
    ("python:py3.13", "names Python 3.13"),
])
def test_bad_image_references_are_refused(reference, fragment):
    [error] = pre.check_base_image(answers(base_image=reference, python_version="3.12"))
    assert fragment in error and "base_image" in error
