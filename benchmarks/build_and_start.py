"""Build, rebuild, size and start-up of the generated image, side by side with the alternatives,
measured in one run on this machine (issue 17's "Performance stays"). Prints a table, the five
goals' ratios and whether each is met.

    .venv/bin/python benchmarks/build_and_start.py [--python 3.12] [--builder classic] [--runs 3]
                                                   [--rounds 1] [--no-generation]

Variants, all of the default project (Prefect from cookiecutter.json, Docker pool, locked), baked
with the same answers (python_version, base_image):
  template        this template's Dockerfile and uv.lock (made by the bake: `uv lock`)
  before          the template as of BEFORE_COMMIT, baked with that commit's own hooks: its own
                  Dockerfile, .dockerignore and requirements.lock (its hook's `uv pip compile`)
  prefect-auto    Prefect's `dockerfile: auto`, built by prefect-docker's own build_docker_image
                  step (run from a scratch virtualenv holding the project's lock, exported by
                  `uv export`), FROM the stand-in prefecthq/prefect:<version>-python<py>
                  (tests/support/official_prefect_image.py)
  template-on-prefect   this template with base_image = that Prefect image (its Prefect-image
                  Dockerfile: pip installs the exported requirements.lock into the image's Python)
  prefect-auto-installs prefect-auto's Dockerfile plus one line that installs the project
                  (INSTALL_THE_PROJECT), built by the same step: what it takes for that image to
                  run the flow, as the template's image does; the floor of a build on Prefect's image

For each: a cold build (--no-cache), a rebuild after a one-line change to a component, the image's
size. Start-up (template, before, template-on-prefect): `docker run IMAGE` until the flow's first
task reports, with no PREFECT_API_URL (Prefect's temporary server) and with one (a `prefect server
start` on 127.0.0.1); the best of --runs runs (3 x --runs with the API), interleaved.

The goals (issue 17):
  1. code-only rebuild <= max(1.5 x prefect-auto's rebuild, 1 s)
  2. image <= 1.05 x (base image + installed packages, /opt/venv)
  3. cold build <= 0.6 x before's
  4. `docker run` with no API <= 0.65 x before's
  5. template-on-prefect's cold build <= 1.2 x prefect-auto-installs'
Also, without a goal: a bake that locks against a bake without the lock plus `uv lock` alone;
floors (`docker run` of the template's image until it has imported the flow's module); whether
each prefect-auto image runs the project's flow at all.

Other work on the machine slows every variant alike: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support import official_prefect_image  # noqa: E402
from support.commands import DOCKER, CommandFailed, docker, find_python, run  # noqa: E402
from support.containers import build_image  # noqa: E402
from support.network import free_port, http_json  # noqa: E402
from support.processes import Background, wait_until  # noqa: E402
from support.template import COOKIECUTTER_JSON, DEFAULT_PREFECT, TEMPLATE_DIR  # noqa: E402

# The template before issue 17's changes: the issue's baseline.
BEFORE_COMMIT = "8845d4e"
# The one line that makes `dockerfile: auto`'s image run the flow: the project installed, as the
# template's image has it (editable, no dependencies: the auto recipe installed them), by the
# image's own uv as in the recipe's own line.
INSTALL_THE_PROJECT = "RUN uv pip install --no-deps --editable ."
# A run that must start Prefect's temporary server on a busy machine may take long.
PATIENT = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "600"}
UV = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))


def bake(template: Path, output: Path, **answers) -> Path:
    """The project cookiecutter generates from template, with that template's own hooks."""
    run([sys.executable, "-m", "cookiecutter", "--no-input", "-o", output, template,
         *[f"{key}={value}" for key, value in answers.items()]], timeout=1800)
    return next(path for path in output.iterdir() if path.is_dir())


def template_at(commit: str, into: Path) -> Path:
    """The template's files as of commit (git archive: nothing in the checkout changes)."""
    archive = subprocess.run(["git", "-C", TEMPLATE_DIR, "archive", commit], check=True,
                             capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def change_a_component(project: Path) -> None:
    component = next(project.glob("src/*/components/component_b.py"))
    component.write_text(component.read_text() + "\n# one more line\n")


def timed(action, *args, **kwargs) -> float:
    started = time.monotonic()
    action(*args, **kwargs)
    return time.monotonic() - started


def image_size(tag: str) -> int:
    return int(docker("image", "inspect", "--format", "{{.Size}}", tag).output)


class Dockerfile:
    """A variant built from a project directory by `docker build`."""

    def __init__(self, name: str, project: Path, builder: str):
        self.name, self.project, self.builder = name, project, builder
        self.tag = f"cpd-bench-{name}-{uuid.uuid4().hex[:6]}:latest"

    def build(self, cold: bool) -> float:
        return timed(build_image, self.project, self.tag, self.builder,
                     *(["--no-cache"] if cold else []))


class PrefectAuto:
    """Prefect's `dockerfile: auto`, built by prefect-docker's step itself (docker-py: the
    classic builder), from a scratch virtualenv where the project's lock is installed. With
    `then`, Dockerfile lines added after Prefect's own (the same step builds the result)."""

    STEP = """
import pathlib, sys, time
from prefect.utilities.dockerutils import generate_default_dockerfile
from prefect_docker.deployments.steps import build_docker_image
dockerfile = "auto"
if sys.argv[3]:
    with generate_default_dockerfile() as auto:
        recipe = auto.read_text()
    dockerfile = "Dockerfile.then"
    pathlib.Path(dockerfile).write_text(recipe + sys.argv[3] + "\\n")
started = time.monotonic()
build_docker_image(image_name=sys.argv[1], tag="latest", dockerfile=dockerfile, pull=False,
                   network_mode="host", nocache=sys.argv[2] == "cold", rm=True, forcerm=True)
print("seconds", time.monotonic() - started)
"""

    def __init__(self, name: str, project: Path, venv_python: Path, then: str = ""):
        self.name, self.project, self.python, self.then = name, project, venv_python, then
        self.tag = f"cpd-bench-{name}-{uuid.uuid4().hex[:6]}:latest"

    def build(self, cold: bool) -> float:
        """Seconds the step takes (timed inside its process: not Python's start-up and imports)."""
        # The step writes its Dockerfile into the project, and refuses to overwrite one.
        (self.project / "Dockerfile").unlink(missing_ok=True)
        result = run([self.python, "-c", self.STEP, self.tag.split(":")[0],
                      "cold" if cold else "warm", self.then], cwd=self.project, timeout=1800)
        return float(re.findall(r"^seconds (\S+)$", result.output, re.MULTILINE)[-1])


def scratch_venv(project: Path, python_version: str, where: Path) -> Path:
    """A virtualenv with the project's lock installed (Prefect and prefect-docker, as uv.lock
    pins them): `uv export` of uv.lock, then an install of exactly that, hashes checked."""
    run([UV, "venv", "--quiet", "--python", find_python(python_version), where])
    python = where / "bin" / "python"
    exported = where.with_name(where.name + "-requirements.lock")
    run([UV, "export", "--frozen", "--no-dev", "--no-emit-project", "--quiet", "--output-file",
         exported], cwd=project)
    run([UV, "pip", "install", "--quiet", "--python", python, "--require-hashes", "--no-deps",
         "-r", exported], timeout=1800)
    return python


def first_task_seconds(image: str, env: dict) -> float:
    """Seconds from `docker run IMAGE` until the flow's first task reports; the run must end
    Completed."""
    first, text = seconds_until("Task run '", image, env=env)
    if "Finished in state Completed()" not in text:
        raise RuntimeError(f"{image} did not complete its flow:\n{text[-3000:]}")
    return first


def import_seconds(image: str, package: str) -> float:
    """Seconds from `docker run IMAGE` until a process has imported the flow's module: the part
    of a start that no entry point or Dockerfile can shorten."""
    code = f"import {package}.flows; print('imported', flush=True)"
    return seconds_until("imported", "--entrypoint", "python", image, "-c", code)[0]


def seconds_until(text: str, *arguments: str, env: dict | None = None) -> tuple[float, str]:
    """(seconds from `docker run ARGUMENTS` until a line holding text, all it printed); the
    container must exit 0."""
    environment = [f"--env={key}={value}" for key, value in {**PATIENT, **(env or {})}.items()]
    started = time.monotonic()
    process = subprocess.Popen([DOCKER, "run", "--rm", "--network", "host", *environment,
                                *arguments], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    first, output = None, []
    for line in process.stdout:
        output.append(line)
        if first is None and text in line:
            first = time.monotonic() - started
    process.wait()
    if process.returncode != 0 or first is None:
        raise RuntimeError(f"docker run {' '.join(arguments)} failed:\n{''.join(output)[-3000:]}")
    return first, "".join(output)


def measure_generation(runs: int, answers: dict, scratch: Path) -> dict:
    """Best of runs: a bake that locks (the hook's `uv lock`), a bake without the lock, and
    `uv lock` alone in that unlocked project (uv's cache is warm for all three)."""
    results = {"bake with lock": [], "bake without lock": [], "uv lock": []}
    for attempt in range(runs):
        out = scratch / f"gen-{attempt}"
        results["bake with lock"].append(timed(bake, TEMPLATE_DIR, out / "a", **answers))
        results["bake without lock"].append(
            timed(bake, TEMPLATE_DIR, out / "b", lock_requirements="no", **answers))
        unlocked = next((out / "b").iterdir())
        results["uv lock"].append(timed(run, [UV, "lock", "--quiet"], cwd=unlocked))
    return {name: min(times) for name, times in results.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=COOKIECUTTER_JSON["python_version"][0])
    parser.add_argument("--builder", default="classic", choices=["classic", "buildkit"])
    parser.add_argument("--runs", type=int, default=3, help="start-ups and bakes per variant")
    parser.add_argument("--rounds", type=int, default=1, help="cold builds and rebuilds per variant")
    parser.add_argument("--no-generation", dest="generation", action="store_false",
                        help="skip the bake timings (no goal depends on them)")
    options = parser.parse_args()
    python, prefect = options.python, DEFAULT_PREFECT
    base = f"python:{python}-slim"
    load_before = os.getloadavg()
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="cpd-bench-") as tmp:
        scratch = Path(tmp)
        answers = {"python_version": python, "base_image": base}
        project = bake(TEMPLATE_DIR, scratch / "template", **answers)
        prefect_image = official_prefect_image.ensure(prefect, python, base)
        # The baseline, as a user got it then: that commit's template and hooks, which lock.
        before = bake(template_at(BEFORE_COMMIT, scratch / "before-template"), scratch / "before",
                      **answers)
        assert (before / "requirements.lock").is_file(), f"{BEFORE_COMMIT}'s bake wrote no lock"
        on_prefect = bake(TEMPLATE_DIR, scratch / "on-prefect", python_version=python,
                          base_image=prefect_image)
        auto = scratch / "auto" / project.name
        shutil.copytree(project, auto)
        auto_installs = scratch / "auto-installs" / project.name
        shutil.copytree(project, auto_installs)
        venv_python = scratch_venv(project, python, scratch / "venv")

        template = Dockerfile("template", project, options.builder)
        before_v = Dockerfile("before", before, options.builder)
        on_prefect_v = Dockerfile("template-on-prefect", on_prefect, options.builder)
        variants = [template, before_v,
                    PrefectAuto("prefect-auto", auto, venv_python),
                    PrefectAuto("prefect-auto-installs", auto_installs, venv_python,
                                then=INSTALL_THE_PROJECT),
                    on_prefect_v]
        rows: dict[str, dict] = {}
        try:
            # One variant's cold build and rebuild finish before the next starts: the classic
            # builder's cache follows the latest chain of identical steps. Rounds alternate the
            # variants, and each keeps its best: a burst of other work then slows one round only.
            for _ in range(options.rounds):
                for variant in variants:
                    docker("rmi", "-f", variant.tag, check=False)  # the last round's
                    cold = variant.build(cold=True)
                    change_a_component(variant.project)
                    rebuild = variant.build(cold=False)
                    row = rows.setdefault(variant.name, {"cold": cold, "rebuild": rebuild})
                    row.update(cold=min(row["cold"], cold), rebuild=min(row["rebuild"], rebuild),
                               size=image_size(variant.tag))
            sizes = installed_sizes(template.tag, base)

            startup = measure_startup([template, before_v, on_prefect_v], options.runs,
                                      venv_python, scratch)
            for name, times in startup.items():
                rows[name].update(times)
            import_floor = min(import_seconds(template.tag, package_of(project))
                               for _ in range(3 * options.runs))
            auto_runs = {variant.name: runs_the_flow(variant.tag) for variant in variants
                         if isinstance(variant, PrefectAuto)}
            generation = None
            if options.generation:
                try:
                    generation = measure_generation(options.runs, answers, scratch)
                except CommandFailed as error:  # the build and start-up figures still count
                    print(f"generation not measured: {str(error)[:2000]}", file=sys.stderr)
        finally:
            docker("rmi", "-f", *[variant.tag for variant in variants], check=False)

    report(rows, sizes, generation, import_floor, auto_runs, options, prefect, base,
           prefect_image, load_before, time.monotonic() - started)


def runs_the_flow(tag: str) -> str:
    """'yes', or the last line of what `docker run IMAGE python workflow/flow.py` printed."""
    result = docker("run", "--rm", "--network", "host",
                    *[f"--env={k}={v}" for k, v in PATIENT.items()],
                    tag, "python", "workflow/flow.py", check=False, timeout=900)
    if result.returncode == 0 and "Finished in state Completed()" in result.output:
        return "yes"
    return "no: " + (result.output.strip().splitlines() or ["(no output)"])[-1]


def package_of(project: Path) -> str:
    return next(project.glob("src/*/__init__.py")).parent.name


def installed_sizes(tag: str, base: str) -> dict:
    """The base image's size, the size of what the image installs (its virtualenv), and of the
    database the build migrated (not counted as installed packages)."""
    du = docker("run", "--rm", "--entrypoint", "sh", tag, "-c",
                "du -sb /opt/venv; du -sb /opt/prefect-home 2>/dev/null || echo 0").output.split()
    return {"base": image_size(base), "venv": int(du[0]),
            "prefect-home": int(du[2]) if len(du) > 2 else 0}


def measure_startup(variants, runs: int, venv_python: Path, scratch: Path) -> dict:
    """{variant: {'start (no API)': s, 'start (API)': s}}: the best of runs, interleaved."""
    port = free_port()
    home = scratch / "server-home"
    server = Background([venv_python.with_name("prefect"), "server", "start", "--host", "127.0.0.1",
                         "--port", port], scratch / "server.log",
                        env=dict(os.environ, PREFECT_HOME=str(home),
                                 PREFECT_SERVER_ANALYTICS_ENABLED="false"))
    api = f"http://127.0.0.1:{port}/api"
    try:
        wait_until(lambda: http_json(f"{api}/health"), 600, "the local Prefect server")
        times: dict[str, dict[str, list]] = {v.name: {"start (no API)": [], "start (API)": []}
                                             for v in variants}
        for _ in range(runs):
            for variant in variants:
                times[variant.name]["start (no API)"].append(first_task_seconds(variant.tag, {}))
                # Three times as many: a start of two seconds varies by a tenth of that.
                times[variant.name]["start (API)"] += [
                    first_task_seconds(variant.tag, {"PREFECT_API_URL": api}) for _ in range(3)]
    finally:
        server.stop()
    return {name: {kind: min(values) for kind, values in kinds.items()}
            for name, kinds in times.items()}


def goals_of(rows: dict, sizes: dict) -> list[tuple[str, float, float, str, bool]]:
    """Issue 17's five goals: (name, numerator, denominator, goal, met); the ratio is
    numerator / denominator."""
    t, b = rows["template"], rows["before"]
    auto, installs = rows["prefect-auto"], rows["prefect-auto-installs"]
    on = rows["template-on-prefect"]
    installed = sizes["base"] + sizes["venv"]
    return [
        ("1. code-only rebuild / prefect-auto's rebuild", t["rebuild"], auto["rebuild"],
         f"<= 1.5, or rebuild <= 1 s (bound {max(1.5 * auto['rebuild'], 1.0):.1f} s)",
         t["rebuild"] <= max(1.5 * auto["rebuild"], 1.0)),
        ("2. image / (base image + installed packages)", t["size"], installed, "<= 1.05",
         t["size"] <= 1.05 * installed),
        ("3. cold build / before's cold build", t["cold"], b["cold"], "<= 0.6",
         t["cold"] <= 0.6 * b["cold"]),
        ("4. `docker run`, no API / before's", t["start (no API)"], b["start (no API)"], "<= 0.65",
         t["start (no API)"] <= 0.65 * b["start (no API)"]),
        ("5. template-on-prefect cold / prefect-auto-installs cold", on["cold"], installs["cold"],
         "<= 1.2", on["cold"] <= 1.2 * installs["cold"]),
    ]


def report(rows, sizes, generation, import_floor, auto_runs, options, prefect, base,
           prefect_image, load_before, seconds) -> None:
    megabytes = 1e6
    print(f"Prefect {prefect}, {base} (and {prefect_image}), {options.builder} builder, default "
          f"answers (locked), before = {BEFORE_COMMIT}; builds: best of {options.rounds}, "
          f"start-up: best of {options.runs} (API set: of {3 * options.runs}); load average "
          f"before/after: {load_before[0]:.1f}/{os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          f"CPUs; {seconds / 60:.0f} min in all")
    print()
    columns = ["cold", "rebuild", "size", "start (no API)", "start (API)"]
    print("| variant | cold build | rebuild after a code change | image size | start (no API) "
          "| start (API) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, row in rows.items():
        cells = []
        for column in columns:
            value = row.get(column)
            cells.append("" if value is None else f"{value / megabytes:.0f} MB" if column == "size"
                         else f"{value:.1f} s")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print()
    goals = goals_of(rows, sizes)
    print("| goal (issue 17) | ratio | goal | met |")
    print("| --- | ---: | --- | --- |")
    for name, numerator, denominator, goal, met in goals:
        print(f"| {name} | {numerator / denominator:.3f} | {goal} | {'yes' if met else 'NO'} |")
    print()
    print(f"{sum(met for *_, met in goals)} of {len(goals)} goals met.")
    print(f"base image {sizes['base'] / megabytes:.0f} MB, installed packages (/opt/venv) "
          f"{sizes['venv'] / megabytes:.0f} MB, migrated database (/opt/prefect-home) "
          f"{sizes['prefect-home'] / megabytes:.1f} MB")
    for name, runs in auto_runs.items():
        print(f"the image of {name} runs the project's flow (`python workflow/flow.py`): {runs}")
    t, b, auto = rows["template"], rows["before"], rows["prefect-auto"]
    on = rows["template-on-prefect"]
    print()
    print("| other ratio (no goal) | measured |")
    print("| --- | ---: |")
    print(f"| rebuild / own cold build | {t['rebuild'] / t['cold']:.3f} |")
    print(f"| start, API set / before's | {t['start (API)'] / b['start (API)']:.3f} |")
    print(f"| template-on-prefect cold / prefect-auto cold | {on['cold'] / auto['cold']:.3f} |")
    print(f"| template-on-prefect start, no API / before's | "
          f"{on['start (no API)'] / b['start (no API)']:.3f} |")
    print(f"| `docker run` + importing the flow's module (template, {import_floor:.1f} s): the floor "
          f"of a start with the API set / before's start (API) | "
          f"{import_floor / b['start (API)']:.3f} |")
    installs = rows["prefect-auto-installs"]["cold"]
    print(f"| prefect-auto-installs cold (the floor on Prefect's image) / prefect-auto cold | "
          f"{installs / auto['cold']:.3f} |")
    if generation:
        print()
        print("| generation | seconds |")
        print("| --- | ---: |")
        for name, value in generation.items():
            print(f"| {name} | {value:.1f} |")
        floor = generation["bake without lock"] + generation["uv lock"]
        print(f"| bake with lock / (bake without lock + `uv lock`), a ratio | "
              f"{generation['bake with lock'] / floor:.3f} |")


if __name__ == "__main__":
    main()
