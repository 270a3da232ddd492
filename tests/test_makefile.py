"""The generated Makefile: one short command for each everyday task, each listed in the README, and
the article's four (install, test, run, build) running exactly the commands the README's first
steps give, for real (`make`, GNU make 4).

The stack's targets (`up`, `deploy`, `run-deployment`, `down`) and `install` run in
tests/test_local_stack.py's Quick start; `lint` in tests/test_hygiene.py; the rest here.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from support.answer_sets import MAKEFILE
from support.commands import UV, docker, prefect_env, run
from support.containers import image_exists, remove_containers, remove_images

EVERYDAY = {"install", "test", "lint", "lock", "relock", "build", "run", "clean"}
STACK = {"up", "down", "deploy", "run-deployment"}
# The targets `make` lists for each kind of project (answers: MAKEFILE in support/answer_sets.py).
TARGETS = {
    "prefect3-docker": EVERYDAY | STACK,
    "prefect3-process-dask": EVERYDAY | STACK,
    "prefect2-docker-dask": EVERYDAY | STACK,
    "prefect3-kubernetes": EVERYDAY | {"deploy"},
    "prefect1-docker": EVERYDAY,
    "prefect3-docker-multiarch": EVERYDAY | STACK | {"push-platforms"},
}



def make(project, *args, env=None, check=True):
    return run(["make", *args], cwd=project, env=env, check=check, timeout=900)


def one_line_commands(readme: str) -> dict[str, str]:
    """{target: what it does} from the README's "One-line commands" table."""
    rows = {}
    for line in readme.splitlines():
        match = re.match(r"^\| `make ([a-z-]+)` \| (.+) \|$", line)
        if match:
            rows[match.group(1)] = match.group(2)
    return rows


def readme_step_commands(readme: str, heading: str) -> list[str]:
    """The commands of the first ```bash block after a heading (comments and `source` left out)."""
    section = readme.split(heading, 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("  #")[0].strip() for line in section.splitlines()]
    return [command for command in commands if command and not command.startswith(("#", "source "))]


# The article's four targets, and the first word of the README step each one runs.
ARTICLE_TARGETS = {"install": "uv sync", "test": "pytest", "run": "python workflow/flow.py",
                   "build": "docker build"}


def dry_run(project, target: str) -> str:
    """What `make target` would run, with the virtualenv's paths left out (the README's commands
    assume the virtualenv is active) and Compose spelled as the README spells it."""
    output = make(project, "-n", target, "COMPOSE=docker compose").output
    return re.sub(r"[ \t]+", " ", output.replace(".venv/bin/", ""))


@pytest.mark.parametrize("kind", list(MAKEFILE))
def test_make_alone_lists_the_targets_of_each_kind_of_project(offline_project, kind):
    answers, targets = MAKEFILE[kind], TARGETS[kind]
    project = offline_project(**answers)
    listed = set(re.findall(r"^  make (\S+)", make(project).output, re.MULTILINE))
    assert listed == targets | {"help"}


@pytest.mark.parametrize("kind", list(MAKEFILE))
def test_each_target_runs_the_commands_the_readme_gives(offline_project, kind):
    answers, targets = MAKEFILE[kind], TARGETS[kind]
    project = offline_project(**answers)
    readme = (project / "README.md").read_text()
    table = one_line_commands(readme)
    assert set(table) == targets, "the README's table lists every target, and no other"
    steps = (readme_step_commands(readme, "## Install, test and run")
             + readme_step_commands(readme, "## Build the image and run the flow in it"))
    for target, start in ARTICLE_TARGETS.items():
        [command] = [step for step in steps if step.startswith(start)]
        ran = dry_run(project, target)
        assert command in ran, f"make {target} runs:\n{ran}\nbut the README says: {command}"


def test_the_everyday_targets_run_for_real(tmp_path, bake_shared, base_image, docker_engine):
    """`make install`, `make test`, `make run`, `make build` and `make clean`, in a copy of the
    project as generated, with uv on PATH as the README asks."""
    shared = bake_shared(python_version="3.11")
    project = tmp_path / shared.name
    shutil.copytree(shared, project, symlinks=True)
    env = prefect_env(tmp_path / "prefect-home")
    env["PATH"] = f"{Path(UV).parent}{os.pathsep}{env['PATH']}"

    make(project, "install", env=env)
    tested = make(project, "test", env=env)
    assert re.search(r"\d+ passed", tested.output) and "failed" not in tested.output
    ran = make(project, "run", env=env)
    assert "total = 110" in ran.output and "Completed" in ran.output

    base_image("3.11")
    name = f"cpd-make-build-{tmp_path.name.lower()}"
    other = f"cpd-make-other-{tmp_path.name.lower()}:latest"
    try:
        # IMAGE_BUILD_NETWORK: the Makefile's own setting for an engine without a bridge network.
        make(project, "build", f"IMAGE_NAME={name}", env={**env, "IMAGE_BUILD_NETWORK": "host"})
        output = docker("run", "--name", f"{name}-run", "--network", "host", f"{name}:latest",
                        timeout=300).output
        assert "total = 110" in output
        # What a deploy leaves: a second tag of the image; and an image that is not the project's.
        docker("tag", f"{name}:latest", f"{name}:20261203-070000")
        docker("tag", "python:3.11-slim", other)

        make(project, "clean", f"IMAGE_NAME={name}", env=env)
        assert docker("images", "-q", name).output.strip() == "", "every tag of the project's image"
        assert docker("ps", "-aq", "--filter", f"name={name}-run").output.strip() == ""
        assert image_exists(other) and image_exists("python:3.11-slim"), "nothing else"
    finally:
        remove_containers(f"{name}-run")
        remove_images(f"{name}:latest", f"{name}:20261203-070000", other)


def test_make_lock_makes_the_same_lock_again(tmp_path, bake_shared):
    """Nothing changed, so `make lock` (uv lock) resolves as of the same day and leaves uv.lock
    as it was, byte for byte."""
    shared = bake_shared(python_version="3.11")
    project = tmp_path / shared.name
    shutil.copytree(shared, project, symlinks=True)
    before = (project / "uv.lock").read_bytes()
    env = dict(os.environ, PATH=f"{Path(UV).parent}{os.pathsep}{os.environ['PATH']}")
    make(project, "lock", env=env)
    assert (project / "uv.lock").read_bytes() == before
