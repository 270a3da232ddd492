"""Run a generated project's README as its user would: its own commands, section by section.

The generated README and the files of its docs/ folder are the user's script. A *journey*
(tests/test_journeys.py lists them) names their sections: a title alone is the README's, and
"docs/deploy.md#Deploy it to a Docker work pool" a section of that file. Their ```bash blocks run,
command by command and exactly as written, in one bash session in the baked project, so that
`source .venv/bin/activate` carries over. A command
the README marks `# in a terminal of its own` runs in the background for the rest of the journey and
is stopped at its end.

Only what this machine forces is changed, and all of it is in one table, MACHINE, below: every
command as run is also kept beside the README's text in the transcript, for the failure report.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shlex
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from support.bash_session import BashSession
from support.containers import remove_containers
from support.network import http_json

BACKGROUND_MARK = "in a terminal of its own"

# ---------------------------------------------------------------------------------------------
# The README: sections and their commands
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    section: str  # the title of the README section it is in
    text: str  # as the README writes it (continuation lines joined), comment included
    code: str  # the command without its trailing comment
    comment: str

    @property
    def background(self) -> bool:
        return BACKGROUND_MARK in self.comment


@dataclass(frozen=True)
class Section:
    title: str  # the heading's text without its number: "Install, test and run"
    level: int
    body: str
    document: str = "README.md"  # the file it is in, relative to the project

    @property
    def name(self) -> str:
        """How a journey names it: the title for the README's, "docs/x.md#Title" for others."""
        return self.title if self.document == "README.md" else f"{self.document}#{self.title}"

    def commands(self) -> list[Command]:
        return bash_commands(self.body, self.name)


HEADING = re.compile(r"^(#{1,6})\s+(?:\d+\.\s+)?(.*?)\s*$")
FENCE = re.compile(r"^\s*```")


def readme_sections(text: str, document: str = "README.md") -> list[Section]:
    """Every heading of a Markdown text, with its body up to the next heading of the same or a
    higher level (a section holds its subsections)."""
    lines = text.splitlines()
    headings, fenced = [], False
    for number, line in enumerate(lines):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := HEADING.match(line)):
            headings.append((number, len(match.group(1)), match.group(2)))
    sections = []
    for index, (start, level, title) in enumerate(headings):
        end = next((n for n, lv, _ in headings[index + 1:] if lv <= level), len(lines))
        sections.append(Section(title, level, "\n".join(lines[start + 1:end]), document))
    return sections


def readme_section(text: str, title: str, document: str = "README.md") -> Section:
    found = [s for s in readme_sections(text, document) if s.title == title]
    if not found:
        titles = [s.title for s in readme_sections(text, document)]
        raise LookupError(f"{document} has no section {title!r}; it has {titles}")
    return found[0]


def documents(project: Path) -> dict[str, str]:
    """{path relative to the project: text} of the README and of every Markdown file of docs/."""
    paths = [project / "README.md", *sorted((project / "docs").glob("*.md"))]
    return {path.relative_to(project).as_posix(): path.read_text() for path in paths if path.exists()}


def split_name(name: str) -> tuple[str, str]:
    """("docs/deploy.md", "Title") of "docs/deploy.md#Title"; ("README.md", name) of a bare title."""
    document, hash_, title = name.partition("#")
    return (document, title) if hash_ and document.endswith(".md") else ("README.md", name)


def project_section(texts: dict[str, str], name: str) -> Section:
    """The section a journey names, in texts (documents(project))."""
    document, title = split_name(name)
    if document not in texts:
        raise LookupError(f"the project has no {document}; it has {sorted(texts)}")
    return readme_section(texts[document], title, document)


def split_comment(line: str) -> tuple[str, str]:
    """('cmd args', 'comment') of a shell line: a '#' that starts a word outside quotes."""
    quote = None
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (index == 0 or line[index - 1].isspace()):
            return line[:index].rstrip(), line[index + 1:].strip()
    return line.rstrip(), ""


def bash_commands(markdown: str, section: str = "") -> list[Command]:
    """The commands of the ```bash blocks in markdown: one per line, continuations joined, comment
    lines and blank lines left out."""
    commands, block, pending = [], None, ""
    for line in markdown.splitlines():
        if FENCE.match(line):
            block = line.strip()[3:].strip() if block is None else None
            continue
        if block != "bash":
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1].rstrip() + " "
            continue
        line, pending = pending + line.strip(), ""
        code, comment = split_comment(line)
        if code:
            commands.append(Command(section, line.strip(), code, comment))
    return commands


# ---------------------------------------------------------------------------------------------
# What this machine forces on the README's commands: the one table
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rewrite:
    """A command whose code matches `pattern` runs with `replacement` (re.sub; {names} are the
    journey's values, a callable gets the match and the journey)."""

    pattern: str
    replacement: str | Callable
    why: str


@dataclass(frozen=True)
class Environment:
    """A variable set in the journey's session before its first command."""

    name: str
    value: str
    why: str


@dataclass(frozen=True)
class WaitFor:
    """After a command matching `pattern` the journey waits for `condition(journey)` before the
    next command, as a person reading the next line would."""

    pattern: str
    condition: Callable
    timeout: float
    why: str


COMPOSE_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def compose_v1_command(arguments: str, cwd: Path, copies: Path) -> tuple[list[str], str]:
    """(`docker compose ARGUMENTS` as Compose 1.29 runs it, the compose project's name).

    1.29 refuses the top-level `name:` of Compose v2: the file is copied to `copies` without it,
    the name is passed as `-p`, and the file's own folder as the project directory (where relative
    paths and .env are read from, as in v2)."""
    words = shlex.split(arguments)
    files = []
    while len(words) >= 2 and words[0] in ("-f", "--file"):
        files.append(words[1])
        words = words[2:]
    if not files:
        files = [next(name for name in COMPOSE_FILES if (cwd / name).exists())]
    [original] = files
    source = cwd / original
    name = yaml.safe_load(source.read_text()).get("name") or cwd.name
    copy = copies / original
    copy.parent.mkdir(parents=True, exist_ok=True)
    config = yaml.safe_load(source.read_text())
    config.pop("name", None)
    for service in (config.get("services") or {}).values():
        if "build" in service:  # the engine has no bridge network: the builds' RUN steps use the host's
            build = service["build"] if isinstance(service["build"], dict) else {"context": service["build"]}
            service["build"] = {**build, "context": str((source.parent / build["context"]).resolve()),
                                "network": "host"}
    copy.write_text(yaml.safe_dump(config, sort_keys=False))
    return ["docker-compose", "-p", name, "--project-directory", str(source.parent),
            "-f", str(copy), *words], name


@functools.cache
def compose_v2_here() -> bool:
    return subprocess.run(["docker", "compose", "version"], capture_output=True,
                          check=False).returncode == 0


def compose_v1(match: re.Match, journey: JourneyRun) -> str:
    command, name = compose_v1_command(match.group(1), journey.project, journey.workdir / "compose-v1")
    journey.compose_projects.add(name)
    return match.group(0) if compose_v2_here() else shlex.join(command)


def prefect_api_answers(journey: JourneyRun) -> bool:
    return http_json(f"{journey.api}/health", timeout=5) is True


def dask_scheduler_listens(journey: JourneyRun) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", journey.ports["dask_port"]), timeout=2):
            return True
    except OSError:
        return False


MACHINE = (
    Rewrite(r"^docker build (?!.*--network)", "docker build --network host ",
            "the engine has no bridge network, so image builds use the host's"),
    Rewrite(r"^docker compose (.*)$", compose_v1,
            "no Compose v2 plugin here, only docker-compose 1.29 (apt), which refuses the file's "
            "top-level `name:`: that name is passed as -p, the file without it as -f; and the "
            "engine has no bridge network, so that copy builds (`build:`) on the host's network"),
    Rewrite(r"^prefect server start\b", "prefect server start --port {api_port}",
            "journeys run side by side: each Prefect server on a free port, not 4200"),
    Rewrite(r"127\.0\.0\.1:4200\b", "127.0.0.1:{api_port}", "the API URL of that server"),
    Rewrite(r"127\.0\.0\.1:8786\b", "127.0.0.1:{dask_port}",
            "each Dask scheduler on a free port, not 8786"),
    Environment("DASK_SCHEDULER_PORT", "{dask_port}",
                "the compose file's own variable for the scheduler's port"),
    Environment("DASK_DASHBOARD_PORT", "{dashboard_port}",
                "the compose file's own variable for the dashboard's port, not 8787"),
    Environment("PATH", "{tools}:{path}",
                "pythonX.Y is pyenv's here, not on PATH: a folder with a pythonX.Y for each (and "
                "uv, the dev venv's) comes first; no virtualenv of the test suite's own is on it"),
    Environment("IMAGE_BUILD_NETWORK", "host",
                "the template's own setting (prefect.yaml, Makefile) for an engine with no bridge "
                "network, as the README says"),
    Environment("PREFECT_HOME", "{workdir}/prefect-home",
                "journeys run side by side; each keeps its Prefect profile and database apart"),
    Environment("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120",
                "Prefect's temporary server may need more than 20 s on two busy cores"),
    Environment("PREFECT_WORKER_QUERY_SECONDS", "2",
                "cost only: a worker on the host polls for runs every 2 s instead of 10"),
    WaitFor(r"^prefect server start", prefect_api_answers, 180,
            "the next commands talk to the server: its /api/health answers first"),
    WaitFor(r"^docker compose -f deploy/docker-compose\.dask\.yml up -d", dask_scheduler_listens, 180,
            "the next command joins the scheduler, which starts in a few seconds; a person "
            "reading the next line takes longer than that"),
)


def substituted(command: Command, journey: JourneyRun) -> str:
    """The command as this machine runs it: MACHINE's rewrites applied to its code."""
    code = command.code
    for rule in MACHINE:
        if isinstance(rule, Rewrite) and re.search(rule.pattern, code):
            if callable(rule.replacement):
                code = re.sub(rule.pattern, lambda m, r=rule: r.replacement(m, journey), code)
            else:
                code = re.sub(rule.pattern, rule.replacement.format(**journey.values), code)
    return code


def machine_environment(journey: JourneyRun) -> dict[str, str]:
    """The session's environment: this process's, without any virtualenv or Prefect setting of
    the test suite's own, plus MACHINE's variables."""
    virtualenv = os.environ.get("VIRTUAL_ENV", "")
    path = os.pathsep.join(part for part in os.environ.get("PATH", "").split(os.pathsep)
                           if part and not (virtualenv and part.startswith(virtualenv))
                           and "/.venv/" not in part + "/")
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("PREFECT_", "DASK_")) and key not in ("VIRTUAL_ENV", "PYTHONPATH")}
    values = {**journey.values, "path": path}
    for rule in MACHINE:
        if isinstance(rule, Environment):
            env[rule.name] = rule.value.format(**values)
    return env


# ---------------------------------------------------------------------------------------------
# A journey and its run
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observe:
    """Right after a command matching `pattern` ran, record `what(run, step)` as step.seen[name]
    (for what is gone by the journey's end, such as the logs of containers it removes)."""

    pattern: str
    name: str
    what: Callable


@dataclass(frozen=True)
class Then:
    """A step of the test's own after the README's: the last README command matching `pattern`,
    run again as it ran (e.g. the deployment once the cluster is down), expecting `exit`
    ("zero" or "nonzero")."""

    label: str
    pattern: str
    exit: str = "zero"


@dataclass(frozen=True)
class Journey:
    """One path through the README and its docs/. Adding a journey is adding one of these to the
    table in tests/test_journeys.py."""

    name: str
    answers: dict  # cookiecutter answers (the test adds a project and image name of its own)
    # Section names (a README title, or "docs/x.md#Title"), run in this order in one session.
    sections: tuple[str, ...]
    checks: tuple[Callable, ...] = ()  # check(run) asserts what the user sees
    after_install: bool = True  # start where the README's install commands left off (shared)
    observe: tuple[Observe, ...] = ()
    then: tuple[Then, ...] = ()
    pick: Callable[[Command], bool] = lambda command: True  # the commands of its sections it runs
    timeout: float = 900  # seconds, for any one command
    nightly: bool = False  # run by the nightly run only (CI runs its commands in another journey)


INSTALL_SECTION = "Install, test and run"
INSTALL_COMMANDS = ("uv sync", "source ", ". ")  # the section's install, before its test and run


def is_install(command: Command) -> bool:
    """A command of the README's install section that installs (or activates) the virtualenv: what
    the shared install runs, and what journeys that start after it leave out."""
    return command.section == INSTALL_SECTION and command.code.startswith(INSTALL_COMMANDS)


@dataclass
class Step:
    command: Command
    ran: str  # the command as run here
    exit: int | None  # None: still running in the background, or cut short by the timeout
    log: Path
    started: float  # time.time()
    seconds: float = 0.0
    background: bool = False
    then: Then | None = None
    seen: dict = field(default_factory=dict)

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def failed(self) -> bool:
        if self.background:
            return False
        if self.then is not None and self.then.exit == "nonzero":
            return not self.exit
        return self.exit != 0


@dataclass
class JourneyRun:
    journey: Journey
    project: Path
    workdir: Path
    texts: dict  # documents(project): the README and docs/*.md
    ports: dict
    tools: Path
    steps: list[Step] = field(default_factory=list)
    compose_projects: set = field(default_factory=set)
    session: BashSession | None = None

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.ports['api_port']}/api"

    @property
    def values(self) -> dict:
        return {**self.ports, "tools": self.tools, "workdir": self.workdir}

    def steps_of(self, pattern: str, *, then: bool = False) -> list[Step]:
        """The steps whose README command matches pattern (the test's own with then=True)."""
        found = [s for s in self.steps if re.search(pattern, s.command.code)
                 and (s.then is not None) == then]
        assert found, f"the journey ran no command matching {pattern!r}:\n{self.report()}"
        return found

    def step(self, pattern: str, *, then: bool = False) -> Step:
        """The last step whose README command matches pattern."""
        return self.steps_of(pattern, then=then)[-1]

    def report(self, tail: int = 40) -> str:
        """The transcript: each README command, as run, its exit status, time and last lines."""
        lines = []
        for step in self.steps:
            status = "background" if step.background else f"exit {step.exit}"
            label = f" [{step.then.label}]" if step.then else ""
            lines.append(f"$ {step.command.text}{label}")
            if step.ran != step.command.code:
                lines.append(f"  ran: {step.ran}")
            lines.append(f"  {status}, {step.seconds:.1f} s, log {step.log}")
            if step.failed() or step.background:
                lines += ["  | " + line for line in step.output.splitlines()[-tail:]]
        return "\n".join(lines)

    # -- running -------------------------------------------------------------------------------

    @property
    def readme(self) -> str:
        return self.texts["README.md"]

    def commands(self) -> list[Command]:
        """The commands of the journey's sections that it runs: what its pick keeps, without the
        install commands when it starts after the shared install."""
        return [command for name in self.journey.sections
                for command in project_section(self.texts, name).commands()
                if self.journey.pick(command)
                and not (self.journey.after_install and is_install(command))]

    def start(self, env: dict) -> None:
        self.session = BashSession(self.project, env, self.workdir / "logs")

    def replay_install(self) -> None:
        """The install ran in a shared copy of the project; its `source` lines (the virtualenv's
        activation) are replayed in this session so that the same state carries over."""
        for command in project_section(self.texts, INSTALL_SECTION).commands():
            if command.code.startswith(("source ", ". ")):
                self.execute(command)

    def execute(self, command: Command, then: Then | None = None) -> Step:
        ran = substituted(command, self)
        started, clock = time.time(), time.monotonic()
        if command.background and then is None:
            _, log = self.session.start(ran)
            step = Step(command, ran, None, log, started, background=True)
        else:
            status, log = self.session.run(ran, self.journey.timeout)
            step = Step(command, ran, status, log, started, then=then)
        self.steps.append(step)
        for rule in MACHINE:
            if isinstance(rule, WaitFor) and re.search(rule.pattern, command.code):
                self.wait(rule, step)
        step.seconds = time.monotonic() - clock
        for rule in self.journey.observe:
            if re.search(rule.pattern, command.code) and then is None:
                step.seen[rule.name] = rule.what(self, step)
        return step

    def wait(self, rule: WaitFor, step: Step) -> None:
        deadline = time.monotonic() + rule.timeout
        while not rule.condition(self):
            group_gone = step.background and not self.session.group_alive(self.session.background[-1])
            if group_gone or time.monotonic() > deadline:
                raise AssertionError(f"waited {rule.timeout} s in vain after {step.ran!r} for "
                                     f"{rule.condition.__name__}:\n{self.report()}")
            time.sleep(0.5)

    def run(self) -> None:
        """Every command of the journey's sections, then its own steps; stop at the first command
        that fails (what follows it depends on it)."""
        for command in self.commands():
            if self.execute(command).failed():
                return
        for then in self.journey.then:
            command = self.step(then.pattern).command
            if self.execute(command, then).failed():
                return

    def close(self) -> None:
        """Stop the background commands and remove every container and image the journey made."""
        if self.session:
            self.session.close()
        for name in self.compose_projects:
            remove_containers(label=f"com.docker.compose.project={name}")


def install_key(project: Path, readme: str) -> str:
    """What an installed virtualenv depends on: the lock, pins, pyproject.toml, the package's
    source and the README's install commands. Projects equal in these share one."""
    digest = hashlib.sha256()
    files = [project / name for name in ("pyproject.toml", "requirements.txt", "uv.lock")]
    files += sorted((project / "src").rglob("*.py"))
    for path in files:
        if path.exists():
            digest.update(str(path.relative_to(project)).encode() + b"\0" + path.read_bytes())
    for command in readme_section(readme, INSTALL_SECTION).commands():
        if is_install(command):
            digest.update(command.code.encode() + b"\0")
    return digest.hexdigest()[:16]
