"""A Dask cluster of its own for each flow run on Kubernetes, made from the flow run's own image.

Each `prefect deploy` builds an image with a new tag, and the flow run's pod runs that tag. The
work pool's base job template (deploy/work-pool/base-job-template.json) tells the pod which image
it runs (DASK_CLUSTER_IMAGE) and which pod it is. When the flow starts its tasks, prefect-dask
calls start_cluster(): it asks the Dask operator for the DaskCluster of dask-cluster.yaml, whose
scheduler and workers run exactly that image, so every task runs the code of the flow's own
deploy, and deletes it when the flow run ends. The pod owns the cluster, so Kubernetes deletes it
too if the flow run dies first.

The cluster's size comes from the flow run's environment, which prefect.yaml sets (job_variables,
env): DASK_CLUSTER_WORKERS and the CPU and memory of each worker and of the scheduler.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib.resources import files

import yaml  # PyYAML, which Prefect and Dask depend on

IMAGE_VARIABLE = "DASK_CLUSTER_IMAGE"
SIZE_VARIABLES = {
    "workers": "DASK_CLUSTER_WORKERS",
    "worker_cpu": "DASK_CLUSTER_WORKER_CPU",
    "worker_memory": "DASK_CLUSTER_WORKER_MEMORY",
    "scheduler_cpu": "DASK_CLUSTER_SCHEDULER_CPU",
    "scheduler_memory": "DASK_CLUSTER_SCHEDULER_MEMORY",
}
# Who the flow run's pod is (the downward API fills these in, see the base job template).
POD_VARIABLES = {"name": "POD_NAME", "uid": "POD_UID", "namespace": "POD_NAMESPACE"}


class ClusterSettingMissing(RuntimeError):
    """The flow run's environment lacks a setting the cluster needs."""


def setting(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise ClusterSettingMissing(
            f"{name} is not set in the flow run's environment: set it under job_variables: env: "
            "in prefect.yaml and deploy again (`prefect deploy --all`)."
        )
    return value


def cluster_name(flow_run_id: str) -> str:
    """One cluster per flow run: `dask-<flow run id>` (Kubernetes allows 53 characters here)."""
    return f"dask-{flow_run_id}".lower()


def resources(cpu: str, memory: str) -> dict:
    """Requests equal to limits: Kubernetes guarantees them, and Dask sizes itself by the limits."""
    amounts = {"cpu": cpu, "memory": memory}
    return {"requests": amounts, "limits": dict(amounts)}


def cluster_spec(name: str, environ: Mapping[str, str] = os.environ) -> dict:
    """The DaskCluster of dask-cluster.yaml for the flow run whose environment is environ."""
    image = setting(environ, IMAGE_VARIABLE)
    size = {key: setting(environ, variable) for key, variable in SIZE_VARIABLES.items()}
    cluster = yaml.safe_load(files(__package__).joinpath("dask-cluster.yaml").read_text())
    cluster["metadata"]["name"] = name
    owner_name, owner_uid = environ.get(POD_VARIABLES["name"]), environ.get(POD_VARIABLES["uid"])
    if owner_name and owner_uid:
        cluster["metadata"]["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Pod", "name": owner_name, "uid": owner_uid}
        ]
    scheduler, worker = cluster["spec"]["scheduler"], cluster["spec"]["worker"]
    scheduler["service"]["selector"]["dask.org/cluster-name"] = name
    worker["replicas"] = int(size["workers"])
    for role, part in (("scheduler", scheduler), ("worker", worker)):
        [container] = part["spec"]["containers"]
        container["image"] = image
        container["resources"] = resources(size[f"{role}_cpu"], size[f"{role}_memory"])
    if environ.get("PREFECT_API_URL"):  # the workers report task states to the flow run's API
        [container] = worker["spec"]["containers"]
        container["env"].insert(0, {"name": "PREFECT_API_URL", "value": environ["PREFECT_API_URL"]})
    return cluster


def start_cluster(**kwargs):
    """Create this flow run's cluster: prefect-dask calls it when the flow starts its tasks (Prefect
    2 passes asynchronous=True), and closes it, which deletes the cluster, when the run ends."""
    from dask_kubernetes.operator import KubeCluster
    from prefect.runtime import flow_run

    spec = cluster_spec(cluster_name(str(flow_run.id)))
    namespace = os.environ.get(POD_VARIABLES["namespace"])
    return KubeCluster(
        custom_cluster_spec=spec, namespace=namespace, shutdown_on_close=True, quiet=True, **kwargs
    )
