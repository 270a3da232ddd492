"""The flow and its tasks, run against a temporary Prefect database (prefect_test_harness)."""

import pytest
from prefect.testing.utilities import prefect_test_harness

from my_data_workflow.flows import extract, load, main_flow, transform


@pytest.fixture(scope="module", autouse=True)
def prefect_database():
    # Prefect 3 starts a temporary server for the tests; on a busy CI machine it may need more than
    # the default 30 s to answer.
    with prefect_test_harness(server_startup_timeout=120):
        yield


def test_the_flow_adds_up_the_transformed_records():
    assert main_flow(n=4) == 2 * (1 + 2 + 3 + 4)


def test_the_tasks_call_the_components():
    assert extract.fn(3) == [1, 2, 3]
    assert transform.fn(5) == 10
    assert load.fn([1, 2, 3]) == 6


def test_reading_and_writing_are_retried():
    assert (extract.retries, extract.retry_delay_seconds) == (2, 10)
    assert (load.retries, load.retry_delay_seconds) == (2, 10)
