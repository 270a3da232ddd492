"""A Dask cluster made from the generated project's image runs the flow's tasks, and survives
losing a worker mid-run.

The scheduler and the two workers are started as deploy/docker-compose.dask.yml describes them
(its image and commands, with its ${VARIABLES} filled in), with plain `docker run --network host`:
the compose file uses the host network too, and this machine has no compose plugin. The Prefect
server and the flow run are containers of the same image, so client and workers have the same
Python and packages, as Dask's pickling needs.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import yaml

from helpers import docker
from services import free_port, http_json, remove_containers, wait_until

PROJECTS = {
    "prefect3": {"python_version": "3.11", "task_runner": "dask"},
    "prefect2": {"python_version": "3.11", "task_runner": "dask", "prefect_version": "2.20.25"},
}

# Runs main_flow from the image's workflow/flow.py and prints its result as JSON.
RUN_FLOW = """
import json, runpy, sys
flow = runpy.run_path("workflow/flow.py")["main_flow"]
print("RESULT " + json.dumps(flow(n=int(sys.argv[1]), work_seconds=float(sys.argv[2]))))
"""


def interpolate(value: str, variables: dict) -> str:
    """Compose's ${NAME:-default} and ${NAME}, from variables."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}",
                  lambda m: str(variables.get(m.group(1), m.group(2) or "")), value)


def compose_services(project, variables: dict) -> dict:
    compose = yaml.safe_load((project / "deploy" / "docker-compose.dask.yml").read_text())
    services = {}
    for name, service in compose["services"].items():
        assert service["network_mode"] == "host"
        services[name] = {
            "image": interpolate(service["image"], variables),
            "command": [interpolate(part, variables) for part in service["command"]],
            "replicas": service.get("deploy", {}).get("replicas", 1),
        }
    return services


def logs(container: str) -> str:
    return docker("logs", container, check=False).output


def running(container: str) -> bool:
    state = docker("inspect", "-f", "{{.State.Running}}", container, check=False).output.strip()
    return state == "true"


def result_of(output: str) -> dict:
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert lines, output[-5000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.fixture(scope="module", params=list(PROJECTS), ids=list(PROJECTS))
def cluster(request, bake_shared, project_image, base_image):
    """A Prefect server, a Dask scheduler and its workers, all containers of the project's image."""
    answers = PROJECTS[request.param]
    base_image(answers["python_version"])
    project = bake_shared(**answers)
    image = project_image(project)
    prefix = f"cpd-dask-{uuid.uuid4().hex[:8]}"
    scheduler_port, api_port = free_port(), free_port()
    services = compose_services(project, {"DASK_SCHEDULER_PORT": scheduler_port,
                                          "DASK_DASHBOARD_PORT": free_port()})
    # The compose file names the image the project builds; the test runs the one it built.
    image_name = project.joinpath("prefect.yaml").read_text().split("image_name: ")[1].split()[0]
    assert services["dask-scheduler"]["image"] == f"{image_name}:latest"
    names: list[str] = []

    def start(name: str, *args: str) -> str:
        names.append(f"{prefix}-{name}")
        docker("run", "-d", "--network", "host", "--name", names[-1], *args)
        return names[-1]

    api = f"http://127.0.0.1:{api_port}/api"
    try:
        # The server's UI would write into site-packages, which the image's user cannot.
        server = start("server", "-e", "PREFECT_UI_ENABLED=false",
                       "-e", "PREFECT_SERVER_ANALYTICS_ENABLED=false",
                       image, "prefect", "server", "start", "--host", "127.0.0.1",
                       "--port", str(api_port))
        scheduler = start("scheduler", image, *services["dask-scheduler"]["command"])
        workers = [start(f"worker-{i}", image, *services["dask-worker"]["command"])
                   for i in range(services["dask-worker"]["replicas"])]
        assert len(workers) == 2
        addresses = {}
        for worker in workers:
            found = wait_until(lambda w=worker: re.search(r"Start worker at:\s+(tcp://\S+)", logs(w)),
                               120, f"{worker} to start")
            addresses[worker] = found.group(1)
        wait_until(lambda: logs(scheduler).count("Register worker") >= 2, 60,
                   "both workers to register with the scheduler")
        wait_until(lambda: http_json(f"{api}/health") is True, 180, "the Prefect server")
        yield {"image": image, "prefix": prefix, "api": api, "names": names,
               "scheduler": scheduler, "scheduler_address": f"tcp://127.0.0.1:{scheduler_port}",
               "workers": workers, "addresses": addresses, "server": server,
               "worker_command": services["dask-worker"]["command"]}
    finally:
        remove_containers(*names)


def flow_command(cluster, name: str, n: int, work_seconds: float, *docker_args: str) -> list[str]:
    cluster["names"].append(f"{cluster['prefix']}-{name}")
    return ["run", *docker_args, "--network", "host", "--name", cluster["names"][-1],
            "-e", f"PREFECT_API_URL={cluster['api']}",
            "-e", f"DASK_SCHEDULER_ADDRESS={cluster['scheduler_address']}",
            cluster["image"], "python", "-c", RUN_FLOW, str(n), str(work_seconds)]


def test_the_flows_tasks_run_on_both_workers_of_the_cluster(cluster):
    result = result_of(docker(*flow_command(cluster, "flow-both", 24, 0.2), timeout=300).output)
    assert result["total"] == 2 * sum(range(1, 25))
    assert set(result["workers"]) == set(cluster["addresses"].values()), (
        "24 tasks of 0.2 s on 2 workers: both must have run some")


def test_the_flow_completes_when_a_worker_dies_mid_run(cluster):
    n, work_seconds = 40, 1.0  # 40 one-second tasks on 2 workers x 2 threads: about 10 s of work
    completed = {"task_runs": {"state": {"type": {"any_": ["COMPLETED"]}},
                               "name": {"like_": "transform"}}}

    def completed_tasks() -> int:
        return http_json(f"{cluster['api']}/task_runs/count", completed) or 0

    before = completed_tasks()  # the server may have recorded another test's runs
    flow = docker(*flow_command(cluster, "flow-kill", n, work_seconds, "-d")).output.strip()
    victim, survivor = cluster["workers"]

    # Wait until a few of this run's tasks have completed (the rest are queued on or running at
    # both workers), then kill one worker.
    wait_until(lambda: completed_tasks() >= before + 4 or not running(flow), 180,
               "the first tasks to complete")
    assert running(flow), "the flow ended before the worker could be killed:\n" + logs(flow)[-4000:]
    docker("kill", victim)

    exit_code = docker("wait", flow, timeout=300).output.strip()
    output = logs(flow)
    assert exit_code == "0", output[-5000:]
    result = result_of(output)
    assert result["total"] == 2 * sum(range(1, n + 1))
    assert cluster["addresses"][survivor] in result["workers"]
    scheduler_log = logs(cluster["scheduler"])
    assert f"Remove worker addr: {cluster['addresses'][victim]}" in scheduler_log

    # A replacement from the same image (what compose's restart policy starts) joins the cluster.
    replacement = f"{cluster['prefix']}-worker-replacement"
    cluster["names"].append(replacement)
    docker("run", "-d", "--network", "host", "--name", replacement, cluster["image"],
           *cluster["worker_command"])
    wait_until(lambda: logs(cluster["scheduler"]).count("Register worker") >= 3, 120,
               "the replacement worker to register")
