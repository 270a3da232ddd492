"""Where the flow's tasks run: on the Dask cluster named by DASK_SCHEDULER_ADDRESS, or, when it is
unset, on a small local cluster that each flow run starts for itself.
A flow run on the Kubernetes work pool, whose pod names its own image in DASK_CLUSTER_IMAGE,
starts a Dask cluster of its own from that image instead (kubernetes_cluster.py).

The cluster's scheduler and workers run this project's image, so every worker has this package
installed and can import the tasks the flow sends it by name.
"""

from __future__ import annotations

import os
import socket
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from prefect_dask import DaskTaskRunner

from . import kubernetes_cluster

ADDRESS_VARIABLE = "DASK_SCHEDULER_ADDRESS"
# How the README starts the cluster that DASK_SCHEDULER_ADDRESS points at.
START_COMMAND = "docker compose -f deploy/docker-compose.dask.yml up -d"
# Dask itself keeps trying for 30 s, then fails with a traceback; a scheduler that is up answers
# at once.
CONNECT_SECONDS = 3.0


class SchedulerUnreachable(RuntimeError):
    """Nothing answers at DASK_SCHEDULER_ADDRESS."""


def check_scheduler(address: str, timeout: float = CONNECT_SECONDS) -> None:
    """Raise SchedulerUnreachable, in plain words, unless a server listens at address."""
    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    try:
        with socket.create_connection((parts.hostname, parts.port or 8786), timeout=timeout):
            return
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
        raise SchedulerUnreachable(
            f"no Dask scheduler answers at {address} (from {ADDRESS_VARIABLE}): {reason}. "
            f"Start the cluster with `{START_COMMAND}`, or unset {ADDRESS_VARIABLE} to run the "
            "tasks on a local cluster."
        ) from None


class ClusterTaskRunner(DaskTaskRunner):
    """prefect-dask's task runner, joining the cluster at `address` only once it answers."""

    @asynccontextmanager
    async def start(self):  # a flow run starts its task runner here
        check_scheduler(self.address)
        async with super().start() as runner:
            yield runner


def task_runner() -> DaskTaskRunner:
    """The cluster at DASK_SCHEDULER_ADDRESS, or a local cluster when it is unset."""
    address = os.environ.get(ADDRESS_VARIABLE, "").strip()
    if address:
        return ClusterTaskRunner(address=address)
    # A flow run on the Kubernetes work pool: a cluster of its own, from its own image.
    if os.environ.get(kubernetes_cluster.IMAGE_VARIABLE, "").strip():
        return DaskTaskRunner(cluster_class=kubernetes_cluster.start_cluster)
    return DaskTaskRunner()
