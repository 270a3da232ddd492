"""On Kubernetes, each flow run starts a Dask cluster of its own image (kubernetes_cluster.py)."""

import pytest
from prefect_dask import DaskTaskRunner

from my_data_workflow import kubernetes_cluster
from my_data_workflow.dask_cluster import task_runner

# A flow run's environment, as the work pool's base job template and prefect.yaml make it.
FLOW_RUN = {
    "DASK_CLUSTER_IMAGE": "registry.example/flows:2026-01-01t10-00-00-000000-00-00",
    "DASK_CLUSTER_WORKERS": "3",
    "DASK_CLUSTER_WORKER_CPU": "2",
    "DASK_CLUSTER_WORKER_MEMORY": "4Gi",
    "DASK_CLUSTER_SCHEDULER_CPU": "500m",
    "DASK_CLUSTER_SCHEDULER_MEMORY": "1Gi",
}


def test_a_flow_run_that_knows_its_image_starts_a_cluster_of_its_own(monkeypatch):
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.setenv("DASK_CLUSTER_IMAGE", FLOW_RUN["DASK_CLUSTER_IMAGE"])
    runner = task_runner()
    assert isinstance(runner, DaskTaskRunner)
    assert runner.cluster_class is kubernetes_cluster.start_cluster


def test_every_pod_of_the_cluster_runs_the_flow_runs_own_image():
    spec = kubernetes_cluster.cluster_spec("dask-a-flow-run", FLOW_RUN)
    [scheduler] = spec["spec"]["scheduler"]["spec"]["containers"]
    [worker] = spec["spec"]["worker"]["spec"]["containers"]
    assert scheduler["image"] == worker["image"] == FLOW_RUN["DASK_CLUSTER_IMAGE"]
    assert spec["spec"]["worker"]["replicas"] == 3
    assert worker["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}


def test_a_missing_size_is_named_with_where_to_set_it():
    environment = {
        name: value for name, value in FLOW_RUN.items() if name != "DASK_CLUSTER_WORKERS"
    }
    with pytest.raises(kubernetes_cluster.ClusterSettingMissing, match="DASK_CLUSTER_WORKERS"):
        kubernetes_cluster.cluster_spec("dask-a-flow-run", environment)
