"""The release matrix: projects for older Prefect releases build, run their flow, and deploy.

Each release is baked with the lock (lock_requirements=yes, the default), its image built with the
classic builder (the one `prefect deploy`'s build step uses), and its flow run in the image to
Completed. One older 3.x and one 2.x release also deploy, through `prefect deploy --all`, to a
Docker worker against a server of the same release, and that deployment's run reaches Completed.
CI runs one release per minor line the issue names; the nightly run (CPD_NIGHTLY=1) every 3.x
minor's newest release and every supported 2.x minor's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import NIGHTLY_ONLY

from support.commands import PATIENT_PREFECT, docker, run
from support.containers import image_exists, remove_repository
from support.network import free_port, http_json
from support.processes import Background, wait_until
from support.template import DEFAULT_PREFECT, TEMPLATE_DIR, prefect_release_module

HOOK = prefect_release_module()
RECORD = json.loads((TEMPLATE_DIR / "hooks" / "prefect-releases.json").read_text())


def _number(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def python_for(version: str) -> str:
    """The Python a release's project is built on here: 3.12 where the release allows it (2.x
    before 2.14 and 3.9 have no 3.12 or want 3.11+: 3.11), within the machine's 3.9-3.13."""
    return "3.11" if _number(version) < (2, 14) else "3.12"


# CI: one release from each of 3.0/3.1, 3.4, 3.6, 3.8 and 3.9, and 2.11 (2.11.0, the oldest
# supported), 2.19 and 2.20; the nightly run (CPD_NIGHTLY=1) adds every other minor's newest. The
# default release is baked exactly as tests/test_docker.py bakes it (Python 3.12,
# python:3.12-slim), so both share one bake and one classic-builder image.
CI_RELEASES = ["3.1.15", "3.4.25", "3.6.29", "3.8.8", DEFAULT_PREFECT, "2.11.0", "2.19.9", "2.20.27"]


def newest_of_each_minor() -> list[str]:
    """Each 3.x minor's newest release and each supported 2.x minor's (2.11 on), from the record."""
    newest: dict[tuple[int, int], str] = {}
    for row in RECORD["projects"]["prefect"]:
        number = _number(row[0])
        if number[:1] == (3,) or (number[:1] == (2,) and number >= HOOK.FIRST_2X):
            if number > _number(newest.get(number[:2], "0.0.0")):
                newest[number[:2]] = row[0]
    return [newest[minor] for minor in sorted(newest)]


NIGHTLY_RELEASES = [v for v in newest_of_each_minor() if v not in CI_RELEASES]
MATRIX = [*CI_RELEASES, *(pytest.param(v, id=v, marks=NIGHTLY_ONLY) for v in NIGHTLY_RELEASES)]
# The deployment tests: an older 3.x release and the oldest supported 2.x release (2.11.0;
# hooks/prefect_release.py FIRST_2X says why not 2.10.x). The journeys deploy the default.
DEPLOYED = ["3.1.15", "2.11.0"]
FLOW_COMPLETED = re.compile(r"Flow run '[^']+' - Finished in state Completed\(\)")


def answers_for(version: str) -> dict:
    python = python_for(version)
    answers = {"python_version": python, "base_image": f"python:{python}-slim"}
    return answers if version == DEFAULT_PREFECT else {**answers, "prefect_version": version}


@pytest.fixture(scope="module")
def release_project(bake_shared, base_image):
    """release_project('3.4.25'): the locked project of that release, baked once per session."""

    def bake(version: str) -> Path:
        base_image(python_for(version))  # the base image must be on the engine
        project = bake_shared(**answers_for(version))
        assert (project / "uv.lock").exists(), "lock_requirements=yes made no uv.lock"
        assert f"prefect=={version}" in (project / "requirements.txt").read_text()
        return project

    return bake


@pytest.mark.parametrize("version", MATRIX)
def test_the_releases_image_builds_with_the_classic_builder_and_runs_its_flow(release_project,
                                                                              project_image, version):
    image = project_image(release_project(version), "classic")
    patience = [f"--env={name}={value}" for name, value in PATIENT_PREFECT.items()]
    result = docker("run", "--rm", "--network", "host", *patience, image, timeout=600)
    assert FLOW_COMPLETED.search(result.output), result.output[-4000:]
    assert "total = 110" in result.output
    shown = docker("run", "--rm", "--network", "host", "--entrypoint", "python", image, "-c",
                   "import prefect, sys; print(prefect.__version__, '%d.%d' % sys.version_info[:2])")
    assert shown.output.split()[-2:] == [version, python_for(version)]


# ----------------------------------------------------------------------------- deployment


def prefect_env(home: Path, venv: Path, api: str) -> dict:
    """The environment of the server, worker and `prefect deploy`: the release's venv first on
    PATH, a Prefect home of its own, the template's settings for an engine without a bridge."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT_", "DASK_")) and k != "VIRTUAL_ENV"}
    return {**env, **PATIENT_PREFECT, "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
            "PREFECT_HOME": str(home), "PREFECT_API_URL": api, "PREFECT_UI_ENABLED": "false",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "IMAGE_BUILD_NETWORK": "host",
            "PREFECT_FLOW_NETWORK": "host"}


@pytest.mark.parametrize("version", DEPLOYED)
def test_the_release_deploys_to_a_docker_worker_of_a_server_of_the_same_release(
        request, tmp_path, release_project, installed_venv, project_image, docker_engine, version):
    shared = release_project(version)
    project_image(shared, "classic")  # the deploy's build then finds every layer in the cache
    venv = installed_venv(shared, python_for(version))
    project = tmp_path / shared.name
    shutil.copytree(shared, project, symlinks=True)
    # An image name of this test's own: the build step also tags it `latest`.
    image_name = f"cpd-deploy-{uuid.uuid4().hex[:8]}"
    config_path = project / "prefect.yaml"
    config_text = config_path.read_text()
    config = yaml.safe_load(config_text)
    old_name = config["build"][0]["prefect_docker.deployments.steps.build_docker_image"]["image_name"]
    config_path.write_text(config_text.replace(f'image_name: "{old_name}"', f'image_name: "{image_name}"'))
    [deployment] = config["deployments"]
    pool = deployment["work_pool"]["name"]

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(tmp_path / "prefect-home", venv, api)
    prefect = str(venv / "bin" / "prefect")
    server = Background([prefect, "server", "start", "--host", "127.0.0.1", "--port", port],
                        tmp_path / "server.log", env=env, cwd=tmp_path)
    request.addfinalizer(server.stop)
    wait_until(lambda: http_json(f"{api}/health") is not None or not server.alive(), 180,
               "the Prefect server to answer")
    assert server.alive(), server.output()[-4000:]
    server_version = http_json(f"{api}/admin/version")
    assert server_version == version, server_version

    # The worker creates its Docker work pool from prefect-docker's own job template (no
    # collection registry needed); the deployment then names an existing pool.
    worker = Background([prefect, "worker", "start", "--pool", pool, "--type", "docker"],
                        tmp_path / "worker.log", env=env, cwd=tmp_path)
    request.addfinalizer(worker.stop)
    wait_until(lambda: http_json(f"{api}/work_pools/{pool}") or not worker.alive(), 180,
               "the worker to create its work pool")
    assert worker.alive(), worker.output()[-4000:]

    request.addfinalizer(lambda: remove_repository(image_name))

    # (--no-prompt as the global option: 3.1.15 `prefect deploy` has no option of that name.)
    deployed = run([prefect, "--no-prompt", "deploy", "--all"], cwd=project, env=env, timeout=900, input="")
    [created] = http_json(f"{api}/deployments/filter", {}) or [None]
    assert created, deployed.output[-4000:]
    job_variables = created.get("job_variables") or created.get("infra_overrides") or {}
    assert job_variables.get("image", "").startswith(f"{image_name}:"), job_variables
    assert image_exists(job_variables["image"])

    flow_run = http_json(f"{api}/deployments/{created['id']}/create_flow_run", {})
    assert flow_run and "id" in flow_run, flow_run

    def finished():
        state = (http_json(f"{api}/flow_runs/{flow_run['id']}") or {}).get("state") or {}
        return state if state.get("type") in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

    state = wait_until(finished, 600, "the deployment's flow run to finish", interval=2)
    logs = http_json(f"{api}/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run["id"]]}}}) or []
    messages = "\n".join(log["message"] for log in logs)
    assert state["type"] == "COMPLETED", f"{state}\n{messages}\n--- worker:\n{worker.output()[-4000:]}"
    assert "total = 110" in messages
    # auto_remove: the run's container is gone once it has finished.
    left = ["ps", "-aq", "--filter", f"ancestor={job_variables['image']}"]
    wait_until(lambda: not docker(*left).output.split(), 30, "the flow run's container to be removed")
