"""Baking a project through each of cookiecutter's ways of taking answers, and what "the answer"
is in each.

- Typed in at the prompts (and replayed: `cookiecutter --replay`, `cookiecutter(template,
  replay=<file>)`): cookiecutter keeps the text literally. The prompt (rich) strips the spaces
  around a typed line, and a typed line holds no line break; a replay file holds any text.
  The answer is the text, exactly.
- Given as extra context (`cookiecutter --no-input key=value`, pytest-cookies, cruft, which
  re-renders the recorded answers on every `cruft update`): cookiecutter renders each value as a
  Jinja template first (cookiecutter/prompt.py, prompt_for_config). The answer is that rendering:
  the text itself when it holds no Jinja marker ({{, {%, {#), less one trailing line break.

Both bake through cookiecutter's own entry point, `cookiecutter.main.cookiecutter`, hooks and all.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import tempfile
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.environment import StrictEnvironment
from cookiecutter.generate import generate_context
from cookiecutter.main import cookiecutter
from cookiecutter.prompt import render_variable
from jinja2 import FileSystemLoader

from support.template import TEMPLATE_DIR


@dataclass
class Outcome:
    project: Path | None  # the generated project, or None when cookiecutter failed
    errors: str  # what the hooks printed to stderr
    exception: BaseException | None
    context: dict  # the rendered answers cookiecutter used (the hooks' `cookiecutter`)


def user_config(directory: Path) -> Path:
    """A cookiecutter user config of the test's own: no replay or clone lands in ~."""
    config = directory / "cookiecutter-config.yaml"
    if not config.exists():
        directory.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps({"cookiecutters_dir": str(directory / "cookiecutters"),
                                      "replay_dir": str(directory / "replay")}))
    return config


@contextmanager
def stderr_captured():
    """Everything written to file descriptor 2 meanwhile (the hooks are subprocesses)."""
    with tempfile.TemporaryFile(mode="w+b") as captured:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(captured.fileno(), 2)
        text: list[str] = []
        try:
            yield text
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text.append(captured.read().decode("utf-8", "replace"))


def typed_context(answers: dict) -> OrderedDict:
    """The context cookiecutter builds when these answers are typed at its prompts, a prompt not
    answered taking its (rendered) default: prompt_for_config's loop, with cookiecutter's own
    environment and render_variable, and the typed text in place of read_user_variable's."""
    context = generate_context(context_file=str(TEMPLATE_DIR / "cookiecutter.json"))
    env = StrictEnvironment(context=context, **context["cookiecutter"].get("_jinja2_env_vars", {}))
    rendered: OrderedDict = OrderedDict()
    for key, raw in context["cookiecutter"].items():
        if key == "__prompts__":
            continue
        if key.startswith("_") and not key.startswith("__"):
            rendered[key] = raw
        elif key in answers:
            assert not isinstance(raw, list) or answers[key] in raw, (key, answers[key])
            rendered[key] = answers[key]
        elif isinstance(raw, list):
            rendered[key] = render_variable(env, raw[0], rendered)
        else:
            rendered[key] = render_variable(env, raw, rendered)
    return rendered


@functools.cache
def project_environment(env_vars: str) -> StrictEnvironment:
    """The Jinja environment cookiecutter's generate_files makes (kept, so that a template is
    compiled once per process; Jinja recompiles it when the file changes)."""
    env = StrictEnvironment(keep_trailing_newline=True, **json.loads(env_vars))
    env.loader = FileSystemLoader(str(TEMPLATE_DIR / "{{cookiecutter.project_slug}}"))
    return env


def render_project_file(relative_path: str, context: dict) -> str:
    """One file of the project template, rendered as cookiecutter's generate_file renders it."""
    env = project_environment(json.dumps(context.get("_jinja2_env_vars", {}), sort_keys=True))
    return env.get_template(relative_path).render(cookiecutter=context)


def bake_with_replay(answers: dict, workdir: Path) -> Outcome:
    """Bake from a replay file holding the answers as typed: cookiecutter keeps them literally."""
    context = typed_context(answers)
    replay = workdir / "replay-in" / "answers.json"
    replay.parent.mkdir(parents=True, exist_ok=True)
    replay.write_text(json.dumps({"cookiecutter": context}))
    return _bake(workdir, replay=str(replay))


def bake_with_extra_context(answers: dict, workdir: Path) -> Outcome:
    """Bake with the answers as extra context (--no-input): cookiecutter renders them first."""
    return _bake(workdir, no_input=True, extra_context=answers)


def _bake(workdir: Path, **how) -> Outcome:
    output = workdir / "out"
    output.mkdir(parents=True, exist_ok=True)
    project, exception = None, None
    with stderr_captured() as errors:
        try:
            project = Path(cookiecutter(str(TEMPLATE_DIR), output_dir=str(output),
                                        config_file=str(user_config(workdir / "user")), **how))
        except Exception as error:  # what a user would see as cookiecutter's failure
            exception = error
    # What cookiecutter rendered, as it records it for --replay before it generates anything
    # (in <replay_dir>/<template or replay file name>.json).
    dumps = list((workdir / "user" / "replay").glob("*.json"))
    context = json.loads(dumps[0].read_text(encoding="utf-8"))["cookiecutter"] if dumps else {}
    return Outcome(project, errors[0], exception, context)
