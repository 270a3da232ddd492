"""A baked project's names, read from its files (a shared bake's folder is named after its answers,
not its slug)."""

from __future__ import annotations

import tomllib
from pathlib import Path


def project_name(project: Path) -> str:
    """pyproject.toml's [project] name: the slug, and the distribution's name."""
    return tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
