"""Render the Kubernetes Jobs a Prefect Kubernetes worker would create, with Prefect's own code.

Run by tests/test_kubernetes.py with the Python of a virtualenv that holds a Prefect line and its
prefect-kubernetes (not the test's own), with an output file as its argument. Reads JSON from stdin:

    {"pool": work pool name, "deploy_config": prefect.yaml's deployment, "builds": [build-step outputs]}

and, for each build (what one `prefect deploy` produced), writes the Job that a flow run of that
deployment becomes: prefect.yaml's job variables resolved from the build step's output as
`prefect deploy` resolves them, the work pool's base job template read back from the Prefect
server (PREFECT_API_URL) that `prefect work-pool create --base-job-template` stored it in, rendered
and prepared for a flow run by KubernetesWorkerJobConfiguration, and, with Prefect 3, the API key
replaced by a Secret reference as the worker does before it creates the Job (its settings come
from this process's environment, as the worker's come from its ConfigMap).
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import uuid


async def render(request: dict) -> list[dict]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import FlowRun
    from prefect.utilities.templating import apply_values
    from prefect_kubernetes.worker import KubernetesWorkerJobConfiguration

    jobs = []
    async with get_client() as client:
        pool = await client.read_work_pool(request["pool"])
        for outputs in request["builds"]:
            deployment = apply_values(copy.deepcopy(request["deploy_config"]), outputs)
            job_variables = deployment["work_pool"]["job_variables"]
            configuration = await KubernetesWorkerJobConfiguration.from_template_and_values(
                copy.deepcopy(pool.base_job_template), job_variables, client=client
            )
            flow_run = FlowRun(id=uuid.uuid4(), flow_id=uuid.uuid4(), name="a-flow-run")
            configuration.prepare_for_flow_run(flow_run)
            await replace_api_key_as_the_worker_does(configuration, request["pool"])
            jobs.append({"flow_run_id": str(flow_run.id), "job_variables": job_variables,
                         "job": configuration.job_manifest})
    return jobs


async def replace_api_key_as_the_worker_does(configuration, pool: str) -> None:
    """The first step of KubernetesWorker._create_job in prefect-kubernetes for Prefect 3: with
    an API key Secret configured, the PREFECT_API_KEY value becomes a reference to it. (Prefect
    2's worker creates a Secret through the Kubernetes API instead, which cannot run here.)"""
    try:
        from prefect_kubernetes.settings import KubernetesSettings
    except ImportError:  # prefect-kubernetes for Prefect 2 has no such settings
        return
    from prefect_kubernetes.worker import KubernetesWorker

    settings = KubernetesSettings()
    if settings.worker.api_key_secret_name:
        worker = KubernetesWorker(work_pool_name=pool, name="kubernetes-worker")
        await worker._replace_api_key_with_secret(
            configuration=configuration, client=None,
            secret_name=settings.worker.api_key_secret_name,
            secret_key=settings.worker.api_key_secret_key,
        )


if __name__ == "__main__":
    jobs = asyncio.run(render(json.load(sys.stdin)))
    with open(sys.argv[1], "w") as out:  # a file: Prefect may log to stdout and stderr
        json.dump(jobs, out)
