"""A Dask cluster of its own for each flow run on Kubernetes, made from the flow run's own image.

Each `prefect deploy` builds an image with a new tag, and the flow run's pod runs that tag. The
work pool's base job template (deploy/work-pool/base-job-template.json) tells the pod which image
it runs (DASK_CLUSTER_IMAGE) and which pod it is. When the flow starts its tasks, prefect-dask
calls start_cluster(): it asks the Dask operator for a DaskCluster whose scheduler and workers run
exactly that image, so every task runs the code of the flow's own deploy, and deletes it when the
flow run ends. The pod owns the cluster, so Kubernetes deletes it too if the flow run dies first.

The cluster's size comes from the flow run's environment, which prefect.yaml sets (job_variables,
env): DASK_CLUSTER_WORKERS and the CPU and memory of each worker and of the scheduler.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

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

# The image's user (Dockerfile: USER 10001:10001) and the only places it writes: /tmp (Prefect's
# home, PREFECT_HOME in the Dockerfile, and Dask's spill space) and the user's home (Dask's
# settings). The root filesystem is read-only; these two are empty directories of the pod.
USER_ID = 10001
WRITABLE = {"tmp": "/tmp", "home": "/home/flow"}
# The Secret the Prefect worker reads the Prefect Cloud API key from
# (deploy/kubernetes/10-prefect-worker.yaml): the Dask workers report task states with it.
# Referenced, never copied; optional without Cloud.
API_KEY_SECRET = {"name": "prefect-api-key", "key": "key", "optional": True}
# The flow's own secrets (README: "Security on Kubernetes"): every key of this Secret becomes an
# environment variable of the flow run and of its Dask workers, where its tasks run.
FLOW_SECRETS = {"name": "flow-secrets", "optional": True}
# No registry: the cluster's nodes have the image already (README), so no pull credentials.
IMAGE_PULL_SECRETS: list[dict] = []
PART_OF = "my-data-workflow"


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


def pod_spec(container: dict) -> dict:
    """A pod that passes the "restricted" Pod Security Standard and writes only to WRITABLE."""
    container = {
        **container,
        "imagePullPolicy": "IfNotPresent",  # each deploy's tag is new, so never stale
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
        },
        "volumeMounts": [{"name": name, "mountPath": path} for name, path in WRITABLE.items()],
    }
    return {
        # Dask's pods never call the Kubernetes API.
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": USER_ID,
            "runAsGroup": USER_ID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "imagePullSecrets": IMAGE_PULL_SECRETS,
        "containers": [container],
        "volumes": [dict(name=name, emptyDir={}) for name in WRITABLE],
    }


def prefect_env(environ: Mapping[str, str]) -> list[dict]:
    """What a Dask worker needs to report task states: the flow run's API, and the key by
    reference to its Secret."""
    key = {"secretKeyRef": dict(API_KEY_SECRET)}
    env = [{"name": "PREFECT_API_KEY", "valueFrom": key}]
    if environ.get("PREFECT_API_URL"):
        env.insert(0, {"name": "PREFECT_API_URL", "value": environ["PREFECT_API_URL"]})
    return env


def health_probe(port: str, **timing: int) -> dict:
    return {"httpGet": {"path": "/health", "port": port}, **timing}


def cluster_spec(name: str, environ: Mapping[str, str] = os.environ) -> dict:
    """The DaskCluster resource for the flow run whose environment is environ."""
    image = setting(environ, IMAGE_VARIABLE)
    size = {key: setting(environ, variable) for key, variable in SIZE_VARIABLES.items()}
    labels = {"app.kubernetes.io/part-of": PART_OF}
    metadata: dict = {"name": name, "labels": labels}
    owner_name, owner_uid = environ.get(POD_VARIABLES["name"]), environ.get(POD_VARIABLES["uid"])
    if owner_name and owner_uid:
        metadata["ownerReferences"] = [
            {"apiVersion": "v1", "kind": "Pod", "name": owner_name, "uid": owner_uid}
        ]
    scheduler = pod_spec(
        {
            "name": "scheduler",
            "image": image,
            "args": ["dask", "scheduler", "--host", "0.0.0.0", "--dashboard-address", ":8787"],
            "ports": [
                {"name": "tcp-comm", "containerPort": 8786, "protocol": "TCP"},
                {"name": "http-dashboard", "containerPort": 8787, "protocol": "TCP"},
            ],
            "readinessProbe": health_probe("http-dashboard", periodSeconds=1, timeoutSeconds=5),
            "livenessProbe": health_probe(
                "http-dashboard", initialDelaySeconds=15, periodSeconds=20
            ),
            "resources": resources(size["scheduler_cpu"], size["scheduler_memory"]),
        }
    )
    worker = pod_spec(
        {
            "name": "worker",
            "image": image,
            # The operator sets DASK_WORKER_NAME and DASK_SCHEDULER_ADDRESS (which `dask worker`
            # reads); Dask sizes its threads and memory by the limits below.
            "args": [
                "dask",
                "worker",
                "--name",
                "$(DASK_WORKER_NAME)",
                "--dashboard-address",
                ":8788",
            ],
            "env": prefect_env(environ),
            "envFrom": [{"secretRef": dict(FLOW_SECRETS)}],
            "ports": [{"name": "http-dashboard", "containerPort": 8788, "protocol": "TCP"}],
            "livenessProbe": health_probe(
                "http-dashboard", initialDelaySeconds=15, periodSeconds=20
            ),
            "resources": resources(size["worker_cpu"], size["worker_memory"]),
        }
    )
    return {
        "apiVersion": "kubernetes.dask.org/v1",
        "kind": "DaskCluster",
        "metadata": metadata,
        "spec": {
            "worker": {
                "replicas": int(size["workers"]),
                "metadata": {"labels": labels},
                "spec": worker,
            },
            "scheduler": {
                "metadata": {"labels": labels},
                "spec": scheduler,
                "service": {
                    "type": "ClusterIP",
                    "selector": {"dask.org/cluster-name": name, "dask.org/component": "scheduler"},
                    "ports": [
                        {
                            "name": "tcp-comm",
                            "protocol": "TCP",
                            "port": 8786,
                            "targetPort": "tcp-comm",
                        },
                        {
                            "name": "http-dashboard",
                            "protocol": "TCP",
                            "port": 8787,
                            "targetPort": "http-dashboard",
                        },
                    ],
                },
            },
        },
    }


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
