"""The Dask cluster a generated project's flow run would start on Kubernetes, and the objects the
Dask operator would make of it, rendered by the project's own code and by dask-kubernetes' own.

Run by tests/test_kubernetes.py with the Python of a virtualenv where the generated project is
installed, with an output file as its argument. Reads JSON from stdin:
{"package": import name, "runs": [the environment of a flow run's pod, ...]}.
With the first environment (as the kubelet would give it to the pod) it imports the project's
flow; for each flow run, in its environment, it asks the flow's own task runner for the run's
cluster as prefect-dask does when the flow starts its tasks, with asynchronous=True as Prefect 2
calls it (so the KubeCluster is built, but does not start: no Kubernetes API is needed). The
DaskCluster that KubeCluster would create is then turned into the scheduler Deployment and
Service and a worker Deployment the way the operator's controller does
(daskcluster_create_components, daskworkergroup_replica_update), by its functions.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import inspect
import json
import os
import sys
import warnings


def call(function, **arguments):
    """Call a controller function with the arguments its version takes (they changed over time)."""
    accepted = inspect.signature(function).parameters
    return function(**{name: value for name, value in arguments.items() if name in accepted})


def operator_objects(cluster: dict, namespace: str) -> list[dict]:
    from dask_kubernetes.operator.controller import controller

    name = cluster["metadata"]["name"]
    labels = dict(cluster["metadata"].get("labels", {}))
    scheduler, worker = cluster["spec"]["scheduler"], cluster["spec"]["worker"]
    scheduler_labels = {**labels, **scheduler.get("metadata", {}).get("labels", {})}
    objects = [
        call(controller.build_scheduler_deployment_spec, cluster_name=name, namespace=namespace,
             pod_spec=copy.deepcopy(scheduler["spec"]), annotations={},
             labels=dict(scheduler_labels)),
        call(controller.build_scheduler_service_spec, cluster_name=name,
             spec=copy.deepcopy(scheduler["service"]), annotations={}, labels=dict(scheduler_labels)),
    ]
    group = call(controller.build_default_worker_group_spec, cluster_name=name,
                 spec=copy.deepcopy(worker), annotations={}, labels=dict(labels))
    worker_labels = {**group["metadata"]["labels"], **worker.get("metadata", {}).get("labels", {})}
    objects.append(call(controller.build_worker_deployment_spec,
                        worker_group_name=group["metadata"]["name"], namespace=namespace,
                        cluster_name=name, uuid="0123456789", pod_spec=worker["spec"],
                        annotations={}, labels=worker_labels))
    for item in objects:
        item["metadata"]["namespace"] = namespace
    return objects


async def flow_run_cluster(package: str):
    flows = importlib.import_module(f"{package}.flows")
    kubernetes_cluster = importlib.import_module(f"{package}.kubernetes_cluster")
    runner = flows.main_flow.task_runner
    with warnings.catch_warnings():  # the start it skips is a coroutine nobody awaits
        warnings.simplefilter("ignore", RuntimeWarning)
        cluster = runner.cluster_class(asynchronous=True, **runner.cluster_kwargs)
    return {
        "starts_the_project_cluster": runner.cluster_class is kubernetes_cluster.start_cluster,
        "class": f"{type(cluster).__module__}.{type(cluster).__name__}",
        "status": str(cluster.status),
        "name": cluster.name,
        "namespace": cluster.namespace,
        "shutdown_on_close": cluster.shutdown_on_close,
        "daskcluster": cluster._custom_cluster_spec,
    }


if __name__ == "__main__":
    request = json.load(sys.stdin)
    results, previous = [], {}
    for environment in request["runs"]:  # each flow run's pod has its own environment
        for name in previous:
            os.environ.pop(name, None)
        os.environ.update(environment)
        previous = environment
        try:
            result = asyncio.run(flow_run_cluster(request["package"]))
        except Exception as error:  # what the flow run would fail with
            results.append({"error": f"{type(error).__name__}: {error}"})
            continue
        result["operator_objects"] = operator_objects(result["daskcluster"], result["namespace"])
        results.append(result)
    with open(sys.argv[1], "w") as out:  # a file: the libraries may log to stdout and stderr
        json.dump(results, out)
