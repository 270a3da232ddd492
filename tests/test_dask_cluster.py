"""A Dask worker dies mid-run: the flow run completes on the others, and a new worker from the
same image joins the scheduler (the generated README's "When something dies").

The README's own commands start the cluster, run the flow on it directly and as a deployment, and
stop it in tests/test_journeys.py; this test adds what no README command does: killing a worker.
The cluster is started as the README starts it (deploy/docker-compose.dask.yml, through the same
Compose 1.29 translation as the journeys: journeys.compose_v1_command), from the project's image;
the Prefect server and the flow run are containers of that image too, on the host's network.
"""

from __future__ import annotations

import os
import re
import signal

import pytest

from support.answer_sets import DASK_CLUSTER
from support.commands import docker, run
from support.containers import remove_containers, remove_repository
from support.journeys import compose_v1_command
from support.network import free_port, http_json
from support.processes import wait_until

RECORDS, WORK_SECONDS = 40, 1.0  # 40 one-second tasks on 2 workers x 2 threads: about 10 s of work
RUN_FLOW = "from {package}.flows import main_flow; main_flow(n={n}, work_seconds={seconds})"


def logs(container: str) -> str:
    return docker("logs", container, check=False).output


def running(container: str) -> bool:
    return docker("inspect", "-f", "{{.State.Running}}", container, check=False).output.strip() == "true"


@pytest.fixture(params=list(DASK_CLUSTER))
def cluster(request, bake_shared, project_image, base_image, session_token, tmp_path):
    """The project's cluster (scheduler and two workers, by its compose file) and a Prefect
    server, all from the project's image; everything is removed afterwards."""
    answers = DASK_CLUSTER[request.param]
    base_image(answers["python_version"])
    name = f"cpd-{session_token}-dask-kill-{request.param}"
    project = bake_shared(**answers, project_name=name, image_name=name)
    # The classic builder, as `prefect deploy` builds: its layers are the journeys'.
    built = project_image(project, "classic")
    docker("tag", built, f"{name}:latest")  # the image the compose file names
    ports = {"DASK_SCHEDULER_PORT": str(free_port()), "DASK_DASHBOARD_PORT": str(free_port())}
    api = f"http://127.0.0.1:{free_port()}/api"
    server = f"{name}-server"

    def compose(arguments: str):
        command, project_name = compose_v1_command(f"-f deploy/docker-compose.dask.yml {arguments}",
                                                   project, tmp_path / "compose-v1")
        return run(command, cwd=project, env={**os.environ, **ports}, timeout=300), project_name

    try:
        docker("run", "-d", "--network", "host", "--name", server, "-e", "PREFECT_UI_ENABLED=false",
               "-e", "PREFECT_SERVER_ANALYTICS_ENABLED=false", f"{name}:latest", "prefect", "server",
               "start", "--host", "127.0.0.1", "--port", api.split(":")[2].split("/")[0])
        _, compose_project = compose("up -d")

        def containers(service: str) -> list[str]:
            return docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={compose_project}",
                          "--filter", f"label=com.docker.compose.service={service}").output.split()

        [scheduler] = containers("dask-scheduler")
        workers = containers("dask-worker")
        assert len(workers) == 2, "the compose file starts two workers"
        wait_until(lambda: logs(scheduler).count("Register worker") >= 2, 180,
                   "both workers to register with the scheduler")
        wait_until(lambda: http_json(f"{api}/health") is True, 180, "the Prefect server")
        yield {"project": project, "image": f"{name}:latest", "api": api, "scheduler": scheduler,
               "workers": workers, "address": f"tcp://127.0.0.1:{ports['DASK_SCHEDULER_PORT']}",
               "flow": f"{name}-flow"}
    finally:
        compose("down")
        remove_containers(server, f"{name}-flow")
        remove_repository(name)


def test_the_flow_completes_when_a_dask_worker_dies_mid_run_and_a_new_one_joins(cluster):
    package = next((cluster["project"] / "src").iterdir()).name
    completed = {"task_runs": {"state": {"type": {"any_": ["COMPLETED"]}}, "name": {"like_": "transform"}}}

    def completed_tasks() -> int:
        return http_json(f"{cluster['api']}/task_runs/count", completed) or 0

    flow = RUN_FLOW.format(package=package, n=RECORDS, seconds=WORK_SECONDS)
    docker("run", "-d", "--network", "host", "--name", cluster["flow"],
           "-e", f"PREFECT_API_URL={cluster['api']}", "-e", f"DASK_SCHEDULER_ADDRESS={cluster['address']}",
           cluster["image"], "python", "-c", flow)
    victim, survivor = cluster["workers"]
    victim_address = re.search(r"Start worker at:\s+(tcp://\S+)", logs(victim)).group(1)

    # Some of the run's tasks have completed, the rest are queued on or running at both workers:
    # the victim dies as a crashed process does (SIGKILL, no goodbye to the scheduler).
    wait_until(lambda: completed_tasks() >= 4 or not running(cluster["flow"]), 240,
               "the first tasks to complete")
    assert running(cluster["flow"]), "the flow ended before a worker could die:\n" + logs(cluster["flow"])
    pid = int(docker("inspect", "-f", "{{.State.Pid}}", victim).output)
    os.kill(pid, signal.SIGKILL)

    exit_code = docker("wait", cluster["flow"], timeout=300).output.strip()
    output = logs(cluster["flow"])
    assert exit_code == "0", output[-5000:]
    assert f"total = {2 * sum(range(1, RECORDS + 1))}" in output
    assert "Finished in state Completed()" in output
    assert f"Remove worker addr: {victim_address}" in logs(cluster["scheduler"])
    assert "Task run 'transform-" in logs(survivor), "the surviving worker ran tasks"

    # Compose's restart policy (`restart: unless-stopped`) starts the worker again from the same
    # image, and it joins the scheduler.
    wait_until(lambda: logs(cluster["scheduler"]).count("Register worker") >= 3, 120,
               "the restarted worker to register with the scheduler")
    restarts = docker("inspect", "-f", "{{.RestartCount}}", victim).output.strip()
    assert int(restarts) >= 1 and running(victim)
