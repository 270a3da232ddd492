"""The generated README's journeys, run from the text of the README and of its docs/
(tests/support/journeys.py runs them).

Each row of JOURNEYS is one path a user takes through the README and the docs/ files it links: the
answers the project is baked with, the sections whose commands run, in order, in one bash session
(a README title, or "docs/x.md#Title"), and the checks of what the user then sees. Adding a
journey is adding a row. What this machine changes in the commands is in one table,
journeys.MACHINE; nothing else is changed.

Sharing: every journey bakes a project of its own (its own image name, so journeys running side
by side never touch each other's images), but the install commands of the README's install section
run once per lock and package source, in a shared copy, and journeys start from there
(`after_install`).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import nightly_only

from support.answer_sets import JOURNEY_PREFECT, README_ONLY
from support.commands import docker
from support.commands import run as run_command
from support.containers import images_of_removed_containers, remove_repository
from support.journey_fixtures import journey_answers, new_run
from support.journeys import (
    INSTALL_SECTION,
    Journey,
    JourneyRun,
    Observe,
    Then,
    bash_commands,
    documents,
    is_install,
    machine_environment,
    project_section,
    readme_section,
)
from support.lockfiles import (
    INSTALLED_VERSIONS_SCRIPT,
    MARKER_ENVIRONMENT_SCRIPT,
    last_json_line,
    locked_versions,
)
from support.network import http_json
from support.processes import wait_until
from support.project_names import project_name
from support.template import TEMPLATE_DIR

FLOW_TOTAL = "total = 110"  # main_flow's default: n=10 records, each doubled, added up

# ---------------------------------------------------------------------------------------------
# Checks: what the user sees
# ---------------------------------------------------------------------------------------------


UV = shutil.which("uv") or str(TEMPLATE_DIR / ".venv" / "bin" / "uv")


def installed_versions_are_the_locked_ones(run: JourneyRun) -> None:
    python = run.project / ".venv" / "bin" / "python"
    environment = last_json_line(run_command([python, "-c", MARKER_ENVIRONMENT_SCRIPT]).output)
    # uv.lock, as pip-style pins with markers, the dev group included (what `uv sync` installs).
    exported = run_command([UV, "export", "--frozen", "--no-emit-project", "--no-hashes",
                            "--format", "requirements-txt"], cwd=run.project).output
    locked = locked_versions(exported, environment)
    assert locked, exported
    installed = last_json_line(run_command([python, "-c", INSTALLED_VERSIONS_SCRIPT]).output)
    assert {name: installed.get(name) for name in locked} == locked


def the_projects_tests_pass(run: JourneyRun) -> None:
    output = run.step(r"^pytest$").output
    assert re.search(r"\b\d+ passed\b", output) and " failed" not in output, output[-3000:]


def the_flow_completes(run: JourneyRun) -> None:
    output = run.step(r"^python workflow/flow.py$").output
    assert FLOW_TOTAL in output and "Finished in state Completed()" in output, output[-3000:]


def the_prefect1_flow_succeeds(run: JourneyRun) -> None:
    output = run.step(r"^python workflow/flow.py$").output
    assert f"Flow run succeeded: {FLOW_TOTAL}" in output, output[-3000:]


def the_flow_completes_in_the_image(run: JourneyRun) -> None:
    for step in run.steps_of(r"^docker run --rm "):  # as built, and locked down
        assert FLOW_TOTAL in step.output and "Finished in state Completed()" in step.output, \
            step.output[-3000:]


def the_prefect1_flow_succeeds_in_the_image(run: JourneyRun) -> None:
    for step in run.steps_of(r"^docker run --rm "):
        assert f"Flow run succeeded: {FLOW_TOTAL}" in step.output, step.output[-3000:]


def api(run: JourneyRun, path: str, body=None):
    answer = http_json(f"{run.api}{path}", body)
    assert answer is not None, f"{'POST' if body else 'GET'} {path} failed"
    return answer


def flow_run_of(run: JourneyRun, step) -> dict:
    """The flow run a `prefect deployment run` step created (it prints its UUID)."""
    found = re.search(r"UUID: ([0-9a-f-]{36})", step.output)
    assert found, step.output[-3000:]
    return api(run, f"/flow_runs/{found.group(1)}")


def flow_run_log_records(run: JourneyRun, flow_run: dict) -> list[dict]:
    return api(run, "/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run["id"]]}},
                                     "sort": "TIMESTAMP_ASC"})


def flow_run_logs(run: JourneyRun, flow_run: dict) -> str:
    return "\n".join(log["message"] for log in flow_run_log_records(run, flow_run))


def deployed(run: JourneyRun, flow_run: dict) -> tuple[dict, dict]:
    """(the deployment of flow_run, its job variables)."""
    deployment = api(run, f"/deployments/{flow_run['deployment_id']}")
    return deployment, deployment.get("job_variables") or deployment.get("infra_overrides") or {}


def the_deployment_completes(run: JourneyRun, step) -> dict:
    flow_run = flow_run_of(run, step)
    assert flow_run["state"]["type"] == "COMPLETED", (flow_run["state"], step.output[-3000:])
    wait_until(lambda: FLOW_TOTAL in flow_run_logs(run, flow_run), 30, f"'{FLOW_TOTAL}' in the run's logs")
    deployment, _ = deployed(run, flow_run)
    assert deployment["entrypoint"] == "workflow/flow.py:main_flow"
    assert deployment["pull_steps"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "/app"}}]
    return flow_run


def the_run_was_a_container_of_the_deployed_image(run: JourneyRun, flow_run: dict, step) -> None:
    """The run's container was made from the image of its deploy, and is gone (auto_remove): the
    Docker engine's events since the step started say so."""
    _, job_variables = deployed(run, flow_run)
    image = job_variables["image"]
    assert not image.endswith(":latest"), "each deploy has a tag of its own"
    assert job_variables["image_pull_policy"] == "IfNotPresent"
    label = f"io.prefect.flow-run-id={flow_run['id']}"
    assert images_of_removed_containers(label, step.started) == [image]
    left = docker("ps", "-aq", "--filter", f"label={label}").output.split()
    assert left == [], "a container was left behind"


def the_docker_deployment_runs_in_its_image(run: JourneyRun) -> None:
    step = run.step(r"^prefect deployment run")
    flow_run = the_deployment_completes(run, step)
    the_run_was_a_container_of_the_deployed_image(run, flow_run, step)


def the_process_worker_in_the_image_runs_the_deployment(run: JourneyRun) -> None:
    the_deployment_completes(run, run.step(r"^prefect deployment run"))
    # The worker is the container `docker run -d` started (it printed its id); the run was a
    # process of it, so the run's output is in that container's log.
    worker = run.step(r"^docker run -d ").output.split()[-1]
    assert docker("inspect", "-f", "{{.Config.Image}}", worker).output.strip().endswith(":latest")
    assert FLOW_TOTAL in docker("logs", worker).output


# -- Dask -------------------------------------------------------------------------------------

TASK_COMPLETED = re.compile(r"Task run '(transform-[^']*)' - Finished in state Completed\(\)")


def dask_workers(run: JourneyRun) -> list[str]:
    [project] = run.compose_projects
    return docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
                  "--filter", "label=com.docker.compose.service=dask-worker").output.split()


def transforms_per_dask_worker(run: JourneyRun, step) -> dict[str, list[str]]:
    """{worker container: the transform task runs that completed in it while step ran}: read from
    the containers' own logs, where Prefect logs the task runs a Dask worker runs."""
    since = f"{step.started - 1:.3f}"
    return {worker: TASK_COMPLETED.findall(docker("logs", "--since", since, worker).output)
            for worker in dask_workers(run)}


def the_tasks_ran_on_the_clusters_workers(run: JourneyRun, step) -> None:
    ran = step.seen["transforms"]
    # The flow's ten transforms completed on the cluster's workers. (At least ten: on a loaded
    # machine Dask may run a task again on another worker when it thinks the first one lost.)
    assert sum(len(names) for names in ran.values()) >= 10, (ran, step.output[-3000:])


def dask_flow_runs_on_the_cluster(run: JourneyRun) -> None:
    direct = run.step(r"^DASK_SCHEDULER_ADDRESS=\S+ python workflow/flow.py")
    assert FLOW_TOTAL in direct.output and "Finished in state Completed()" in direct.output
    the_tasks_ran_on_the_clusters_workers(run, direct)

    deployment_run = run.step(r"^prefect deployment run")
    flow_run = the_deployment_completes(run, deployment_run)
    the_run_was_a_container_of_the_deployed_image(run, flow_run, deployment_run)
    the_tasks_ran_on_the_clusters_workers(run, deployment_run)

    assert run.step(r"--scale dask-worker=4").seen["workers"] == 4
    assert run.step(r"\bdown$").seen["workers"] == 0


def a_run_with_no_cluster_fails_at_once_in_plain_words(run: JourneyRun) -> None:
    step = run.step(r"^prefect deployment run", then=True)
    flow_run = flow_run_of(run, step)
    state = flow_run["state"]
    assert state["type"] in ("FAILED", "CRASHED"), state
    # Dask alone would try for 30 s, then fail with a traceback. From the run's start (Prefect 2
    # fails it before it is Running: then from its first log line, in its container) to its end:
    records = flow_run_log_records(run, flow_run)
    started = flow_run["start_time"] or (records[0]["timestamp"] if records else None)
    seconds = _time(flow_run["end_time"] or state["timestamp"]) - _time(started)
    assert seconds < 15, f"the run took {seconds:.1f} s to fail"
    print(f"with no cluster, the run failed {seconds:.1f} s after it started")  # -rA shows it
    told = flow_run_logs(run, flow_run) + "\n" + (state.get("message") or "")
    address = f"tcp://127.0.0.1:{run.ports['dask_port']}"
    assert f"no Dask scheduler answers at {address} (from DASK_SCHEDULER_ADDRESS)" in told, told[-3000:]
    assert "docker compose -f deploy/docker-compose.dask.yml up -d" in told
    assert "Timed out trying to connect" not in told


def _time(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


DASK_OBSERVATIONS = (
    Observe(r"^DASK_SCHEDULER_ADDRESS=\S+ python workflow/flow.py", "transforms", transforms_per_dask_worker),
    Observe(r"^prefect deployment run", "transforms", transforms_per_dask_worker),
    Observe(r"--scale dask-worker=4", "workers", lambda run, step: len(dask_workers(run))),
    Observe(r"\bdown$", "workers", lambda run, step: len(dask_workers(run))),
)
NO_CLUSTER = Then("the deployment again, with the cluster down", r"^prefect deployment run", "nonzero")

# ---------------------------------------------------------------------------------------------
# The journeys
# ---------------------------------------------------------------------------------------------

INSTALL_TEST_RUN = (INSTALL_SECTION,)  # its test and run: the install is the shared one
IMAGE = ("Build the image and run the flow in it",)
DOCKER_POOL = ("docs/deploy.md#Deploy it to a Docker work pool",)
# The process worker runs in the image the README builds (its `docker build`, not its runs).
PROCESS_POOL = (*IMAGE, "docs/deploy.md#Deploy it to a process work pool")
DASK = (*DOCKER_POOL, "docs/dask.md#Scale out with Dask")


def not_the_image_runs(command) -> bool:
    return not command.code.startswith("docker run --rm")


def not_the_plain_run(command) -> bool:
    return command.code != "python workflow/flow.py"


def journeys_for(api: int) -> list[Journey]:
    answers = JOURNEY_PREFECT[api]
    dask, process = {**answers, "task_runner": "dask"}, {**answers, "work_pool_type": "process"}
    own_tests, own_test_checks = ((INSTALL_SECTION,), (the_projects_tests_pass,)) if api == 3 else ((), ())
    return [
        Journey(f"prefect{api}-install-test-run", answers, INSTALL_TEST_RUN,
                (installed_versions_are_the_locked_ones, the_projects_tests_pass, the_flow_completes)),
        Journey(f"prefect{api}-image", answers, IMAGE, (the_flow_completes_in_the_image,),
                after_install=False),
        Journey(f"prefect{api}-docker-pool", answers, DOCKER_POOL,
                (the_docker_deployment_runs_in_its_image,), nightly=True),
        Journey(f"prefect{api}-process-pool", process, PROCESS_POOL,
                (the_process_worker_in_the_image_runs_the_deployment,), pick=not_the_image_runs,
                nightly=api == 2),
        # The project's own tests of its Dask runner run for the newest Prefect only: each starts
        # a local cluster, a minute of two busy cores.
        Journey(f"prefect{api}-dask", dask, own_tests + DASK,
                own_test_checks + (dask_flow_runs_on_the_cluster,
                                   a_run_with_no_cluster_fails_at_once_in_plain_words),
                observe=DASK_OBSERVATIONS, then=(NO_CLUSTER,), pick=not_the_plain_run,
                nightly=api == 2),
    ]


JOURNEYS = [
    *journeys_for(3),
    *journeys_for(2),
    # Prefect 1 registers flows with a Prefect 1 backend, which cannot run here (see the template's
    # README, "What the tests do not run"): its journeys end with the image (docs/register.md is
    # read for its commands only).
    Journey("prefect1-install-test-run", JOURNEY_PREFECT[1], INSTALL_TEST_RUN,
            (installed_versions_are_the_locked_ones, the_projects_tests_pass, the_prefect1_flow_succeeds)),
    Journey("prefect1-image", JOURNEY_PREFECT[1], IMAGE, (the_prefect1_flow_succeeds_in_the_image,),
            after_install=False),
]

# ---------------------------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------------------------


# Nightly only: the Docker-pool journeys (the Dask journey runs that same section, on a Docker
# worker, and checks the run's container and image the same way) and Prefect 2's process-pool and
# Dask journeys (Prefect 3's run in CI; Prefect 2 deploys to a Docker worker in CI in
# tests/test_ci.py, and runs on a Dask cluster in tests/test_dask_cluster.py).
@pytest.mark.parametrize("journey", [nightly_only(j, j.name) if j.nightly else pytest.param(j, id=j.name)
                                     for j in JOURNEYS])
def test_the_readme_journey_works_as_written(journey, journey_bake, installed, tools, tmp_path,
                                             session_token, docker_engine, base_image):
    base_image(journey.answers["python_version"])
    baked = journey_bake(journey)
    project = tmp_path / baked.name
    shutil.copytree(baked, project, symlinks=True)
    if journey.after_install:
        venv_home, install = installed(baked)
        assert install["ok"], "the README's install section failed:\n" + install["report"]
        (project / ".venv").symlink_to(venv_home / ".venv")
    journey_run = new_run(journey, project, tmp_path / "run", tools)
    image_name = journey_answers(journey, session_token)["image_name"]
    try:
        journey_run.start(machine_environment(journey_run))
        if journey.after_install:
            journey_run.replay_install()
        journey_run.run()
        failed = [step for step in journey_run.steps if step.failed()]
        assert not failed, f"a README command failed (journey {journey.name}):\n{journey_run.report()}"
        for check in journey.checks:
            try:
                check(journey_run)
            except AssertionError as error:
                raise AssertionError(f"{check.__name__}: {error}\n\n{journey_run.report()}") from None
    finally:
        (tmp_path / "run" / "transcript.txt").write_text(journey_run.report())
        journey_run.close()
        remove_repository(image_name)



# ---------------------------------------------------------------------------------------------
# Every README command is run by a journey, or listed in the template's README as not run
# ---------------------------------------------------------------------------------------------

TEMPLATE_README = Path(__file__).resolve().parents[1] / "README.md"
NOT_RUN_SECTION = "What the tests do not run, and why"


def other_variant_answers(name: str, token: str) -> dict:
    return {**README_ONLY[name], "project_name": f"cpd {token} {name}",
            "image_name": f"cpd-{token}-image-{name}"}


def normalized(command: str, answers: dict, project: Path) -> str:
    """command with this project's names as placeholders, so that two projects' commands compare."""
    package = next((project / "src").iterdir()).name
    names = {answers["image_name"]: "<image>", project_name(project): "<slug>", package: "<package>"}
    for name in sorted(names, key=len, reverse=True):
        command = command.replace(name, names[name])
    return re.sub(r"\s+", " ", command)


def listed_as_not_run() -> list[str]:
    """The commands (their beginnings) the template's README lists as not run by any test."""
    section = readme_section(TEMPLATE_README.read_text(), NOT_RUN_SECTION)
    # Each entry: "- `command`, `command` (section): why", continued on indented lines.
    entries = re.findall(r"^- (.*(?:\n  .*)*)", section.body, re.M)
    return [prefix for entry in entries
            for prefix in re.findall(r"`([^`]+)`", re.match(r"((?:`[^`]+`,?\s*)+)", entry).group(1))]


def test_every_readme_command_is_run_by_a_journey_or_listed_as_not_run(journey_bake, bake_shared,
                                                                       session_token):
    """Every command of a ```bash block of the README and of docs/*.md, in every journey's project
    and in README_ONLY'."""
    run_by_journeys = set()
    projects = {}
    for journey in JOURNEYS:
        answers, project = journey_answers(journey, session_token), journey_bake(journey)
        texts = documents(project)
        projects[journey.name] = (texts, answers, project)
        commands = [command for name in journey.sections
                    for command in project_section(texts, name).commands() if journey.pick(command)]
        if journey.after_install:
            commands += [c for c in project_section(texts, INSTALL_SECTION).commands() if is_install(c)]
        run_by_journeys |= {normalized(command.code, answers, project) for command in commands}
    for name in README_ONLY:
        answers = other_variant_answers(name, session_token)
        project = bake_shared(**answers)
        projects[name] = (documents(project), answers, project)

    listed = listed_as_not_run()
    assert listed, f"the template's README has no list under {NOT_RUN_SECTION!r}"
    unrun, used = [], set()
    for name, (texts, answers, project) in projects.items():
        for document, text in texts.items():
            for command in bash_commands(text):
                code = normalized(command.code, answers, project)
                prefixes = [p for p in listed if code.startswith(p)]
                used.update(prefixes)
                if code not in run_by_journeys and not prefixes:
                    unrun.append(f"{name}, {document}: {command.text}")
    assert not unrun, ("README and docs/ commands that no journey runs (run them in a journey of "
                       f"tests/test_journeys.py, or list them in README.md, {NOT_RUN_SECTION!r}):\n"
                       + "\n".join(dict.fromkeys(unrun)))
    assert set(listed) == used, f"listed as not run, but in no README or docs/ file: {set(listed) - used}"
