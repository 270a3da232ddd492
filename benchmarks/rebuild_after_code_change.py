"""How much of a cold build a one-line code change costs: the template's Dockerfile against the
article's (`ADD . .` then `pip install -e .`), measured in one run on this machine.

    python benchmarks/rebuild_after_code_change.py [--base python:3.11-slim] [--builder classic|buildkit]

It bakes the default project, builds each Dockerfile cold (--no-cache), changes one line of a
component, rebuilds, and prints the rebuild/cold ratio of each layout.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from cookiecutter.main import cookiecutter  # noqa: E402

from helpers import TEMPLATE_DIR, build_image, docker  # noqa: E402

ARTICLE_DOCKERFILE = """FROM {base}
WORKDIR /app
ADD . .
RUN pip install -e .
"""


def timed_build(project: Path, tag: str, builder: str, *extra: str) -> float:
    started = time.monotonic()
    build_image(project, tag, builder, *extra)
    return time.monotonic() - started


def measure(project: Path, builder: str) -> tuple[float, float]:
    tag = f"cpd-bench-{uuid.uuid4().hex[:8]}:latest"
    try:
        cold = timed_build(project, tag, builder, "--no-cache")
        component = next(project.glob("src/*/components/component_b.py"))
        component.write_text(component.read_text() + "\n# one more line\n")
        rebuild = timed_build(project, tag, builder)
        return cold, rebuild
    finally:
        docker("rmi", "-f", tag, check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="python:3.11-slim")
    parser.add_argument("--builder", default="classic", choices=["classic", "buildkit"])
    options = parser.parse_args()
    python = options.base.split(":")[1].split("-")[0]

    with tempfile.TemporaryDirectory() as scratch:
        template_project = Path(cookiecutter(str(TEMPLATE_DIR), no_input=True, output_dir=scratch,
                                             extra_context={"python_version": python,
                                                            "base_image": options.base,
                                                            "lock_requirements": "no"}))
        article = Path(scratch) / "article"
        shutil.copytree(template_project, article)
        (article / "Dockerfile").write_text(ARTICLE_DOCKERFILE.format(base=options.base))
        (article / ".dockerignore").unlink()

        results = {"template": measure(template_project, options.builder),
                   "article": measure(article, options.builder)}

    print(f"base {options.base}, {options.builder} builder; one-line code change after a cold build")
    for name, (cold, rebuild) in results.items():
        ratio = rebuild / cold
        print(f"  {name:9s} cold {cold:6.1f} s   rebuild {rebuild:6.1f} s   rebuild/cold {ratio:.2f}")
    template_rebuild, article_rebuild = results["template"][1], results["article"][1]
    print(f"  template rebuild / article rebuild: {template_rebuild / article_rebuild:.2f}")


if __name__ == "__main__":
    main()
