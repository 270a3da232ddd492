"""What a requirements.lock holds for one interpreter, and what that interpreter has installed."""

from __future__ import annotations

import json

# The PEP 508 marker environment of the interpreter that runs this (standard library only, so it
# runs in any image or virtualenv); the same keys as packaging.markers.default_environment().
MARKER_ENVIRONMENT_SCRIPT = """
import json, os, platform, sys
info = sys.implementation
version = "%d.%d.%d" % info.version[:3]
if info.version.releaselevel != "final":
    version += info.version.releaselevel[0] + str(info.version.serial)
print(json.dumps({
    "implementation_name": info.name, "implementation_version": version,
    "os_name": os.name, "platform_machine": platform.machine(),
    "platform_release": platform.release(), "platform_system": platform.system(),
    "platform_version": platform.version(), "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]), "sys_platform": sys.platform,
}))
"""

# {normalized name: version} of every distribution the interpreter that runs this can import: the
# first on sys.path, as an import finds it (a virtualenv with --system-site-packages may see a
# second, older copy of the base image's).
INSTALLED_VERSIONS_SCRIPT = """
import importlib.metadata as metadata, json, re
versions = {}
for d in metadata.distributions():
    versions.setdefault(re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(), d.version)
print(json.dumps(versions))
"""


def last_json_line(output: str):
    return json.loads(output.strip().splitlines()[-1])


def locked_versions(lock_text: str, environment: dict) -> dict[str, str]:
    """{normalized name: version} of the lock's entries whose markers hold in environment."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    joined = lock_text.replace("\\\n", " ")
    versions = {}
    for line in joined.splitlines():
        content = line.split(" #", 1)[0].strip()
        if not content or content.startswith(("#", "-")):
            continue
        requirement = Requirement(" ".join(w for w in content.split() if not w.startswith("--hash")))
        if requirement.marker is None or requirement.marker.evaluate(environment):
            [specifier] = requirement.specifier
            assert specifier.operator == "==", content
            versions[canonicalize_name(requirement.name)] = specifier.version
    return versions
