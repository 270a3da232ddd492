"""Docker images and containers: whether an image exists, building one, running one, which
containers a run made (they may be gone already), and the one way the tests remove what they made
(containers, images, a repository's every image)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from support.commands import PATIENT_PREFECT, Completed, docker
from support.processes import wait_until


def image_exists(tag: str) -> bool:
    return docker("image", "inspect", tag, check=False).returncode == 0


def build_image(context_dir: Path, tag: str, builder: str, *extra: str, check: bool = True) -> Completed:
    """docker build with the classic builder or BuildKit, on the host network (no bridge here)."""
    env = dict(os.environ, DOCKER_BUILDKIT="1" if builder == "buildkit" else "0")
    # The classic builder keeps a failed step's container unless told not to.
    progress = ["--progress=plain"] if builder == "buildkit" else ["--force-rm"]
    return docker("build", "--network", "host", *progress, *extra, "-t", tag, ".",
                  cwd=context_dir, env=env, timeout=1800, check=check)


def images_of_removed_containers(label: str, since: float, timeout: float = 60) -> list[str]:
    """The image of each container carrying label (key=value) that the engine created since
    `since` (a time.time()), once one of them has been removed (auto_remove). The engine's events
    say so, however quickly the container went; `docker ps -a` may no longer show it."""
    def events() -> list[tuple[str, str]]:
        lines = docker("events", "--since", f"{since - 5:.0f}", "--until", f"{time.time():.0f}",
                       "--filter", "type=container", "--filter", f"label={label}",
                       "--format", "{{.Action}}\t{{.Actor.Attributes.image}}").output.splitlines()
        return [tuple(line.rsplit("\t", 1)) for line in lines if "\t" in line]

    wait_until(lambda: any(action == "destroy" for action, _ in events()), timeout,
               f"a container labelled {label} to be removed (auto_remove)")
    return [image for action, image in events() if action == "create"]


def remove_containers(*names: str, label: str | None = None, ancestor: str | None = None) -> None:
    """docker rm -f the named containers, those carrying label (key=value) and those made from
    the image ancestor; ignore missing ones."""
    ids = list(names)
    for key, value in (("label", label), ("ancestor", ancestor)):
        if value:
            ids += docker("ps", "-aq", "--filter", f"{key}={value}", check=False).output.split()
    if ids:
        docker("rm", "-f", *ids, check=False)


def remove_images(*references: str) -> None:
    """docker rmi -f the images named (tags or digests); ignore missing ones."""
    if references:
        docker("rmi", "-f", *references, check=False)


def remove_repository(repository: str) -> None:
    """Every image of repository on this engine (each tag; an image known only by its digest,
    as a pull leaves it; one known by neither, by its id), and the containers made from them.
    Other names of a tagged or digested image stay."""
    listed = docker("images", repository, "--format",
                    "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}", check=False).output.splitlines()
    references = []
    for name, tag, digest, image_id in (line.split("\t") for line in listed if line.count("\t") == 3):
        if name != repository:
            continue
        # A built image has no digest; a pulled one known by no tag has only its digest.
        if tag != "<none>":
            references.append(f"{name}:{tag}")
        elif digest and digest != "<none>":
            references.append(f"{name}@{digest}")
        else:
            references.append(image_id)
        remove_containers(ancestor=references[-1])
    remove_images(*references)


def run_in(image: str, *command: str, options=(), timeout: int = 300, **kwargs) -> Completed:
    """docker run --rm the image (its default command, or command) on the host network, with a
    patient temporary Prefect server (PATIENT_PREFECT); options go before the image."""
    patience = [f"--env={name}={value}" for name, value in PATIENT_PREFECT.items()]
    return docker("run", "--rm", "--network", "host", *patience, *options, image, *command,
                  timeout=timeout, **kwargs)
