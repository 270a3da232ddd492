"""The workflow's tasks and its flow, built from the components.

They live here, in the installed package, rather than in workflow/flow.py: every process that
runs a task must import it by name, and only an installed package has the same name everywhere.
A deployment's flow run imports workflow/flow.py as a module called `flow`, so a task defined
there would reach another process as `flow.transform`, which that process cannot import.
workflow/flow.py is the entry point that runs this flow.
"""

from __future__ import annotations

from prefect import flow, task

from .components import ComponentA, ComponentB


# Reading and writing are where transient failures happen (a busy database, a flaky API), so
# Prefect tries those tasks up to twice more, 10 s apart, before the flow run fails.
@task(retries=2, retry_delay_seconds=10)
def extract(n: int) -> list[int]:
    """Read the records one run works on."""
    return ComponentA(n).run()


@task
def transform(record: int, work_seconds: float = 0.0) -> int:
    """Transform one record: the flow runs one such task per record, in parallel."""
    return ComponentB(work_seconds=work_seconds).run(record)


@task(retries=2, retry_delay_seconds=10)
def load(values: list[int]) -> int:
    """Write the results (here: add them up)."""
    return sum(values)


@flow(name="my-data-workflow", log_prints=True)
def main_flow(n: int = 10, work_seconds: float = 0.0) -> int:
    """Transform n records, one task each, and add them up."""
    records = extract(n)
    values = [future.result() for future in transform.map(records, work_seconds=work_seconds)]
    total = load(values)
    print(f"total = {total}")
    return total
