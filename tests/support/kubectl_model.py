"""What a project's documented Kubernetes commands do to an empty cluster, in order, on paper.

No Kubernetes API server, kind or Helm runs on these machines, so `play(project, commands).finish()`
plays the commands against a model of a fresh cluster and of the Prefect API, and names each step
that would fail or leave something broken:

- `kubectl apply -f PATH ...`: each -f in the order given; a folder is its .json, .yaml and .yml
  files in the lexical order of their names (as kubectl reads a folder, not recursing), a file is
  itself; each document in file order. A document without apiVersion and kind is not an object
  (kubectl refuses it). `kubectl create namespace NAME`, `kubectl -n NS create secret TYPE NAME`.
- an object in a namespace that does not exist yet is refused (`namespaces "x" not found`);
- a pod template (a Deployment's, a Job's) that references a Secret, ConfigMap or ServiceAccount
  that does not exist yet starts pods that fail (CreateContainerConfigError, ImagePullBackOff, no
  pods at all for a missing ServiceAccount). A reference marked optional does not fail, but if the
  commands create that object later, the pods already started went without it (a container reads
  its environment when it starts), so that counts too;
- `helm install ... -n NS --create-namespace` creates NS (what the chart puts in it is not modelled);
- Prefect: `prefect work-pool create NAME --base-job-template FILE` fails if the pool exists (without
  --overwrite); a worker (a Deployment running `prefect worker start --pool NAME`) that finds no pool
  creates it with Prefect's default Job template; `prefect deploy` needs the pools of prefect.yaml's
  deployments; `prefect deployment run` has the worker create a Job from the pool's template, in
  the namespace the job variables give, whose references are checked as above.

Commands it does not model (another kubectl or helm subcommand) are problems too, so that a new
step in the docs cannot go unchecked.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import yaml

# The kinds the project uses that live outside namespaces.
CLUSTER_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                 "PersistentVolume", "StorageClass", "PriorityClass"}
# What a fresh cluster has.
INITIAL_NAMESPACES = {"default", "kube-system", "kube-public", "kube-node-lease"}
MANIFEST_SUFFIXES = (".json", ".yaml", ".yml")
# kubectl subcommands that read and create nothing, but need their namespace.
READING = {"get", "describe", "logs", "rollout", "port-forward", "wait", "top"}
PLACEHOLDER = re.compile(r"^\{\{\s*(\w+)\s*\}\}$")


@dataclass
class Cluster:
    project: Path
    namespaces: set = field(default_factory=lambda: set(INITIAL_NAMESPACES))
    objects: dict = field(default_factory=dict)  # (kind, namespace, name) -> the object
    pools: dict = field(default_factory=dict)  # Prefect work pool name -> its base job template
    deployments: set = field(default_factory=set)  # Prefect deployments, "flow/name"
    problems: list = field(default_factory=list)
    # Optional references not there when the referencing object was created: (ref, by, step).
    missed: list = field(default_factory=list)
    step: str = ""

    def problem(self, text: str) -> None:
        self.problems.append(f"`{self.step}`: {text}")

    # --- Kubernetes objects ---------------------------------------------------------------

    def create(self, document, source: str, namespace_flag: str | None) -> None:
        if not (isinstance(document, dict) and document.get("apiVersion") and document.get("kind")):
            self.problem(f"{source} is not a Kubernetes object (apiVersion or kind not set)")
            return
        if document["kind"] == "List":
            for item in document.get("items") or []:
                self.create(item, source, namespace_flag)
            return
        kind, metadata = document["kind"], document.get("metadata") or {}
        name = metadata.get("name") or metadata.get("generateName", "")
        namespace = None
        if kind not in CLUSTER_KINDS:
            written = metadata.get("namespace")
            if written and namespace_flag and written != namespace_flag:
                self.problem(f"{kind} {name} in {source}: its namespace {written} is not -n {namespace_flag}")
            namespace = written or namespace_flag or "default"
            if namespace not in self.namespaces:
                self.problem(f"{kind} {name} ({source}) is created before its namespace {namespace}")
                return
        for ref_kind, ref_name, optional in references(document):
            if ref_kind == "ServiceAccount" and ref_name == "default":
                continue  # every namespace has one
            if (ref_kind, namespace, ref_name) in self.objects:
                continue
            if optional:
                self.missed.append(((ref_kind, namespace, ref_name), f"{kind} {name}", self.step))
            else:
                self.problem(f"{kind} {name} ({source}) references {ref_kind} {ref_name}, "
                             f"which does not exist yet in {namespace}")
        if kind == "Namespace":
            self.namespaces.add(name)
        self.objects[(kind, namespace, name)] = document
        for pool in worker_pools(document):
            if pool not in self.pools:  # the worker creates it, with Prefect's default template
                self.pools[pool] = None

    def apply(self, path_text: str, namespace_flag: str | None) -> None:
        path = self.project / path_text
        if not path.exists():
            self.problem(f"no file or folder {path_text}")
            return
        files = (sorted(p for p in path.iterdir() if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
                 if path.is_dir() else [path])
        for file in files:
            try:
                documents = list(yaml.safe_load_all(file.read_text()))
            except yaml.YAMLError as error:
                self.problem(f"{file.relative_to(self.project)} is not YAML or JSON: {error}")
                continue
            for document in documents:
                if document is not None:
                    self.create(document, file.relative_to(self.project).as_posix(), namespace_flag)

    def create_named(self, kind: str, name: str, namespace: str) -> None:
        self.create({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}},
                    f"kubectl create {kind.lower()}", namespace)

    # --- the commands ---------------------------------------------------------------------

    def kubectl(self, words: list[str]) -> None:
        namespace, files, rest = None, [], []
        index = 0
        while index < len(words):
            word = words[index]
            if word in ("-n", "--namespace", "-f", "--filename"):
                value = words[index + 1]
                index += 2
            elif word.startswith(("--namespace=", "--filename=")):
                word, value = word.split("=", 1)
                index += 1
            else:
                rest.append(word)
                index += 1
                continue
            if word in ("-n", "--namespace"):
                namespace = value
            else:
                files.append(value)
        verb = rest[0] if rest else ""
        if namespace and namespace not in self.namespaces:
            self.problem(f"namespace {namespace} does not exist yet")
            return
        if verb == "apply":
            if "-k" in rest or "--kustomize" in rest or "-R" in rest:
                self.problem("kubectl apply -k/-R is not modelled")
            for path in files:
                self.apply(path, namespace)
        elif verb == "create" and rest[1:2] in (["namespace"], ["ns"]):
            self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": rest[2]}},
                        "kubectl create namespace", None)
        elif verb == "create" and rest[1:2] == ["secret"]:
            self.create_named("Secret", rest[3], namespace or "default")
        elif verb == "create" and rest[1:2] in (["configmap"], ["serviceaccount"]):
            self.create_named({"configmap": "ConfigMap"}.get(rest[1], "ServiceAccount"), rest[2],
                              namespace or "default")
        elif verb in READING:
            pass
        else:
            self.problem(f"kubectl {verb} is not modelled")

    def helm(self, words: list[str]) -> None:
        if words[:1] in (["repo"], ["search"]):
            return
        if words[:1] != ["install"]:
            self.problem(f"helm {words[:1]} is not modelled")
            return
        namespace = next((words[i + 1] for i, w in enumerate(words) if w in ("-n", "--namespace")), "default")
        if "--create-namespace" in words:
            self.namespaces.add(namespace)
        elif namespace not in self.namespaces:
            self.problem(f"helm installs into namespace {namespace}, which does not exist yet")

    def prefect(self, words: list[str]) -> None:
        config = yaml.safe_load((self.project / "prefect.yaml").read_text())
        if words[:2] == ["work-pool", "create"]:
            name = words[2]
            flag = "--base-job-template"
            template = words[words.index(flag) + 1] if flag in words else None
            if name in self.pools and "--overwrite" not in words:
                how = ("a worker made it with Prefect's default Job template" if self.pools[name] is None
                       else "created before")
                self.problem(f"work pool {name} already exists ({how})")
                return
            self.pools[name] = json.loads((self.project / template).read_text()) if template else None
        elif words[:1] == ["deploy"]:
            for deployment in config["deployments"]:
                pool = deployment["work_pool"]["name"]
                if pool not in self.pools:
                    self.problem(f"the deployment's work pool {pool} does not exist yet")
                elif self.pools[pool] is None:
                    self.problem(f"work pool {pool} has Prefect's default Job template, not the project's")
                self.deployments.add(f"{config['name']}/{deployment['name']}")
        elif words[:2] == ["deployment", "run"]:
            if words[2] not in self.deployments:
                self.problem(f"no deployment {words[2]} yet")
                return
            [deployment] = [d for d in config["deployments"] if f"{config['name']}/{d['name']}" == words[2]]
            pool = deployment["work_pool"]["name"]
            if not any(pool in worker_pools(obj) for obj in self.objects.values()):
                self.problem(f"no worker polls the work pool {pool}: the run waits forever")
            template = self.pools.get(pool)
            if template:
                self.run_job(template, deployment["work_pool"].get("job_variables") or {})

    def run_job(self, template: dict, job_variables: dict) -> None:
        """The Job a worker makes of a flow run: the template's variables filled in."""
        defaults = {name: spec.get("default") for name, spec in template["variables"]["properties"].items()}
        values = {**defaults, **job_variables}
        job = fill(template["job_configuration"]["job_manifest"], values)
        job.setdefault("metadata", {})["name"] = "flow-run"
        self.create(job, "a flow run, from the work pool's Job template", None)

    def run(self, command: str) -> None:
        self.step = command
        words = shlex.split(command, comments=True)
        while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
            words.pop(0)
        if not words:
            return
        if words[0] == "kubectl":
            self.kubectl(words[1:])
        elif words[0] == "helm":
            self.helm(words[1:])
        elif words[0] == "prefect":
            self.prefect(words[1:])

    def finish(self) -> list[str]:
        for ref, by, step in self.missed:
            if ref in self.objects:
                self.problems.append(f"`{step}`: {by} is created before {ref[0]} {ref[2]}, which it "
                                     "references: it started without it")
        return self.problems


def fill(value, values: dict):
    """A Prefect Job template with its {{ variable }} placeholders filled in; a placeholder whose
    variable has no value is left out, as Prefect's worker does."""
    if isinstance(value, dict):
        filled = {key: fill(item, values) for key, item in value.items()}
        return {key: item for key, item in filled.items() if item is not None}
    if isinstance(value, list):
        return [item for item in (fill(item, values) for item in value) if item is not None]
    if isinstance(value, str) and (match := PLACEHOLDER.match(value)):
        return values.get(match[1])
    if isinstance(value, str):
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(values.get(m[1]) or ""), value)
    return value


def pod_templates(document: dict) -> list[dict]:
    spec = document.get("spec") or {}
    if document.get("kind") == "Pod":
        return [spec]
    if document.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    template = spec.get("template") or {}
    return [template["spec"]] if isinstance(template, dict) and "spec" in template else []


def references(document: dict) -> list[tuple[str, str, bool]]:
    """(kind, name, optional) of each Secret, ConfigMap and ServiceAccount the pods of document use."""
    found = []
    for pod in pod_templates(document):
        if pod.get("serviceAccountName"):
            found.append(("ServiceAccount", pod["serviceAccountName"], False))
        found += [("Secret", item["name"], False) for item in pod.get("imagePullSecrets") or []]
        for container in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]:
            for source in container.get("envFrom") or []:
                for key, kind in (("secretRef", "Secret"), ("configMapRef", "ConfigMap")):
                    if key in source:
                        found.append((kind, source[key]["name"], bool(source[key].get("optional"))))
            for item in container.get("env") or []:
                for key, kind in (("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")):
                    ref = (item.get("valueFrom") or {}).get(key)
                    if ref:
                        found.append((kind, ref["name"], bool(ref.get("optional"))))
        for volume in pod.get("volumes") or []:
            for key, kind, name in (("secret", "Secret", "secretName"), ("configMap", "ConfigMap", "name")):
                if key in volume:
                    found.append((kind, volume[key][name], bool(volume[key].get("optional"))))
    return found


def worker_pools(document: dict) -> list[str]:
    """The work pools a Prefect worker in document's pods polls (`prefect worker start --pool P`)."""
    pools = []
    for pod in pod_templates(document):
        for container in pod.get("containers") or []:
            command = [*(container.get("command") or []), *(container.get("args") or [])]
            if "worker" in command and "start" in command and "--pool" in command:
                pools.append(command[command.index("--pool") + 1])
    return pools


def play(project: Path, commands: list[str]) -> Cluster:
    """The cluster and Prefect API after commands ran in order on empty ones; .finish() gives what
    went wrong."""
    cluster = Cluster(project)
    for command in commands:
        cluster.run(command)
    return cluster
