"""Every code reference in a generated README and its docs/ is true of the project it came with:
files, commands with their subcommands and flags, quoted code and decorator arguments, variables,
config keys, links (tests/support/readme_references.py says how each is checked).

The projects are the README journeys' own and the other variants the journeys read
(tests/test_journeys.py), so their bakes and virtualenvs are shared: the commands' flags are
checked by the real `--help` of the Prefect, pip and pytest that the README's install step put in
a virtualenv of the same Prefect line.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.answer_sets import README_ONLY
from support.journey_fixtures import journey_answers
from support.readme_references import false_references
from test_journeys import JOURNEYS, other_variant_answers

DEV_BIN = Path(__file__).resolve().parents[1] / ".venv" / "bin"  # cruft, uv: the template's tools
JOURNEY = {journey.name: journey for journey in JOURNEYS}
# Each variant with the journey whose install gives it a virtualenv of its Prefect line.
VARIANTS = {
    "prefect3-dask": "prefect3-install-test-run",
    "prefect3-process-pool": "prefect3-install-test-run",
    "prefect3-install-test-run": "prefect3-install-test-run",
    "prefect2-dask": "prefect2-install-test-run",
    "prefect2-install-test-run": "prefect2-install-test-run",
    "prefect1-install-test-run": "prefect1-install-test-run",
    **{name: f"prefect{name[len('prefect')]}-install-test-run" for name in README_ONLY},
}


@pytest.fixture
def checked_project(journey_bake, bake_shared, installed, session_token, tools, tmp_path):
    """checked_project(variant): a copy of the variant's project, with the virtualenv of its
    Prefect line as its .venv; and the folders its commands are looked up in first."""

    def make(variant: str) -> tuple[Path, list[Path]]:
        if variant in JOURNEY:
            baked = journey_bake(JOURNEY[variant])
        else:
            baked = bake_shared(**other_variant_answers(variant, session_token))
        venv_home, install = installed(journey_bake(JOURNEY[VARIANTS[variant]]))
        assert install["ok"], "the README's install section failed:\n" + install["report"]
        project = tmp_path / "project"
        shutil.copytree(baked, project, symlinks=True)
        (project / ".venv").symlink_to(venv_home / ".venv")
        return project, [project / ".venv" / "bin", tools, DEV_BIN]

    return make


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_code_reference_in_the_readme_is_true(checked_project, variant):
    project, path = checked_project(variant)
    assert false_references(project, path) == []


PLANTED = """
## Planted by the test: each reference below is false

- the flow lives in `src/{package}/nowhere.py`, see `workflow/flow.py:no_such_flow`;
- `@task(retries=5, retry_delay_seconds=10)` in `src/{package}/flows.py`;
- `from {package}.components import ComponentZ`;
- `make no-such-target`, `prefect deploy --no-such-flag`, `prefect no-such-command`;
- `docker compose -f deploy/docker-compose.dask.yml up --no-such-option`;
- `python workflow/flow.py --no-such-option`, `NO_SUCH_VARIABLE`, `image_pull_policy: Sometimes`;
- [a file that is not there](docs/nowhere.md), [a heading that is not there](docs/dask.md#no-such-heading).

```bash
pip install --no-such-option -r requirements.txt
docker run --rm --no-such-docker-flag {image}:latest
```
"""
# Planted in a file of docs/: the docs are checked as the README is.
PLANTED_IN_DOCS = """
## Planted by the test

`make no-such-docs-target`, [back](../README.md#no-such-readme-heading).
"""


def test_the_reference_check_reports_each_planted_false_reference(checked_project, session_token):
    project, path = checked_project("prefect3-dask")
    package = next((project / "src").iterdir()).name
    image = journey_answers(JOURNEY["prefect3-dask"], session_token)["image_name"]
    readme = (project / "README.md").read_text() + PLANTED.format(package=package, image=image)
    dask = project / "docs" / "dask.md"
    dask.write_text(dask.read_text() + PLANTED_IN_DOCS)
    reported = "\n".join(false_references(project, path, readme))
    for false in (f"no file or folder src/{package}/nowhere.py",
                  "workflow/flow.py has no no_such_flow",
                  "the code @task(retries=5, retry_delay_seconds=10) is nowhere",
                  f"{package}.components defines no ComponentZ",
                  "the Makefile has no target no-such-target",
                  "`prefect deploy` has no option --no-such-flag",
                  "`prefect` has no command no-such-command",
                  "`docker-compose up` has no option --no-such-option",
                  "workflow/flow.py takes no --no-such-option",
                  "the variable NO_SUCH_VARIABLE is read nowhere",
                  "image_pull_policy: Sometimes is in no file",
                  "`pip install` has no option --no-such-option",
                  "`docker run` has no option --no-such-docker-flag",
                  "README.md links to docs/nowhere.md: no such file",
                  "README.md links to docs/dask.md#no-such-heading: dask.md has no heading",
                  "docs/dask.md shows `make no-such-docs-target`: the Makefile has no target",
                  "docs/dask.md links to ../README.md#no-such-readme-heading: README.md has no heading"):
        assert false in reported, f"not reported: {false}\n\nreported:\n{reported}"
