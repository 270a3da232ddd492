"""Bad answers stop generation with a message that names the prompt and the fix, and leave
nothing behind."""

from __future__ import annotations

import os
import time

import pytest
from cookiecutter.exceptions import FailedHookException

from support.answer_sets import OFFLINE
from support.template import COOKIECUTTER_JSON, PREFECT_LINES, load_hook, newest_prefect

pre = load_hook("pre_gen_project")

OLDEST_LINE, NEWEST_LINE = PREFECT_LINES[0], PREFECT_LINES[-1]


# (answers, words the error must contain)
BAD_ANSWERS = {
    "slug-with-spaces": ({"project_slug": "My Project"}, ["project_slug", "lower-case"]),
    "slug-trailing-hyphen": ({"project_slug": "flows-"}, ["project_slug"]),
    "package-not-identifier": ({"package_name": "1flows"}, ["package_name", "import name"]),
    "package-keyword": ({"package_name": "class"}, ["package_name", "keyword"]),
    "package-soft-keyword": ({"package_name": "match"}, ["package_name", "keyword"]),
    "package-shadows-stdlib": ({"package_name": "json"}, ["package_name", "standard library"]),
    "package-shadows-prefect": ({"package_name": "prefect"}, ["package_name", "shadow"]),
    "package-upper-case": ({"package_name": "Flows"}, ["package_name"]),
    "base-image-not-a-reference": ({"base_image": "Python 3.12"}, ["base_image", "reference"]),
    "base-image-upper-case-name": ({"base_image": "Python:3.12-slim"}, ["base_image"]),
    "base-image-without-tag": ({"base_image": "python"}, ["base_image", "no tag"]),
    "base-image-latest": ({"base_image": "python:latest"}, ["base_image", "latest"]),
    "base-image-other-python": ({"python_version": "3.12", "base_image": "python:3.11-slim"},
                                ["base_image", "Python 3.11", "python_version is 3.12"]),
    "base-image-bad-digest": ({"base_image": "python:3.12-slim@sha256:xyz"}, ["base_image"]),
    "prefect-not-a-version": ({"prefect_version": "latest"},
                              ["prefect_version 'latest' is not a release number"]),
    "prefect-pre-release": ({"prefect_version": "3.0.0rc1"}, ["prefect_version", "pre-release", "final"]),
    "prefect-unsupported-major": ({"prefect_version": "4.0.0"},
                                  ["prefect_version 4.0.0", "not yet for Prefect 4"]),
    "prefect2-before-prefect-yaml-deployments": ({"prefect_version": "2.10.16"},
                                                 ["prefect_version 2.10.16 is older than 2.11.0",
                                                  "prefect.yaml"]),
    "prefect-never-published": ({"prefect_version": "3.4.99"},
                                ["prefect_version 3.4.99 was never published"]),
    "prefect3-on-old-python": ({"python_version": "3.9", "prefect_version": newest_prefect(3)},
                               ["python_version 3.9 cannot run", "Python 3.11 to 3.15"]),
    "prefect015-on-new-python": ({"python_version": "3.12", "prefect_version": OLDEST_LINE["newest"]},
                                 ["python_version", "Python 3.7 to 3.10"]),
    "prefect1-with-dask": ({"python_version": "3.11", "prefect_version": newest_prefect(1),
                            "task_runner": "dask"}, ["task_runner", "Prefect 2 or 3"]),
    "registry-not-a-registry": ({"image_registry": "not a registry"}, ["image_registry"]),
    "image-name-with-tag": ({"image_name": "flows:1.0"}, ["image_name"]),
    # platform: empty, os/arch[/variant], or a comma-separated list of them
    "platform-architecture-alone": ({"platform": "amd64"},
                                    ["platform 'amd64'", "write linux/amd64", "os/arch[/variant]"]),
    "platform-not-linux": ({"platform": "windows/amd64"}, ["platform 'windows/amd64'", "Linux image"]),
    "platform-unknown-architecture": ({"platform": "linux/x86_64"}, ["platform 'linux/x86_64'", "os/arch"]),
    "platform-upper-case": ({"platform": "Linux/AMD64"}, ["platform 'Linux/AMD64'"]),
    "platform-empty-item": ({"platform": "linux/amd64,,linux/arm64"}, ["platform", "empty item"]),
    "platform-twice": ({"platform": "linux/amd64, linux/amd64"}, ["platform", "twice"]),
    "platform-spaces-not-commas": ({"platform": "linux/amd64 linux/arm64"},
                                   ["platform 'linux/amd64 linux/arm64'", "separated by commas"]),
    # (No release of the oldest line installs on 3.11: psutil has no wheels, slim images no compiler.)
    "prefect015-on-python-311": ({"python_version": "3.11", "prefect_version": OLDEST_LINE["newest"]},
                                 ["python_version 3.11 cannot run", "Python 3.7 to 3.10"]),
    # extra_requirements: exact pins only (one pattern, in the pre-gen hook)
    "requirement-bare-name": ({"extra_requirements": "pandas"},
                              ["extra_requirements 'pandas' is not an exact pin", "pandas==<version>"]),
    "requirement-range": ({"extra_requirements": "pandas>=2.0"}, ["'pandas>=2.0' is not an exact pin"]),
    "requirement-two-clauses": ({"extra_requirements": "pandas==2.2.3,<3"}, ["'<3' is not an exact pin"]),
    "requirement-wildcard": ({"extra_requirements": "pandas==2.*"}, ["'pandas==2.*' is not an exact pin"]),
    "requirement-arbitrary-equality": ({"extra_requirements": "pandas===2.2.3"}, ["not an exact pin"]),
    "requirement-url": ({"extra_requirements": "pip@https://example.com/pip.whl"},
                        ["'pip@https://example.com/pip.whl' is not an exact pin", "pip==<version>"]),
    "requirement-garbage": ({"extra_requirements": "pandas==two"}, ["'pandas==two' is not an exact pin"]),
    "requirement-pip-option": ({"extra_requirements": "-e ."},
                               ["extra_requirements '-e' is not an exact pin"]),
    # ... and each package once in requirements.txt (the post-gen hook reads the file it rendered)
    "requirement-duplicate-case": ({"extra_requirements": "Pandas==2.2.3 pandas==2.2.2"},
                                   ["extra_requirements", "line 6 ('pandas==2.2.2') repeats 'pandas' from "
                                                          "line 5 ('Pandas==2.2.3')"]),
    "requirement-duplicate-separator": ({"extra_requirements": "typing_extensions==4.12.2 "
                                                               "typing-extensions==4.12.2"},
                                        ["repeats 'typing-extensions'"]),
    "requirement-second-prefect": ({"extra_requirements": "prefect==3.0.0"},
                                   ["extra_requirements",
                                    "('prefect==3.0.0') repeats 'prefect' from line 3"]),
    "requirement-template-pin-again": ({"extra_requirements": "prefect_docker==0.7.3"},
                                       ["repeats 'prefect-docker' from line 4"]),
    # Text every file can hold (check_text). Extra context is rendered by Jinja before the hook sees
    # it, so a Jinja marker reaches the hook only inside {% raw %} (typed answers keep it as typed).
    "name-with-newline": ({"project_name": "Sales\nFlows"}, ["project_name 'Sales\\nFlows'", "U+000A",
                                                              "on one line"]),
    "description-with-tab": ({"description": "Loads\tdata"}, ["description", "U+0009"]),
    "author-with-escape-sequence": ({"author_name": "Zoë\x1b[31m"}, ["author_name", "U+001B"]),
    "description-with-line-separator": ({"description": "a\u2028b"}, ["description", "U+2028"]),
    "description-with-jinja": ({"description": "{% raw %}Rows {{ n }}{% endraw %}"},
                               ["description 'Rows {{ n }}' has {{", "template"]),
    "name-with-jinja-comment": ({"project_name": "{% raw %}Flows {# 2 #}{% endraw %}"},
                                ["project_name 'Flows {# 2 #}' has {#"]),
    "slug-with-jinja-block": ({"project_slug": "{% raw %}{% x %}{% endraw %}"}, ["project_slug", "{%"]),
    "name-with-surrounding-spaces": ({"project_name": " Sales "}, ["project_name ' Sales '", "spaces"]),
    "empty-description": ({"description": ""}, ["description '' is empty"]),
    "email-not-an-address": ({"author_email": "nobody"}, ["author_email 'nobody' is not an address"]),
    # A project_name that slugifies to nothing: project_slug's default falls back to a name the hook
    # refuses (cookiecutter would otherwise fail to create a directory with no name).
    "name-without-letters": ({"project_name": "🚀 ★"}, ["project_name '🚀 ★' has no letters or digits",
                                                      "give project_slug"]),
    # hadolint cannot parse FROM <dotless host>:<port>/...; Docker can.
    "base-image-dotless-registry-with-port": ({"python_version": "3.12",
                                               "base_image": "localhost:5000/python:3.12-slim"},
                                              ["base_image", "127.0.0.1:5000"]),
    "kubernetes-namespace-too-long": ({"work_pool_type": "kubernetes", "project_slug": "a" * 64},
                                      ["project_slug", "at most 63 characters, not 64"]),
    "image-name-too-long": ({"image_name": "a" * 256}, ["image name of 256 characters", "at most 255"]),
    # A folder's name: one path segment, within NAME_MAX (a slug beyond it fails in cookiecutter's
    # mkdir, before any hook: tests/test_answers_property.py).
    "package-is-a-path": ({"package_name": "flows/etl"},
                          ["package_name 'flows/etl' has '/', which makes it a path of folders",
                           "one folder (src/<package_name>)"]),
    "package-with-backslash": ({"package_name": "flows\\etl"}, ["package_name 'flows\\\\etl' has '\\\\'"]),
    "package-dot-dot": ({"package_name": ".."}, ["package_name '..' is '..'"]),
    "package-with-nul": ({"package_name": "flows\0"}, ["package_name 'flows\\x00' has a NUL character"]),
    "package-too-long": ({"package_name": "p" * 256},
                         ["package_name has 256 bytes", "at most 255", "choose a shorter one"]),
    # Extra context that Jinja renders into another value: refused, naming the answer as given.
    "description-rendered": ({"description": "{{ cookiecutter.project_name }} flows"},
                             ["description '{{ cookiecutter.project_name }} flows' has {{",
                              "made it 'My Data Workflow flows'", "Give the text itself"]),
    "name-with-rendered-comment": ({"project_name": "Flows {# v2 #}"},
                                   ["project_name 'Flows {# v2 #}' has {#", "made it 'Flows '"]),
    "prefect-version-rendered": ({"prefect_version": "{{ cookiecutter._prefect_default }}.0"},
                                 ["prefect_version", "made it"]),
    "requirements-line-endings": ({"extra_requirements": "pandas==2.2.3\r\nnumpy==2.0.0"},
                                  ["extra_requirements 'pandas==2.2.3\\r\\nnumpy==2.0.0' came out of "
                                   "cookiecutter's rendering as 'pandas==2.2.3\\nnumpy==2.0.0'"]),
}


@pytest.mark.parametrize("answers,expected", list(BAD_ANSWERS.values()), ids=list(BAD_ANSWERS))
def test_a_bad_answer_is_refused_with_a_message_naming_the_fix(cookies, tmp_path, capfd,
                                                               answers, expected):
    result = cookies.bake(extra_context={**OFFLINE, **answers})
    assert isinstance(result.exception, FailedHookException)
    assert result.project_path is None
    errors = capfd.readouterr().err
    assert "ERROR:" in errors
    for words in expected:
        assert words in errors
    leftovers = [p for p in (tmp_path / "cookies").rglob("*")]
    assert leftovers in ([], [tmp_path / "cookies" / "bake00"]), "a half-made project was left behind"


def test_every_problem_is_reported_at_once(cookies, capfd):
    result = cookies.bake(extra_context={**OFFLINE, "package_name": "json", "base_image": "python"})
    assert isinstance(result.exception, FailedHookException)
    errors = capfd.readouterr().err
    assert "package_name" in errors and "base_image" in errors


def leftovers_after(root, deadline_seconds: float = 45) -> list:
    """What is under root, once the hook's clean-up of the folders above a refused project's
    directory (made by cookiecutter before the hook ran) has had its moment."""
    deadline = time.monotonic() + deadline_seconds
    while (left := list(root.rglob("*"))) and time.monotonic() < deadline:
        time.sleep(0.02)
    return left


@pytest.mark.parametrize("slug", ["flows/etl", "flows/etl/more", "flows/../etl", "flows\\etl"])
def test_a_slug_that_is_a_path_is_refused_and_its_folders_removed(cookies, tmp_path, capfd, slug):
    """cookiecutter makes the whole path before the pre-gen hook runs, and removes only the last
    folder when the hook refuses; the hook removes the ones above it."""
    result = cookies.bake(extra_context={**OFFLINE, "project_slug": slug})
    assert isinstance(result.exception, FailedHookException)
    errors = capfd.readouterr().err
    assert f"ERROR: project_slug {slug!r} has " in errors and "one folder (the project's directory)" in errors
    assert leftovers_after(tmp_path / "cookies" / "bake00") == []


def test_the_template_defaults_the_hook_knows_are_cookiecutter_json_s():
    """The hook lets an answer given as the template's own Jinja default through: it must know them all."""
    jinja = {key: value for key, value in COOKIECUTTER_JSON.items()
             if isinstance(value, str) and not key.startswith("_") and any(m in value for m in pre.MARKERS)}
    assert pre.TEMPLATE_DEFAULTS == jinja


@pytest.mark.parametrize("choices", [
    {"work_pool_type": "kubernetes", "task_runner": "dask", "ci": "github"},
    {"work_pool_type": "docker", "task_runner": "dask", "ci": "gitlab"},
    {"prefect_version": newest_prefect(1), "python_version": "3.10", "work_pool_type": "kubernetes"},
])
def test_the_hook_knows_the_deepest_path_the_project_holds(cookies, choices):
    """check_path_lengths counts src/<package_name>/ + DEEPEST_IN_PACKAGE, or DEEPEST_ELSEWHERE."""
    package = "p" * 40
    result = cookies.bake(extra_context={**OFFLINE, **choices, "package_name": package})
    assert result.exception is None, result.exception
    project = result.project_path
    in_package = len(f"src/{package}/{pre.DEEPEST_IN_PACKAGE}")
    for path in project.rglob("*"):
        relative = path.relative_to(project).as_posix()
        limit = in_package if relative.startswith(f"src/{package}/") else len(pre.DEEPEST_ELSEWHERE)
        assert len(os.fsencode(relative)) <= limit, relative
