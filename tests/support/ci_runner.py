"""Run a generated project's own CI file on this machine: its shell steps, in order, for real.

A GitHub Actions workflow runs job by job (in the order of `needs`), each job in a fresh clone of
the project's repository, its `run:` steps through bash as the runner does (`shell: bash`:
`bash --noprofile --norc -eo pipefail`), with GITHUB_ENV, GITHUB_OUTPUT and GITHUB_PATH, job
outputs and `if:` conditions evaluated from the event. A GitLab pipeline runs stage by stage, each
job's `script:` as one shell script with `set -e`, its `rules:` evaluated, dotenv reports passed on.

What CI has and this machine does not is replaced, and only this (the one table of substitutions):

| in CI                            | here, and why                                                        |
| -------------------------------- | -------------------------------------------------------------------- |
| actions/checkout, GitLab's clone | `git clone` of the baked project's repository at the commit          |
| actions/setup-python,            | a fresh virtualenv of pyenv's Python X first on PATH (no runner      |
|   `image: python:X`              |   images here; what the job pip-installs stays in it)                |
| astral-sh/setup-uv               | the dev venv's uv first on PATH (GitHub's downloads are unreachable; |
|                                  |   it must be the version its version-file, requirements-uv.txt, pins)|
| `image: docker:*` + `*-dind`     | /bin/sh (dash) and this machine's Docker engine (no nested engine)   |
| `docker`                         | /usr/bin/docker, DOCKER_BUILDKIT=1, `build` gets `--network host`    |
|                                  |   (no bridge network; the docker first on PATH lacks BuildKit)       |
| the runner's ~/.docker           | a DOCKER_CONFIG of the run's own (`docker login` writes there)       |
| ghcr.io, $CI_REGISTRY            | Debian's docker-registry on 127.0.0.1, no auth (none reachable)      |
| GitLab's `cache:`                | a folder kept between pipelines, linked into the job's workspace     |
| a runner's empty tool caches     | this machine's pip, uv and pre-commit caches (only faster)            |
| secrets, CI/CD variables         | the test's values: the local Prefect server's URL, an empty API key  |
| the event                        | the test's: a push to `main`, of a tag, or a pull request            |

Nothing else is changed: the commands are the file's own.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from support.commands import CommandFailed, find_python, make_venv, run

TEMPLATE_DIR = Path(__file__).resolve().parents[2]
DEV_BIN = TEMPLATE_DIR / ".venv" / "bin"
HOST_DOCKER = "/usr/bin/docker" if Path("/usr/bin/docker").exists() else shutil.which("docker")
DOCKER_SHIM = f"""#!/bin/sh
# This machine's engine has no bridge network: image builds use the host's.
if [ "$1" = build ]; then shift; exec {HOST_DOCKER} build --network host "$@"; fi
exec {HOST_DOCKER} "$@"
"""


@dataclass
class StepResult:
    job: str
    name: str
    seconds: float
    output: str
    skipped: bool = False


@dataclass
class Runner:
    """What is shared by every job of one run: where it works, the base environment, the log."""

    root: Path
    repository: Path
    sha: str
    python_version: str
    secrets: dict[str, str] = field(default_factory=dict)
    # Where GitLab's `cache:` keeps its folders between pipelines.
    cache_root: Path | None = None
    log: list[StepResult] = field(default_factory=list)

    def __post_init__(self):
        self.root.mkdir(parents=True, exist_ok=True)
        self.cache_root = self.cache_root or self.root / "cache"
        shim = self.root / "shim"
        shim.mkdir(exist_ok=True)
        (shim / "docker").write_text(DOCKER_SHIM)
        (shim / "docker").chmod(0o755)
        (self.root / "docker-config").mkdir(exist_ok=True)
        self.base_env = {
            key: value for key, value in os.environ.items()
            if not key.startswith(("PREFECT_", "VIRTUAL_ENV", "PYTEST", "CI", "GITHUB_", "DOCKER_"))
        }
        # No virtualenv of the test session's leaks into the jobs.
        path = [entry for entry in self.base_env.get("PATH", "").split(os.pathsep)
                if entry and Path(entry) != DEV_BIN and not (Path(entry) / "activate").exists()]
        self.base_env.update(
            PATH=os.pathsep.join([str(shim), *path]),
            CI="true",
            DOCKER_BUILDKIT="1",
            DOCKER_CONFIG=str(self.root / "docker-config"),
            # Prefect writes its settings and database under its home: one of the run's own.
            PREFECT_HOME=str(self.root / "prefect-home"),
        )

    def workspace(self, job: str) -> Path:
        """A fresh clone of the repository at the commit, as checkout (or GitLab) makes it."""
        path = self.root / "jobs" / job
        if path.exists():
            shutil.rmtree(path)
        run(["git", "clone", "--quiet", self.repository, path])
        run(["git", "checkout", "--quiet", self.sha], cwd=path)
        return path

    def python_bin(self, job: str) -> Path:
        """The image's or setup-python's Python: a fresh virtualenv of that version."""
        venv = self.root / "pythons" / job
        if venv.exists():
            shutil.rmtree(venv)
        make_venv(venv, find_python(self.python_version))
        return venv / "bin"

    def shell(self, job: str, name: str, command: list[str], cwd: Path, env: dict, timeout: int):
        started = time.monotonic()
        process = subprocess.run(command, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
        self.log.append(StepResult(job, name, time.monotonic() - started, process.stdout))
        if process.returncode != 0:
            raise CommandFailed(f"CI job {job!r}, step {name!r} failed (exit {process.returncode}):\n"
                                f"{process.stdout[-8000:]}")
        return process.stdout

    def durations(self) -> str:
        return "\n".join(f"{r.seconds:7.1f} s  {r.job}: {r.name}{' (skipped)' if r.skipped else ''}"
                         for r in self.log)


def git_repository(project: Path, path: Path) -> tuple[Path, str]:
    """The baked project committed to a git repository, as a user pushes it; (path, commit)."""
    shutil.copytree(project, path, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    env = dict(os.environ, GIT_AUTHOR_NAME="cpd", GIT_AUTHOR_EMAIL="cpd@example.com",
               GIT_COMMITTER_NAME="cpd", GIT_COMMITTER_EMAIL="cpd@example.com")
    run(["git", "init", "--quiet", "--initial-branch", "main"], cwd=path)
    run(["git", "add", "--all"], cwd=path)
    run(["git", "commit", "--quiet", "--message", "Project from the template"], cwd=path, env=env)
    return path, run(["git", "rev-parse", "HEAD"], cwd=path).output.strip()


def github_event(sha: str, event: str, ref: str) -> dict:
    """The `github` context of a run for an event: a push of ref, or a pull request."""
    kind, _, name = ref.removeprefix("refs/").partition("/")
    return {"event_name": event, "ref": ref, "ref_name": name,
            "ref_type": "tag" if kind == "tags" else "branch",
            "sha": sha, "repository": "cpd-owner/project", "repository_owner": "cpd-owner",
            "actor": "cpd-actor", "workflow": "CI", "run_id": "1", "head_ref": "",
            "event": {"repository": {"default_branch": "main"}}}


# ---------------------------------------------------------------------------------------------
# GitHub Actions
# ---------------------------------------------------------------------------------------------

EXPRESSION_TOKEN = re.compile(r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\)|,)"
                              r"|(?P<call>[A-Za-z_][\w-]*)\(\)|(?P<name>[A-Za-z_][\w.-]*))")


class Contexts(dict):
    """The expression contexts; a path that is not there is an error, never a silent null."""

    def lookup(self, path: str):
        value = self
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                if path.startswith(("secrets.", "needs.")):
                    return ""  # an unset secret, and the outputs of a skipped job, are empty
                if path.startswith("github.event."):
                    return None  # a property the event's payload lacks is null
                raise KeyError(f"the workflow reads {path}, which this run does not provide")
            value = value[part]
        return value


STATUS_FUNCTIONS = re.compile(r"\b(?:success|failure|always|cancelled)\(\)")


def tokens(pattern: re.Pattern, text: str, what: str):
    """(kind, value) of each token of text, kind being the name of pattern's group that matched;
    ValueError where no token fits."""
    position = 0
    while position < len(text):
        match = pattern.match(text, position)
        if not match or match.end() == position:
            raise ValueError(f"cannot read {what} at {text[position:]!r}")
        yield match.lastgroup, match.group(match.lastgroup)
        position = match.end()


def evaluate(expression: str, contexts: Contexts, status: str = "success"):
    """A GitHub expression (the parts of the language the generated workflow uses). `status` is
    what the status functions see: "success", "failure" or "skipped" (an ancestor job skipped,
    which makes success() false, as on GitHub)."""
    python = []
    for kind, value in tokens(EXPRESSION_TOKEN, expression.strip(), "the expression"):
        if kind == "string":
            python.append(repr(value[1:-1].replace("''", "'")))
        elif kind == "op":
            python.append({"&&": " and ", "||": " or ", "!": " not "}.get(value, f" {value} "))
        elif kind == "call":
            python.append({"always": "True", "success": repr(status == "success"),
                           "failure": repr(status == "failure"), "cancelled": "False"}[value])
        elif value in ("true", "false", "null"):
            python.append({"true": "True", "false": "False", "null": "None"}[value])
        else:
            python.append(repr(contexts.lookup(value)))
    return eval("".join(python), {"__builtins__": {}})  # noqa: S307 (built from tokens above)


def as_text(value) -> str:
    """How GitHub writes a value into an environment variable or an output."""
    if value is True or value is False:
        return str(value).lower()
    return "" if value is None else str(value)


def substitute(text: str, contexts: Contexts) -> str:
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: as_text(evaluate(m.group(1), contexts)), str(text))


def job_order(jobs: dict) -> list[str]:
    ordered: list[str] = []
    while len(ordered) < len(jobs):
        ready = [name for name, job in jobs.items() if name not in ordered
                 and all(need in ordered for need in as_list(job.get("needs")))]
        if not ready:
            raise ValueError("the jobs' needs form a cycle")
        ordered.extend(ready)
    return ordered


def as_list(value) -> list:
    return [] if value is None else value if isinstance(value, list) else [value]


def setup_uv_version(path: Path) -> str | None:
    """The version setup-uv reads from a requirements file (`version-file:`): the specifier of the
    first `uv` requirement, as astral-sh/setup-uv's src/version/requirements-file.ts finds it."""
    for line in path.read_text().split("\n"):
        match = re.match(r"^uv([=<>~!]+\S*)", line.split(";", 1)[0].strip())
        if match:
            return match.group(1).strip()
    return None


def read_pairs(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as in GITHUB_ENV, GITHUB_OUTPUT and dotenv reports."""
    pairs = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        if "=" in line:
            key, _, value = line.partition("=")
            pairs[key.strip()] = value
    return pairs


class GitHubRun:
    """One run of a workflow file for one event."""

    def __init__(self, runner: Runner, workflow: Path, github: dict):
        self.runner = runner
        self.workflow = yaml.safe_load(workflow.read_text())
        self.github = github
        self.needs: dict[str, dict] = {}
        self.contexts = Contexts(github=github, secrets=runner.secrets, needs=self.needs, env={})
        self.env = {key: as_text(substitute(value, self.contexts))
                    for key, value in (self.workflow.get("env") or {}).items()}
        self.contexts["env"] = self.env

    def jobs(self) -> list[str]:
        return job_order(self.workflow["jobs"])

    def ancestors(self, job_name: str) -> set[str]:
        jobs = self.workflow["jobs"]
        direct = set(as_list(jobs[job_name].get("needs")))
        return direct.union(*(self.ancestors(need) for need in direct))

    def will_run(self, job_name: str) -> bool:
        """The job's `if:`, as GitHub reads it: without a status function, `success() && (...)`,
        where success() means every job it needs, directly or not, succeeded (not skipped)."""
        job = self.workflow["jobs"][job_name]
        contexts = Contexts(self.contexts, needs={n: self.needs.get(n, {"outputs": {}, "result": "success"})
                                                  for n in as_list(job.get("needs"))})
        results = {self.needs.get(n, {}).get("result", "success") for n in self.ancestors(job_name)}
        status = "failure" if "failure" in results else "skipped" if "skipped" in results else "success"
        condition = str(job.get("if", "success()"))
        if not STATUS_FUNCTIONS.search(condition):
            condition = f"success() && ({condition})"
        return bool(evaluate(condition, contexts, status))

    def step_will_run(self, job_name: str, step: dict) -> bool:
        return bool(evaluate(str(step.get("if", "success()")), self.contexts))

    def run_job(self, job_name: str, timeout: int = 1800) -> bool:
        """Run one job; False when its `if:` skips it."""
        job = self.workflow["jobs"][job_name]
        if not self.will_run(job_name):
            self.needs[job_name] = {"outputs": {}, "result": "skipped"}
            return False
        runner = self.runner
        workspace = runner.root / "jobs" / job_name
        workspace.mkdir(parents=True, exist_ok=True)
        files = runner.root / "files" / job_name
        files.mkdir(parents=True, exist_ok=True)
        env_file, path_file = files / "env", files / "path"
        env_file.write_text("")
        path_file.write_text("")
        (runner.root / "runner-temp").mkdir(exist_ok=True)
        job_env = dict(self.env)
        job_env.update({k: as_text(substitute(v, self.contexts)) for k, v in (job.get("env") or {}).items()})
        steps: dict[str, dict] = {}
        contexts = Contexts(self.contexts, env=job_env, steps=steps)
        extra_path: list[str] = []
        for number, step in enumerate(job["steps"]):
            name = step.get("name") or step.get("uses") or step["run"].splitlines()[0]
            # The env context holds what earlier steps wrote to GITHUB_ENV too.
            contexts["env"] = dict(job_env, **read_pairs(env_file))
            if not evaluate(str(step.get("if", "success()")), contexts):
                runner.log.append(StepResult(job_name, name, 0.0, "", skipped=True))
                continue
            output_file = files / f"output-{number}"
            output_file.write_text("")
            env = dict(runner.base_env, **job_env, **read_pairs(env_file))
            env.update({k: as_text(substitute(v, contexts)) for k, v in (step.get("env") or {}).items()})
            env.update(self.default_variables(workspace, env_file, output_file, path_file))
            env["PATH"] = os.pathsep.join([*extra_path, env["PATH"]])
            if "uses" in step:
                bin_dir = self.action(job_name, step, workspace)
                if bin_dir:
                    extra_path.insert(0, str(bin_dir))
                continue
            script = files / f"step-{number}.sh"
            script.write_text(step["run"])
            shell = (step.get("shell") or job.get("defaults", {}).get("run", {}).get("shell")
                     or self.workflow.get("defaults", {}).get("run", {}).get("shell"))
            assert shell == "bash", f"step {name!r} runs in {shell!r}; this harness runs bash"
            runner.shell(job_name, name, ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                         workspace, env, timeout)
            if step.get("id"):
                steps[step["id"]] = {"outputs": read_pairs(output_file)}
            extra_path = [line for line in path_file.read_text().splitlines() if line] + extra_path
        job_env.update(read_pairs(env_file))
        outputs = {key: as_text(substitute(value, contexts))
                   for key, value in (job.get("outputs") or {}).items()}
        self.needs[job_name] = {"outputs": outputs, "result": "success"}
        return True

    def default_variables(self, workspace: Path, env_file: Path, output_file: Path, path_file: Path) -> dict:
        github = self.github
        return {
            "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_SHA": github["sha"], "GITHUB_REF": github["ref"], "GITHUB_REF_NAME": github["ref_name"],
            "GITHUB_REF_TYPE": github["ref_type"], "GITHUB_EVENT_NAME": github["event_name"],
            "GITHUB_HEAD_REF": github.get("head_ref", ""),
            "GITHUB_REPOSITORY": github["repository"], "GITHUB_REPOSITORY_OWNER": github["repository_owner"],
            "GITHUB_SERVER_URL": "https://github.com", "GITHUB_ACTOR": github["actor"],
            "GITHUB_ENV": str(env_file), "GITHUB_OUTPUT": str(output_file), "GITHUB_PATH": str(path_file),
            "RUNNER_TEMP": str(self.runner.root / "runner-temp"),
        }

    def action(self, job_name: str, step: dict, workspace: Path) -> Path | None:
        """What a `uses:` step does, done here (see the table above); the bin dir it adds to PATH."""
        action, _, ref = step["uses"].partition("@")
        inputs = step.get("with") or {}
        assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{step['uses']} is not pinned to a commit SHA"
        started = time.monotonic()
        bin_dir = None
        if action == "actions/checkout":
            assert inputs.get("persist-credentials") is False, "checkout keeps the token in .git/config"
            path = self.runner.workspace(job_name)
            ref = as_text(substitute(inputs.get("ref", ""), self.contexts))
            if ref:  # a branch or a commit of the repository, instead of the event's commit
                run(["git", "checkout", "--quiet", ref], cwd=path)
        elif action == "actions/setup-python":
            assert str(inputs["python-version"]) == self.runner.python_version
            bin_dir = self.runner.python_bin(job_name)
        elif action == "astral-sh/setup-uv":
            installed = run([DEV_BIN / "uv", "--version"]).output.split()[1]
            assert "version" not in inputs, "uv's version is written once, in requirements-uv.txt"
            wanted = setup_uv_version(workspace / inputs["version-file"])
            assert wanted == f"=={installed}", (inputs["version-file"], wanted, installed)
            bin_dir = self.runner.root / "uv-bin"
            bin_dir.mkdir(exist_ok=True)
            for tool in ("uv", "uvx"):
                if not (bin_dir / tool).exists():
                    (bin_dir / tool).symlink_to(DEV_BIN / tool)
        else:
            raise AssertionError(f"this harness does not know what {action} does")
        self.runner.log.append(StepResult(job_name, step["uses"], time.monotonic() - started, ""))
        return bin_dir


# ---------------------------------------------------------------------------------------------
# GitLab CI
# ---------------------------------------------------------------------------------------------

GITLAB_KEYWORDS = {"stages", "variables", "workflow", "default", "include", "image", "services",
                   "cache", "before_script", "after_script"}
RULE_TOKEN = re.compile(r"\s*(?:(?P<string>\"[^\"]*\"|'[^']*')|(?P<op>==|!=|&&|\|\||\(|\))"
                        r"|\$(?P<var>[A-Za-z_][A-Za-z0-9_]*))")


def rule_matches(expression: str, variables: dict[str, str]) -> bool:
    python = []
    for kind, value in tokens(RULE_TOKEN, expression, "the rule"):
        if kind == "string":
            python.append(repr(value[1:-1]))
        elif kind == "op":
            python.append({"&&": " and ", "||": " or "}.get(value, f" {value} "))
        else:
            python.append(repr(variables.get(value) or None))
    return bool(eval("".join(python), {"__builtins__": {}}))  # noqa: S307 (built from tokens above)


def expand(value: str, variables: dict[str, str]) -> str:
    """$NAME and ${NAME} in a variable's value, as GitLab expands them."""
    return re.sub(r"\$(?:\{(\w+)\}|(\w+))", lambda m: variables.get(m.group(1) or m.group(2), ""), str(value))


class GitLabRun:
    """One pipeline of a .gitlab-ci.yml for one set of predefined variables."""

    def __init__(self, runner: Runner, path: Path, predefined: dict[str, str]):
        self.runner = runner
        self.config = yaml.safe_load(path.read_text())
        self.variables = dict(predefined, **runner.secrets)
        for key, value in (self.config.get("variables") or {}).items():
            self.variables[key] = expand(value, self.variables)
        self.dotenv: dict[str, dict[str, str]] = {}

    def job(self, name: str) -> dict:
        job = dict(self.config[name])
        for parent in as_list(job.pop("extends", None)):
            job = {**self.job(parent), **job}
        return job

    def pipeline_created(self) -> bool:
        for rule in (self.config.get("workflow") or {}).get("rules", []):
            if rule_matches(rule["if"], self.variables):
                return rule.get("when", "always") != "never"
        return not (self.config.get("workflow") or {}).get("rules")

    def jobs(self) -> list[str]:
        names = [key for key in self.config if key not in GITLAB_KEYWORDS and not key.startswith(".")]
        stages = self.config.get("stages", ["build", "test", "deploy"])
        return sorted(names, key=lambda name: stages.index(self.job(name).get("stage", "test")))

    def will_run(self, name: str) -> bool:
        rules = self.job(name).get("rules")
        if not rules:
            return True
        for rule in rules:
            if "if" not in rule or rule_matches(rule["if"], self.variables):
                return rule.get("when", "on_success") != "never"
        return False

    def run_job(self, name: str, timeout: int = 1800) -> bool:
        if not self.will_run(name):
            return False
        job = self.job(name)
        runner = self.runner
        workspace = runner.workspace(name)
        variables = dict(self.variables, CI_PROJECT_DIR=str(workspace), CI_JOB_NAME=name)
        for needed in as_list(job.get("needs")):
            variables.update(self.dotenv.get(needed, {}))
        for key, value in (job.get("variables") or {}).items():
            variables[key] = expand(value, variables)
        image = str(job["image"])
        env = dict(runner.base_env, **variables)
        self.restore_cache(job, workspace)
        script = "\n".join(job.get("before_script", []) + job["script"])
        if image.startswith("python:"):
            assert image == f"python:{runner.python_version}", image
            env["PATH"] = f"{runner.python_bin(name)}{os.pathsep}{env['PATH']}"
            shell = ["bash", "-c", "set -eo pipefail\n" + script]
        elif image.startswith("docker:"):
            shell = ["sh", "-c", "set -e\n" + script]
        else:
            raise AssertionError(f"this harness does not know the image {image}")
        try:
            runner.shell(name, "script", shell, workspace, env, timeout)
        finally:
            if job.get("after_script"):
                subprocess.run(["sh", "-c", "\n".join(job["after_script"])], cwd=workspace, env=env,
                               capture_output=True, check=False, timeout=120)
        report = ((job.get("artifacts") or {}).get("reports") or {}).get("dotenv")
        if report:
            self.dotenv[name] = read_pairs(workspace / report)
        return True

    def restore_cache(self, job: dict, workspace: Path) -> None:
        """GitLab's `cache:`: each path is kept between jobs and pipelines under its key (here a
        folder of the runner's, linked into the workspace)."""
        cache = job.get("cache")
        if not cache:
            return
        key = cache.get("key", "default")
        if isinstance(key, dict):
            digest = hashlib.sha256()
            for name in key["files"]:
                digest.update((workspace / name).read_bytes() if (workspace / name).exists() else b"")
            key = digest.hexdigest()[:16]
        for path in cache.get("paths", []):
            kept = self.runner.cache_root / str(key) / path
            kept.mkdir(parents=True, exist_ok=True)
            (workspace / path).parent.mkdir(parents=True, exist_ok=True)
            (workspace / path).symlink_to(kept, target_is_directory=True)
