"""Bad answers stop generation with a message that names the prompt and the fix, and leave
nothing behind."""

from __future__ import annotations

import pytest
from cookiecutter.exceptions import FailedHookException

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
    "prefect-not-a-version": ({"prefect_version": "latest"}, ["prefect_version", "PEP 440"]),
    "prefect-unsupported-series": ({"prefect_version": "4.0.0"}, ["prefect_version", "series"]),
    "prefect-unsupported-minor": ({"prefect_version": "3.1.0"}, ["prefect_version", "3.9.x"]),
    "prefect3-on-old-python": ({"python_version": "3.9", "prefect_version": "3.9.1"},
                               ["python_version", "3.11 to 3.15"]),
    "prefect015-on-new-python": ({"python_version": "3.12", "prefect_version": "0.15.4"},
                                 ["python_version", "3.7 to 3.10"]),
    "prefect1-with-dask": ({"python_version": "3.11", "prefect_version": "1.4.1",
                            "task_runner": "dask"}, ["task_runner", "Prefect 2 or 3"]),
    "registry-not-a-registry": ({"image_registry": "not a registry"}, ["image_registry"]),
    "image-name-with-tag": ({"image_name": "flows:1.0"}, ["image_name"]),
    # The post-gen hook: requirements.txt
    "requirement-bare-name": ({"extra_requirements": "pandas"},
                              ["requirements.txt line 5", "'pandas'", "one exact version", "pandas=="]),
    "requirement-range": ({"extra_requirements": "pandas>=2.0"}, ["'pandas>=2.0'", "one exact version"]),
    "requirement-two-clauses": ({"extra_requirements": "pandas==2.2.3,<3"}, ["'<3'", "valid requirement"]),
    "requirement-wildcard": ({"extra_requirements": "pandas==2.*"}, ["'pandas==2.*'", "one exact version"]),
    "requirement-arbitrary-equality": ({"extra_requirements": "pandas===2.2.3"}, ["one exact version"]),
    "requirement-url": ({"extra_requirements": "pip@https://example.com/pip.whl"}, ["a URL"]),
    "requirement-garbage": ({"extra_requirements": "pandas==two"}, ["'pandas==two'", "valid requirement"]),
    "requirement-pip-option": ({"extra_requirements": "-e ."}, ["pip options"]),
    "requirement-duplicate-case": ({"extra_requirements": "Pandas==2.2.3 pandas==2.2.2"},
                                   ["line 6", "repeats 'pandas' from line 5"]),
    "requirement-duplicate-separator": ({"extra_requirements": "typing_extensions==4.12.2 "
                                                               "typing-extensions==4.12.2"},
                                        ["repeats 'typing-extensions'"]),
    "requirement-second-prefect": ({"extra_requirements": "prefect==3.9.0"},
                                   ["line 3", "repeats 'prefect'"]),
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
