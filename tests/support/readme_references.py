"""Is every code reference in a generated README, and in its docs/, true of the project it came with?

A README (and each Markdown file of docs/) names files, commands with their subcommands and
flags, decorator arguments, code, settings and configuration keys. `false_references(project,
tools)` reads each from the documents' code (inline `spans` and ```bash blocks) and checks it
against the project itself and the real tools: files exist; a command's executable exists and
its subcommands and flags are in its own `--help` (Prefect, pip and pytest of the project's
virtualenv; Docker, Compose, uv, cruft, git; make's targets in the Makefile); quoted code is in
the code; a variable is read somewhere; a link to a file of the project leads to one, and a link
to a heading (`#anchor`) to a heading.

What cannot be checked here is in NOT_CHECKED, each with its reason.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from support.journeys import FENCE, bash_commands, documents

# Names the README mentions that are deliberately not files of the project.
NOT_PROJECT_FILES = {
    ".env": "the user's own secrets file, which .dockerignore and .gitignore keep out",
    ".env.*": "as .env",
    ".git": "the user's repository",
    "prefect.toml": "a Prefect settings file a user may add (the entry point then defers to it)",
    ".venv": "made by the install step (checked in the installed copy when one is given)",
}
# Executables not on this machine: their files and arguments are still checked, not their flags.
NOT_CHECKED = {
    "kubectl": "no Kubernetes client here (the manifests are validated offline by test_kubernetes.py)",
    "kind": "no kind here",
    "pipx": "no pipx here (what it installs, cruft, is checked)",
    "docker buildx": "no buildx plugin here (Debian has none); CI's buildx steps are checked by actionlint",
}
FILE_SUFFIXES = (".py", ".yaml", ".yml", ".toml", ".txt", ".lock", ".json", ".md", ".sh", ".cfg",
                 ".ini", ".example", ".cjs")
BARE_FILES = ("Dockerfile", "Makefile")
EXECUTABLES = ("prefect", "docker", "docker-compose", "pip", "python", "make", "uv", "uvx", "pytest",
               "kubectl", "kind", "cruft", "git", "pipx", "source")
HOSTNAME = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
HELP_TEXTS: dict = {}
# Prefect's CLI takes seconds to import: its help texts are asked in one process, as the CLI itself
# (its console script, argv set, output captured at the file descriptors).
PREFECT_HELP_BATCH = """
import json, os, sys, tempfile
from importlib import metadata
try:
    [entry] = metadata.entry_points(group="console_scripts", name="prefect")
except TypeError:  # Python < 3.10
    [entry] = [e for e in metadata.entry_points()["console_scripts"] if e.name == "prefect"]
main = entry.load()
texts, saved = [], (os.dup(1), os.dup(2))
for args in json.loads(sys.argv[1]):
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 1)
        os.dup2(capture.fileno(), 2)
        sys.argv = ["prefect", *args]
        try:
            main()
        except BaseException:
            pass
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        capture.seek(0)
        texts.append(capture.read().decode(errors="replace"))
print(json.dumps(texts))
"""
ENV_NAME = re.compile(r"^\$?([A-Z][A-Z0-9]*_[A-Z0-9_]+)(=\S*)?$")


@dataclass(frozen=True)
class Reference:
    kind: str
    text: str
    where: str  # how the README shows it


def code_spans(markdown: str) -> list[str]:
    """The inline `code` of markdown, outside fenced blocks."""
    spans, fenced = [], False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            spans += re.findall(r"(?<!`)`([^`\n]+)`(?!`)", line)
    return spans


def is_documentation(parts: tuple[str, ...]) -> bool:
    return parts == ("README.md",) or (len(parts) == 2 and parts[0] == "docs" and parts[1].endswith(".md"))


def project_text(project: Path) -> str:
    """Every text file of the project except its README and docs/ (what they describe)."""
    texts = []
    for path in sorted(project.rglob("*")):
        parts = path.relative_to(project).parts
        if path.is_file() and not is_documentation(parts) and not {".venv", ".git"} & set(parts) \
                and "__pycache__" not in parts:
            try:
                texts.append(path.read_text())
            except (UnicodeDecodeError, OSError):
                continue
    return "\n".join(texts)


def squeezed(code: str) -> str:
    """Code without white space, and without the trailing comma of a multi-line call."""
    return re.sub(r",\)", ")", re.sub(r"\s+", "", code))


class Checker:
    def __init__(self, project: Path, path: list[Path], workdir: str = "/app"):
        self.project = project
        self.workdir = workdir
        self.path = os.pathsep.join(str(p) for p in path) + os.pathsep + os.environ.get("PATH", "")
        self.text = project_text(project)
        self.python_sources = {p: p.read_text() for p in project.rglob("*.py")
                               if ".venv" not in p.relative_to(project).parts}

    # -- files ---------------------------------------------------------------------------------

    def is_path_claim(self, word: str) -> bool:
        word = word.rstrip(".,;")
        if not word or "://" in word or "<" in word or "$" in word or "=" in word \
                or word.startswith(("/", "~", "-", "@")) or ":" in word:
            return False
        first = word.split("/")[0]
        if "/" in word and HOSTNAME.match(first) and not (self.project / first).exists():
            return False  # a registry or image reference such as ghcr.io/acme
        return (word.endswith(FILE_SUFFIXES) or word in BARE_FILES or word.endswith("/")
                or ("/" in word and (self.project / first).exists())
                or word in NOT_PROJECT_FILES)

    def file_problem(self, word: str) -> str | None:
        word = word.rstrip(".,;")
        if word in NOT_PROJECT_FILES or any(re.fullmatch(p.replace(".", r"\.").replace("*", ".*"), word)
                                            for p in NOT_PROJECT_FILES if "*" in p):
            return None
        if word.startswith(".venv/"):
            return None if (self.project / word).exists() or not (self.project / ".venv").exists() \
                else f"{word} does not exist after the install"
        if "/" not in word.rstrip("/"):
            found = (self.project / word).exists() or any(self.project.rglob(word.rstrip("/")))
        else:
            found = (self.project / word).exists()
        return None if found else f"no file or folder {word} in the project"

    # -- code ------------------------------------------------------------------------------------

    def defined(self, name: str, source: str) -> bool:
        return bool(re.search(rf"^\s*(def|class|async def)\s+{name}\b|^\s*{name}\s*[:=]|"
                              rf"^\s*(from\s+\S+\s+)?import\s+.*\b{name}\b|\bas\s+{name}\b",
                              source, re.M))

    def code_problem(self, span: str) -> str | None:
        if m := re.fullmatch(r"from ([\w.]+) import (\w+)", span):
            module = self.project / "src" / m.group(1).replace(".", "/")
            sources = [module / "__init__.py", module.with_suffix(".py")]
            source = "\n".join(p.read_text() for p in sources if p.exists())
            if not source:
                return f"no module {m.group(1)} in src/"
            return None if self.defined(m.group(2), source) else f"{m.group(1)} defines no {m.group(2)}"
        if m := re.fullmatch(r"([\w./-]+\.py):(\w+)", span):
            path = self.project / m.group(1)
            if not path.exists():
                return f"no file {m.group(1)}"
            return None if self.defined(m.group(2), path.read_text()) else f"{m.group(1)} has no {m.group(2)}"
        # Quoted code (a decorator, a call): verbatim in the project's Python, white space aside.
        wanted = squeezed(span)
        if any(wanted in squeezed(source) for source in self.python_sources.values()):
            return None
        return f"the code {span} is nowhere in the project's Python files"

    def config_problem(self, span: str) -> str | None:
        """`key: value` (YAML), `[table]` (TOML): in some file of the project. A value with '...'
        is the user's to fill in (`image: name@sha256:...`): then only the key must be there."""
        if "..." in span:
            key = span.split(":")[0]
            return None if re.search(rf"^\s*-?\s*{re.escape(key)}:", self.text, re.M) else \
                f"no file of the project has a key {key}"
        pattern = r"\s*".join(re.escape(part) for part in span.split())
        return None if re.search(pattern, self.text) else f"{span} is in no file of the project"

    def dockerfile_problem(self, span: str) -> str | None:
        dockerfile = (self.project / "Dockerfile").read_text()
        return None if squeezed(span) in squeezed(dockerfile) else f"the Dockerfile has no {span}"

    def name_problem(self, span: str) -> str | None:
        """A snake_case name (a function, a setting): defined or used in the project's files."""
        return None if re.search(rf"\b{re.escape(span)}\b", self.text) else \
            f"{span} is in no file of the project"

    def variable_problem(self, name: str) -> str | None:
        if re.search(rf"\b{name}\b", self.text):
            return None
        if name.startswith("PREFECT_") and self.prefect_setting(name):
            return None
        return f"the variable {name} is read nowhere in the project (nor a Prefect setting)"

    def prefect_setting(self, name: str) -> bool:
        settings = self.help(("prefect", "config", "view"), extra=("--show-defaults",))
        return name in settings

    # -- commands ---------------------------------------------------------------------------------

    def which(self, executable: str) -> str | None:
        return shutil.which(executable, path=self.path)

    def help(self, command: tuple[str, ...], extra: tuple[str, ...] = ("--help",)) -> str:
        """What `command --help` prints (git: -h), with the box drawing of rich help removed;
        asked once per PATH and command in a process (checkers of several projects share it)."""
        key = (self.path, self.project if command[0] in ("uv", "uvx") else None, command, extra)
        if key not in HELP_TEXTS:
            HELP_TEXTS[key] = self._help(command, extra)
        return HELP_TEXTS[key]

    def prefetch_prefect_help(self, commands: list[str]) -> None:
        """Ask Prefect for the help of every command path these commands may walk, at once."""
        python = self.which("python")
        if python is None or self.which("prefect") is None:
            return
        wanted = {((), ("--help",)), (("config", "view"), ("--show-defaults",))}
        for command in commands:
            words = shlex.split(command, comments=True)
            for start in [i + 1 for i, w in enumerate(words) if w == "prefect"]:
                path = [w for w in words[start:] if not w.startswith("-")]
                for depth in range(1, 4):
                    if len(path) >= depth and re.fullmatch(r"[a-z][a-z0-9-]*", path[depth - 1]):
                        wanted.add((tuple(path[:depth]), ("--help",)))
                    else:
                        break
        wanted = sorted(w for w in wanted
                        if (self.path, None, ("prefect", *w[0]), w[1]) not in HELP_TEXTS)
        if not wanted:
            return
        env = {**os.environ, "PATH": self.path, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
        result = subprocess.run([python, "-c", PREFECT_HELP_BATCH,
                                 json.dumps([[*path, *extra] for path, extra in wanted])],
                                capture_output=True, text=True, env=env, cwd=self.project,
                                timeout=300, check=False)
        texts = json.loads(result.stdout.strip().splitlines()[-1])
        for (path, extra), text in zip(wanted, texts, strict=True):
            HELP_TEXTS[(self.path, None, ("prefect", *path), extra)] = re.sub(r"[│╭╮╰╯─┃━]", " ", text)

    def _help(self, command: tuple[str, ...], extra: tuple[str, ...]) -> str:
        executable = self.which(command[0])
        if executable is None:
            return ""
        env = {**os.environ, "PATH": self.path, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
        env = {k: v for k, v in env.items() if k not in ("VIRTUAL_ENV",)}
        args = [executable, *command[1:], *(("-h",) if command[0] == "git" and extra == ("--help",)
                                            else extra)]
        result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=self.project,
                                timeout=120, check=False)
        return re.sub(r"[│╭╮╰╯─┃━]", " ", result.stdout + result.stderr)

    def command_problems(self, command: str) -> list[str]:
        words = shlex.split(command.replace("\\\n", " "), comments=True)
        while words and ASSIGNMENT.match(words[0]):
            name = words.pop(0).split("=")[0]
            if problem := self.variable_problem(name):
                return [problem]
        if words and words[-1] == "...":
            words = words[:-1]
        if not words:
            return []
        executable = words[0]
        if re.fullmatch(r"python3\.\d+", executable):
            return [] if self.which(executable) else [f"no {executable} here"]
        if executable not in EXECUTABLES:
            return []
        problems = [p for word in words[1:] if self.is_path_claim(word) and (p := self.file_problem(word))]
        if executable in NOT_CHECKED or " ".join(words[:2]) in NOT_CHECKED:
            return problems
        if self.which(executable) is None and executable != "source":
            return [*problems, f"no {executable} on PATH"]
        return problems + self.argument_problems(words)

    def argument_problems(self, words: list[str]) -> list[str]:
        executable, rest = words[0], words[1:]
        if executable == "source":
            return []
        if executable == "make":
            targets = re.findall(r"^([\w.-]+):", (self.project / "Makefile").read_text(), re.M)
            goals = [w for w in rest if not ASSIGNMENT.match(w) and not w.startswith("-")]
            return [f"the Makefile has no target {goal}" for goal in goals if goal not in targets]
        if executable == "python":
            if rest[:1] == ["-m"]:
                return self.options_problems((executable, "-m", rest[1]), rest[2:])
            if rest and rest[0].endswith(".py"):
                return self.script_problems(rest[0], rest[1:])
            return []
        if executable == "uv" and rest[:1] == ["run"] and any(w.endswith(".py") for w in rest):
            at = next(i for i, w in enumerate(rest) if w.endswith(".py"))
            return self.options_problems(("uv", "run"), rest[1:at]) + \
                self.script_problems(rest[at], rest[at + 1:])
        if executable == "uvx":
            tool = next((w for w in rest if not w.startswith("-")), None)
            if tool is None:
                return []
            return self.options_problems((executable, tool), rest[rest.index(tool) + 1:])
        if executable == "docker" and rest[:1] == ["compose"] and not self.help(("docker", "compose")) \
                .strip().startswith("Usage:  docker compose"):
            # No Compose v2 plugin here: Compose 1.29 has the same subcommands and flags.
            return self.options_problems(("docker-compose",), rest[1:])
        return self.options_problems((executable,), rest)

    def script_problems(self, script: str, arguments: list[str]) -> list[str]:
        path = self.project / script
        if not path.exists():
            return [f"no script {script}"]
        source = path.read_text()
        return [f"{script} takes no {flag}" for flag in arguments
                if flag.startswith("--") and f'"{flag.split("=")[0]}"' not in source]

    def options_problems(self, command: tuple[str, ...], rest: list[str]) -> list[str]:
        """Walk rest: a word that the help of the command so far lists is a subcommand; every
        flag must be in the help of the command it follows. `docker run`'s image ends its options:
        what follows is the container's command, checked as a command of its own."""
        problems = []
        positional = after_flag = False
        depth = index = 0
        while index < len(rest):
            word = rest[index]
            text = self.help(command)
            if not text.strip():
                return [f"`{' '.join(command)} --help` printed nothing"]
            if word.startswith("-") and len(word) > 1:
                flag = word.split("=")[0]
                # -it is -i and -t
                flags = [f"-{c}" for c in flag[1:]] if re.fullmatch(r"-[a-zA-Z]{2,}", flag) else [flag]
                missing = [f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text)]
                problems += [f"`{' '.join(command)}` has no option {f}" for f in missing]
                if command[:2] in (("docker", "run"), ("docker", "exec")):
                    # Docker's help names an option's value type: `-e, --env list`.
                    if "=" not in word and re.search(
                            rf"(?<![\w-]){re.escape(flag)}(, --[\w-]+)? [a-z]+\s", text):
                        index += 1  # the option's value
                else:
                    after_flag = "=" not in word
            elif command[:2] in (("docker", "run"), ("docker", "exec")):
                # The image; what follows runs inside it.
                inner = rest[index + 1:]
                return problems + (self.command_problems(shlex.join(inner)) if inner else [])
            elif not positional and re.fullmatch(r"[a-z][a-z0-9-]*", word) \
                    and re.search(rf"^\s*{re.escape(word)}(\s|,|$)", text, re.M):
                command = (*command, word)  # listed as a command at the start of a help line
                after_flag = False
                depth += 1
            elif after_flag:
                after_flag = False  # the value of the flag before it
            else:
                usage = "\n".join(line for line in text.splitlines() if line.strip())[:400]
                if depth == 0 and not positional and re.search(r"\bcommand\b", usage, re.I):
                    problems.append(f"`{' '.join(command)}` has no command {word}")
                positional = True
            index += 1
        if not self.help(command).strip():
            problems.append(f"`{' '.join(command)} --help` printed nothing")
        return problems

    # -- the README ---------------------------------------------------------------------------

    def references(self, readme: str) -> list[Reference]:
        found = [Reference("command", c.code, c.text) for c in bash_commands(readme)]
        for span in code_spans(readme):
            first = span.split()[0] if span.split() else ""
            if re.fullmatch(r"@?[A-Za-z_][\w.]*\(.*\)", span) or span.startswith("from "):
                found.append(Reference("code", span, span))
            elif re.fullmatch(r"[\w./-]+\.py:\w+", span):
                found.append(Reference("code", span, span))
            elif first in EXECUTABLES or ASSIGNMENT.match(first) and len(span.split()) > 1:
                found.append(Reference("command", span, span))
            elif (m := ENV_NAME.match(span)):
                found.append(Reference("variable", m.group(1), span))
            elif re.fullmatch(r"[a-z_]+: \S.*|\[[\w.]+\]", span):
                found.append(Reference("config", span, span))
            elif re.fullmatch(r"(FROM|COPY|USER|STOPSIGNAL|CMD|ENV|WORKDIR|EXPOSE) \S.*", span):
                found.append(Reference("dockerfile", span, span))
            elif re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", span):
                found.append(Reference("name", span, span))
            elif self.is_path_claim(span):
                found.append(Reference("file", span, span))
        return found

    def problem(self, reference: Reference) -> list[str]:
        if reference.kind == "command":
            return self.command_problems(reference.text)
        check = {"code": self.code_problem, "config": self.config_problem, "name": self.name_problem,
                 "variable": self.variable_problem, "file": self.file_problem,
                 "dockerfile": self.dockerfile_problem}[reference.kind]
        problem = check(reference.text)
        return [problem] if problem else []


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def anchor(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", title.strip().lower()).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    found, fenced = set(), False
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (match := re.match(r"^#{1,6}\s+(.*?)\s*$", line)):
            found.add(anchor(match.group(1)))
    return found


def link_problems(project: Path, document: str, markdown: str) -> list[str]:
    """The links of a Markdown file of the project (relative to its folder) that lead nowhere."""
    problems, fenced = [], False
    folder = (project / document).parent
    for line in markdown.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced:
            continue
        for target in LINK.findall(line):
            if re.match(r"^[a-z]+:", target):
                continue  # https:, mailto:
            path, _, fragment = target.partition("#")
            linked = (folder / path).resolve() if path else project / document
            if not linked.exists():
                problems.append(f"links to {target}: no such file")
            elif fragment and linked.suffix == ".md" and fragment not in anchors(linked.read_text()):
                problems.append(f"links to {target}: {linked.name} has no heading #{fragment}")
    return problems


def false_references(project: Path, path: list[Path], readme: str | None = None) -> list[str]:
    """Every reference of the project's README and docs/*.md (or of `readme` instead of the
    README) that is not true of the project, as 'README.md shows X: what is wrong'. path: folders
    searched first for executables (the project's virtualenv, the test tools)."""
    checker = Checker(project, path)
    texts = documents(project)
    if readme is not None:
        texts["README.md"] = readme
    references = {name: checker.references(text) for name, text in texts.items()}
    checker.prefetch_prefect_help([r.text for found in references.values() for r in found
                                   if r.kind == "command"])
    found = []
    for name, text in texts.items():
        found += [f"{name} shows `{reference.where}`: {problem}"
                  for reference in references[name] for problem in checker.problem(reference)]
        found += [f"{name} {problem}" for problem in link_problems(project, name, text)]
    return list(dict.fromkeys(found))  # each once, in the documents' order
