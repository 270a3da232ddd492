"""Where the tasks run: a local Dask cluster, or the one DASK_SCHEDULER_ADDRESS names."""

import socket
import time

import pytest
from prefect_dask import DaskTaskRunner

from my_data_workflow.dask_cluster import (
    ClusterTaskRunner,
    SchedulerUnreachable,
    check_scheduler,
    task_runner,
)
from my_data_workflow.flows import main_flow


def test_the_flow_runs_its_tasks_on_dask():
    assert isinstance(main_flow.task_runner, DaskTaskRunner)


def test_without_an_address_each_run_starts_a_local_cluster(monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    runner = task_runner()
    assert runner.address is None and not isinstance(runner, ClusterTaskRunner)


def test_with_an_address_the_flow_joins_that_cluster(monkeypatch):
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://dask-scheduler:8786")
    runner = task_runner()
    assert isinstance(runner, ClusterTaskRunner) and runner.address == "tcp://dask-scheduler:8786"


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_scheduler_that_is_not_there_is_reported_at_once_in_plain_words(closed_port):
    address = f"tcp://127.0.0.1:{closed_port}"
    started = time.monotonic()
    with pytest.raises(SchedulerUnreachable) as refused:
        check_scheduler(address)
    assert time.monotonic() - started < 5
    message = str(refused.value)
    assert address in message and "DASK_SCHEDULER_ADDRESS" in message
    assert "docker compose -f deploy/docker-compose.dask.yml up -d" in message
