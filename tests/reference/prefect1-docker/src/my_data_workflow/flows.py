"""The workflow's tasks and its flow, built from the components (Prefect 1.4.1).

They live in the installed package, so that whatever imports them (workflow/flow.py, the tests,
a notebook) gets the same code by the same name. How the flow is run and registered (its run
config and storage) is workflow/flow.py's business.
"""

from __future__ import annotations

from datetime import timedelta

from prefect import Flow, Parameter, task

from .components import ComponentA, ComponentB

# Reading and writing are where transient failures happen (a busy database, a flaky API), so
# Prefect tries those tasks up to twice more, 10 s apart, before the flow run fails.
RETRY = {"max_retries": 2, "retry_delay": timedelta(seconds=10)}


@task(**RETRY)
def extract(n: int) -> list[int]:
    """Read the records one run works on."""
    return ComponentA(n).run()


@task
def transform(record: int) -> int:
    """Transform one record: the flow maps this task over the records."""
    return ComponentB().run(record)


@task(**RETRY)
def load(values: list[int]) -> int:
    """Write the results (here: add them up)."""
    return sum(values)


with Flow("my-data-workflow") as flow:
    n = Parameter("n", default=10)
    total = load(transform.map(extract(n)))
