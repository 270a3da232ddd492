"""The Kubernetes "restricted" Pod Security Standard, as a checker of manifests.

Each rule is one function of the table at https://kubernetes.io/docs/concepts/security/pod-security-standards/
(the baseline controls, which restricted includes, then the restricted ones), applied to a pod spec
the way the Pod Security admission controller applies it: to the pod, and to each of its
containers, init containers and ephemeral containers. A namespace labelled
`pod-security.kubernetes.io/enforce: restricted` refuses any pod that breaks one.

hardening_gaps() adds what this project asks for beyond the standard: a read-only root filesystem
and CPU and memory requests and limits on every container.
"""

from __future__ import annotations

# Where the pod spec is in each kind of object that makes pods.
POD_SPEC_PATHS = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
ALLOWED_VOLUME_TYPES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral",
                        "persistentVolumeClaim", "projected", "secret"}
SAFE_SYSCTLS = {"kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
                "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
                "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
                "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
                "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes"}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
APPARMOR_ANNOTATION = "container.apparmor.security.beta.kubernetes.io/"


def pod_spec(resource: dict) -> dict | None:
    path = POD_SPEC_PATHS.get(resource.get("kind", ""))
    if path is None:
        return None
    spec = resource
    for key in path:
        spec = (spec or {}).get(key)
    return spec or {}


def pod_metadata(resource: dict) -> dict:
    if resource.get("kind") == "Pod":
        return resource.get("metadata") or {}
    path = POD_SPEC_PATHS[resource["kind"]][:-1] + ("metadata",)
    metadata = resource
    for key in path:
        metadata = (metadata or {}).get(key)
    return metadata or {}


def containers(spec: dict):
    for field in ("containers", "initContainers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield f"{field[:-1]} {container.get('name')!r}", container, container.get("securityContext") or {}


# --- Baseline ---------------------------------------------------------------------------------

def host_process(spec, metadata):
    if ((spec.get("securityContext") or {}).get("windowsOptions") or {}).get("hostProcess"):
        yield "pod: securityContext.windowsOptions.hostProcess must be unset or false"
    for where, _, context in containers(spec):
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            yield f"{where}: securityContext.windowsOptions.hostProcess must be unset or false"


def host_namespaces(spec, metadata):
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            yield f"pod: {field} must be unset or false"


def privileged(spec, metadata):
    for where, _, context in containers(spec):
        if context.get("privileged"):
            yield f"{where}: securityContext.privileged must be unset or false"


def host_path_volumes(spec, metadata):
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            yield f"volume {volume.get('name')!r}: hostPath volumes are not allowed"


def host_ports(spec, metadata):
    for where, container, _ in containers(spec):
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                yield f"{where}: ports[].hostPort must be unset or 0"


def app_armor(spec, metadata):
    allowed = {None, "RuntimeDefault", "Localhost"}
    if ((spec.get("securityContext") or {}).get("appArmorProfile") or {}).get("type") not in allowed:
        yield "pod: securityContext.appArmorProfile.type must be RuntimeDefault or Localhost"
    for where, _, context in containers(spec):
        if (context.get("appArmorProfile") or {}).get("type") not in allowed:
            yield f"{where}: securityContext.appArmorProfile.type must be RuntimeDefault or Localhost"
    for key, value in (metadata.get("annotations") or {}).items():
        if key.startswith(APPARMOR_ANNOTATION) and not (
                value in ("runtime/default", "") or value.startswith("localhost/")):
            yield f"annotation {key}: must be runtime/default or localhost/*"


def se_linux(spec, metadata):
    contexts = [("pod", spec.get("securityContext") or {})]
    contexts += [(where, context) for where, _, context in containers(spec)]
    for where, context in contexts:
        options = context.get("seLinuxOptions") or {}
        if options.get("type", "") not in SELINUX_TYPES:
            yield f"{where}: securityContext.seLinuxOptions.type {options['type']!r} is not allowed"
        for field in ("user", "role"):
            if options.get(field):
                yield f"{where}: securityContext.seLinuxOptions.{field} must be unset"


def proc_mount(spec, metadata):
    for where, _, context in containers(spec):
        if context.get("procMount", "Default") != "Default":
            yield f"{where}: securityContext.procMount must be unset or Default"


def sysctls(spec, metadata):
    for sysctl in (spec.get("securityContext") or {}).get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield f"pod: sysctl {sysctl.get('name')!r} is not in the safe set"


# --- Restricted -------------------------------------------------------------------------------

def volume_types(spec, metadata):
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUME_TYPES:
            yield f"volume {volume.get('name')!r}: type {sorted(kinds)} is not allowed"


def privilege_escalation(spec, metadata):
    for where, _, context in containers(spec):
        if context.get("allowPrivilegeEscalation") is not False:
            yield f"{where}: securityContext.allowPrivilegeEscalation must be false"


def running_as_non_root(spec, metadata):
    pod_level = (spec.get("securityContext") or {}).get("runAsNonRoot")
    for where, _, context in containers(spec):
        value = context.get("runAsNonRoot", pod_level)
        if value is not True:
            yield f"{where}: runAsNonRoot must be true (in the pod's or the container's securityContext)"


def running_as_non_root_user(spec, metadata):
    if (spec.get("securityContext") or {}).get("runAsUser") == 0:
        yield "pod: securityContext.runAsUser must not be 0"
    for where, _, context in containers(spec):
        if context.get("runAsUser") == 0:
            yield f"{where}: securityContext.runAsUser must not be 0"


def seccomp(spec, metadata):
    allowed = {"RuntimeDefault", "Localhost"}
    pod_level = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    if pod_level is not None and pod_level not in allowed:
        yield "pod: securityContext.seccompProfile.type must be RuntimeDefault or Localhost"
    for where, _, context in containers(spec):
        value = (context.get("seccompProfile") or {}).get("type", pod_level)
        if value not in allowed:
            yield f"{where}: seccompProfile.type must be RuntimeDefault or Localhost (pod or container)"


def capabilities(spec, metadata):
    for where, _, context in containers(spec):
        caps = context.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            yield f"{where}: securityContext.capabilities.drop must include ALL"
        added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            yield (f"{where}: securityContext.capabilities.add may hold NET_BIND_SERVICE only, "
                   f"not {sorted(added)}")


RESTRICTED_RULES = [host_process, host_namespaces, privileged, host_path_volumes, host_ports,
                    app_armor, se_linux, proc_mount, sysctls, volume_types, privilege_escalation,
                    running_as_non_root, running_as_non_root_user, seccomp, capabilities]


def restricted_violations(resource: dict) -> list[str]:
    """What keeps the pods of resource out of a namespace that enforces "restricted"."""
    spec = pod_spec(resource)
    if spec is None:
        return []
    metadata = pod_metadata(resource)
    return [message for rule in RESTRICTED_RULES for message in rule(spec, metadata)]


def hardening_gaps(resource: dict) -> list[str]:
    """This project's rules beyond the standard: read-only root, bounded resources."""
    spec = pod_spec(resource)
    if spec is None:
        return []
    gaps = []
    for where, container, context in containers(spec):
        if context.get("readOnlyRootFilesystem") is not True:
            gaps.append(f"{where}: securityContext.readOnlyRootFilesystem must be true")
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for amount in ("cpu", "memory"):
                if not (resources.get(kind) or {}).get(amount):
                    gaps.append(f"{where}: resources.{kind}.{amount} must be set")
    return gaps
