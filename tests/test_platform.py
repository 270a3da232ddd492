"""The `platform` answer: the image is for the platform asked for, wherever it is built.

Every place that builds the image names it (the Makefile's `PLATFORMS`, prefect.yaml's build step,
compose, CI); prefect.yaml's commented buildx step matches prefect-docker's own signature; an
explicit linux/amd64 project builds a linux/amd64 image; and, nightly, under QEMU, an arm64 image
runs its flow and a two-platform manifest made without buildx is pulled back by platform.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import tomllib
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import NIGHTLY_ONLY, unavailable

from support.answer_sets import OFFLINE
from support.commands import DOCKER, UV, docker, run
from support.containers import remove_images
from support.template import DEFAULT_PREFECT, TEMPLATE_DIR

MULTI = "linux/amd64, linux/arm64"
SHARED_DOCKER = TEMPLATE_DIR.parent / "shared" / "docker"


def bake(cookies, **answers) -> Path:
    result = cookies.bake(extra_context={**OFFLINE, **answers})
    assert result.exception is None, result.exception
    return result.project_path


def build_step(project: Path) -> dict:
    config = yaml.safe_load((project / "prefect.yaml").read_text())
    return config["build"][0]["prefect_docker.deployments.steps.build_docker_image"]


def make_dry_run(project: Path, target: str, *args: str) -> str:
    return run(["make", "-n", target, *args], cwd=project).output


def buildx_step(project: Path) -> dict | None:
    """prefect.yaml's commented buildx alternative of the build section, uncommented, or None."""
    lines = (project / "prefect.yaml").read_text().splitlines()
    if "# build:" not in lines:
        return None
    block = []
    for line in lines[lines.index("# build:"):]:
        if not line.startswith("#"):
            break
        block.append(line[2:])
    return yaml.safe_load("\n".join(block))["build"][0]["prefect_docker.deployments.steps.build_docker_image"]


# ---------------------------------------------------------------------------------------------
# Every place that builds
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("platform,ci", [("", "github"), ("linux/amd64", "gitlab"),
                                         ("linux/arm64", "github"), (MULTI, "github"), (MULTI, "gitlab")])
def test_the_platform_reaches_every_place_that_builds_the_image(cookies, platform, ci):
    project = bake(cookies, platform=platform, ci=ci, task_runner="dask")
    platforms = [item.strip() for item in platform.split(",") if item.strip()]
    first = platforms[0] if platforms else None

    makefile = (project / "Makefile").read_text()
    assert re.search(r"^PLATFORMS \?= (.*)$", makefile, re.MULTILINE)[1] == ",".join(platforms)
    build = make_dry_run(project, "build")
    assert (f"--platform {first} " in build) if first else ("--platform" not in build), build
    assert build_step(project).get("platform") == first
    for compose in ("compose.yaml", "deploy/docker-compose.dask.yml"):
        services = yaml.safe_load((project / compose).read_text())["services"]
        assert {name: service.get("platform") for name, service in services.items()} == {
            name: first for name in services}, compose
    readme = (project / "README.md").read_text()
    assert (f"docker build --platform {first} . -t" if first else "docker build . -t") in readme

    if ci == "github":
        steps = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())["jobs"]["build"]["steps"]
        uses = {step["uses"].split("@")[0]: step.get("with", {}) for step in steps if "uses" in step}
        if not platforms:
            assert set(uses) == {"actions/checkout"}
            return
        assert uses["docker/build-push-action"]["platforms"] == ",".join(platforms)
        assert "docker/setup-buildx-action" in uses
        emulated = [p for p in platforms if not p.startswith("linux/amd64")]
        assert uses.get("docker/setup-qemu-action", {}).get("platforms") == (",".join(emulated) or None)
    else:
        script = "\n".join(yaml.safe_load((project / ".gitlab-ci.yml").read_text())["build"]["script"])
        assert f"--platform {','.join(platforms)}" in script
        assert "docker buildx build" in script
        assert ("binfmt" in script) == any(not p.startswith("linux/amd64") for p in platforms)

    multiarch = len(platforms) > 1
    assert ("push-platforms:" in makefile) == multiarch
    if multiarch:
        pushed = make_dry_run(project, "push-platforms", "IMAGE_NAME=registry.example/x", "TAG=1")
        for item in platforms:
            assert f"docker build --platform {item} " in pushed or "for platform in" in pushed
        assert "docker manifest create" in pushed and "docker manifest push" in pushed


def test_each_local_build_of_a_list_builds_its_first_platform(cookies):
    project = bake(cookies, platform="linux/arm64,linux/amd64")
    assert "--platform linux/arm64 " in make_dry_run(project, "build")
    assert build_step(project)["platform"] == "linux/arm64"
    # PLATFORM, like the Makefile's other settings, may be given for one build.
    assert "--platform linux/amd64 " in make_dry_run(project, "build", "PLATFORM=linux/amd64")


# ---------------------------------------------------------------------------------------------
# prefect.yaml's steps against prefect-docker's signatures
# ---------------------------------------------------------------------------------------------

def parameters(source: Path, name: str, cls: str | None = None) -> tuple[set[str], bool]:
    """A function's (or method's) parameter names in a source file, and whether it takes **kwargs."""
    tree = ast.parse(source.read_text())
    scope = tree.body
    if cls:
        scope = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == cls).body
    function = next(node for node in scope if isinstance(node, ast.FunctionDef) and node.name == name)
    arguments = function.args
    names = {a.arg for a in arguments.posonlyargs + arguments.args + arguments.kwonlyargs} - {"self"}
    return names, arguments.kwarg is not None


@pytest.fixture(scope="module")
def step_sources(tmp_path_factory):
    """install(prefect, prefect_docker, day): a folder holding those wheels' files (no imports, no
    dependencies: only their sources are read), with docker-py and python-on-whales as of the day."""

    def install(prefect: str, prefect_docker: str, day: str) -> Path:
        target = tmp_path_factory.mktemp(f"steps-{prefect}")
        result = run([UV, "pip", "install", "--no-deps", "--quiet", "--target", target,
                      "--exclude-newer", day, f"prefect=={prefect}",
                      f"prefect-docker=={prefect_docker}", "docker", "python-on-whales"], check=False)
        if result.returncode != 0:
            unavailable(f"the package index is unreachable: {result.output[-500:]}")
        return target

    return install


def test_the_build_steps_keys_are_what_prefect_docker_passes_to_docker_py(cookies, step_sources):
    project = bake(cookies, platform="linux/amd64")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    step = build_step(project)
    pin = step["requires"].split("==")[1]
    sources = step_sources(DEFAULT_PREFECT, pin, pyproject["tool"]["uv"]["exclude-newer"])
    named, _ = parameters(sources / "prefect_docker/deployments/steps.py", "build_docker_image")
    # Everything else goes to docker-py's APIClient.build (the classic builder).
    passed = set(step) - named - {"id", "requires"}
    docker_py, _ = parameters(sources / "docker/api/build.py", "build", cls="BuildApiMixin")
    assert passed <= docker_py, passed - docker_py
    assert "platform" in passed


def test_the_commented_buildx_step_matches_prefect_dockers_buildx_backend(cookies, step_sources):
    """prefect-docker's build_docker_image(build_backend="buildx", **build_kwargs) pops path, push and
    pull, hands the rest to Prefect's buildx_build_image, which takes platform(s) and passes what it
    does not name to python-on-whales' docker.buildx.build (which takes no **kwargs)."""
    project = bake(cookies, platform=MULTI, image_registry="registry.example.com/acme")
    step = buildx_step(project)
    assert step is not None, "Prefect >= 3.7 with prefect-docker >= 0.7.2 offers the buildx step"
    assert step["build_backend"] == "buildx" and step["platforms"] == ["linux/amd64", "linux/arm64"]
    assert step["push"] is True and step["requires"] == build_step(project)["requires"]
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    sources = step_sources(DEFAULT_PREFECT, step["requires"].split("==")[1],
                           pyproject["tool"]["uv"]["exclude-newer"])
    steps_py = sources / "prefect_docker/deployments/steps.py"
    named, _ = parameters(steps_py, "build_docker_image")
    assert "build_backend" in named and re.search(r'build_backend not in \("docker-py", "buildx"\)',
                                                  steps_py.read_text())
    build_kwargs = set(step) - named - {"id", "requires"} - {"path", "push", "pull"}
    buildx_module = next(path for path in (sources / "prefect/_internal/buildx.py",
                                           sources / "prefect/docker/_buildx.py") if path.exists())
    prefect_named, _ = parameters(buildx_module, "buildx_build_image")
    on_whales, takes_any = parameters(sources / "python_on_whales/components/buildx/cli_wrapper.py", "build",
                                      cls="BuildxCLI")
    assert not takes_any
    unknown = build_kwargs - prefect_named - on_whales - {"platforms"}
    assert not unknown, f"buildx would refuse {unknown}"
    # The docker-py-only keys of the default step are not carried over.
    assert not {"rm", "forcerm", "network_mode"} & set(step)


@pytest.mark.parametrize("answers", [{"prefect_version": "3.6.29"}, {"prefect_version": "2.20.27",
                                                                    "python_version": "3.11"}],
                         ids=["prefect-docker-0.7.1", "prefect2"])
def test_no_buildx_step_where_prefect_docker_has_no_buildx_backend(cookies, answers):
    project = bake(cookies, **answers)
    assert buildx_step(project) is None
    assert "build_backend" not in (project / "prefect.yaml").read_text()


# ---------------------------------------------------------------------------------------------
# Built for real
# ---------------------------------------------------------------------------------------------

def docker_first(env: dict, **extra: str) -> dict:
    """env with this machine's BuildKit-capable docker (support.commands.DOCKER) first on PATH, as
    `make` runs it."""
    return {**env, "PATH": f"{Path(DOCKER).parent}{os.pathsep}{env['PATH']}", **extra}


def platform_of(image: str) -> str:
    found = json.loads(docker("image", "inspect", image).output)[0]
    return "/".join(filter(None, [found["Os"], found["Architecture"], found.get("Variant")]))


def test_an_explicit_linux_amd64_project_builds_a_linux_amd64_image(bake_shared, base_image, tmp_path):
    base_image("3.11")
    shared = bake_shared(python_version="3.11", platform="linux/amd64", lock_requirements="no")
    project = tmp_path / shared.name
    shutil.copytree(shared, project, symlinks=True)
    name = f"cpd-platform-amd64-{uuid.uuid4().hex[:8]}"
    try:
        run(["make", "build", f"IMAGE_NAME={name}", "IMAGE_BUILD_NETWORK=host"], cwd=project,
            env=docker_first(dict(os.environ), DOCKER_BUILDKIT="1"), timeout=1800)
        assert platform_of(f"{name}:latest") == "linux/amd64"
    finally:
        remove_images(f"{name}:latest")


@pytest.fixture
def registry(tmp_path):
    script = SHARED_DOCKER / "start-registry.sh"
    if not script.exists():
        unavailable(f"no {script}")
    port = 5400 + os.getpid() % 500
    started = run(["bash", script, str(port), tmp_path / "registry"], check=False)
    if started.returncode != 0:
        unavailable(f"no registry: {started.output}")
    pid = re.search(r"pid=(\d+)", started.output)
    yield f"127.0.0.1:{port}"
    if pid:
        subprocess.run(["kill", "--", f"-{pid[1]}"], check=False)


@pytest.mark.parametrize("unused", [pytest.param(None, id="arm64-under-qemu", marks=NIGHTLY_ONLY)])
def test_a_two_platform_image_made_without_buildx_is_pulled_back_by_platform_and_runs_its_flow(
        unused, cookies, base_image, registry, tmp_path):
    """`make push-platforms` (docker build per platform, push each, docker manifest create/push)
    to a real registry; the manifest lists both; each pulls back for its platform; the arm64 one
    runs its flow to Completed under QEMU. The base image is a two-platform manifest of the same
    registry, as python:3.11-slim is on Docker Hub."""
    from support import arm64_image

    if problem := arm64_image.emulation_problem():
        unavailable(problem)
    try:
        arm64 = arm64_image.ensure()
    except (RuntimeError, subprocess.CalledProcessError) as error:
        unavailable(f"no arm64 base image: {error}")
    amd64 = base_image("3.11")
    config = tmp_path / "docker-config"
    config.mkdir()
    env = docker_first(dict(os.environ), DOCKER_CONFIG=str(config), DOCKER_BUILDKIT="0")
    base = f"{registry}/python:3.11-slim"
    for tag, image in (("amd64", amd64), ("arm64", arm64)):
        docker("tag", image, f"{base}-{tag}")
        docker("push", f"{base}-{tag}", env=env)
    docker("manifest", "create", "--insecure", base, f"{base}-amd64", f"{base}-arm64", env=env)
    docker("manifest", "push", "--insecure", base, env=env)
    docker("rmi", "-f", f"{base}-amd64", f"{base}-arm64", env=env)

    project = bake(cookies, python_version="3.11", base_image=base, platform="linux/amd64,linux/arm64")
    name = f"{registry}/cpd-platform-{uuid.uuid4().hex[:8]}"
    try:
        run(["make", "push-platforms", f"IMAGE_NAME={name}", "TAG=0.1.0", "IMAGE_BUILD_NETWORK=host",
             "MANIFEST_FLAGS=--insecure"], cwd=project, env=env, timeout=3600)
        listed = json.loads(docker("manifest", "inspect", "--insecure", f"{name}:0.1.0", env=env).output)
        assert sorted(m["platform"]["architecture"] for m in listed["manifests"]) == ["amd64", "arm64"]
        for platform in ("linux/amd64", "linux/arm64"):
            docker("rmi", "-f", f"{name}:0.1.0", check=False)
            docker("pull", "--platform", platform, f"{name}:0.1.0", env=env)
            assert platform_of(f"{name}:0.1.0").startswith(platform)
        ran = docker("run", "--rm", "--platform", "linux/arm64", "--network", "host",
                     "-e", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=600", f"{name}:0.1.0",
                     timeout=1800)
        assert "total = 110" in ran.output and "Completed" in ran.output, ran.output[-3000:]
    finally:
        listed = docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).output.split()
        remove_images(*[i for i in listed if i.startswith((name, base))])
