"""The hooks' standard-library rules, one by one, and their parsers checked against `packaging`.

The hooks cannot import `packaging` (a pipx-installed cookiecutter does not have it), so they carry
small parsers of their own; here they must agree with the real library on every string we try.
"""

from __future__ import annotations

import itertools

import pytest
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from helpers import COOKIECUTTER_JSON, load_hook

pre = load_hook("pre_gen_project")
post = load_hook("post_gen_project")
LINES = COOKIECUTTER_JSON["_prefect_lines"]

# ----------------------------------------------------------------------------- requirements

NAMES = ["pandas", "Pandas", "typing_extensions", "zope.interface", "a", "a-b_c.d", "x1"]
EXTRAS = ["", "[s3]", "[s3,gcs]", "[ s3 , gcs ]", "[]"]
SPECIFIERS = ["", "==1.0", "== 1.0", "==1.0.*", ">=1,<2", "~=1.4.2", "!=1.3", "===abc", "(==2.2.3)",
              "==2.2.3+cpu", ">=1.0.post1", "<=2.0rc1", "==1!2.0", "==v1.0", ">1.0.dev3", "==1.0a1"]
MARKERS = ["", '; python_version < "3.11"', ";sys_platform=='win32'",
           '; python_version >= "3.8" and (os_name == "posix" or extra == "x")',
           '; "linux" in sys_platform', "; platform_machine not in 'arm64 aarch64'"]
VALID = ["".join(parts) for parts in itertools.product(NAMES[:3], EXTRAS[:3], SPECIFIERS, MARKERS[:3])]
VALID += [f"{name}{extras}{spec}{marker}" for name, extras, spec, marker in
          zip(itertools.cycle(NAMES), itertools.cycle(EXTRAS), SPECIFIERS * 2, itertools.cycle(MARKERS))]
VALID += ["pip @ https://example.com/pip-24.0-py3-none-any.whl",
          "pip[x] @ file:///tmp/pip.whl ; python_version > '3'", "name @ git+https://h/r.git@v1"]
INVALID = ["", "==1.0", "pandas==", "pandas==two", "pandas=1.0", "pandas 1.0", "pandas>=1,,<2",
           "pandas[s3", "pandas[s 3]==1", "pandas==1.0;", "pandas==1.0; python_version", "-e .",
           "pandas==1.0; python_version <", "pandas==1.0; foo == 'x'", "pandas==1.0; (os_name == 'x'",
           "pandas>=1.*", "pandas~=1", "pandas<=1.0+local", "pandas @ ", "pandas @ not a url",
           "_pandas==1", "pandas-==1", "pandas==1.0 and", "pandas==1.0; os_name == 'a' or",
           "pandas==1.0; not os_name == 'x'", "pandas==1.0; os_name is 'x'", "pandas ==1.0 ==2.0"]


def packaging_view(text: str):
    requirement = Requirement(text)
    return (requirement.name, sorted(requirement.extras),
            sorted((s.operator, s.version) for s in requirement.specifier), requirement.url,
            requirement.marker is not None)


def hook_view(text: str):
    parsed = post.parse_requirement(text)
    return (parsed["name"], sorted(parsed["extras"]), sorted(parsed["specifier"]), parsed["url"],
            parsed["marker"] is not None)


@pytest.mark.parametrize("text", VALID)
def test_the_hook_reads_a_valid_requirement_as_packaging_does(text):
    assert hook_view(text) == packaging_view(text)


@pytest.mark.parametrize("text", INVALID)
def test_the_hook_refuses_what_packaging_refuses(text):
    with pytest.raises(InvalidRequirement):
        Requirement(text)
    with pytest.raises(ValueError):
        post.parse_requirement(text)


@pytest.mark.parametrize("text", VALID)
def test_exact_pins_are_what_packaging_calls_a_single_equality(text):
    specifiers = list(Requirement(text).specifier)
    expected = (specifiers[0].version if len(specifiers) == 1 and specifiers[0].operator == "=="
                and not specifiers[0].version.endswith(".*") and Requirement(text).url is None
                else None)
    assert post.exact_pin(post.parse_requirement(text)) == expected


@pytest.mark.parametrize("names", [("Pandas", "pandas"), ("foo_bar", "foo-bar"), ("a.b-c", "A_B_C"),
                                   ("zope--interface", "zope.interface")])
def test_names_are_compared_as_pep_503_normalizes_them(names):
    from packaging.utils import canonicalize_name

    assert post.normalize_name(names[0]) == post.normalize_name(names[1]) == canonicalize_name(names[0])


# ----------------------------------------------------------------------------- versions

VERSIONS = ["3.9.1", "0.15.4", "1!2.0", "2.0rc1", "2.0.post1", "2.0.dev3", "1.0+local.7", "v1.0",
            "1.0-1", "1.0_a1", "1.0.0.0.0", "1.0c1", "1.0-preview2", "1.0.RC1", "1.0.post", "1",
            "latest", "3.9.x", "3..9", "3.9.", ".3", "1.0+", "1.0+a..b", "1.0-", "3.9.1 rc", "", "1.0beta"]


@pytest.mark.parametrize("text", VERSIONS)
def test_the_version_rule_agrees_with_packaging(text):
    try:
        Version(text)
        valid = True
    except InvalidVersion:
        valid = False
    assert bool(pre.PEP440_VERSION.fullmatch(text)) == valid
    assert bool(post.VERSION_RE.fullmatch(text)) == valid


@pytest.mark.parametrize("text", [v for v in VERSIONS if post.VERSION_RE.fullmatch(v)])
def test_versions_compare_as_packaging_canonicalizes_them(text):
    from packaging.utils import canonicalize_version

    assert post.canonical_version(text) == canonicalize_version(text)


REQUIRES_PYTHON = [">=3.8", "<3.16,>=3.11", ">=3.6, <4", "!=3.0.*,!=3.1.*,>=2.7", "~=3.7", ">=3.10.1",
                   "<3.12", "<=3.11", "==3.11.*", ">3.11", "~=3.11.2", "", ">=3", "<3.11.4", "!=3.11"]


@pytest.mark.parametrize("python", ["3.7", "3.9", "3.11", "3.12", "3.13"])
@pytest.mark.parametrize("requires", REQUIRES_PYTHON)
def test_requires_python_is_read_as_packaging_reads_it_for_the_newest_patch(requires, python):
    expected = SpecifierSet(requires).contains(Version(f"{python}.99"))
    assert post.python_admitted(requires, python) == expected


# ----------------------------------------------------------------------------- requirements.txt

def test_a_file_of_exact_pins_passes():
    pins, errors = post.check_requirements("# comment\nprefect==3.9.1\n\npandas==2.2.3  # why\n", "3.9.1")
    assert errors == []
    assert pins == {"prefect": "3.9.1", "pandas": "2.2.3"}


@pytest.mark.parametrize("text,fragment", [
    ("prefect==3.9.0\n", "pins prefect==3.9.0 but prefect_version is 3.9.1"),
    ("pandas==2.2.3\n", "does not pin prefect"),
    ("prefect==3.9.1\npandas\n", "line 2 ('pandas') is not pinned to one exact version (it has no version)"),
    ("prefect==3.9.1\npandas>=2,<3\n", "it has >=2,<3"),
    ("prefect==3.9.1\nPandas==2.2.3\npandas==2.2.3\n",
     "line 3 ('pandas==2.2.3') repeats 'pandas' from line 2"),
    ("prefect==3.9.1\n--index-url https://x\n", "pip options do not belong here"),
])
def test_each_requirements_problem_names_the_line_and_the_fix(text, fragment):
    _, errors = post.check_requirements(text, "3.9.1")
    assert any(fragment in error for error in errors), errors


# ----------------------------------------------------------------------------- pre-gen rules

@pytest.mark.parametrize("reference", [
    "python:3.12-slim", "python:3.12", "library/python:3.12-slim-bookworm", "ghcr.io/acme/py:3.12",
    "localhost:5000/python:3.12-slim", "registry.example.com:443/a/b/c:3.12-x",
    "python@sha256:" + "a" * 64, "python:3.12-slim@sha256:" + "0" * 64, "[::1]:5000/python:3.12",
    "my_org/my__img:3.12", "a-b.c/d-e:tag_1.2",
])
def test_valid_image_references_are_accepted(reference):
    assert pre.check_base_image(reference, "3.12") == []


@pytest.mark.parametrize("reference,fragment", [
    ("Python:3.12", "not a Docker image reference"), ("python:3.12 slim", "not a Docker image reference"),
    ("python:", "not a Docker image reference"), ("python:-x", "not a Docker image reference"),
    ("python@sha256:abc", "not a Docker image reference"), ("-python:3.12", "not a Docker image reference"),
    ("python", "no tag"), ("ghcr.io/acme/py", "no tag"), ("python:latest", "moving 'latest'"),
    ("python:3.11-slim", "names Python 3.11"), ("python:3.1-slim", "names Python 3.1"),
    ("python:py3.13", "names Python 3.13"),
])
def test_bad_image_references_are_refused(reference, fragment):
    [error] = pre.check_base_image(reference, "3.12")
    assert fragment in error and "base_image" in error


def test_a_tag_that_names_no_python_is_the_users_business():
    assert pre.check_base_image("ghcr.io/acme/runtime:2024.10.1", "3.12") == []


@pytest.mark.parametrize("prefect,python,ok", [
    ("3.9.1", "3.12", True), ("3.9.1", "3.11", True), ("3.9.1", "3.10", False),
    ("2.20.25", "3.8", True), ("2.20.25", "3.13", False), ("1.4.1", "3.11", True),
    ("1.4.1", "3.12", False), ("0.15.4", "3.9", True), ("0.15.4", "3.7", True),
    ("3.8.0", "3.12", False), ("2.19.0", "3.11", False), ("10.0", "3.12", False),
])
def test_prefect_and_python_must_be_a_supported_pair(prefect, python, ok):
    assert (pre.check_prefect_version(prefect, python, LINES) == []) == ok


def test_every_python_choice_runs_some_supported_prefect():
    for python in COOKIECUTTER_JSON["python_version"]:
        lows_highs = [tuple(map(pre.version_tuple, line["python"])) for line in LINES]
        assert any(low <= pre.version_tuple(python) <= high for low, high in lows_highs), python


def test_the_default_answers_are_valid():
    answers = {key: value[0] if isinstance(value, list) and not key.startswith("_") else value
               for key, value in COOKIECUTTER_JSON.items() if not key.startswith("__")}
    answers.update(project_slug="my-data-workflow", package_name="my_data_workflow",
                   base_image=f"python:{answers['python_version']}-slim", image_name="my-data-workflow")
    assert pre.validate(answers) == []
