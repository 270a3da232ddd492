"""The generated Dockerfile: it builds with BuildKit and with the classic builder (the one Prefect's
docker build step uses), the flow runs in the image, and the image is what the guides ask for."""

from __future__ import annotations

import json
import re
import shutil
import time
import uuid

import pytest
from conftest import nightly_only

from support.commands import PATIENT_PREFECT, docker
from support.containers import build_image, remove_containers, remove_images, run_in
from support.project_names import project_name
from support.template import COOKIECUTTER_JSON, DEFAULT_PREFECT

BUILDERS = ["classic", "buildkit"]
DEFAULT_PYTHON = COOKIECUTTER_JSON["python_version"][0]  # the answer a user gets by pressing Enter
# The default Python in every run; 3.11 (which the journeys build on too) and 3.13 nightly.
PYTHONS = [DEFAULT_PYTHON, nightly_only("3.11", id="3.11"), nightly_only("3.13", id="3.13")]
# How issue 11 asks every container of the project to run: nothing writable but /tmp, no Linux
# capabilities, no privilege gained through setuid binaries.
LOCKED_DOWN = ["--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
               "--security-opt", "no-new-privileges"]


@pytest.fixture(scope="module")
def project_for(bake_shared, base_image):
    """project_for('3.12'): the default project, for that Python and its python:X-slim base."""

    def bake(python_version: str):
        return bake_shared(python_version=python_version, base_image=base_image(python_version))

    return bake


@pytest.fixture
def scratch_image():
    """scratch_image(): a unique tag for an image this test builds; removed afterwards."""
    tags = []

    def new_tag() -> str:
        tags.append(f"cpd-scratch-{uuid.uuid4().hex[:10]}:test")
        return tags[-1]

    yield new_tag
    remove_images(*tags)


@pytest.fixture(scope="module")
def default_image(project_for, project_image) -> str:
    """The image of the project baked with the default answers (BuildKit)."""
    return project_image(project_for(DEFAULT_PYTHON), "buildkit")


@pytest.mark.parametrize("builder", BUILDERS)
@pytest.mark.parametrize("python_version", PYTHONS)
def test_the_image_builds_and_its_default_command_runs_the_flow(project_for, project_image,
                                                                 python_version, builder):
    image = project_image(project_for(python_version), builder)
    result = run_in(image)
    assert "Finished in state Completed()" in result.output
    assert "total = 110" in result.output
    version = run_in(image, "python", "-c", "import sys; print('%d.%d' % sys.version_info[:2])")
    assert version.output.strip() == python_version


def test_the_articles_commands_work_verbatim(project_for, project_image):
    """`docker build . -t test:latest`, then `docker run -it test:latest sh` and, inside,
    `python workflow/flow.py` (the shell reads the command from standard input here)."""
    project = project_for(DEFAULT_PYTHON)
    project_image(project, "classic")  # shares the layer cache: this build reuses it
    try:
        build_image(project, "test:latest", "classic")
        result = docker("run", "--rm", "-i", "--network", "host", "test:latest", "sh",
                        input="python workflow/flow.py\nexit $?\n", timeout=300)
        assert "Finished in state Completed()" in result.output
    finally:
        remove_images("test:latest")


@pytest.mark.parametrize("builder", BUILDERS)
def test_a_code_only_change_reruns_no_step_and_changes_only_the_code_layer(
        project_for, project_image, tmp_path, scratch_image, builder):
    project = tmp_path / "project"
    shutil.copytree(project_for(DEFAULT_PYTHON), project)
    project_image(project_for(DEFAULT_PYTHON), builder)  # the session's build of it: a warm layer cache
    before = scratch_image()
    build_image(project, before, builder)

    component = next(project.glob("src/*/components/component_b.py"))
    component.write_text(component.read_text() + "\n# a code-only change\n")
    after = scratch_image()
    rebuild = build_image(project, after, builder)

    # Every RUN step (dependencies, database, the project's metadata) comes from the cache: the
    # rebuild only copies the code, as Prefect's own `dockerfile: auto` does.
    assert steps_that_ran(rebuild.output, builder) == [], rebuild.output
    layers_before, layers_after = layers(before), layers(after)
    assert len(layers_before) == len(layers_after)
    assert layers_before[:-1] == layers_after[:-1]
    assert layers_before[-1] != layers_after[-1], "the last layer is `COPY . .`: the code"
    # The changed code is what the image's installed package imports.
    package = component.parents[1].name
    imported = run_in(after, "python", "-c", f"import inspect, {package}.components.component_b as b; "
                      "print(inspect.getsource(b).rstrip().splitlines()[-1])")
    assert imported.output.strip() == "# a code-only change"


def steps_that_ran(build_output: str, builder: str) -> list[str]:
    """The RUN steps of a build that were executed rather than taken from the layer cache."""
    if builder == "classic":
        # "Step 9/17 : RUN ..." then " ---> Using cache" or " ---> Running in <container>"
        steps = re.findall(r"^Step \d+/\d+ : (RUN .*)\n ---> (.*)$", build_output, re.MULTILINE)
        return [step for step, outcome in steps if not outcome.startswith("Using cache")]
    # BuildKit (--progress=plain): "#9 [ 6/11] RUN ..." and, for a cached one, "#9 CACHED"
    runs = dict(re.findall(r"^#(\d+) \[[^\]]*\] (RUN .*)$", build_output, re.MULTILINE))
    cached = set(re.findall(r"^#(\d+) CACHED$", build_output, re.MULTILINE))
    return [step for number, step in runs.items() if number not in cached]


def layers(image: str) -> list[str]:
    return json.loads(docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image).output)


def test_secrets_and_clutter_stay_out_of_the_image(project_for, tmp_path, scratch_image):
    project = tmp_path / "project"
    shutil.copytree(project_for(DEFAULT_PYTHON), project)
    (project / ".env").write_text("API_TOKEN=planted-secret-7f3a\n")
    (project / ".env.production").write_text("API_TOKEN=planted-secret-7f3a\n")
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").write_text("planted-secret-7f3a")
    (project / ".git").mkdir(exist_ok=True)  # the repository the post-gen hook made
    (project / ".git" / "config").write_text("planted-secret-7f3a")
    image = scratch_image()
    build_image(project, image, "buildkit")

    listing = run_in(image, "sh", "-c", "ls -A /app").output.split()
    for unwanted in [".env", ".env.production", ".venv", ".git", "Dockerfile"]:
        assert unwanted not in listing
    found = run_in(image, "grep", "-rl", "planted-secret-7f3a", "/app", check=False)
    assert found.returncode == 1 and found.output == "", found.output
    # The README's way to hand the secrets to a run: `docker run --env-file .env`; they reach
    # the flow's process and never the image's configuration.
    config = docker("image", "inspect", "--format", "{{json .Config.Env}}", image).output
    assert "planted-secret-7f3a" not in config
    passed = run_in(image, "python", "-c", "import os; print(os.environ['API_TOKEN'])",
                    options=["--env-file", str(project / ".env"), *LOCKED_DOWN])
    assert passed.output.strip() == "planted-secret-7f3a"


def test_the_flow_runs_as_an_unprivileged_user_with_a_writable_prefect_home(default_image):
    image = default_image
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image).output)
    assert config["User"] == "10001:10001", "numeric, so Kubernetes' runAsNonRoot can verify it"
    assert config["Cmd"] == ["python", "workflow/flow.py"]
    identity = run_in(image, "sh", "-c",
                      'id -un; touch "$PREFECT_HOME/.written" && echo prefect-home-writable')
    user, writable = identity.output.split()
    assert user == "flow" and writable == "prefect-home-writable"
    # The code is root's: the flow's user cannot change what it runs.
    assert run_in(image, "sh", "-c", "touch /app/workflow/flow.py", check=False).returncode != 0


def test_docker_stop_ends_a_running_flow_promptly(default_image):
    image = default_image
    name = f"cpd-stop-{uuid.uuid4().hex[:8]}"
    # The entry point's own interrupt handling, around a run whose tasks take 30 s each.
    slow_run = ("import sys; sys.path.insert(0, 'workflow'); import flow; "
                "flow.exit_promptly_on_interrupt(); flow.main_flow(n=20, work_seconds=30)")
    patience = [f"--env={key}={value}" for key, value in PATIENT_PREFECT.items()]
    docker("run", "-d", "--name", name, "--network", "host", *patience, image, "python", "-c",
           slow_run)
    try:
        wait_for_log(name, "Beginning flow run", timeout=300)
        assert docker("inspect", "--format", "{{.State.Running}}", name).output.strip() == "true"
        started = time.monotonic()
        docker("stop", name)
        stopped_after = time.monotonic() - started
        assert stopped_after < 5, f"docker stop took {stopped_after:.1f}s (the signal was ignored?)"
        exit_code = docker("inspect", "--format", "{{.State.ExitCode}}", name).output.strip()
        assert exit_code == "130", "ended by its own SIGINT handling, not killed (137)"
    finally:
        remove_containers(name)


def wait_for_log(container: str, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = docker("logs", container, check=False).output
        if text in logs:
            return
        time.sleep(0.5)
    raise AssertionError(f"{text!r} never appeared in {container}'s logs:\n{logs[-3000:]}")


def no_python_message(python: str) -> str:
    return (f"ERROR: the base image (FROM) has no Python {python} with pip as 'python', which this "
            f"project needs (python_version). Use an image such as python:{python}-slim.")


def test_a_base_image_with_an_older_python_fails_the_build_with_a_clear_message(
        project_for, base_image, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(project_for(DEFAULT_PYTHON), project)
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(f"FROM {base_image(DEFAULT_PYTHON)}",
                                                         f"FROM {base_image('3.9')}"))
    for builder in BUILDERS:
        result = build_image(project, f"cpd-never-{uuid.uuid4().hex[:8]}:x", builder, check=False)
        assert result.returncode != 0
        assert no_python_message(DEFAULT_PYTHON) in result.output


def test_a_base_image_without_python_fails_the_build_with_a_clear_message(
        cookies, base_image, scratch_image, tmp_path):
    broken = scratch_image()
    (tmp_path / "Dockerfile").write_text(
        f"FROM {base_image('3.11')}\nRUN rm -f /usr/bin/python* /usr/local/bin/python*\n")
    build_image(tmp_path, broken, "classic")
    result = cookies.bake(extra_context={"python_version": "3.11", "base_image": broken,
                                         "lock_requirements": "no"})
    assert result.exit_code == 0, result.exception
    build = build_image(result.project_path, scratch_image(), "buildkit", check=False)
    assert build.returncode != 0
    assert no_python_message("3.11") in build.output


# ---------------------------------------------------------------------------------------------
# Locked down at run time (issue 11): read-only root filesystem, no capabilities
# ---------------------------------------------------------------------------------------------

def test_the_default_image_runs_its_flow_read_only_without_capabilities(default_image):
    result = run_in(default_image, options=LOCKED_DOWN)
    assert "Finished in state Completed()" in result.output
    assert "total = 110" in result.output
    # With no PREFECT_API_URL, Prefect started its own temporary server.
    assert re.search(r"prefect - Starting temporary server on http://127\.0\.0\.1:\d+", result.output)


def test_a_read_only_container_starts_with_the_database_migrated_at_build_time(default_image):
    """PREFECT_HOME lies on the writable /tmp; the entry point fills it with the database the
    image migrated at build time before anything else runs, so Prefect's temporary server does
    not migrate a new one at every start."""
    listing = run_in(default_image, "sh", "-c", 'echo "$PREFECT_HOME"; ls "$PREFECT_HOME"',
                     options=LOCKED_DOWN)
    home, *files = listing.output.split()
    assert home.startswith("/tmp/")
    assert "prefect.db" in files
    # That database is at the newest migration of the image's Prefect: nothing left to do.
    check = ("import sqlite3, os, subprocess; "
             "db = sqlite3.connect(os.environ['PREFECT_HOME'] + '/prefect.db'); "
             "print(db.execute('select version_num from alembic_version').fetchone()[0])")
    revision = run_in(default_image, "python", "-c", check, options=LOCKED_DOWN).output.strip()
    heads = run_in(default_image, "sh", "-c",
                   "cd /opt/venv/lib/python*/site-packages/prefect/server/database && "
                   "grep -rhoE \"^revision = ['\\\"][0-9a-f]+\" _migrations/versions/sqlite "
                   "| grep -oE '[0-9a-f]+$'").output.split()
    assert revision in heads


def test_the_temporary_server_skips_the_migration_check_only_on_the_copied_database(default_image):
    """The entry point tells Prefect's temporary server that the database it copied needs neither
    a migration check nor block registration; a value the user sets wins, and a home that already
    holds a database (a volume, say) is migrated as usual."""
    settings = ("PREFECT_API_DATABASE_MIGRATE_ON_START", "PREFECT_API_BLOCKS_REGISTER_ON_START")
    show = "; ".join(f'echo "{name}=${{{name}:-unset}}"' for name in settings)
    copied = run_in(default_image, "sh", "-c", show, options=LOCKED_DOWN).output.split()
    assert copied == [f"{name}=false" for name in settings]
    chosen = run_in(default_image, "sh", "-c", show, options=[
        *LOCKED_DOWN, "--env", "PREFECT_API_DATABASE_MIGRATE_ON_START=true"]).output.split()
    assert chosen == [f"{settings[0]}=true", f"{settings[1]}=false"]
    # A home of its own (here a second tmpfs, as a volume would be) that already holds a database.
    own_home = ["--tmpfs", "/home/flow/prefect:uid=10001,gid=10001", "--env",
                "PREFECT_HOME=/home/flow/prefect"]
    kept = run_in(default_image, "-c", 'touch "$PREFECT_HOME/prefect.db" && '
                                       'exec sh /app/docker-entrypoint.sh sh -c "$0"', show,
                  options=[*LOCKED_DOWN, *own_home, "--entrypoint", "sh"])
    assert kept.output.split() == [f"{name}=unset" for name in settings]


def test_the_entry_point_is_short_plain_shell_that_sets_only_prefects_public_settings(default_image):
    """No private interface of Prefect: no double-underscore variables, no Python, and every
    PREFECT_ name it sets is a setting this Prefect documents (a 3.8 name or its older alias)."""
    entrypoint = run_in(default_image, "cat", "/app/docker-entrypoint.sh").output
    assert entrypoint.startswith("#!/bin/sh\n") and len(entrypoint.splitlines()) <= 20
    assert "python" not in entrypoint.replace("`python workflow/flow.py`", "")
    names = set(re.findall(r"\bPREFECT_[A-Z_]+", entrypoint)) - {"PREFECT_HOME"}
    assert names and not any("__" in name for name in names), names
    for name in sorted(names):
        known = run_in(default_image, "sh", "-c",
                       f"grep -rliq {name} /opt/venv/lib/python*/site-packages/prefect/settings", check=False)
        assert known.returncode == 0, f"{name} is not one of this Prefect's settings"


def test_the_image_holds_no_compiler_no_installer_and_no_package_caches(default_image):
    # As root, so that nothing is hidden by permissions.
    found = run_in(default_image, "sh", "-c",
                   "for tool in gcc cc c++ g++ make uv; do command -v $tool; done; "
                   "ls -d /root/.cache /home/flow/.cache /tmp/uv 2>/dev/null; "
                   "ls /var/cache/apt/archives/*.deb 2>/dev/null; "
                   # where the build writes (the base image's Python keeps wheels of its own)
                   "find /opt /app /root /home /tmp \\( -name '*.whl' -o -name uv \\) "
                   "2>/dev/null; true",
                   options=["--user", "0"])
    assert found.output.strip() == "", found.output


def test_pip_check_finds_every_requirement_of_every_installed_package(default_image):
    # The image's virtualenv holds no pip (uv made it): the base image's pip checks it.
    result = run_in(default_image, "/usr/local/bin/python", "-m", "pip", "--python", "/opt/venv/bin/python",
                    "check", options=LOCKED_DOWN)
    assert "No broken requirements found." in result.output


def test_the_project_is_an_installed_package_that_imports_from_anywhere(default_image,
                                                                       project_for):
    project = project_for(DEFAULT_PYTHON)
    package = next(project.glob("src/*/__init__.py")).parent.name
    show = (f"import importlib.metadata as md, json, {package}.flows as flows; "
            f"d = md.distribution({project_name(project)!r}); "
            "print(json.dumps([d.version, flows.__file__, d.read_text('direct_url.json')]))")
    version, flows_file, direct_url = json.loads(
        run_in(default_image, "python", "-c", show, options=["--workdir", "/"]).output)
    assert version == "0.1.0"
    assert flows_file == f"/app/src/{package}/flows.py"
    assert json.loads(direct_url) == {"dir_info": {"editable": True}, "url": "file:///app"}


# ---------------------------------------------------------------------------------------------
# On Prefect's own image, nothing it holds is installed a second time (issue 9)
# ---------------------------------------------------------------------------------------------

# Prints {name: [version, installer]} of the image's distributions: Prefect's image installs with
# uv, the project's Dockerfile with pip, so the installer tells who put each one there.
DISTRIBUTIONS = """
import importlib.metadata as md, json, re
print(json.dumps({re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower():
                  [d.version, (d.read_text("INSTALLER") or "").strip()] for d in md.distributions()}))
"""

# Prints {name: version} of the entries of the image's requirements.lock (`uv export`, a universal
# lock) whose environment markers hold in the image, e.g. not pywin32 on Linux.
LOCKED_HERE = """
import json, re
from packaging.markers import Marker
entries = re.findall(r"^([a-z0-9][a-z0-9._-]*)==([^\\s;\\\\]+)(?:\\s*;\\s*([^\\\\\\n]*))?",
                     open("requirements.lock").read(), re.MULTILINE)
print(json.dumps({name: version for name, version, marker in entries
                  if not marker.strip() or Marker(marker.strip()).evaluate()}))
"""


@pytest.fixture(scope="module")
def prefect_based(bake_shared, prefect_image, project_image):
    """(project, base, image) of the default project with base_image = Prefect's image of the
    project's Prefect and Python (a faithful local stand-in here)."""
    python, prefect = DEFAULT_PYTHON, DEFAULT_PREFECT
    base = prefect_image(prefect, python)
    project = bake_shared(python_version=python, base_image=base)
    return project, base, project_image(project, "classic")


def test_on_prefects_image_only_what_it_lacks_is_installed(prefect_based):
    project, base, image = prefect_based
    held = json.loads(run_in(base, "python", "-c", DISTRIBUTIONS).output)
    now = json.loads(run_in(image, "python", "-c", DISTRIBUTIONS).output)
    locked = json.loads(run_in(image, "python", "-c", LOCKED_HERE).output)

    assert held["prefect"][0] == now["prefect"][0] == DEFAULT_PREFECT
    # Exactly the locked versions, and uv (Prefect's image holds it from 3.1.10 on) wrote only
    # those the base lacked at that version.
    assert {name: now[name][0] for name in locked} == locked
    changed = {name for name, entry in now.items() if entry != held.get(name)}
    lacking = {name for name, version in locked.items() if held.get(name, [None])[0] != version}
    assert changed == lacking | {project_name(project)}
    assert all(now[name][1] == "uv" for name in lacking), "uv installed them, over the base's"


def test_on_prefects_image_the_flow_runs_and_pip_check_passes(prefect_based):
    """As with Prefect's `dockerfile: auto`, the build migrates no database there: a run without
    an API migrates one at start."""
    project, _, image = prefect_based
    assert "prefect server database upgrade" not in (project / "Dockerfile").read_text()
    result = run_in(image, options=LOCKED_DOWN)
    assert "Finished in state Completed()" in result.output
    assert run_in(image, "sh", "-c", "test -e /opt/prefect-home || echo none").output.strip() == "none"
    assert "No broken requirements found." in run_in(image, "python", "-m", "pip", "check").output


# ---------------------------------------------------------------------------------------------
# The Dask cluster's containers, locked down too
# ---------------------------------------------------------------------------------------------

def test_the_dask_scheduler_and_workers_run_read_only_without_capabilities(
        bake_shared, base_image, project_image):
    import yaml

    from support.containers import remove_containers
    from support.network import free_port
    from support.processes import wait_until

    # The answers (and builder) of tests/test_dask_cluster.py: the same image, built once.
    base_image("3.11")
    project = bake_shared(python_version="3.11", task_runner="dask")
    image = project_image(project)
    compose = yaml.safe_load((project / "deploy" / "docker-compose.dask.yml").read_text())
    port = str(free_port())
    variables = {"DASK_SCHEDULER_PORT": port, "DASK_DASHBOARD_PORT": str(free_port())}

    def command(service: str) -> list[str]:
        return [re.sub(r"\$\{(\w+)(?::-([^}]*))?\}",
                       lambda m: variables.get(m.group(1), m.group(2) or ""), part)
                for part in compose["services"][service]["command"]]

    prefix = f"cpd-dask-ro-{uuid.uuid4().hex[:8]}"
    names = [f"{prefix}-scheduler", f"{prefix}-worker"]
    try:
        for name, service in zip(names, ["dask-scheduler", "dask-worker"], strict=True):
            docker("run", "-d", "--name", name, "--network", "host", *LOCKED_DOWN, image,
                   *command(service))
        wait_until(lambda: "Register worker" in docker("logs", names[0], check=False).output,
                   180, "the worker to register with the read-only scheduler")
        flow = run_in(image, "python", "workflow/flow.py",
                      options=[*LOCKED_DOWN, "--env", f"DASK_SCHEDULER_ADDRESS=tcp://127.0.0.1:{port}"])
        assert "Finished in state Completed()" in flow.output
        assert "total = 110" in flow.output
        for name in names:
            assert docker("inspect", "--format", "{{.State.Running}}", name).output.strip() == "true"
    finally:
        remove_containers(*names)
