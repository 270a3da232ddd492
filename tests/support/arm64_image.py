"""An arm64 stand-in for python:3.11-slim, for the nightly platform tests (no registry is reachable
here, so no official arm64 image either).

The field notes' recipe, run here: Debian bookworm's python3 (3.11) debootstrapped for arm64 (QEMU's
binfmt handlers, with the F flag, run its binaries), imported, and its config marked arm64/v8:
`docker import --platform` on this engine still records amd64, so the saved image's config is
rewritten (its file name is the sha256 of the new JSON) and loaded again.

usage: python tests/support/arm64_image.py [TAG]     (root, debootstrap, qemu-user-static, a running dockerd)
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

DOCKER = "/usr/bin/docker"
TAG = "cpd-arm64-python:3.11-slim"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def emulation_problem() -> str | None:
    """Why arm64 binaries cannot run here, or None."""
    handler = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if not handler.exists():
        return ("no binfmt handler for arm64 (apt-get install qemu-user-static binfmt-support; "
                "update-binfmts --enable qemu-aarch64)")
    if "F" not in next((line.split()[1] for line in handler.read_text().splitlines()
                        if line.startswith("flags:")), ""):
        return "the arm64 binfmt handler lacks the F flag, which containers need"
    return None


def exists(tag: str) -> bool:
    return subprocess.run([DOCKER, "image", "inspect", tag], capture_output=True).returncode == 0


def mark_arm64(tag: str, work: Path) -> None:
    saved = work / "saved"
    saved.mkdir()
    subprocess.run(f"{DOCKER} save {tag} | tar -C {saved} -x", shell=True, check=True)
    manifest = json.loads((saved / "manifest.json").read_text())
    old = manifest[0]["Config"]
    config = json.loads((saved / old).read_text())
    config.update(architecture="arm64", variant="v8")
    data = json.dumps(config).encode()
    new = hashlib.sha256(data).hexdigest() + ".json"
    (saved / old).unlink()
    (saved / new).write_bytes(data)
    manifest[0]["Config"] = new
    (saved / "manifest.json").write_text(json.dumps(manifest))
    archive = work / "arm64.tar"
    with tarfile.open(archive, "w") as tar:
        for path in saved.iterdir():
            tar.add(path, arcname=path.name)
    subprocess.run([DOCKER, "rmi", tag], check=True, capture_output=True)
    subprocess.run([DOCKER, "load", "-i", str(archive)], check=True, capture_output=True)


def ensure(tag: str = TAG) -> str:
    """The tag of an arm64 python:3.11-slim stand-in, made if missing (about 3 minutes)."""
    if exists(tag):
        return tag
    if problem := emulation_problem():
        raise RuntimeError(problem)
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap missing (apt-get install debootstrap)")
    with tempfile.TemporaryDirectory() as tmp:
        work, root = Path(tmp), Path(tmp) / "root"
        subprocess.run(["debootstrap", "--arch=arm64", "--variant=minbase",
                        "--include=python3,python3-pip,python3-venv,ca-certificates", "bookworm", str(root)],
                       check=True, capture_output=True)
        for managed in root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"):
            managed.unlink()
        (root / "usr/bin/python").symlink_to("python3")
        if CA_BUNDLE.exists():  # the mirrors are reached through a TLS-intercepting proxy
            shutil.copy(CA_BUNDLE, root / CA_BUNDLE.relative_to("/"))
        subprocess.run(f"tar -C {root} -c . | {DOCKER} import -c 'CMD [\"python3\"]' "
                       f"-c 'ENV SSL_CERT_FILE={CA_BUNDLE}' -c 'ENV PIP_CERT={CA_BUNDLE}' - {tag}",
                       shell=True, check=True, capture_output=True)
        mark_arm64(tag, work)
    return tag


if __name__ == "__main__":
    print(ensure(*sys.argv[1:2]))
