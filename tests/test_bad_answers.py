"""Bad answers stop generation with a message that names the prompt and the fix, and leave
nothing behind."""

from __future__ import annotations

import pytest
from cookiecutter.exceptions import FailedHookException

from helpers import PREFECT_LINES, newest_prefect

OLDEST_LINE, NEWEST_LINE = PREFECT_LINES[0], PREFECT_LINES[-1]

OFFLINE = {"lock_requirements": "no"}

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
    "prefect-not-a-version": ({"prefect_version": "latest"}, ["prefect_version 'latest' is not a release number"]),
    "prefect-pre-release": ({"prefect_version": "3.0.0rc1"}, ["prefect_version", "pre-release", "final"]),
    "prefect-unsupported-major": ({"prefect_version": "4.0.0"}, ["prefect_version 4.0.0", "not yet for Prefect 4"]),
    "prefect2-before-prefect-yaml-deployments": ({"prefect_version": "2.10.13"},
                                                 ["prefect_version 2.10.13 is older than 2.10.14", "prefect.yaml"]),
    "prefect-never-published": ({"prefect_version": "3.4.99"}, ["prefect_version 3.4.99 was never published"]),
    "prefect3-on-old-python": ({"python_version": "3.9", "prefect_version": newest_prefect(3)},
                               ["python_version 3.9 cannot run", "Python 3.11 to 3.15"]),
    "prefect015-on-new-python": ({"python_version": "3.12", "prefect_version": OLDEST_LINE["newest"]},
                                 ["python_version", "Python 3.7 to 3.10"]),
    "prefect1-with-dask": ({"python_version": "3.11", "prefect_version": newest_prefect(1),
                            "task_runner": "dask"}, ["task_runner", "Prefect 2 or 3"]),
    "registry-not-a-registry": ({"image_registry": "not a registry"}, ["image_registry"]),
    "image-name-with-tag": ({"image_name": "flows:1.0"}, ["image_name"]),
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
