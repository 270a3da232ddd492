{%- set pkg = cookiecutter.package_name -%}
{%- if cookiecutter.__prefect_api == "1" -%}
"""The workflow: a Prefect {{ cookiecutter.prefect_version }} flow built from this project's components.

Run it here or in the image with `python workflow/flow.py`; register it with
`prefect register --project <project> -p workflow/flow.py` (see the README).
"""

from __future__ import annotations

import os

from prefect import Flow, Parameter, task
{%- if cookiecutter.work_pool_type == "docker" %}
from prefect.run_configs import DockerRun
{%- elif cookiecutter.work_pool_type == "kubernetes" %}
from prefect.run_configs import KubernetesRun
{%- else %}
from prefect.run_configs import LocalRun
{%- endif %}
from prefect.storage import Local

from {{ pkg }}.components import ComponentA, ComponentB

# The image this project builds (see the Dockerfile and the README); FLOW_IMAGE overrides it,
# e.g. with the tag you pushed.
IMAGE = os.environ.get("FLOW_IMAGE", "{{ cookiecutter.__image }}:latest")


@task
def extract(n: int) -> list[int]:
    return ComponentA(n).run()


@task
def transform(record: int) -> int:
    return ComponentB().run(record)


@task
def load(values: list[int]) -> int:
    return sum(values)


with Flow(
    "{{ cookiecutter.project_slug }}",
{%- if cookiecutter.work_pool_type == "docker" %}
    run_config=DockerRun(image=IMAGE),
{%- elif cookiecutter.work_pool_type == "kubernetes" %}
    run_config=KubernetesRun(image=IMAGE),
{%- else %}
    run_config=LocalRun(),
{%- endif %}
    # The flow's code travels inside the image: the agent's run loads it from this path. Without
    # add_default_labels=False the flow would carry the registering machine's hostname as a label,
    # and only an agent on that machine would run it.
    storage=Local(
        path="{{ cookiecutter._workdir }}/workflow/flow.py",
        stored_as_script=True,
        add_default_labels=False,
    ),
) as flow:
    n = Parameter("n", default=10)
    total = load(transform.map(extract(n)))


if __name__ == "__main__":
    state = flow.run()
    outcome = "succeeded" if state.is_successful() else "failed"
    print(f"Flow run {outcome}: total = {state.result[total].result}")
    raise SystemExit(0 if state.is_successful() else 1)
{%- else -%}
"""The workflow: a Prefect {{ cookiecutter.prefect_version }} flow built from this project's components.

Run it here or in the image with `python workflow/flow.py`; deploy it with `prefect deploy`
(prefect.yaml; see the README).
"""

from __future__ import annotations

import os
import signal
{%- if cookiecutter.task_runner == "dask" %}
import socket
{%- endif %}
import threading

from prefect import flow, task
{%- if cookiecutter.task_runner == "dask" %}
from prefect_dask import DaskTaskRunner
{%- endif %}

from {{ pkg }}.components import ComponentA, ComponentB


@task
def extract(n: int) -> list[int]:
    return ComponentA(n).run()


{% if cookiecutter.task_runner == "dask" -%}
def where_this_runs() -> str:
    """The address of the Dask worker running the current task (host:pid outside Dask)."""
    try:
        from distributed import get_worker

        return get_worker().address
    except ValueError:  # not inside a Dask worker
        return f"{socket.gethostname()}:{os.getpid()}"


@task
def transform(record: int, work_seconds: float = 0.0) -> tuple[int, str]:
    return ComponentB(work_seconds=work_seconds).run(record), where_this_runs()
{%- else -%}
@task
def transform(record: int, work_seconds: float = 0.0) -> int:
    return ComponentB(work_seconds=work_seconds).run(record)
{%- endif %}


@task
def load(values: list[int]) -> int:
    return sum(values)

{% if cookiecutter.task_runner == "dask" %}
def task_runner() -> DaskTaskRunner:
    """Join the Dask cluster at DASK_SCHEDULER_ADDRESS, or start a local one when it is unset."""
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    return DaskTaskRunner(address=address) if address else DaskTaskRunner()


@flow(name="{{ cookiecutter.project_slug }}", log_prints=True, task_runner=task_runner())
def main_flow(n: int = 10, work_seconds: float = 0.0) -> dict:
    """Transform n records in parallel on Dask and add them up; report where the work ran."""
    records = extract(n)
    results = [future.result() for future in transform.map(records, work_seconds=work_seconds)]
    total = load([value for value, _ in results])
    workers = sorted({worker for _, worker in results})
    print(f"total = {total}, computed on {len(workers)} worker(s): {', '.join(workers)}")
    return {"total": total, "workers": workers}
{% else %}
@flow(name="{{ cookiecutter.project_slug }}", log_prints=True)
def main_flow(n: int = 10, work_seconds: float = 0.0) -> int:
    """Transform n records (one task each) and add them up."""
    records = extract(n)
    values = [future.result() for future in transform.map(records, work_seconds=work_seconds)]
    total = load(values)
    print(f"total = {total}")
    return total
{% endif %}

def exit_promptly_on_interrupt(grace_seconds: float = 3.0) -> None:
    """Make Ctrl-C and `docker stop` (SIGINT, the image's STOPSIGNAL) end the process promptly.

    The interrupt first reaches the flow as KeyboardInterrupt, so Prefect can record it; tasks
    still busy in threads cannot be interrupted, so the process leaves after grace_seconds anyway.
    """

    def on_interrupt(signum, frame):
        timer = threading.Timer(grace_seconds, os._exit, args=(128 + signum,))
        timer.daemon = True
        timer.start()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)


if __name__ == "__main__":
    exit_promptly_on_interrupt()
    main_flow()
{%- endif %}
