"""The deployment configuration a project ships is valid for what reads it, checked offline:

- deploy/kubernetes/*.yaml against the Kubernetes API's own schemas (kubernetes-validate, which
  ships them), strictly: an unknown field is an error;
- the job variables of every deployment in prefect.yaml against the variables schema of the
  work pool type's default base job template, as Prefect's own DockerWorker, KubernetesWorker and
  ProcessWorker define it (the schema a work pool of that type is created with).
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from helpers import DEFAULT_PREFECT, find_python, run

PREFECT2 = "2.20.25"
# The worker packages whose templates the job variables must fit, for each Prefect line, each
# resolved as of a fixed day (for Prefect 2, the day after 2.20.25's release, as the project's
# lock is), so that newer releases of their dependencies cannot change the answer.
WORKER_PACKAGES = {
    DEFAULT_PREFECT: {"packages": [f"prefect=={DEFAULT_PREFECT}", "prefect-docker==0.7.4",
                                   "prefect-kubernetes==0.8.0"], "exclude_newer": "2026-11-26"},
    PREFECT2: {"packages": [f"prefect=={PREFECT2}", "prefect-docker==0.5.5",
                            "prefect-kubernetes==0.4.6"], "exclude_newer": "2025-12-09"},
}
POOLS = ["docker", "kubernetes", "process"]
OFFLINE = {"lock_requirements": "no"}

PRINT_TEMPLATES = """
import json
from prefect.workers.process import ProcessWorker
from prefect_docker.worker import DockerWorker
from prefect_kubernetes.worker import KubernetesWorker
print(json.dumps({worker.type: worker.get_default_base_job_template()
                  for worker in (DockerWorker, KubernetesWorker, ProcessWorker)}))
"""


def bake(cookies, **answers) -> Path:
    result = cookies.bake(extra_context={**OFFLINE, "python_version": "3.11", **answers})
    assert result.exception is None, result.exception
    return result.project_path


def uv() -> str:
    return shutil.which("uv") or str(Path(sys.executable).with_name("uv"))


@pytest.fixture(scope="session")
def base_job_templates(once):
    """base_job_templates(prefect_version): {pool type: default base job template}, computed by
    the real worker classes in a virtualenv holding that Prefect and its worker packages."""

    def templates(prefect_version: str) -> dict:
        spec = WORKER_PACKAGES[prefect_version]

        def make(path: Path) -> None:
            run([uv(), "venv", "--quiet", "--python", find_python("3.11"), path / "venv"])
            extra = ["--exclude-newer", spec["exclude_newer"]] if spec["exclude_newer"] else []
            run([uv(), "pip", "install", "--quiet", "--python", path / "venv" / "bin" / "python",
                 *extra, *spec["packages"]], timeout=900)
            output = run([path / "venv" / "bin" / "python", "-c", PRINT_TEMPLATES]).output
            (path / "templates.json").write_text(output.strip().splitlines()[-1])

        path = once(f"job-templates-{prefect_version}", make)
        return json.loads((path / "templates.json").read_text())

    return templates


def resolve_prefect_placeholders(value):
    """What `prefect deploy` sends: {{ build-image.image }} becomes the built image's name:tag."""
    if isinstance(value, dict):
        return {key: resolve_prefect_placeholders(item) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_prefect_placeholders(item) for item in value]
    if value == "{{ build-image.image }}":
        return "my-image:2026-01-01t00-00-00-000000-00-00"
    return value


def variables_validator(template: dict):
    """A validator of job variables against a template: every key must be a known variable."""
    schema = copy.deepcopy(template["variables"])
    schema["additionalProperties"] = False
    schema.pop("required", None)  # prefect.yaml sets some variables; the pool supplies the rest
    return jsonschema.validators.validator_for(schema)(schema)


@pytest.mark.parametrize("prefect_version", list(WORKER_PACKAGES))
def test_job_variables_fit_the_work_pools_base_job_template(cookies, base_job_templates,
                                                            prefect_version):
    templates = base_job_templates(prefect_version)
    assert set(templates) == set(POOLS)
    for pool in POOLS:
        validator = variables_validator(templates[pool])
        for task_runner in ("default", "dask"):
            project = bake(cookies, prefect_version=prefect_version, work_pool_type=pool,
                           task_runner=task_runner)
            config = yaml.safe_load((project / "prefect.yaml").read_text())
            [deployment] = config["deployments"]
            assert deployment["work_pool"]["name"] == f"{project.name}-{pool}"
            job_variables = resolve_prefect_placeholders(deployment["work_pool"]["job_variables"])
            errors = [error.message for error in validator.iter_errors(job_variables)]
            assert not errors, (pool, task_runner, errors)
            if pool != "process":
                assert job_variables["image"].startswith("my-image:")
            if task_runner == "dask":
                assert job_variables["env"]["DASK_SCHEDULER_ADDRESS"].startswith("tcp://")
        # The check itself catches a misspelled variable and a value of the wrong kind.
        assert list(validator.iter_errors({"imagePullPolicy": "Always"}))
        assert list(validator.iter_errors({"env": "DASK_SCHEDULER_ADDRESS=x"}))


@pytest.mark.parametrize("prefect_version", [DEFAULT_PREFECT, PREFECT2])
def test_kubernetes_manifests_validate_against_the_kubernetes_api_schemas(cookies, prefect_version):
    project = bake(cookies, prefect_version=prefect_version, work_pool_type="kubernetes",
                   task_runner="dask", image_registry="ghcr.io/acme", image_name="flows")
    manifests = sorted((project / "deploy" / "kubernetes").glob("*.yaml"))
    assert [path.name for path in manifests] == ["dask-cluster.yaml", "namespace.yaml",
                                                 "prefect-worker.yaml"]
    version = kubernetes_validate.latest_version()
    resources = {}
    for path in manifests:
        for document in yaml.safe_load_all(path.read_text()):
            kubernetes_validate.validate(document, version, strict=True)
            resources[(document["kind"], document["metadata"]["name"])] = document

    # A misspelled field fails the same check: it is strict, and it works offline.
    broken = copy.deepcopy(resources[("Deployment", "dask-worker")])
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, version, strict=True)

    namespace = project.name
    assert resources[("Namespace", namespace)]
    assert all(r["metadata"].get("namespace") == namespace
               for (kind, _), r in resources.items() if kind != "Namespace")

    # The worker polls the pool prefect.yaml deploys to, with Prefect's image of the same version.
    config = yaml.safe_load((project / "prefect.yaml").read_text())
    [deployment] = config["deployments"]
    job_variables = deployment["work_pool"]["job_variables"]
    assert job_variables["namespace"] == namespace
    [worker] = resources[("Deployment", "prefect-worker")]["spec"]["template"]["spec"]["containers"]
    assert worker["image"] == f"prefecthq/prefect:{prefect_version}-python3.11-kubernetes"
    command = worker["command"]
    assert command[command.index("--pool") + 1] == deployment["work_pool"]["name"]
    assert command[command.index("--type") + 1] == "kubernetes"
    role = resources[("Role", "prefect-worker")]
    assert any("jobs" in rule["resources"] and "create" in rule["verbs"] for rule in role["rules"])
    assert resources[("RoleBinding", "prefect-worker")]["subjects"][0]["name"] == (
        resources[("Deployment", "prefect-worker")]["spec"]["template"]["spec"]["serviceAccountName"])

    # The Dask cluster runs the project's image, and flow runs reach its scheduler's Service.
    scheduler = resources[("Deployment", "dask-scheduler")]["spec"]["template"]
    service = resources[("Service", "dask-scheduler")]
    assert service["spec"]["selector"].items() <= scheduler["metadata"]["labels"].items()
    port = next(p["port"] for p in service["spec"]["ports"] if p["name"] == "comm")
    assert job_variables["env"]["DASK_SCHEDULER_ADDRESS"] == f"tcp://dask-scheduler:{port}"
    build = config["build"][0]["prefect_docker.deployments.steps.build_docker_image"]
    assert build["image_name"] == "ghcr.io/acme/flows"
    for name in ("dask-scheduler", "dask-worker"):
        [container] = resources[("Deployment", name)]["spec"]["template"]["spec"]["containers"]
        assert container["image"] == "ghcr.io/acme/flows:latest"
    [dask_worker] = resources[("Deployment", "dask-worker")]["spec"]["template"]["spec"]["containers"]
    assert f"tcp://dask-scheduler:{port}" in dask_worker["command"]
