"""The generated Dockerfile: it builds with BuildKit and with the classic builder (the one Prefect's
docker build step uses), the flow runs in the image, and the image is what the guides ask for."""

from __future__ import annotations

import json
import shutil
import time
import uuid

import pytest

from helpers import PATIENT_PREFECT, build_image, docker, image_exists

BUILDERS = ["classic", "buildkit"]
PYTHONS = ["3.11", "3.13"]


@pytest.fixture(scope="module")
def project_for(bake_shared, base_image):
    """project_for('3.11'): the default project, for that Python and its python:X-slim base."""

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
    existing = [tag for tag in tags if image_exists(tag)]
    if existing:
        docker("rmi", "-f", *existing, check=False)


def run_in(image: str, *command: str, timeout: int = 300, **kwargs):
    patience = [f"--env={name}={value}" for name, value in PATIENT_PREFECT.items()]
    return docker("run", "--rm", "--network", "host", *patience, image, *command, timeout=timeout,
                  **kwargs)


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
    project = project_for("3.11")
    project_image(project, "classic")  # shares the layer cache: this build reuses it
    try:
        build_image(project, "test:latest", "classic")
        result = docker("run", "--rm", "-i", "--network", "host", "test:latest", "sh",
                        input="python workflow/flow.py\nexit $?\n", timeout=300)
        assert "Finished in state Completed()" in result.output
    finally:
        docker("rmi", "-f", "test:latest", check=False)


@pytest.mark.parametrize("builder", BUILDERS)
def test_a_code_only_change_rebuilds_only_the_code_layers(project_for, project_image, tmp_path,
                                                          scratch_image, builder):
    project = tmp_path / "project"
    shutil.copytree(project_for("3.11"), project)
    project_image(project_for("3.11"), builder)  # the session's build of it: a warm layer cache
    before = scratch_image()
    build_image(project, before, builder)

    component = next(project.glob("src/*/components/component_b.py"))
    component.write_text(component.read_text() + "\n# a code-only change\n")
    after = scratch_image()
    build_image(project, after, builder)

    layers_before, layers_after = layers(before), layers(after)
    assert len(layers_before) == len(layers_after)
    # Everything up to and including the dependency install is shared; only `COPY . .` and the
    # project's own `pip install --no-deps .` are new.
    assert layers_before[:-2] == layers_after[:-2]
    assert layers_before[-2] != layers_after[-2]


def layers(image: str) -> list[str]:
    return json.loads(docker("image", "inspect", "--format", "{{json .RootFS.Layers}}", image).output)


def test_secrets_and_clutter_stay_out_of_the_image(project_for, tmp_path, scratch_image):
    project = tmp_path / "project"
    shutil.copytree(project_for("3.11"), project)
    (project / ".env").write_text("API_TOKEN=planted-secret-7f3a\n")
    (project / ".env.production").write_text("API_TOKEN=planted-secret-7f3a\n")
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "bin" / "python").write_text("planted-secret-7f3a")
    (project / ".git").mkdir()
    (project / ".git" / "config").write_text("planted-secret-7f3a")
    image = scratch_image()
    build_image(project, image, "buildkit")

    listing = run_in(image, "sh", "-c", "ls -A /app").output.split()
    for unwanted in [".env", ".env.production", ".venv", ".git", "Dockerfile"]:
        assert unwanted not in listing
    found = run_in(image, "grep", "-rl", "planted-secret-7f3a", "/app", check=False)
    assert found.returncode == 1 and found.output == "", found.output


def test_the_flow_runs_as_an_unprivileged_user_with_a_writable_home(project_for, project_image):
    image = project_image(project_for("3.11"), "buildkit")
    config = json.loads(docker("image", "inspect", "--format", "{{json .Config}}", image).output)
    assert config["User"] == "10001:10001", "numeric, so Kubernetes' runAsNonRoot can verify it"
    assert config["Cmd"] == ["python", "workflow/flow.py"]
    identity = run_in(image, "sh", "-c", 'id -un; touch "$HOME/.written" && echo home-writable')
    user, writable = identity.output.split()
    assert user == "flow" and writable == "home-writable"
    # The code is root's: the flow's user cannot change what it runs.
    assert run_in(image, "sh", "-c", "touch /app/workflow/flow.py", check=False).returncode != 0


def test_docker_stop_ends_a_running_flow_promptly(project_for, project_image):
    image = project_image(project_for("3.11"), "buildkit")
    name = f"cpd-stop-{uuid.uuid4().hex[:8]}"
    # The entry point's own interrupt handling, around a run whose tasks take 30 s each.
    slow_run = ("import sys; sys.path.insert(0, 'workflow'); import flow; "
                "flow.exit_promptly_on_interrupt(); flow.main_flow(n=20, work_seconds=30)")
    docker("run", "-d", "--name", name, "--network", "host", image, "python", "-c", slow_run)
    try:
        wait_for_log(name, "Beginning flow run", timeout=120)
        assert docker("inspect", "--format", "{{.State.Running}}", name).output.strip() == "true"
        started = time.monotonic()
        docker("stop", name)
        stopped_after = time.monotonic() - started
        assert stopped_after < 5, f"docker stop took {stopped_after:.1f}s (the signal was ignored?)"
        exit_code = docker("inspect", "--format", "{{.State.ExitCode}}", name).output.strip()
        assert exit_code == "130", "ended by its own SIGINT handling, not killed (137)"
    finally:
        docker("rm", "-f", name, check=False)


def wait_for_log(container: str, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        logs = docker("logs", container, check=False).output
        if text in logs:
            return
        time.sleep(0.5)
    raise AssertionError(f"{text!r} never appeared in {container}'s logs:\n{logs[-3000:]}")


def test_a_base_image_with_an_older_python_fails_the_build_with_a_clear_message(
        project_for, base_image, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(project_for("3.11"), project)
    dockerfile = project / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("FROM python:3.11-slim",
                                                         f"FROM {base_image('3.9')}"))
    for builder in BUILDERS:
        result = build_image(project, f"cpd-never-{uuid.uuid4().hex[:8]}:x", builder, check=False)
        assert result.returncode != 0
        assert ("ERROR: the base image (FROM) has Python 3.9; this project needs Python 3.11 or "
                "newer. Use an image such as python:3.11-slim.") in result.output


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
    assert "ERROR: the base image (FROM) has no 'python' command" in build.output
