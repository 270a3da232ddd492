"""A faithful local stand-in for Prefect's official image, `prefecthq/prefect:<version>-python<py>`.

No container registry is reachable here, so the image is built on this machine by the recipe of
Prefect's own Dockerfile (its `final` stage), FROM the local python:<py>-slim image:
- tini, build-essential and git from Debian (Prefect's recipe takes git from Debian trixie when
  the base is bookworm, for git >= 2.47; here git comes from the base's own suite);
- uv at /bin/uv (Prefect copies it from the astral-sh/uv image; here it comes from PyPI), with
  UV_SYSTEM_PYTHON=1 and UV_LINK_MODE=copy, as in the official image: Prefect's `dockerfile: auto`
  runs `uv pip install -r requirements.txt` on it;
- Prefect with its image extras installed into the image's own Python by uv, bytecode compiled
  (UV_COMPILE_BYTECODE=1), then setuptools removed; Prefect's entrypoint under tini.
Differences: no newer SQLite library (Prefect copies one from its prefect-sqlite image), and
Prefect comes from PyPI rather than from an sdist built from its repository.

Prefect is resolved as of the release's day (the day the template dates the project's lock by), as
the official image of that release was built with the dependencies of its day.

    python tests/support/official_prefect_image.py 3.9.1 3.12
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

if __name__ == "__main__":  # run as a script: tests/ on sys.path, as pytest puts it there
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from support.commands import docker
from support.containers import build_image, image_exists
from support.template import COOKIECUTTER_JSON, release_facts

DOCKERFILE = """\
FROM {base}
ENV LC_ALL=C.UTF-8 LANG=C.UTF-8 UV_LINK_MODE=copy UV_SYSTEM_PYTHON=1 PIP_NO_CACHE_DIR=1
WORKDIR /opt/prefect
RUN apt-get update && apt-get install --no-install-recommends -y tini build-essential git \\
    && apt-get clean && rm -rf /var/lib/apt/lists/*
RUN pip install --target /tmp/uv uv=={uv} && cp /tmp/uv/bin/uv /bin/uv && rm -rf /tmp/uv
RUN UV_COMPILE_BYTECODE=1 uv pip install --no-cache --exclude-newer {day} \\
        "prefect[redis,client,otel]=={prefect}" \\
    && (uv pip uninstall setuptools || true)
RUN prefect version
COPY entrypoint.sh ./entrypoint.sh
ENTRYPOINT ["/usr/bin/tini", "-g", "--", "/opt/prefect/entrypoint.sh"]
"""

# Prefect's scripts/entrypoint.sh, less its banner.
ENTRYPOINT = """\
#!/usr/bin/env bash
set -e
if [ -f ~/.bashrc ]; then . ~/.bashrc; fi
if [ -n "$EXTRA_PIP_PACKAGES" ]; then
  echo "+pip install $EXTRA_PIP_PACKAGES"
  pip install $EXTRA_PIP_PACKAGES
fi
if [ -z "$*" ]; then exec bash --login; else exec "$@"; fi
"""


def tag(prefect_version: str, python_version: str) -> str:
    return f"prefecthq/prefect:{prefect_version}-python{python_version}"


def release_day(prefect_version: str, python_version: str) -> str:
    """The day the template dates a project of that release by (pyproject.toml's exclude-newer)."""
    return release_facts(prefect_version, python_version).day


def is_faithful(name: str) -> bool:
    """An image of that name built by this recipe (another stand-in may lack uv, which Prefect's
    `dockerfile: auto` needs)."""
    probe = docker("run", "--rm", "--entrypoint", "sh", name, "-c",
                   'command -v uv && command -v tini && [ "$UV_SYSTEM_PYTHON" = 1 ]', check=False)
    return probe.returncode == 0


def ensure(prefect_version: str, python_version: str, base_image: str) -> str:
    """Build the stand-in unless a faithful image of that name exists; return its tag."""
    name = tag(prefect_version, python_version)
    if image_exists(name) and is_faithful(name):
        return name
    with tempfile.TemporaryDirectory(prefix="cpd-prefect-image-") as scratch:
        context = Path(scratch)
        (context / "Dockerfile").write_text(DOCKERFILE.format(
            base=base_image, uv=COOKIECUTTER_JSON["_uv_version"],
            day=release_day(prefect_version, python_version),
            prefect=prefect_version))
        (context / "entrypoint.sh").write_text(ENTRYPOINT)
        (context / "entrypoint.sh").chmod(0o755)
        build_image(context, name, "buildkit")
    return name


if __name__ == "__main__":
    version, python = sys.argv[1:3]
    print(ensure(version, python, f"python:{python}-slim"))
