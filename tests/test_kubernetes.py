"""What a generated project ships for Kubernetes is valid for what reads it, and safe, offline:

- prefect.yaml's job variables fit the work pool's base job template: Prefect's own default one
  for Docker and process pools, the project's deploy/work-pool/base-job-template.json for
  Kubernetes (docs/deploy.md creates the pool with it);
- every manifest in deploy/kubernetes/ passes the Kubernetes API's own schemas (kubernetes-validate,
  strictly: an unknown field is an error), the "restricted" Pod Security Standard
  (tests/support/pod_security.py) and checkov, on every Kubernetes variant; and the folder holds nothing
  else, so one `kubectl apply -f deploy/kubernetes/` applies it;
- the Kubernetes steps of docs/deploy.md, played in order against an empty cluster and Prefect API
  (tests/support/kubectl_model.py), create nothing before its namespace or before what it
  references, apply nothing that is not a Kubernetes object, and end with a flow run's Job; the
  same check fails the steps as they were written before (issue 18);
- on Kubernetes with Dask, each deploy's flow runs start a Dask cluster of exactly their own image:
  with a real Prefect server and the docs' `prefect work-pool create --base-job-template`,
  Prefect's own code renders the Job a flow run becomes; the project's own code, installed from its
  lock, builds the cluster that flow run would start, and dask-kubernetes' operator code the pods
  it would make. Each object passes the Kubernetes schemas (the DaskCluster its CRD) and the
  restricted standard, and carries the image of its own deploy.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import sys
import uuid
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from conftest import nightly_only, unavailable

from support.answer_sets import (
    KUBERNETES_DASK_DEPLOYS,
    KUBERNETES_PROJECT,
    KUBERNETES_REGISTRY,
    KUBERNETES_VARIANTS,
)
from support.checkov_scan import checkov_executable, scan
from support.commands import find_python, run
from support.digests import tree_digest
from support.journeys import bash_commands, documents
from support.kubectl_model import play
from support.network import free_port, http_json
from support.pod_security import hardening_gaps, pod_spec, restricted_violations
from support.processes import Background, wait_until
from support.template import DEFAULT_PREFECT, PREFECT_LINES, release_facts

TESTS = Path(__file__).resolve().parent
# The Prefect lines that deploy to work pools, by their newest release.
LINES = {line["newest"]: line for line in PREFECT_LINES if line["api"] >= 2}
POOLS = ["docker", "kubernetes", "process"]
# The Kubernetes work pool's base job template: not a Kubernetes object, so not in deploy/kubernetes/.
JOB_TEMPLATE = "deploy/work-pool/base-job-template.json"

PRINT_TEMPLATES = """
import json
from prefect.workers.process import ProcessWorker
from prefect_docker.worker import DockerWorker
from prefect_kubernetes.worker import KubernetesWorker
print(json.dumps({worker.type: worker.get_default_base_job_template()
                  for worker in (DockerWorker, KubernetesWorker, ProcessWorker)}))
"""


@pytest.fixture(scope="session")
def kubernetes_project(offline_project):
    """kubernetes_project(**answers): a Kubernetes project (offline), baked once per session and
    shared: read it, or copy it first."""
    return lambda **answers: offline_project(**{**KUBERNETES_PROJECT, **answers})


def uv() -> str:
    return shutil.which("uv") or str(Path(sys.executable).with_name("uv"))


def load_manifests(project: Path) -> dict:
    """{(kind, name): resource} of every YAML document in deploy/kubernetes/."""
    resources = {}
    for path in sorted((project / "deploy" / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            resources[(document["kind"], document["metadata"]["name"])] = document
    return resources


def validate_strictly(resource: dict) -> None:
    kubernetes_validate.validate(resource, kubernetes_validate.latest_version(), strict=True)


@pytest.fixture(scope="session")
def worker_venv(once):
    """worker_venv(prefect_version): a virtualenv with that Prefect and the worker packages of its
    line (prefect-docker, prefect-kubernetes), as a Prefect worker has them."""

    def make_venv(prefect_version: str) -> Path:
        line = LINES[prefect_version]
        packages = [f"prefect=={prefect_version}", line["requirements"]["docker"],
                    line["requirements"]["kubernetes"]]
        # Resolved as of the release's day, as the project's own lock is.
        as_of = release_facts(prefect_version, "3.11").day

        def make(path: Path) -> None:
            run([uv(), "venv", "--quiet", "--python", find_python("3.11"), path / "venv"])
            run([uv(), "pip", "install", "--quiet", "--python", path / "venv" / "bin" / "python",
                 "--exclude-newer", as_of, *packages], timeout=900)
            output = run([path / "venv" / "bin" / "python", "-c", PRINT_TEMPLATES]).output
            (path / "templates.json").write_text(output.strip().splitlines()[-1])

        return once(f"worker-venv-{prefect_version}", make)

    return make_venv


@pytest.fixture(scope="session")
def base_job_templates(worker_venv):
    """base_job_templates(prefect_version): {pool type: default base job template}, computed by
    the real worker classes of that Prefect line."""
    return lambda version: json.loads((worker_venv(version) / "templates.json").read_text())


# The environment of `prefect deploy` that prefect.yaml reads ({{ $NAME }}): the local stack's, as
# `make deploy` sets it.
DEPLOY_ENVIRONMENT = {"PREFECT_FLOW_NETWORK": "my-data-workflow",
                      "DASK_SCHEDULER_ADDRESS": "tcp://dask-scheduler:8786"}


def resolve_prefect_placeholders(value):
    """What `prefect deploy` sends: {{ build-image.image }} becomes the built image's name:tag,
    {{ $NAME }} the variable NAME of its environment."""
    if isinstance(value, dict):
        return {key: resolve_prefect_placeholders(item) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_prefect_placeholders(item) for item in value]
    if value == "{{ build-image.image }}":
        return "my-image:2026-01-01t00-00-00-000000-00-00"
    if isinstance(value, str) and value.startswith("{{ $") and value.endswith(" }}"):
        return DEPLOY_ENVIRONMENT[value[4:-3]]
    return value


def variables_validator(template: dict):
    """A validator of job variables against a template: every key must be a known variable."""
    schema = copy.deepcopy(template["variables"])
    schema["additionalProperties"] = False
    schema.pop("required", None)  # prefect.yaml sets some variables; the pool supplies the rest
    return jsonschema.validators.validator_for(schema)(schema)


@pytest.mark.parametrize("prefect_version", list(LINES))
def test_job_variables_fit_the_work_pools_base_job_template(kubernetes_project, base_job_templates,
                                                            prefect_version):
    templates = base_job_templates(prefect_version)
    assert set(templates) == set(POOLS)
    for pool in POOLS:
        for task_runner in ("default", "dask"):
            project = kubernetes_project(prefect_version=prefect_version, work_pool_type=pool,
                           task_runner=task_runner)
            # A Kubernetes pool is created with the project's own template (docs/deploy.md).
            template = (json.loads((project / JOB_TEMPLATE).read_text())
                        if pool == "kubernetes" else templates[pool])
            validator = variables_validator(template)
            config = yaml.safe_load((project / "prefect.yaml").read_text())
            [deployment] = config["deployments"]
            assert deployment["work_pool"]["name"] == f"{project.name}-{pool}"
            job_variables = resolve_prefect_placeholders(deployment["work_pool"]["job_variables"])
            errors = [error.message for error in validator.iter_errors(job_variables)]
            assert not errors, (pool, task_runner, errors)
            if pool != "process":
                assert job_variables["image"].startswith("my-image:")
            if task_runner == "dask" and pool != "kubernetes":
                assert job_variables["env"]["DASK_SCHEDULER_ADDRESS"].startswith("tcp://")
            # The check itself catches a misspelled variable and a value of the wrong kind.
            assert list(validator.iter_errors({"imagePullPolicy": "Always"}))
            assert list(validator.iter_errors({"env": "DASK_SCHEDULER_ADDRESS=x"}))


@pytest.mark.parametrize("answers", list(KUBERNETES_VARIANTS.values()), ids=list(KUBERNETES_VARIANTS))
def test_kubernetes_manifests_pass_the_api_schemas_and_the_restricted_pod_security_standard(
        kubernetes_project, answers):
    project = kubernetes_project(image_name="flows", **answers)
    dask = answers["task_runner"] == "dask"
    api = LINES[answers["prefect_version"]]["api"]
    files = sorted(path.name for path in (project / "deploy" / "kubernetes").iterdir())
    # Only Kubernetes objects, named so that the namespace comes first (kubectl applies a folder's
    # files in the order of their names).
    assert files == ["00-namespace.yaml", "10-prefect-worker.yaml", *(["20-flow-runs.yaml"] if dask else [])]
    resources = load_manifests(project)
    for resource in resources.values():
        validate_strictly(resource)
        assert restricted_violations(resource) == [], resource["metadata"]["name"]
        assert hardening_gaps(resource) == [], resource["metadata"]["name"]
    namespace = project.name
    assert resources[("Namespace", namespace)]["metadata"]["labels"][
        "pod-security.kubernetes.io/enforce"] == "restricted"
    assert all(resource["metadata"].get("namespace") == namespace
               for (kind, _), resource in resources.items() if kind != "Namespace")

    # The worker: polls the pool prefect.yaml deploys to, with Prefect's image of the same version.
    config = yaml.safe_load((project / "prefect.yaml").read_text())
    [deployment] = config["deployments"]
    job_variables = deployment["work_pool"]["job_variables"]
    assert job_variables["namespace"] == namespace
    worker_pod = pod_spec(resources[("Deployment", "prefect-worker")])
    [worker] = worker_pod["containers"]
    assert worker["image"] == f"prefecthq/prefect:{answers['prefect_version']}-python3.11-kubernetes"
    command = worker["command"]
    assert command[command.index("--pool") + 1] == deployment["work_pool"]["name"]
    assert command[command.index("--type") + 1] == "kubernetes"
    role = resources[("Role", "prefect-worker")]
    assert any("jobs" in rule["resources"] and "create" in rule["verbs"] for rule in role["rules"])
    assert resources[("RoleBinding", "prefect-worker")]["subjects"][0]["name"] == (
        worker_pod["serviceAccountName"])

    # The API key: the worker reads it from a Secret, and passes it to flow runs by reference.
    [key] = [item for item in worker["env"] if item["name"] == "PREFECT_API_KEY"]
    key_secret = key["valueFrom"]["secretKeyRef"]
    settings = resources[("ConfigMap", "prefect-worker")]["data"]
    secret_rules = [rule for rule in role["rules"] if "secrets" in rule["resources"]]
    if api >= 3:  # prefect-kubernetes references the worker's own Secret
        assert settings["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_KEY_SECRET_NAME"] == key_secret["name"]
        assert settings["PREFECT_INTEGRATIONS_KUBERNETES_WORKER_API_KEY_SECRET_KEY"] == key_secret["key"]
        assert secret_rules == []  # so the worker needs no access to Secrets at all
    else:  # Prefect 2's copies the key into one Secret of its own, named after the worker
        assert settings["PREFECT_KUBERNETES_WORKER_STORE_PREFECT_API_IN_SECRET"] == "true"
        worker_name = command[command.index("--name") + 1]
        own_secret = f"prefect-{worker_name}-api-key"
        assert {verb for rule in secret_rules for verb in rule["verbs"]} == {
            "create", "get", "update", "delete"}
        assert all(rule.get("resourceNames") == [own_secret] for rule in secret_rules
                   if rule["verbs"] != ["create"])

    # The flow runs' Jobs: the project's template (restricted, read-only), pulled with the
    # registry's credentials when there is a registry.
    template = json.loads((project / JOB_TEMPLATE).read_text())
    job = template["job_configuration"]["job_manifest"]
    assert restricted_violations(job) == []
    job_pod = pod_spec(job)
    assert job_pod["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert ("imagePullSecrets" in job_pod) == bool(answers["image_registry"])
    assert template["variables"]["properties"]["namespace"]["default"] == namespace
    assert job_pod["automountServiceAccountToken"] is dask  # only to start its Dask cluster
    assert unwritable(writable_paths_of_the_image(project), job_pod) == set()

    # A flow run with Dask may start its cluster (the rules dask-kubernetes documents), no more.
    if dask:
        assert job_variables["service_account_name"] == "flow-run"
        assert resources[("ServiceAccount", "flow-run")]
        binding = resources[("RoleBinding", "dask-cluster-owner")]
        assert binding["subjects"][0]["name"] == "flow-run"
        rules = resources[("Role", binding["roleRef"]["name"])]["rules"]
        assert {group for rule in rules for group in rule["apiGroups"]} == {"", "kubernetes.dask.org"}
        assert not any("secrets" in rule["resources"] for rule in rules)

    # Nothing secret is written into the manifests or prefect.yaml.
    assert_no_secret_values(project)

    # A misspelled field fails the schema check: it is strict, and it works offline.
    broken = copy.deepcopy(resources[("Deployment", "prefect-worker")])
    pod_spec(broken)["containers"][0]["imagePullPolice"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        validate_strictly(broken)


# --- The docs' steps, in order, on an empty cluster --------------------------------------------

KUBERNETES_TOOLS = ("kubectl", "helm")


def documented_steps(project: Path) -> list[str]:
    """The commands of docs/deploy.md's shell blocks, in the order a reader runs them."""
    return [command.code for command in bash_commands((project / "docs" / "deploy.md").read_text())]


@pytest.mark.parametrize("answers", list(KUBERNETES_VARIANTS.values()), ids=list(KUBERNETES_VARIANTS))
def test_the_docs_kubernetes_steps_work_in_order_on_an_empty_cluster(kubernetes_project, answers):
    project = kubernetes_project(image_name="flows", **answers)
    slug, dask, registry = project.name, answers["task_runner"] == "dask", bool(answers["image_registry"])
    steps = documented_steps(project)
    cluster = play(project, steps)
    assert cluster.finish() == []
    # They end with the worker running, polling a pool of the project's own template, and a flow
    # run's Job in the namespace, pulled with the registry's credentials when there is a registry.
    objects = {(kind, name) for kind, namespace, name in cluster.objects if namespace == slug}
    assert {("Deployment", "prefect-worker"), ("Secret", "prefect-api-key"), ("Job", "flow-run")} <= objects
    assert (("Secret", "registry-credentials") in objects) == registry
    assert (("ServiceAccount", "flow-run") in objects) == dask
    assert cluster.pools[f"{slug}-kubernetes"] == json.loads((project / JOB_TEMPLATE).read_text())
    # One command applies the whole folder; the namespace alone comes first, so that the Secrets
    # exist before the worker, which reads them when it starts.
    assert "kubectl apply -f deploy/kubernetes/" in steps
    assert steps.index("kubectl apply -f deploy/kubernetes/00-namespace.yaml") < min(
        index for index, step in enumerate(steps) if "create secret" in step)
    # The Prefect API: Cloud, or Prefect's chart with the project's Prefect version as its image tag.
    [install] = [step for step in steps if step.startswith("helm install prefect-server")]
    assert re.search(rf"prefectTag={re.escape(answers['prefect_version'])}-python3\.11( |$)", install)
    # No other document shows Kubernetes commands that this check would not see.
    for name, text in documents(project).items():
        if name != "docs/deploy.md":
            assert not [c.code for c in bash_commands(text) if c.code.split()[0] in KUBERNETES_TOOLS], name


# The docs' steps before issue 18, on the project layout of then: the registry's Secret before the
# namespace, the work pool's template inside deploy/kubernetes/, and the worker (which creates a
# missing pool with Prefect's default template) before `prefect work-pool create`.
OLD_STEPS = [
    "kubectl -n {slug} create secret docker-registry registry-credentials --docker-server=ghcr.io "
    "--docker-username=<user> --docker-password=<token>",
    "kubectl apply -f deploy/kubernetes/namespace.yaml -f deploy/kubernetes/",
    "prefect work-pool create {slug}-kubernetes --type kubernetes --base-job-template "
    "deploy/kubernetes/base-job-template.json",
    "prefect deploy --all",
    "prefect deployment run '{slug}/kubernetes' --watch",
]
OLD_NAMES = {"deploy/work-pool/base-job-template.json": "deploy/kubernetes/base-job-template.json",
             "deploy/kubernetes/00-namespace.yaml": "deploy/kubernetes/namespace.yaml",
             "deploy/kubernetes/10-prefect-worker.yaml": "deploy/kubernetes/prefect-worker.yaml",
             "deploy/kubernetes/20-flow-runs.yaml": "deploy/kubernetes/flow-runs.yaml"}


def test_the_order_check_fails_the_steps_as_they_were_and_each_step_out_of_place(
        kubernetes_project, tmp_path):
    project = kubernetes_project(image_name="flows", **KUBERNETES_VARIANTS["prefect3-dask-registry"])
    slug = project.name
    old = tmp_path / "old"
    shutil.copytree(project, old, symlinks=True)
    for new_name, old_name in OLD_NAMES.items():
        (old / new_name).rename(old / old_name)
    reported = "\n".join(play(old, [step.format(slug=slug) for step in OLD_STEPS]).finish())
    for expected in (f"--docker-password=<token>`: namespace {slug} does not exist yet",
                     "deploy/kubernetes/base-job-template.json is not a Kubernetes object",
                     f"work pool {slug}-kubernetes already exists (a worker made it with Prefect's default "
                     "Job template)",
                     f"work pool {slug}-kubernetes has Prefect's default Job template, not the project's"):
        assert expected in reported, f"not reported: {expected}\n\nreported:\n{reported}"

    steps = documented_steps(project)
    api_key = next(step for step in steps if "prefect-api-key" in step)
    worker = steps.index("kubectl apply -f deploy/kubernetes/")
    pool = next(step for step in steps if step.startswith("prefect work-pool create"))

    def moved(step: str, after: str) -> list[str]:
        rest = [s for s in steps if s != step]
        return [*rest[:rest.index(after) + 1], step, *rest[rest.index(after) + 1:]]

    # The API key's Secret after the worker: the worker started without it (it is optional).
    assert any("Deployment prefect-worker is created before Secret prefect-api-key" in problem
               for problem in play(project, moved(api_key, steps[worker])).finish())
    # The pool after the worker: the worker made it, with Prefect's default template.
    assert any("already exists" in problem for problem in play(project, moved(pool, steps[worker])).finish())
    # No registry Secret: the flow run's pods cannot pull the image.
    without = [step for step in steps if "registry-credentials" not in step]
    assert any("references Secret registry-credentials, which does not exist yet" in problem
               for problem in play(project, without).finish())
    # A ConfigMap after the Deployment that reads it, and a missing ServiceAccount.
    worker_file = project / "deploy" / "kubernetes" / "10-prefect-worker.yaml"
    documents_ = worker_file.read_text().split("\n---\n")
    reordered = tmp_path / "reordered"
    shutil.copytree(project, reordered, symlinks=True)
    (reordered / "deploy/kubernetes/10-prefect-worker.yaml").write_text("\n---\n".join(documents_[::-1]))
    (reordered / "deploy/kubernetes/20-flow-runs.yaml").unlink()
    reported = "\n".join(play(reordered, steps).finish())
    assert "Deployment prefect-worker (deploy/kubernetes/10-prefect-worker.yaml) references ConfigMap " \
        "prefect-worker, which does not exist yet" in reported, reported
    assert "references ServiceAccount prefect-worker" in reported, reported
    assert ("Job flow-run (a flow run, from the work pool's Job template) references ServiceAccount "
            "flow-run") in reported, reported


SECRET_NAME = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET)$")


def assert_no_secret_values(project: Path) -> None:
    """No environment variable whose name says secret has a value in prefect.yaml or a manifest:
    each comes from a Secret (valueFrom) instead."""
    config = yaml.safe_load((project / "prefect.yaml").read_text())
    for deployment in config["deployments"]:
        for name in (deployment["work_pool"].get("job_variables") or {}).get("env") or {}:
            assert not SECRET_NAME.search(name), name
    documents = [document for path in (project / "deploy" / "kubernetes").glob("*.yaml")
                 for document in yaml.safe_load_all(path.read_text())]
    documents.append(json.loads((project / JOB_TEMPLATE).read_text()))
    assert not any(document.get("kind") == "Secret" for document in documents)
    for document in documents:
        spec = pod_spec(document) or pod_spec(document.get("job_configuration", {}).get("job_manifest", {}))
        for container in (spec or {}).get("containers", []):
            for item in container.get("env") or []:
                assert not (SECRET_NAME.search(item["name"]) and "value" in item), item


def writable_paths_of_the_image(project: Path) -> set[str]:
    """Where the project's image writes at run time: /tmp, its user's home (Dask's settings) and
    PREFECT_HOME (Prefect's database and settings), as its Dockerfile sets them."""
    dockerfile = (project / "Dockerfile").read_text()
    home = re.search(r"useradd\b[^;&|]*?(?:--home-dir|-d)\s+(\S+)", dockerfile)
    home = home.group(1) if home else "/home/flow"  # useradd --create-home's default
    environment = {}
    for instruction in re.sub(r"\\\n", " ", dockerfile).splitlines():
        if instruction.startswith("ENV "):
            environment.update(re.findall(r"(\w+)=(\S+)", instruction))
    return {"/tmp", home, environment.get("PREFECT_HOME", f"{home}/.prefect")}


def unwritable(paths: set[str], spec: dict) -> set[str]:
    """Those of paths that no emptyDir of the pod spec covers (its root filesystem is read-only)."""
    empty_dirs = {volume["name"] for volume in spec.get("volumes", []) if "emptyDir" in volume}
    mounts = [mount["mountPath"].rstrip("/") for container in spec["containers"]
              for mount in container.get("volumeMounts", []) if mount["name"] in empty_dirs]
    return {path for path in paths
            if not any(path == mount or path.startswith(mount + "/") for mount in mounts)}


# --- The Pod Security checker itself ----------------------------------------------------------

def compliant_pod() -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 10001,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "c", "image": "i",
                "securityContext": {"allowPrivilegeEscalation": False,
                                    "capabilities": {"drop": ["ALL"]},
                                    "readOnlyRootFilesystem": True},
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"},
                              "limits": {"cpu": "1", "memory": "1Gi"}},
            }],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }


def container_context(spec: dict) -> dict:
    return spec["containers"][0]["securityContext"]


# Each breach of a rule of the standard, and the field the checker must name.
BREACHES = {
    "host network": (lambda s: s.update(hostNetwork=True), "hostNetwork"),
    "host PID": (lambda s: s.update(hostPID=True), "hostPID"),
    "host IPC": (lambda s: s.update(hostIPC=True), "hostIPC"),
    "Windows host process": (lambda s: container_context(s).update(windowsOptions={"hostProcess": True}),
                             "hostProcess"),
    "privileged": (lambda s: container_context(s).update(privileged=True), "privileged"),
    "hostPath volume": (lambda s: s["volumes"].append({"name": "h", "hostPath": {"path": "/"}}), "hostPath"),
    "host port": (lambda s: s["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]),
                  "hostPort"),
    "AppArmor unconfined": (lambda s: container_context(s).update(appArmorProfile={"type": "Unconfined"}),
                            "appArmorProfile"),
    "SELinux type": (lambda s: container_context(s).update(seLinuxOptions={"type": "spc_t"}),
                     "seLinuxOptions.type"),
    "SELinux user": (lambda s: s["securityContext"].update(seLinuxOptions={"user": "root"}),
                     "seLinuxOptions.user"),
    "unmasked /proc": (lambda s: container_context(s).update(procMount="Unmasked"), "procMount"),
    "unsafe sysctl": (lambda s: s["securityContext"].update(sysctls=[{"name": "kernel.msgmax"}]),
                      "sysctl"),
    "NFS volume": (lambda s: s["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}),
                   "not allowed"),
    "privilege escalation": (lambda s: container_context(s).update(allowPrivilegeEscalation=True),
                             "allowPrivilegeEscalation"),
    "privilege escalation unset": (lambda s: container_context(s).pop("allowPrivilegeEscalation"),
                                   "allowPrivilegeEscalation"),
    "root allowed": (lambda s: s["securityContext"].update(runAsNonRoot=False), "runAsNonRoot"),
    "runAsNonRoot unset": (lambda s: s["securityContext"].pop("runAsNonRoot"), "runAsNonRoot"),
    "user 0": (lambda s: container_context(s).update(runAsUser=0), "runAsUser"),
    "seccomp unconfined": (lambda s: container_context(s).update(seccompProfile={"type": "Unconfined"}),
                           "seccompProfile"),
    "seccomp unset": (lambda s: s["securityContext"].pop("seccompProfile"), "seccompProfile"),
    "capabilities kept": (lambda s: container_context(s).update(capabilities={"drop": ["NET_RAW"]}),
                          "drop must include ALL"),
    "capability added": (lambda s: container_context(s)["capabilities"].update(add=["SYS_ADMIN"]),
                         "SYS_ADMIN"),
    "init container unchecked": (lambda s: s.update(initContainers=[{"name": "init", "image": "i"}]),
                                 "initContainer 'init'"),
}


@pytest.mark.parametrize("breach", list(BREACHES))
def test_the_pod_security_checker_names_each_breach_of_the_restricted_standard(breach):
    assert restricted_violations(compliant_pod()) == []
    assert hardening_gaps(compliant_pod()) == []
    pod = compliant_pod()
    mutate, named = BREACHES[breach]
    mutate(pod["spec"])
    violations = restricted_violations(pod)
    assert any(named in violation for violation in violations), violations
    # The same pod inside a Deployment (and so a Job's template) is checked the same way.
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"template": {"metadata": {}, "spec": pod["spec"]}}}
    assert restricted_violations(deployment) == violations


def test_the_hardening_check_wants_a_read_only_root_and_bounded_resources():
    pod = compliant_pod()
    container_context(pod["spec"])["readOnlyRootFilesystem"] = False
    del pod["spec"]["containers"][0]["resources"]["limits"]["memory"]
    gaps = hardening_gaps(pod)
    assert any("readOnlyRootFilesystem" in gap for gap in gaps)
    assert any("limits.memory" in gap for gap in gaps)


# --- checkov ----------------------------------------------------------------------------------

def test_checkov_finds_nothing_unexplained_in_any_kubernetes_variant(kubernetes_project, tmp_path):
    if checkov_executable() is None:
        unavailable("checkov is not installed (tests/run makes .venv-checkov)")
    scanned = tmp_path / "scanned"
    for name, answers in KUBERNETES_VARIANTS.items():
        shutil.copytree(kubernetes_project(**answers) / "deploy" / "kubernetes", scanned / name)
    # A copy of a worker manifest weakened on purpose: checkov must catch it.
    weakened = (scanned / "prefect3-dask-registry" / "10-prefect-worker.yaml").read_text()
    weakened = weakened.replace("allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true")
    (scanned / "weakened").mkdir()
    (scanned / "weakened" / "10-prefect-worker.yaml").write_text(weakened)

    results = scan(scanned, "kubernetes")
    failed = {(Path(check["file_path"]).parts[1], check["check_id"]) for check in results["failed_checks"]}
    assert failed == {("weakened", "CKV_K8S_20")}, failed
    assert len(results["passed_checks"]) > 100
    for check in results["skipped_checks"]:  # each skip in a manifest says why
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 20 and reason != "No comment provided", check


# --- Kubernetes + Dask: each deploy's tasks run on a cluster of its own image -----------------

# The tags of two deploys (`prefect deploy` tags each build with its time).
DEPLOY_TAGS = ["2026-01-01t10-00-00-000000-00-00", "2026-01-02t11-30-00-000000-00-00"]
# Prefect's own Job template puts these two Job fields into the pod spec, and its job
# configuration refuses a template without them there; the API server drops them (an unknown
# field is only a warning for its clients), so they are left out of the strict schema check.
PREFECT_MISPLACED_FIELDS = ("parallelism", "completions")


def clean_environment(**extra: str) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PREFECT_", "DASK_"))}
    return {**env, **extra}


@pytest.fixture(scope="session")
def project_venv(once):
    """project_venv(project): a virtualenv with the project installed from its hashed lock."""

    def install(project: Path) -> Path:
        def make(path: Path) -> None:
            python = path / "bin" / "python"
            run([uv(), "venv", "--quiet", "--python", find_python("3.11"), path])
            # uv.lock, as the image installs it: uv's own export, hashes checked.
            exported = path / "requirements.lock"
            run([uv(), "export", "--frozen", "--no-dev", "--no-emit-project", "--quiet",
                 "--output-file", exported], cwd=project)
            run([uv(), "pip", "install", "--quiet", "--python", python, "--require-hashes",
                 "--no-deps", "-r", exported], timeout=900)
            run([uv(), "pip", "install", "--quiet", "--python", python, "--no-deps", project])
            # The operator's controller, whose functions render the Dask pods here, imports
            # pkg_resources in dask-kubernetes 2024 (the operator's image has it; the project
            # never imports the controller).
            run([uv(), "pip", "install", "--quiet", "--python", python, "setuptools==80.9.0"])

        return once(f"k8s-project-venv-{tree_digest(project)}", make)

    return install


def start_prefect_server(venv: Path, home: Path) -> tuple[Background, dict]:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = clean_environment(PREFECT_HOME=str(home), PREFECT_API_URL=api, PREFECT_UI_ENABLED="false",
                            PREFECT_SERVER_ANALYTICS_ENABLED="false")
    server = Background([venv / "bin" / "prefect", "server", "start", "--host", "127.0.0.1",
                         "--port", port], home.parent / "server.log", env=env)
    wait_until(lambda: http_json(f"{api}/health") is True or not server.alive(), 300,
               "the Prefect server")
    assert server.alive(), server.output()
    return server, env


def render_flow_run_jobs(worker: Path, project: Path, tmp_path: Path, worker_settings: dict) -> list:
    """The Jobs of one flow run of each deploy in DEPLOY_TAGS, on a work pool created as
    docs/deploy.md creates it, rendered by Prefect's Kubernetes worker code with the worker's settings."""
    config = yaml.safe_load((project / "prefect.yaml").read_text())
    [deployment] = config["deployments"]
    image_name = config["build"][0]["prefect_docker.deployments.steps.build_docker_image"]["image_name"]
    builds = [{"build-image": {"image": f"{image_name}:{tag}", "image_name": image_name, "tag": tag}}
              for tag in DEPLOY_TAGS]
    server, env = start_prefect_server(worker, tmp_path / "server-home")
    try:
        run([worker / "bin" / "prefect", "work-pool", "create", deployment["work_pool"]["name"],
             "--type", "kubernetes", "--base-job-template", JOB_TEMPLATE],
            cwd=project, env=env)
        # The worker's environment: its settings, no PREFECT_HOME (its home is its own).
        worker_env = {**env, **worker_settings, "HOME": str(tmp_path / "worker-home")}
        worker_env.pop("PREFECT_HOME")
        request = {"pool": deployment["work_pool"]["name"], "deploy_config": deployment,
                   "builds": builds}
        run([worker / "bin" / "python", TESTS / "support" / "render_flow_run_jobs.py",
             tmp_path / "jobs.json"], env=worker_env, input=json.dumps(request), timeout=600)
    finally:
        server.stop(grace=5)
    return json.loads((tmp_path / "jobs.json").read_text())


def pod_environment(job: dict, secrets: dict) -> tuple[dict, dict]:
    """(environment, pod): what the kubelet gives the container of a pod of job: its values, the
    downward API's fields of that pod, and the Secret keys it references (from secrets)."""
    pod = {"metadata.name": job["metadata"]["generateName"] + "a1b2c-d3e4f",
           "metadata.uid": str(uuid.uuid4()), "metadata.namespace": job["metadata"]["namespace"]}
    env = {}
    for item in pod_spec(job)["containers"][0]["env"]:
        source = item.get("valueFrom", {})
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "fieldRef" in source:
            env[item["name"]] = pod[source["fieldRef"]["fieldPath"]]
        elif "secretKeyRef" in source:
            env[item["name"]] = secrets[(source["secretKeyRef"]["name"], source["secretKeyRef"]["key"])]
    return env, pod


def strict_crd_validator(venv: Path, kind: str):
    """A validator of a custom resource against the CRD that dask-kubernetes ships (its Helm
    chart's), strict as kubernetes-validate: an unknown field is an error, where the API server
    would silently drop it."""
    [path] = venv.glob(f"lib/python*/site-packages/dask_kubernetes/operator/deployment/helm/"
                       f"dask-kubernetes-operator/crds/{kind}.yaml")
    crd = yaml.safe_load(path.read_text())
    [version] = [version for version in crd["spec"]["versions"] if version.get("storage")]

    def strict(schema):
        if isinstance(schema, list):
            return [strict(item) for item in schema]
        if not isinstance(schema, dict):
            return schema
        schema = {key: strict(value) for key, value in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema

    schema = strict(version["schema"]["openAPIV3Schema"])
    schema["properties"].update(
        apiVersion={"const": f"{crd['spec']['group']}/{version['name']}"},
        kind={"const": crd["spec"]["names"]["kind"]}, metadata={"type": "object"})
    return jsonschema.Draft7Validator(schema)


def container_images(value) -> list[str]:
    """The image of every container anywhere in value."""
    if isinstance(value, list):
        return [image for item in value for image in container_images(item)]
    if not isinstance(value, dict):
        return []
    found = [item["image"] for item in value.get("containers", [])]
    return found + [image for key, item in value.items() if key != "containers"
                    for image in container_images(item)]


def env_entry(container: dict, name: str) -> dict:
    [entry] = [item for item in container.get("env", []) if item["name"] == name]
    return entry


# The newest line in CI; the older ones (the same cluster code) nightly.
@pytest.mark.parametrize("prefect_version", [
    pytest.param(version, id=version) if version == DEFAULT_PREFECT else nightly_only(version, version)
    for version in LINES])
def test_each_deploy_runs_its_tasks_on_a_dask_cluster_of_exactly_its_own_image(
        bake_shared, worker_venv, project_venv, tmp_path, prefect_version):
    project = bake_shared(prefect_version=prefect_version, **KUBERNETES_DASK_DEPLOYS)
    venv = project_venv(project)
    worker = worker_venv(prefect_version) / "venv"
    api = LINES[prefect_version]["api"]
    manifests = load_manifests(project)
    worker_container = pod_spec(manifests[("Deployment", "prefect-worker")])["containers"][0]
    key_secret = env_entry(worker_container, "PREFECT_API_KEY")["valueFrom"]["secretKeyRef"]
    api_key = f"pnu_{uuid.uuid4().hex}"  # what the Secret prefect-api-key holds
    settings = dict(manifests[("ConfigMap", "prefect-worker")]["data"])
    settings.pop("PREFECT_API_URL")  # the worker here talks to the test's server
    config = yaml.safe_load((project / "prefect.yaml").read_text())
    sizes = config["deployments"][0]["work_pool"]["job_variables"]["env"]
    image_name = f"{KUBERNETES_REGISTRY}/flows"
    slug = config["name"]  # (the shared bake's folder has a name of its own)
    package = slug.replace("-", "_")

    rendered = render_flow_run_jobs(worker, project, tmp_path, {**settings, "PREFECT_API_KEY": api_key})
    assert len(rendered) == len(DEPLOY_TAGS)
    pods = [pod_environment(item["job"], {(key_secret["name"], key_secret["key"]): api_key})
            for item in rendered]
    # The cluster each flow run starts, built by the project's code installed from its lock.
    # And a flow run whose deployment lost a size (prefect.yaml edited): it must say what to set.
    unsized = {name: value for name, value in pods[0][0].items() if name != "DASK_CLUSTER_WORKER_MEMORY"}
    run([venv / "bin" / "python", TESTS / "support" / "render_dask_cluster.py", tmp_path / "clusters.json"],
        env=clean_environment(HOME=str(tmp_path / "flow-home")), timeout=600,
        input=json.dumps({"package": package, "runs": [*(env for env, _ in pods), unsized]}))
    *clusters, refused = json.loads((tmp_path / "clusters.json").read_text())
    assert "DASK_CLUSTER_WORKER_MEMORY" in refused["error"] and "prefect.yaml" in refused["error"]
    for tag, item, (env, pod), cluster in zip(DEPLOY_TAGS, rendered, pods, clusters, strict=True):
        image = f"{image_name}:{tag}"
        job = item["job"]
        spec = pod_spec(job)
        [container] = spec["containers"]

        # The flow run's Job: this deploy's image, told to the flow run too; valid, restricted.
        assert container["image"] == image
        assert env_entry(container, "DASK_CLUSTER_IMAGE") == {"name": "DASK_CLUSTER_IMAGE", "value": image}
        assert spec["serviceAccountName"] == "flow-run"
        strict_job = copy.deepcopy(job)
        for field in PREFECT_MISPLACED_FIELDS:
            assert pod_spec(strict_job).pop(field) == 1
        validate_strictly(strict_job)
        assert restricted_violations(job) == []
        assert hardening_gaps(job) == []
        assert unwritable(writable_paths_of_the_image(project), spec) == set()
        if api >= 3:  # the key reaches the Job as a reference only
            assert env_entry(container, "PREFECT_API_KEY")["valueFrom"]["secretKeyRef"] == {
                key: key_secret[key] for key in ("name", "key")}
            assert api_key not in json.dumps(job)
        # (Prefect 2's worker swaps the key for its own Secret when it creates the Job, through
        # the Kubernetes API; the static test checks it is configured to.)

        # The flow run's cluster: started by the project's own runner, named after the run.
        assert cluster["starts_the_project_cluster"], "the flow's task runner starts another cluster"
        assert cluster["class"].endswith(".KubeCluster")
        assert cluster["status"] == "Status.created"  # built, not started: no API was called
        assert cluster["name"] == f"dask-{item['flow_run_id']}"
        assert cluster["namespace"] == job["metadata"]["namespace"] == slug
        assert cluster["shutdown_on_close"] is True  # deleted when the flow run ends
        daskcluster = cluster["daskcluster"]
        errors = [error.message for error in
                  strict_crd_validator(venv, "daskcluster").iter_errors(daskcluster)]
        assert errors == []
        assert daskcluster["metadata"]["ownerReferences"] == [
            {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata.name"], "uid": pod["metadata.uid"]}]
        assert daskcluster["spec"]["worker"]["replicas"] == int(sizes["DASK_CLUSTER_WORKERS"])

        # Every pod of it runs exactly this deploy's image, restricted, read-only, sized as
        # prefect.yaml says, with the flow's secrets and the API key by reference only.
        objects = cluster["operator_objects"]
        assert sorted(container_images([daskcluster, objects])) == [image] * 4
        for resource in objects:
            validate_strictly(resource)
            assert restricted_violations(resource) == []
            assert hardening_gaps(resource) == []
            resource_pod = pod_spec(resource)
            if resource_pod:
                assert unwritable(writable_paths_of_the_image(project), resource_pod) == set()
                assert resource_pod["imagePullSecrets"] == spec["imagePullSecrets"]
        scheduler, service, dask_worker = objects
        assert service["spec"]["selector"].items() <= (
            scheduler["spec"]["template"]["metadata"]["labels"].items())
        [worker_pod_container] = pod_spec(dask_worker)["containers"]
        assert env_entry(worker_pod_container, "DASK_SCHEDULER_ADDRESS")["value"] == (
            f"tcp://{service['metadata']['name']}.{slug}.svc.cluster.local:8786")
        assert env_entry(worker_pod_container, "PREFECT_API_URL")["value"] == env["PREFECT_API_URL"]
        assert env_entry(worker_pod_container, "PREFECT_API_KEY")["valueFrom"]["secretKeyRef"][
            "name"] == key_secret["name"]
        assert worker_pod_container["envFrom"] == container["envFrom"]  # the flow's own Secret
        assert worker_pod_container["resources"]["limits"] == {
            "cpu": sizes["DASK_CLUSTER_WORKER_CPU"], "memory": sizes["DASK_CLUSTER_WORKER_MEMORY"]}
        assert api_key not in json.dumps(cluster)

        # The CRD check is strict: a misspelled field of the worker pods is an error.
        broken = copy.deepcopy(daskcluster)
        broken["spec"]["worker"]["spec"]["containers"][0]["imagePullPolice"] = "Always"
        assert list(strict_crd_validator(venv, "daskcluster").iter_errors(broken))

    # Two deploys, two flow runs: two clusters, each of its own deploy's image.
    assert len({cluster["name"] for cluster in clusters}) == 2
    assert [set(container_images(cluster["daskcluster"])) for cluster in clusters] == [
        {f"{image_name}:{tag}"} for tag in DEPLOY_TAGS]
