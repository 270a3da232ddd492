"""`prefect deploy` from a generated project, run on a real Docker work pool.

For each Prefect major: a real `prefect server start`, a real `prefect worker start --type docker`,
`prefect deploy --all` with the project's own prefect.yaml (its build step builds the image on the
local engine with Prefect's classic docker-py builder), then a run of the deployment, which must
reach Completed inside a container made from exactly that image.

The only settings the test adds are what this machine needs, passed the way a user would pass them:
IMAGE_BUILD_NETWORK=host for the build (the engine has no bridge network; prefect.yaml reads it),
and for the run the job variables network_mode=host and PREFECT_API_URL, plus a label that lets
the test find and remove the flow run's container.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import pytest
import yaml

from helpers import docker, image_exists, run
from services import Background, free_port, http_json, remove_containers, wait_until

# The same answers as tests/test_install.py, so the baked project and its virtualenv are shared.
PROJECTS = {
    "prefect3": {"python_version": "3.11"},
    "prefect2": {"python_version": "3.11", "prefect_version": "2.20.25"},
}


def deployment_env(home: Path, api_url: str, venv: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_CLI_WRAP_LINES="false",
        PREFECT_WORKER_QUERY_SECONDS="2",  # poll for scheduled runs every 2 s, not 10
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def prefect_stack(request, tmp_path, bake_shared, installed_venv, docker_engine, base_image):
    """A copy of the baked project, its virtualenv, a Prefect server and a Docker worker on the
    project's work pool; everything started here is stopped and removed afterwards."""
    answers = PROJECTS[request.param]
    base_image(answers["python_version"])
    shared = bake_shared(**answers)
    venv = installed_venv(shared, answers["python_version"])
    # `prefect deploy` works in (and may write to) the project folder: use a copy, so the shared
    # bake (whose digest keys other tests' images and virtualenvs) stays as it was.
    project = tmp_path / shared.name
    shutil.copytree(shared, project, symlinks=True)
    config = yaml.safe_load((project / "prefect.yaml").read_text())
    [deployment] = config["deployments"]

    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = deployment_env(tmp_path / "prefect-home", api, venv)
    label = f"cpd-test-deploy={uuid.uuid4().hex[:12]}"
    prefect = str(venv / "bin" / "prefect")
    started: list[Background] = []
    images: list[str] = []
    stack = {"project": project, "env": env, "api": api, "prefect": prefect, "label": label,
             "deployment": deployment, "config": config, "images": images}
    try:
        server = Background([prefect, "server", "start", "--host", "127.0.0.1", "--port", port],
                            tmp_path / "server.log", env=env, cwd=tmp_path)
        started.append(server)
        wait_until(lambda: http_json(f"{api}/health") is True or not server.alive(), 180,
                   "the Prefect server")
        assert server.alive(), server.output()
        pool = deployment["work_pool"]["name"]
        run([prefect, "work-pool", "create", pool, "--type", "docker"], env=env, cwd=tmp_path)
        worker = Background([prefect, "worker", "start", "--pool", pool, "--type", "docker"],
                            tmp_path / "worker.log", env=env, cwd=tmp_path)
        started.append(worker)
        stack["worker"] = worker
        yield stack
    finally:
        for process in reversed(started):
            process.stop(grace=5)
        remove_containers(label=label)
        for image in images:
            remove_image_and_latest(image)


def remove_image_and_latest(image: str) -> None:
    """Remove the tag a deploy built, and its `latest` tag if that still points at the same image."""
    if not image_exists(image):
        return
    image_id = docker("image", "inspect", "-f", "{{.Id}}", image).output.strip()
    latest = image.rsplit(":", 1)[0] + ":latest"
    tags = [image]
    if docker("image", "inspect", "-f", "{{.Id}}", latest, check=False).output.strip() == image_id:
        tags.append(latest)
    docker("rmi", *tags, check=False)


def api_get(stack, path: str):
    answer = http_json(f"{stack['api']}{path}")
    assert answer is not None, f"GET {path} failed"
    return answer


def api_post(stack, path: str, body: dict):
    answer = http_json(f"{stack['api']}{path}", body)
    assert answer is not None, f"POST {path} failed"
    return answer


@pytest.mark.parametrize("prefect_stack", list(PROJECTS), ids=list(PROJECTS), indirect=True)
def test_a_deployment_built_by_prefect_deploy_runs_in_its_image_on_a_docker_worker(prefect_stack):
    stack = prefect_stack
    prefect, env, project = stack["prefect"], stack["env"], stack["project"]
    deployment = stack["deployment"]
    flow_name = stack["config"]["name"]  # the flow's name is the project slug too

    # Build the image with the project's build step, create the deployment.
    deploy = run([prefect, "--no-prompt", "deploy", "--all"], cwd=project, timeout=900,
                 env={**env, "IMAGE_BUILD_NETWORK": "host"})
    assert "Successfully built" in deploy.output, deploy.output[-3000:]

    created = api_get(stack, f"/deployments/name/{flow_name}/{deployment['name']}")
    job_variables = created.get("job_variables") or created.get("infra_overrides")
    image = job_variables["image"]
    stack["images"].append(image)
    image_name, tag = image.rsplit(":", 1)
    assert image_name == stack["config"]["build"][0][
        "prefect_docker.deployments.steps.build_docker_image"]["image_name"]
    assert tag != "latest", "each deploy has a tag of its own"
    assert image_exists(image), f"the build step did not leave {image} on the engine"
    assert job_variables["image_pull_policy"] == "IfNotPresent"
    assert created["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/app"}}]
    assert created["entrypoint"] == "workflow/flow.py:main_flow"

    # Run it. The flow run's container must reach the server on 127.0.0.1: host network.
    started = run([prefect, "deployment", "run", f"{flow_name}/{deployment['name']}",
                   "--param", "n=4",
                   "--job-variable", "network_mode=host",
                   "--job-variable", "env=" + json.dumps({"PREFECT_API_URL": stack["api"]}),
                   "--job-variable", "labels=" + json.dumps(dict([stack["label"].split("=")]))],
                  env=env, cwd=project, timeout=120)
    [flow_run] = api_post(stack, "/flow_runs/filter",
                          {"deployments": {"id": {"any_": [created["id"]]}}})

    def finished():
        state = api_get(stack, f"/flow_runs/{flow_run['id']}")["state"]
        return state if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

    state = wait_until(finished, 300, "the flow run to finish", interval=2)
    assert state["type"] == "COMPLETED", (state, started.output, stack["worker"].output()[-4000:])

    # It ran in a container made from the image the deploy built, and computed the right total.
    containers = docker("ps", "-a", "--filter", f"label={stack['label']}",
                        "--format", "{{.Image}} {{.Names}}").output.split("\n")
    assert [line.split()[0] for line in containers if line] == [image]

    def printed_total():
        logs = api_post(stack, "/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run["id"]]}}})
        return any("total = 20" in log["message"] for log in logs)

    wait_until(printed_total, 30, "the flow run's log line 'total = 20'")


PROCESS_PROJECTS = {
    "prefect3": {"python_version": "3.11", "work_pool_type": "process"},
    "prefect2": {"python_version": "3.11", "work_pool_type": "process", "prefect_version": "2.20.25"},
}


@pytest.mark.parametrize("answers", list(PROCESS_PROJECTS.values()), ids=list(PROCESS_PROJECTS))
def test_a_process_worker_in_the_projects_image_runs_the_deployment(bake_shared, project_image,
                                                                     base_image, answers):
    """The README's process pool: the worker runs in the project's image, and so does every
    other Prefect command here (server, work-pool create, deploy, run): one image everywhere."""
    base_image(answers["python_version"])
    project = bake_shared(**answers)
    image = project_image(project)
    config = yaml.safe_load((project / "prefect.yaml").read_text())
    [deployment] = config["deployments"]
    pool = deployment["work_pool"]["name"]
    prefix = f"cpd-process-{uuid.uuid4().hex[:8]}"
    api = f"http://127.0.0.1:{free_port()}/api"
    port = api.split(":")[2].split("/")[0]
    names = [f"{prefix}-server", f"{prefix}-worker"]

    def prefect(*args: str, name: str | None = None, detach: bool = False):
        options = ["-d"] if detach else ["--rm"]
        if name:
            options += ["--name", name]
        return docker("run", *options, "--network", "host", "-e", f"PREFECT_API_URL={api}",
                      "-e", "PREFECT_WORKER_QUERY_SECONDS=2", "-e", "PREFECT_UI_ENABLED=false",
                      "-e", "PREFECT_SERVER_ANALYTICS_ENABLED=false", image, "prefect", *args,
                      timeout=300)

    try:
        prefect("server", "start", "--host", "127.0.0.1", "--port", port, name=names[0], detach=True)
        wait_until(lambda: http_json(f"{api}/health") is True, 180, "the Prefect server")
        prefect("work-pool", "create", pool, "--type", "process")
        prefect("worker", "start", "--pool", pool, "--type", "process", name=names[1], detach=True)
        prefect("--no-prompt", "deploy", "--all")
        created = http_json(f"{api}/deployments/name/{config['name']}/{deployment['name']}")
        assert created["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": "/app"}}]
        prefect("deployment", "run", f"{config['name']}/{deployment['name']}", "--param", "n=4")
        [flow_run] = http_json(f"{api}/flow_runs/filter",
                               {"deployments": {"id": {"any_": [created["id"]]}}})

        def finished():
            state = http_json(f"{api}/flow_runs/{flow_run['id']}")["state"]
            return state if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

        state = wait_until(finished, 300, "the flow run to finish", interval=2)
        worker_log = docker("logs", names[1]).output
        assert state["type"] == "COMPLETED", (state, worker_log[-4000:])
        # The run was a process of the worker's container: its log lines are in that container's.
        wait_until(lambda: "total = 20" in docker("logs", names[1]).output, 30,
                   "the flow run's 'total = 20' in the worker container's log")
    finally:
        remove_containers(*names)
