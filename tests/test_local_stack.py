"""The generated project's local Prefect stack (compose.yaml), run the way its README says.

The local stack's Quick start (docs/local-stack.md) runs command by command as it is written
(`make install`, `make up`, `make deploy`, `make run-deployment`), in a copy of a baked project, and
must end with a flow run Completed on the stack's own server, in a container (or process) of the
stack's worker. `make down` then leaves nothing running. The other supported stacks (Prefect 2,
Dask, a process worker) run the same make targets with the virtualenv the other tests share.

This machine forces two things, and both are in one place, HOST_NETWORK below:
- its Docker engine has no bridge network, and none may be created, so every service runs on the
  host's network instead of the stack's own, with the addresses and free ports that follow;
- no registry is reachable, so Prefect's server image is a stand-in built here
  (tests/support/official_prefect_image.py).
The user's way to give such settings is `.env`, so the test writes them there (the table says
which), beside a copy of compose.yaml switched to the host's network. The shipped compose.yaml is
what a normal Docker (Linux or Docker Desktop) runs unchanged.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import nightly_only, unavailable

from support.answer_sets import LOCAL_STACK_QUICK_START, LOCAL_STACKS
from support.commands import docker, find_python, run
from support.containers import (
    image_exists,
    images_of_removed_containers,
    remove_containers,
    remove_images,
)
from support.journeys import readme_section
from support.network import free_port, http_json
from support.processes import wait_until

# ---------------------------------------------------------------------------------------------
# What this machine forces (see the module's docstring): the one table
# ---------------------------------------------------------------------------------------------

HOST_COMPOSE = "compose.host-network.yaml"

# `.env` lines the test writes: (name, value, why). {names} are this stack's free ports and ids.
HOST_NETWORK_ENV = (
    ("COMPOSE_FILE", HOST_COMPOSE, "compose.yaml with every service on the host's network"),
    ("COMPOSE_PROJECT_NAME", "{project}", "stacks run side by side: containers and volume cpd-*"),
    ("PREFECT_PORT", "{api_port}", "the server's port: a free one, not 4200"),
    ("PREFECT_FLOW_NETWORK", "host", "flow-run containers join the host's network, not the stack's"),
    ("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:{dask_port}",
     "the flow runs find the scheduler on the host's network, not by service name"),
    ("DASK_DASHBOARD_PORT", "{dashboard_port}", "a free port, not 8787"),
    ("CPD_WORKER_HEALTH_PORT", "{health_port}", "the worker's health endpoint: a free port, not 8080"),
    ("CPD_DASK_PORT", "{dask_port}", "the scheduler's port: a free one, not 8786"),
    ("STACK_API_URL", "http://127.0.0.1:{api_port}/api",
     "the Makefile's API: nothing is published on the host's network, so `compose port` has none"),
)

# Text replaced in every string of the copied compose.yaml: service names become 127.0.0.1, fixed
# ports the free ones. (pattern, replacement, why)
HOST_NETWORK_TEXT = (
    (r"\bprefect-server:4200\b", "127.0.0.1:${PREFECT_PORT}", "the API, on the host's network"),
    (r"\bdask-scheduler:8786\b", "127.0.0.1:${CPD_DASK_PORT}", "the scheduler, likewise"),
)

# Per service: what is set or replaced in the copy. Every service also gets `network_mode: host`
# and loses `ports:` (nothing is published on the host's network); a `build:` builds on it too.
HOST_NETWORK_SERVICES = {
    "prefect-server": {"environment": {"PREFECT_SERVER_API_HOST": "127.0.0.1",
                                       "PREFECT_SERVER_API_PORT": "${PREFECT_PORT}"}},
    "prefect-worker": {"environment": {"PREFECT_WORKER_WEBSERVER_PORT": "${CPD_WORKER_HEALTH_PORT}"},
                       "healthcheck_port": ("8080", "${CPD_WORKER_HEALTH_PORT}")},
    # Dask listens on 127.0.0.1 only: on the host's network it would otherwise advertise, and
    # connect to, the machine's outward address.
    "dask-scheduler": {"command": ["dask", "scheduler", "--host", "127.0.0.1", "--port", "${CPD_DASK_PORT}",
                                   "--dashboard-address", "127.0.0.1:${DASK_DASHBOARD_PORT}"],
                       "healthcheck_port": ("8786", "${CPD_DASK_PORT}")},
    "dask-worker": {"extra_command": ["--host", "127.0.0.1"]},
}


def host_network_compose(project: Path) -> dict:
    """compose.yaml as this machine runs it (HOST_NETWORK_* above)."""
    config = yaml.safe_load((project / "compose.yaml").read_text())

    def rewrite(value):
        if isinstance(value, str):
            for pattern, replacement, _ in HOST_NETWORK_TEXT:
                value = re.sub(pattern, lambda m, r=replacement: r, value)
            return value
        if isinstance(value, list):
            return [rewrite(item) for item in value]
        if isinstance(value, dict):
            return {key: rewrite(item) for key, item in value.items()}
        return value

    config = rewrite(config)
    for name, service in config["services"].items():
        service["network_mode"] = "host"
        service.pop("ports", None)
        if "build" in service:
            service["build"] = {"context": ".", "network": "host"}
        change = HOST_NETWORK_SERVICES.get(name, {})
        service.setdefault("environment", {}).update(change.get("environment", {}))
        if "command" in change:
            service["command"] = change["command"]
        service["command"] = service.get("command", []) + change.get("extra_command", [])
        if "healthcheck_port" in change:
            old, new = change["healthcheck_port"]
            service["healthcheck"]["test"] = [part.replace(old, new)
                                              for part in service["healthcheck"]["test"]]
        if not service["environment"]:
            del service["environment"]
    config.pop("networks", None)  # none is used: compose creates none
    return config


def write_machine_settings(project: Path, values: dict) -> None:
    """The user's step `cp .env.example .env` and edit it, with this machine's values; and the
    host-network copy of compose.yaml, kept out of the image's build context."""
    env = (project / ".env.example").read_text()
    lines = ["", "# This machine (tests/test_local_stack.py, HOST_NETWORK_ENV):"]
    for name, value, _ in HOST_NETWORK_ENV:
        value = value.format(**values)
        if re.search(rf"^{name}=", env, re.MULTILINE):
            env = re.sub(rf"^{name}=.*$", f"{name}={value}", env, flags=re.MULTILINE)
        else:
            lines.append(f"{name}={value}")
    (project / ".env").write_text(env + "\n".join(lines) + "\n")
    (project / HOST_COMPOSE).write_text(yaml.safe_dump(host_network_compose(project), sort_keys=False))
    with open(project / ".dockerignore", "a") as ignore:
        ignore.write(f"{HOST_COMPOSE}\n")


# ---------------------------------------------------------------------------------------------
# The stack's life in a test
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def compose_cli() -> str:
    found = shutil.which("docker-compose")
    if not found:
        unavailable("docker-compose is not installed (tests/run installs Debian's: apt-get install "
                    "docker-compose)")
    return found


@pytest.fixture(scope="session")
def tools(shared_dir) -> Path:
    """A folder of links to uv and uvx, for the PATH of the make commands (the project's Makefile
    runs `uv` and `uvx`, which this machine has in the test suite's virtualenv only)."""
    folder = shared_dir / "stack-tools"
    folder.mkdir(exist_ok=True)
    for name in ("uv", "uvx"):
        link = folder / name
        if not link.exists():
            try:
                link.symlink_to(Path(os.environ.get("VIRTUAL_ENV", Path(__file__).parents[1] / ".venv"))
                                / "bin" / name)
            except FileExistsError:
                pass
    return folder


class Stack:
    """A copy of a baked project whose stack the test starts with make, and removes afterwards."""

    def __init__(self, project: Path, workdir: Path, tools: Path, answers: dict):
        self.project = project
        self.answers = answers
        self.name = f"cpd-stack-{uuid.uuid4().hex[:8]}"
        self.values = {"project": self.name, "api_port": free_port(), "health_port": free_port(),
                       "dask_port": free_port(), "dashboard_port": free_port()}
        self.api = f"http://127.0.0.1:{self.values['api_port']}/api"
        path = os.pathsep.join(part for part in os.environ["PATH"].split(os.pathsep)
                               if "/.venv/" not in part + "/")
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith(("PREFECT_", "DASK_")) and key != "VIRTUAL_ENV"}
        self.env.update(PATH=f"{tools}{os.pathsep}{path}", PREFECT_HOME=str(workdir / "prefect-home"),
                        PYTHON=find_python(answers["python_version"]),
                        # The template's own setting for an engine without a bridge network
                        # (the Makefile's `build` and prefect.yaml's build step read it).
                        IMAGE_BUILD_NETWORK="host", UV_PYTHON_DOWNLOADS="never",
                        # uv's Python: this machine keeps its interpreters under pyenv, off PATH.
                        UV_PYTHON=find_python(answers["python_version"]))
        self.deployment_ids: list[str] = []
        self.images: list[str] = []
        write_machine_settings(project, self.values)

    def make(self, *args: str, timeout: float = 900, check: bool = True):
        return run(["make", *args], cwd=self.project, env=self.env, timeout=timeout, check=check)

    def bash(self, command: str, timeout: float = 900):
        return run(["bash", "-c", command], cwd=self.project, env=self.env, timeout=timeout,
                   check=False)

    def compose(self, *args: str, check: bool = True):
        return run(["docker-compose", *args], cwd=self.project, env=self.env, timeout=300,
                   check=check)

    def health(self, service: str) -> str:
        """What the engine says of the service's healthcheck ("healthy", "starting", ...). Asked of
        the engine: compose 1.29's `ps` wraps long names across lines."""
        [container] = self.compose("ps", "-q", service).output.split()
        return docker("inspect", "-f", "{{.State.Health.Status}}", container).output.strip()

    def containers(self) -> list[str]:
        return docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={self.name}",
                      check=False).output.split()

    def volumes(self) -> list[str]:
        return docker("volume", "ls", "-q", "--filter",
                      f"label=com.docker.compose.project={self.name}", check=False).output.split()

    def finished_run(self) -> dict:
        """The one flow run of the deployment, which must have ended."""
        config = yaml.safe_load((self.project / "prefect.yaml").read_text())
        [deployment] = config["deployments"]
        created = http_json(f"{self.api}/deployments/name/{config['name']}/{deployment['name']}")
        assert created, "the deployment is not on the stack's server"
        self.deployment_ids.append(created["id"])
        job_variables = created.get("job_variables") or created.get("infra_overrides") or {}
        if job_variables.get("image"):
            self.images.append(job_variables["image"])
        [flow_run] = http_json(f"{self.api}/flow_runs/filter",
                               {"deployments": {"id": {"any_": [created["id"]]}}})
        return flow_run

    def logs(self, flow_run: dict) -> str:
        found = http_json(f"{self.api}/logs/filter",
                          {"logs": {"flow_run_id": {"any_": [flow_run["id"]]}}}) or []
        return "\n".join(log["message"] for log in found)

    def remove(self) -> None:
        """Everything the stack made: its containers and volume, the flow-run containers, the
        images tagged for it."""
        self.compose("down", "-v", "--remove-orphans", "--rmi", "local", check=False)
        leftovers = self.containers()
        for deployment_id in self.deployment_ids:
            leftovers += docker("ps", "-aq", "--filter", f"label=io.prefect.deployment-id={deployment_id}",
                                check=False).output.split()
        remove_containers(*leftovers)
        for image in self.images:
            remove_image_and_its_latest(image)
            remove_images(image)  # whatever the step above left


def remove_image_and_its_latest(image: str) -> None:
    """Remove a tag this test made, and the `latest` beside it if that is the same image (the
    deploy's build step tags both)."""
    if not image_exists(image):
        return
    image_id = docker("image", "inspect", "-f", "{{.Id}}", image).output.strip()
    latest = image.rsplit(":", 1)[0] + ":latest"
    tags = [image]
    if docker("image", "inspect", "-f", "{{.Id}}", latest, check=False).output.strip() == image_id:
        tags.append(latest)
    remove_images(*tags)


def start_stack(request, tmp_path, bake_shared, tools, answers) -> Stack:
    shared = bake_shared(**answers)
    if not (shared / "uv.lock").exists():
        pytest.fail("the baked project has no uv.lock (lock_requirements=yes needs uv and the index)")
    project = tmp_path / shared.name
    shutil.copytree(shared, project, symlinks=True)
    stack = Stack(project, tmp_path, tools, answers)
    request.addfinalizer(stack.remove)
    return stack


def assert_nothing_left_running(stack: Stack) -> None:
    assert stack.containers() == [], docker("ps", "-a", "--filter",
                                            f"label=com.docker.compose.project={stack.name}").output
    stack.compose("down", "-v")
    assert stack.volumes() == []
    assert docker("network", "ls", "-q", "--filter", f"name={stack.name}").output.split() == []


# The kinds of task a Dask scheduler has run (its task prefixes, kept after the tasks are gone).
SCHEDULER_TASKS = """
import sys
from distributed import Client
with Client(sys.argv[1], timeout=30) as client:
    print(len(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes))))
"""

# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------


def quick_start_commands(guide: str) -> list[str]:
    return [command.code for command in readme_section(guide, "Quick start").commands()]


def test_the_quick_start_reaches_a_completed_flow_run_on_the_local_stack(
        request, tmp_path, bake_shared, tools, compose_cli, docker_engine):
    stack = start_stack(request, tmp_path, bake_shared, tools, LOCAL_STACK_QUICK_START)
    # The README links the local stack's guide, whose Quick start this follows.
    assert "](docs/local-stack.md)" in (stack.project / "README.md").read_text()
    commands = quick_start_commands((stack.project / "docs" / "local-stack.md").read_text())
    # At most five commands after cookiecutter, `cd` into the project counted.
    assert len(commands) + 1 <= 5, commands
    assert commands == ["make install", "make up", "make deploy", "make run-deployment"]

    outputs = {}
    started = time.time()
    for command in commands:
        result = stack.bash(command)
        outputs[command] = result.output
        print(f"{command}: {result.seconds:.0f} s")  # shown with -s or -rA
        assert result.returncode == 0, f"$ {command}\n{result.output[-5000:]}"

    # `up` returned only once the worker was healthy, and no network was created for it.
    for service in ("prefect-server", "prefect-worker"):
        assert stack.health(service) == "healthy", stack.compose("ps").output
    assert "Flow run finished successfully in 'Completed'" in outputs["make run-deployment"]
    flow_run = stack.finished_run()
    assert flow_run["state"]["type"] == "COMPLETED"
    wait_until(lambda: "total = 110" in stack.logs(flow_run), 30, "the run's log line 'total = 110'")
    # It ran in a container of its own, from the image `make deploy` built (a tag of its own),
    # which was removed once the run had finished (auto_remove).
    [image] = stack.images
    assert re.search(r":\d{4}-\d{2}-\d{2}t", image), image
    label = f"io.prefect.flow-run-id={flow_run['id']}"
    assert images_of_removed_containers(label, started) == [image]
    assert docker("ps", "-aq", "--filter", f"label={label}").output.split() == []

    down = stack.bash("make down")
    assert down.returncode == 0, down.output
    assert_nothing_left_running(stack)


# CI runs the Quick start's stack (Prefect 3, a Docker worker) and this one with Dask; the others
# (Prefect 2's server image; a process worker, whose README journey CI runs) nightly only.
@pytest.mark.parametrize("answers", [pytest.param(answers, id=name) if name == "prefect3-docker-dask"
                                     else nightly_only(answers, name)
                                     for name, answers in LOCAL_STACKS.items()])
def test_the_local_stack_runs_the_deployment_to_completed(request, tmp_path, bake_shared, tools,
                                                          compose_cli, docker_engine, answers):
    stack = start_stack(request, tmp_path, bake_shared, tools, answers)
    venv = stack.project / ".venv"  # uv's, which `make deploy` (uv run) makes

    stack.make("up")
    stack.make("deploy")
    result = stack.make("run-deployment", check=False)
    assert result.returncode == 0, result.output[-5000:] + stack.compose("logs", "--tail", "60").output

    flow_run = stack.finished_run()
    assert flow_run["state"]["type"] == "COMPLETED"
    logs = wait_until(lambda: (text := stack.logs(flow_run)) and "total = 110" in text and text, 30,
                      "the run's log line 'total = 110'")
    if answers.get("task_runner") == "dask":
        # The tasks ran on the stack's cluster (not on a local one the run started itself): its
        # scheduler, new with the stack, has seen them. Asked with the project's own Dask.
        seen = run([venv / "bin" / "python", "-c", SCHEDULER_TASKS,
                    f"tcp://127.0.0.1:{stack.values['dask_port']}"], timeout=120).output
        assert int(seen.split()[-1]) >= 1, (seen, logs)
    stack.make("down")
    assert_nothing_left_running(stack)
