"""The generated project's CI/CD (the `ci` answer: GitHub Actions, GitLab CI or none).

Every variant that has CI is baked once and its CI file checked by actionlint, zizmor, checkov
and GitLab's schema. Then the CI must work, not only parse: its own shell steps run here, in order
(tests/support/ci_runner.py, whose table lists what this machine substitutes): install from the lock,
lint, test, build, push to a real registry on 127.0.0.1, deploy to a real Prefect server, and a
Docker worker pulls the pushed image from the registry to run the deployment to Completed.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest
import yaml

from support.answer_sets import GITHUB_RUN
from support.ci_checkers import actionlint, checkov, gitlab_schema, missing_tools, zizmor
from support.ci_runner import GitHubRun, GitLabRun, Runner, git_repository, github_event
from support.commands import IN_CI, docker, run
from support.containers import (
    image_exists,
    images_of_removed_containers,
    remove_containers,
    remove_repository,
)
from support.network import free_port, http_json
from support.processes import Background, wait_until
from support.project_names import project_name
from support.template import COOKIECUTTER_JSON, PREFECT_LINES, TEMPLATE_DIR, newest_prefect

GITHUB_WORKFLOW = Path(".github/workflows/ci.yml")
GITLAB_CI = Path(".gitlab-ci.yml")
SHARED_DOCKER = TEMPLATE_DIR.parent / "shared" / "docker"


def unavailable(reason: str):
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: tests/run must provide it)", pytrace=False)
    pytest.skip(reason)


def python_for(line: dict) -> str:
    """A Python this machine has that the Prefect line supports: 3.11, else the line's newest."""
    low, high = (tuple(map(int, v.split("."))) for v in line["python"])
    return "3.11" if low <= (3, 11) <= high else ".".join(map(str, high))


# Every answer that changes the CI files: provider x Prefect major x pool x registry given or not,
# and ghcr.io, where GitHub pushes with the workflow's own token.
REGISTRIES = {"no-registry": "", "registry": "registry.example.com/cpd", "ghcr": "ghcr.io/cpd-acme"}


def variant(ci: str, api: int, pool: str, registry: str) -> tuple[str, dict]:
    line = next(line for line in PREFECT_LINES if line["newest"] == newest_prefect(api))
    return f"{ci}-prefect{line['newest']}-{pool}-{registry}", {
        "ci": ci, "prefect_version": line["newest"], "python_version": python_for(line),
        "work_pool_type": pool, "image_registry": REGISTRIES[registry], "lock_requirements": "no"}


VARIANTS = dict(
    [variant(ci, api, pool, registry) for ci, api, pool, registry in itertools.product(
        ("github", "gitlab"), (3, 2, 1), ("docker", "kubernetes", "process"), ("no-registry", "registry"))]
    + [variant("github", api, "docker", "ghcr") for api in (3, 1)])
# A multi-arch image (the platform answer): buildx, QEMU for arm64, build-push-action or buildx build.
for _ci in ("github", "gitlab"):
    _name, _answers = variant(_ci, 3, "docker", "registry")
    VARIANTS[f"{_name}-multiarch"] = {**_answers, "platform": "linux/amd64,linux/arm64"}


@pytest.fixture(scope="session")
def ci_variants(once, cookies_session) -> dict[str, Path]:
    """{variant: baked project} for every variant, baked once per session (without locks: the CI
    files do not depend on them)."""

    def make(path: Path) -> None:
        path.mkdir()
        for name, answers in VARIANTS.items():
            result = cookies_session.bake(extra_context=answers)
            assert result.exception is None, (name, result.exception)
            shutil.copytree(result.project_path, path / name, symlinks=True)

    root = once("ci-variants", make)
    return {name: root / name for name in VARIANTS}


def ci_file(project: Path, answers: dict) -> Path:
    return project / (GITHUB_WORKFLOW if answers["ci"] == "github" else GITLAB_CI)


def report(findings: dict[Path, list[str]]) -> str:
    return "\n".join(f"{path}:\n  " + "\n  ".join(found) for path, found in findings.items() if found)


@pytest.fixture(scope="session")
def checkers():
    missing = missing_tools()
    if missing:
        unavailable(f"CI file checkers missing (tests/run installs them): {', '.join(missing)}")


# ---------------------------------------------------------------------------------------------
# What is generated
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("ci", ["github", "gitlab", "none"])
def test_the_ci_answer_gives_that_providers_file_and_no_other(cookies, ci):
    result = cookies.bake(extra_context={"ci": ci, "lock_requirements": "no"})
    assert result.exit_code == 0, result.exception
    project = result.project_path
    assert (project / GITHUB_WORKFLOW).exists() == (ci == "github")
    assert (project / GITLAB_CI).exists() == (ci == "gitlab")
    # The folder a GitHub workflow would live in is not left behind empty.
    assert (project / ".github").exists() == (ci == "github")
    # Its guide is docs/ci.md, one per provider, which the README links to.
    assert (project / "docs" / "ci.md").exists() == (ci != "none")
    assert ("docs/ci.md" in (project / "README.md").read_text()) == (ci != "none")


def test_every_action_is_pinned_to_a_full_commit_sha_with_its_release_beside_it(ci_variants):
    for name, project in ci_variants.items():
        if VARIANTS[name]["ci"] != "github":
            continue
        lines = (project / GITHUB_WORKFLOW).read_text().splitlines()
        uses = [line.strip() for line in lines if re.match(r"\s*-?\s*uses:", line)]
        assert uses, name
        for line in uses:
            pinned = r"-?\s*uses: [\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+"
            assert re.fullmatch(pinned, line), (name, line)


def test_permissions_are_least_privilege(ci_variants):
    """Read-only at the top; `packages: write` only on the job that pushes, and only when it pushes
    to ghcr.io with the workflow's own token; `contents: write` only on the job that commits
    Dependabot's new lock to its own branch (and runs none of the project's code: no uv, no
    make); no job asks for anything else."""
    for name, project in ci_variants.items():
        answers = VARIANTS[name]
        if answers["ci"] != "github":
            continue
        workflow = yaml.safe_load((project / GITHUB_WORKFLOW).read_text())
        assert workflow["permissions"] == {"contents": "read"}, name
        ghcr = answers["image_registry"] in ("", REGISTRIES["ghcr"])
        for job_name, job in workflow["jobs"].items():
            expected = ({"contents": "read", "packages": "write"} if job_name == "build" and ghcr
                        else {"contents": "read"} if job_name == "build"
                        else {"contents": "write"} if job_name == "commit-lock" else None)
            assert job.get("permissions") == expected, (name, job_name, job.get("permissions"))
        pushing = workflow["jobs"]["commit-lock"]
        assert [step.get("uses", "").split("@")[0] for step in pushing["steps"]] == ["actions/checkout", ""]
        commands = re.sub(r"(?m)#.*$", "", pushing["steps"][1]["run"])
        assert not re.search(r"(^|[;&|(]|then|do)\s*(uv|uvx|make|python3?|pip)\s", commands, re.M), name


def test_the_ci_installs_the_uv_the_template_is_tested_with(ci_variants):
    """The template's uv is the one it is tested with; each project's CI reads uv's version from
    requirements-uv.txt (setup-uv's version-file, pip on GitLab) and writes it nowhere else."""
    pins = dict(line.split("==") for line in (TEMPLATE_DIR / "requirements-dev.txt").read_text().split()
                if "==" in line)
    assert COOKIECUTTER_JSON["_uv_version"] == pins["uv"]
    for name, project in ci_variants.items():
        answers = VARIANTS[name]
        assert f"uv=={pins['uv']}" in (project / "requirements-uv.txt").read_text().split(), name
        text = ci_file(project, answers).read_text()
        assert pins["uv"] not in text, name
        if answers["ci"] == "github":
            steps = [step for job in yaml.safe_load(text)["jobs"].values() for step in job["steps"]
                     if step.get("uses", "").startswith("astral-sh/setup-uv@")]
            assert steps and all(step["with"] == {"version-file": "requirements-uv.txt",
                                                  "enable-cache": False} for step in steps), name
        else:
            assert "pip install --root-user-action=ignore -r requirements-uv.txt" in text, name


def test_prefect_1_projects_build_and_push_but_do_not_register(ci_variants):
    """Registering needs the user's Prefect 1 backend: the file says so instead of a deploy job."""
    for name, project in ci_variants.items():
        answers = VARIANTS[name]
        api = next(line["api"] for line in PREFECT_LINES if line["newest"] == answers["prefect_version"])
        text = ci_file(project, answers).read_text()
        config = yaml.safe_load(text)
        jobs = config["jobs"] if answers["ci"] == "github" else config
        assert ("deploy" in jobs) == (api >= 2), name
        assert ("No deploy job" in text) == (api == 1), name
        assert "build" in jobs and "check" in jobs, name


# ---------------------------------------------------------------------------------------------
# Static checks, on every variant
# ---------------------------------------------------------------------------------------------

def distinct_files(ci_variants, ci: str) -> list[Path]:
    """The CI files of the variants, one of each content (many variants render the same file)."""
    files: dict[str, Path] = {}
    for name, project in ci_variants.items():
        if VARIANTS[name]["ci"] == ci:
            path = ci_file(project, VARIANTS[name])
            files.setdefault(path.read_text(), path)
    return list(files.values())


def github_files(ci_variants) -> list[Path]:
    return distinct_files(ci_variants, "github")


def gitlab_files(ci_variants) -> list[Path]:
    return distinct_files(ci_variants, "gitlab")


def canary(files: list[Path], tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the first file with a known flaw, which the checker must find (so a checker that
    finds nothing at all cannot pass for a clean file)."""
    text = files[0].read_text()
    assert old in text
    path = tmp_path / "canary" / files[0].relative_to(files[0].parents[2] if ".github" in str(files[0])
                                                       else files[0].parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace(old, new, 1))
    return path


UNTRUSTED_INPUT = ("run: make test", 'run: echo "${{ github.event.pull_request.title }}" && make test')


def test_every_github_workflow_is_actionlint_clean(ci_variants, checkers, tmp_path):
    files = github_files(ci_variants)
    flawed = canary(files, tmp_path, *UNTRUSTED_INPUT)
    findings = actionlint([*files, flawed])
    assert any("untrusted" in finding for finding in findings.pop(flawed)), "actionlint found nothing"
    assert len(findings) == len(files) > 1
    assert not any(findings.values()), report(findings)


def test_every_github_workflow_is_zizmor_clean(ci_variants, checkers, tmp_path):
    files = github_files(ci_variants)
    flawed = canary(files, tmp_path, *UNTRUSTED_INPUT)
    findings = zizmor([*files, flawed])
    assert any("template-injection" in finding for finding in findings.pop(flawed)), "zizmor found nothing"
    assert not any(findings.values()), report(findings)


def test_every_gitlab_file_is_valid_against_gitlabs_schema(ci_variants, checkers, tmp_path):
    files = gitlab_files(ci_variants)
    flawed = canary(files, tmp_path, "  script:\n", "  scripts:\n")
    findings = gitlab_schema([*files, flawed])
    assert findings.pop(flawed), "the schema check found nothing"
    assert not any(findings.values()), report(findings)


def test_every_ci_file_passes_checkov(ci_variants, checkers, tmp_path):
    failed, passed = checkov(github_files(ci_variants) + gitlab_files(ci_variants), tmp_path)
    assert not failed, report(failed)
    unchecked = [path for path in github_files(ci_variants) + gitlab_files(ci_variants)
                 if not passed.get(path)]
    assert not unchecked, f"checkov checked nothing in {unchecked}"


# ---------------------------------------------------------------------------------------------
# The conditions: a pull request builds but publishes nothing
# ---------------------------------------------------------------------------------------------

def test_a_pull_request_runs_the_checks_and_builds_but_pushes_and_deploys_nothing(ci_variants, tmp_path):
    name = f"github-prefect{newest_prefect(3)}-docker-ghcr"
    runner = Runner(tmp_path, ci_variants[name], "0" * 40, VARIANTS[name]["python_version"])
    pull_request = GitHubRun(runner, ci_variants[name] / GITHUB_WORKFLOW,
                             github_event("0" * 40, "pull_request", "refs/pull/7/merge"))
    assert pull_request.env["PUBLISH"] == "false"
    build = pull_request.workflow["jobs"]["build"]
    ran = [step.get("name", step.get("uses")) for step in build["steps"]
           if pull_request.step_will_run("build", step)]
    assert any("Build the image" in step for step in ran)
    assert not any(word in step for step in ran for word in ("Log in", "Push")), ran
    pull_request.needs["build"] = {"outputs": {"published": pull_request.env["PUBLISH"]}}
    assert not pull_request.will_run("deploy")

    for ref, event in (("refs/heads/main", "push"), ("refs/tags/v1.2.0", "push")):
        push = GitHubRun(runner, ci_variants[name] / GITHUB_WORKFLOW, github_event("0" * 40, event, ref))
        assert push.env["PUBLISH"] == "true", ref


def test_a_merge_request_pipeline_runs_the_checks_and_builds_but_does_not_deploy(ci_variants, tmp_path):
    name = f"gitlab-prefect{newest_prefect(3)}-docker-no-registry"
    runner = Runner(tmp_path, ci_variants[name], "0" * 40, VARIANTS[name]["python_version"])
    merge_request = GitLabRun(runner, ci_variants[name] / GITLAB_CI, {
        "CI_PIPELINE_SOURCE": "merge_request_event", "CI_DEFAULT_BRANCH": "main",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "feature"})
    assert merge_request.pipeline_created()
    assert [job for job in merge_request.jobs() if merge_request.will_run(job)] == ["check", "build"]
    # A branch with an open merge request gets no second pipeline of its own.
    branch = GitLabRun(runner, ci_variants[name] / GITLAB_CI, {
        "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "feature", "CI_DEFAULT_BRANCH": "main",
        "CI_OPEN_MERGE_REQUESTS": "cpd/project!7"})
    assert not branch.pipeline_created()
    default = GitLabRun(runner, ci_variants[name] / GITLAB_CI, {
        "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main"})
    assert [job for job in default.jobs() if default.will_run(job)] == ["check", "build", "deploy"]


# ---------------------------------------------------------------------------------------------
# The CI runs: every job's own commands, here, against a real registry and a real Prefect server
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def registry(tmp_path_factory, docker_engine):
    """A real registry (Debian's docker-registry) on 127.0.0.1, for this worker's session."""
    script = SHARED_DOCKER / "start-registry.sh"
    if not script.exists() or shutil.which("docker-registry") is None:
        unavailable("no registry: tests/run installs docker-registry; start-registry.sh lies in "
                    f"{SHARED_DOCKER}")
    started = run(["bash", script, free_port(), tmp_path_factory.mktemp("registry")]).output
    pid = int(re.search(r"pid=(\d+)", started).group(1))
    yield re.match(r"\S+", started).group(0)
    os.killpg(pid, signal.SIGTERM)


def registry_tags(registry: str, repository: str) -> set[str]:
    """The tags the registry holds for repository, by its HTTP API."""
    name = repository.removeprefix(registry + "/")
    answer = http_json(f"http://{registry}/v2/{name}/tags/list")
    return set((answer or {}).get("tags") or [])


class PrefectStack:
    """A Prefect server on 127.0.0.1, then a Docker worker, from a virtualenv of the project's."""

    def __init__(self, venv: Path, home: Path):
        self.prefect = str(venv / "bin" / "prefect")
        self.home = home
        self.api = f"http://127.0.0.1:{free_port()}/api"
        self.label = f"cpd-test-ci={uuid.uuid4().hex[:12]}"
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("PREFECT_")}
        self.env.update(PREFECT_HOME=str(home), PREFECT_API_URL=self.api, PREFECT_UI_ENABLED="false",
                        PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_CLI_WRAP_LINES="false",
                        PREFECT_WORKER_QUERY_SECONDS="2", PYTHONUNBUFFERED="1")
        self.processes: list[Background] = []

    def start_server(self) -> None:
        port = self.api.split(":")[2].split("/")[0]
        server = Background([self.prefect, "server", "start", "--host", "127.0.0.1", "--port", port],
                            self.home.with_name("server.log"), env=self.env, cwd=self.home.parent)
        self.processes.append(server)
        wait_until(lambda: http_json(f"{self.api}/health") is True or not server.alive(), 180,
                   "the Prefect server")
        assert server.alive(), server.output()

    def create_work_pool(self, project: Path) -> None:
        """The Docker work pool of the project's deployment: made once, before any deploy."""
        [deployment] = yaml.safe_load((project / "prefect.yaml").read_text())["deployments"]
        run([self.prefect, "work-pool", "create", deployment["work_pool"]["name"], "--type", "docker"],
            env=self.env, cwd=self.home.parent)

    def run_deployment_on_a_docker_worker(self, pool: str, deployment: str) -> tuple[dict, str]:
        """Start a Docker worker, run the deployment, wait for the end; (final state, worker log)."""
        worker = Background([self.prefect, "worker", "start", "--pool", pool, "--type", "docker"],
                            self.home.with_name("worker.log"), env=self.env, cwd=self.home.parent)
        self.processes.append(worker)
        run([self.prefect, "deployment", "run", deployment,
             # The run's container reaches the server on 127.0.0.1: the host's network.
             "--job-variable", "network_mode=host",
             "--job-variable", "env=" + json.dumps({"PREFECT_API_URL": self.api}),
             "--job-variable", "labels=" + json.dumps(dict([self.label.split("=")]))],
            env=self.env, cwd=self.home.parent, timeout=120)
        flow_name, name = deployment.split("/")
        created = http_json(f"{self.api}/deployments/name/{flow_name}/{name}")
        [flow_run] = http_json(f"{self.api}/flow_runs/filter",
                               {"deployments": {"id": {"any_": [created["id"]]}}})

        def finished():
            state = http_json(f"{self.api}/flow_runs/{flow_run['id']}")["state"]
            return state if state["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None

        return wait_until(finished, 300, "the flow run to finish", interval=2), worker.output()

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop(grace=5)
        remove_containers(label=self.label)


def deployment_image(stack: PrefectStack, deployment: str) -> str:
    flow_name, name = deployment.split("/")
    created = http_json(f"{stack.api}/deployments/name/{flow_name}/{name}")
    assert created, f"no deployment {deployment}"
    return (created.get("job_variables") or created.get("infra_overrides"))["image"]


def assert_a_worker_pulls_and_runs(stack: PrefectStack, project: Path, image: str) -> None:
    """The deployment names the pushed image; with no local copy, the worker pulls it from the
    registry and the run completes in a container of exactly that image."""
    config = yaml.safe_load((project / "prefect.yaml").read_text())
    [deployment] = config["deployments"]
    name = f"{config['name']}/{deployment['name']}"
    assert deployment_image(stack, name) == image
    remove_repository(image.rsplit(":", 1)[0])
    assert not image_exists(image)
    started = time.time()
    state, worker_log = stack.run_deployment_on_a_docker_worker(deployment["work_pool"]["name"], name)
    assert state["type"] == "COMPLETED", (state, worker_log[-4000:])
    # One container, of exactly that image, removed once the run finished (auto_remove).
    assert images_of_removed_containers(stack.label, started) == [image]
    assert docker("ps", "-aq", "--filter", f"label={stack.label}").output.split() == []
    assert image_exists(image), "the worker ran the image without pulling it"


def test_the_github_workflow_runs_here_and_a_docker_worker_pulls_the_image_it_pushed(
        bake_shared, registry, base_image, tmp_path):
    """Prefect 3, a registry given (image_registry): the workflow for a pull request, a push to
    the default branch and a version tag; then prefect.yaml's own push step, from a machine."""
    answers = dict(GITHUB_RUN, image_registry=f"{registry}/cpd-ci")
    base_image(answers["python_version"])
    project = bake_shared(**answers)
    repository_path, sha = git_repository(project, tmp_path / project_name(project))
    repository = f"{registry}/cpd-ci/{project_name(project)}"
    runner = Runner(tmp_path / "ci", repository_path, sha, answers["python_version"],
                    secrets={"PREFECT_API_KEY": "", "REGISTRY_USERNAME": "cpd",
                             "REGISTRY_PASSWORD": "unused"})
    workflow = repository_path / GITHUB_WORKFLOW
    stack = None
    try:
        # A pull request builds the image and pushes nothing.
        before = registry_tags(registry, repository)
        pull_request = GitHubRun(runner, workflow, github_event(sha, "pull_request", "refs/pull/1/merge"))
        assert pull_request.run_job("build")
        assert registry_tags(registry, repository) == before

        # A push to the default branch: check, build and push, deploy.
        push = GitHubRun(runner, workflow, github_event(sha, "push", "refs/heads/main"))
        assert push.jobs() == ["relock", "commit-lock", "check", "build", "deploy"]
        assert not push.run_job("relock"), "only Dependabot's pull requests are locked again"
        assert not push.run_job("commit-lock")
        assert push.run_job("check") and push.run_job("build")
        assert {sha, "latest"} <= registry_tags(registry, repository)
        labels = json.loads(docker("image", "inspect", "-f", "{{json .Config.Labels}}",
                                   f"{repository}:{sha}").output)
        assert labels["org.opencontainers.image.revision"] == sha

        stack = PrefectStack(runner.root / "jobs" / "check" / ".venv", tmp_path / "prefect-home")
        stack.start_server()
        stack.create_work_pool(repository_path)
        runner.secrets["PREFECT_API_URL"] = stack.api
        assert push.run_job("deploy")
        assert_a_worker_pulls_and_runs(stack, repository_path, f"{repository}:{sha}")

        # A version tag: the image gets the tag too.
        tag = GitHubRun(runner, workflow, github_event(sha, "push", "refs/tags/v0.1.0"))
        assert tag.env["PUBLISH"] == "true" and tag.run_job("build")
        assert "v0.1.0" in registry_tags(registry, repository)

        # From a machine, without CI (the same registry and server): `prefect deploy` runs
        # prefect.yaml's own build step, then its push step sends that tag and `latest` there.
        on_a_machine = runner.root / "jobs" / "check"
        deploy = run([stack.prefect, "--no-prompt", "deploy", "--all"], cwd=on_a_machine, timeout=900,
                     env=dict(stack.env, IMAGE_BUILD_NETWORK="host", DOCKER_CONFIG=str(tmp_path / "docker")))
        config = yaml.safe_load((on_a_machine / "prefect.yaml").read_text())
        deployment = f"{config['name']}/{config['deployments'][0]['name']}"
        name, built = deployment_image(stack, deployment).rsplit(":", 1)
        assert name == repository and built not in (sha, "latest"), deploy.output[-3000:]
        assert {built, "latest"} <= registry_tags(registry, repository), deploy.output[-3000:]
    finally:
        print("CI steps:\n" + runner.durations())
        if stack:
            stack.stop()
        remove_repository(repository)


def test_the_gitlab_pipeline_runs_here_and_a_docker_worker_pulls_the_image_it_pushed(
        bake_shared, registry, base_image, tmp_path):
    """Prefect 2, and GitLab's own registry ($CI_REGISTRY_IMAGE) as no registry was given."""
    answers = {"ci": "gitlab", "python_version": "3.11", "prefect_version": newest_prefect(2)}
    base_image(answers["python_version"])
    project = bake_shared(**answers)
    repository_path, sha = git_repository(project, tmp_path / project_name(project))
    repository = f"{registry}/cpd-group/{project_name(project)}"
    runner = Runner(tmp_path / "ci", repository_path, sha, answers["python_version"],
                    secrets={"PREFECT_API_KEY": ""})
    predefined = {"CI_COMMIT_SHA": sha, "CI_COMMIT_SHORT_SHA": sha[:8], "CI_DEFAULT_BRANCH": "main",
                  "CI_REGISTRY": registry, "CI_REGISTRY_IMAGE": repository,
                  "CI_REGISTRY_USER": "gitlab-ci-token", "CI_REGISTRY_PASSWORD": "unused",
                  "CI_PROJECT_URL": f"https://gitlab.example.com/cpd-group/{project_name(project)}",
                  "GITLAB_CI": "true"}
    pipeline_file = repository_path / GITLAB_CI
    stack = None
    try:
        merge_request = GitLabRun(runner, pipeline_file, dict(
            predefined, CI_PIPELINE_SOURCE="merge_request_event", CI_COMMIT_REF_NAME="feature"))
        assert merge_request.run_job("build")
        assert registry_tags(registry, repository) == set()

        push = GitLabRun(runner, pipeline_file, dict(
            predefined, CI_PIPELINE_SOURCE="push", CI_COMMIT_BRANCH="main", CI_COMMIT_REF_NAME="main"))
        assert push.pipeline_created() and push.jobs() == ["check", "build", "deploy"]
        assert push.run_job("check") and push.run_job("build")
        assert {sha, "latest"} <= registry_tags(registry, repository)

        stack = PrefectStack(runner.root / "jobs" / "check" / ".venv", tmp_path / "prefect-home")
        stack.start_server()
        stack.create_work_pool(repository_path)
        runner.secrets["PREFECT_API_URL"] = stack.api
        push.variables["PREFECT_API_URL"] = stack.api
        assert push.run_job("deploy")
        assert_a_worker_pulls_and_runs(stack, repository_path, f"{repository}:{sha}")

        tag = GitLabRun(runner, pipeline_file, dict(
            predefined, CI_PIPELINE_SOURCE="push", CI_COMMIT_TAG="v0.1.0", CI_COMMIT_REF_NAME="v0.1.0"))
        assert tag.run_job("build")
        assert "v0.1.0" in registry_tags(registry, repository)
    finally:
        print("CI jobs:\n" + runner.durations())
        if stack:
            stack.stop()
        remove_repository(repository)
