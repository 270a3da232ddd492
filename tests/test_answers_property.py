"""Every answer is safe in every file: property-based tests over the prompts' answers.

Hypothesis draws answer sets (tests/support/answer_strategies.py): awkward text in every free-text prompt,
with every supported combination of choices. Each set is baked through cookiecutter's real code
path and the project must be sound (tests/support/project_checks.py): every Python file compiles and
imports (in an interpreter that has the line's Prefect), pyproject.toml and the YAML files hold
the answers exactly, hadolint passes, and the README has the structure of a plain bake with the
answers as its text. An answer that no file can hold is refused by the pre-gen hook, with a
message that names the prompt.

Reproducible: each shard has a fixed seed and no example database, so CI runs the same examples
every time. The nightly run (`CPD_NIGHTLY=1 pytest -m nightly tests/test_answers_property.py`)
draws many more, from a seed that changes every day (or CPD_HYPOTHESIS_SEED), and prints it.
"""

from __future__ import annotations

import datetime
import itertools
import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest
from conftest import NIGHTLY
from cookiecutter.exceptions import FailedHookException
from hypothesis import HealthCheck, Phase, given, seed, settings

from support.answer_strategies import (
    CHOICES,
    FREE_TEXT,
    acceptable_answers,
    choice_combinations,
    combination_id,
    rendered_answers,
    unsafe_answers,
)
from support.bake_paths import Outcome, bake_with_extra_context, bake_with_replay, typed_context
from support.commands import find_python, run, venv_python
from support.digests import tree_digest
from support.project_checks import Importer, assert_project_is_sound
from support.template import COOKIECUTTER_JSON, PREFECT_LINES, prefect_line

COMBINATIONS = choice_combinations()
# The property runs in shards (xdist spreads tests, not examples), each over a slice of the
# combinations; each combination is baked at least once (check_answer_sets).
SHARDS = 8
EXAMPLES_PER_SHARD = 15  # 120 generated answer sets per run (the nightly run: 4,000)
NIGHTLY_EXAMPLES_PER_SHARD = 500
UV = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
# The interpreter each Prefect line's importer runs on: the first of these the line supports.
IMPORTER_PYTHONS = ("3.11", "3.9")


def property_settings(examples: int) -> settings:
    """No example database (each run draws the same examples from its seed), no deadline (a bake
    takes about a second), and no shrinking unless CPD_HYPOTHESIS_SHRINK=1: shrinking a failure
    re-bakes for up to five minutes per test; the failing example is printed either way."""
    shrink = [Phase.shrink] if os.environ.get("CPD_HYPOTHESIS_SHRINK") == "1" else []
    return settings(max_examples=examples, deadline=None, database=None, print_blob=True,
                    phases=[Phase.explicit, Phase.generate, *shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                           HealthCheck.data_too_large])


# ---------------------------------------------------------------------------------------------
# One virtualenv and one long-lived importer per Prefect line
# ---------------------------------------------------------------------------------------------

def importer_python(line: dict) -> str:
    low, high = (tuple(map(int, v.split("."))) for v in line["python"])
    return next(p for p in IMPORTER_PYTHONS if low <= tuple(map(int, p.split("."))) <= high)


def make_importer_venv(line: dict, path: Path) -> None:
    """A virtualenv with everything any generated project of this line imports: the line's Prefect
    and all of its requirements (Docker, Dask, Kubernetes, tests), locked as the project locks
    (`uv lock`, as of its exclude-newer day) and installed from that lock, without the project."""
    python = importer_python(line)
    answers = {"prefect_version": line["newest"], "python_version": python, "work_pool_type": "docker",
               "task_runner": "dask" if line["api"] >= 2 else "default", "lock_requirements": "no"}
    outcome = bake_with_extra_context(answers, path / "bake")
    assert outcome.project, outcome.errors
    requirements = outcome.project / "requirements.txt"
    pinned = requirements.read_text()
    extra = [pin for kind, pin in line["requirements"].items() if kind != "test" and pin not in pinned]
    requirements.write_text(pinned.rstrip("\n") + "\n" + "".join(f"{pin}\n" for pin in extra))
    env = dict(os.environ, PATH=f"{Path(UV).parent}{os.pathsep}{os.environ['PATH']}")
    run([UV, "venv", "--quiet", "--python", find_python(python), path / "venv"], env=env)
    # (The project itself is left out: every baked project's package has the same name.)
    run([UV, "sync", "--quiet", "--no-install-project", "--python", find_python(python)], cwd=outcome.project,
        env={**env, "UV_PROJECT_ENVIRONMENT": str(path / "venv")}, timeout=1200)


@pytest.fixture(scope="session")
def importers(once, tmp_path_factory):
    """importers(prefect_version) -> the Importer for that version's line, started on first use."""
    started: dict[str, Importer] = {}
    logs = tmp_path_factory.mktemp("importers")

    def importer_for(prefect_version: str) -> Importer:
        line = prefect_line(prefect_version)
        if line["series"] not in started:
            venv = once(f"importer-{line['series']}{line['newest']}",
                        lambda path: make_importer_venv(line, path)) / "venv"
            home = logs / f"prefect-home-{line['series']}"
            env = dict(os.environ, PREFECT_HOME=str(home), PYTHONDONTWRITEBYTECODE="1")
            started[line["series"]] = Importer(venv_python(venv), logs / f"{line['series']}log", env)
        return started[line["series"]]

    yield importer_for
    for importer in started.values():
        importer.close()


# ---------------------------------------------------------------------------------------------
# The property
# ---------------------------------------------------------------------------------------------

# The answers issue 7 reported (a description ending in a quote broke the package), with more of
# their kind: a combination of choices that no drawn answer set had is baked with these.
ISSUE_7_ANSWERS = {"project_name": "Sales \"Q3\" *Pipeline* <b>#1</b>",
                   "description": 'Moves data for "sales"',
                   "author_name": "Zoë O'Brien \\ \"Jr\"", "author_email": "zoe.o'brien@example.com"}


def check_answer_sets(combinations, examples: int, shard_seed: int, importers, workroot: Path):
    """Bake every answer set hypothesis draws; each must give a sound project. Then bake, with the
    answers of issue 7, the first combination and each combination that no drawn set had."""
    counter, seen = itertools.count(), set()

    def bakes_a_sound_project(answers):
        seen.add(combination_id(answers))
        workdir = workroot / f"example-{next(counter)}"
        outcome = bake_with_replay(answers, workdir)
        assert outcome.exception is None, f"refused: {outcome.exception!r}\n{outcome.errors}"
        context = outcome.context
        for key, value in answers.items():  # the answers, as typed, are the project's answers
            assert context[key] == value, key
        assert_project_is_sound(outcome.project, context, importers(context["prefect_version"]))
        shutil.rmtree(workdir)

    property_settings(examples)(seed(shard_seed)(given(answers=acceptable_answers(combinations))(
        bakes_a_sound_project)))()
    for combination in combinations:
        if combination_id(combination) not in seen or combination is combinations[0]:
            bakes_a_sound_project(combination | ISSUE_7_ANSWERS)


@pytest.mark.parametrize("shard", range(SHARDS))
def test_every_acceptable_answer_set_bakes_a_sound_project(shard, importers, tmp_path):
    check_answer_sets(COMBINATIONS[shard::SHARDS], EXAMPLES_PER_SHARD, shard, importers, tmp_path)


@pytest.mark.nightly
@pytest.mark.skipif(not NIGHTLY, reason="the nightly run (CPD_NIGHTLY=1) draws many more examples")
@pytest.mark.parametrize("shard", range(SHARDS))
def test_nightly_many_more_answer_sets_bake_sound_projects(shard, importers, tmp_path):
    day_seed = int(os.environ.get("CPD_HYPOTHESIS_SEED", datetime.date.today().strftime("%Y%m%d")))
    print(f"CPD_HYPOTHESIS_SEED={day_seed} reproduces this run")
    check_answer_sets(COMBINATIONS[shard::SHARDS], NIGHTLY_EXAMPLES_PER_SHARD, day_seed * SHARDS + shard,
                      importers, tmp_path)


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------

def left_behind(workdir: Path) -> list[Path]:
    """What a refused bake left in its work directory, beside the test's own files. (For a
    project_slug that is a path, cookiecutter makes the folders above the project's before the
    hook runs; the hook removes them just after cookiecutter removes the project's: wait for it.)"""
    ours = {workdir / "user", workdir / "replay-in"}
    deadline = time.monotonic() + 10
    while True:
        left = [path for path in workdir.rglob("*") if path != workdir / "out"
                and not any(path == mine or mine in path.parents for mine in ours)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def assert_refused_naming(outcome: Outcome, prompt: str, workdir: Path) -> None:
    assert isinstance(outcome.exception, FailedHookException), (outcome.exception, outcome.project)
    assert "ERROR:" in outcome.errors
    named = [line for line in outcome.errors.splitlines() if line.startswith(f"ERROR: {prompt} ")]
    assert named, f"no message names {prompt}:\n{outcome.errors}"
    assert "Traceback" not in outcome.errors, outcome.errors
    assert not left_behind(workdir), f"a half-made project was left behind: {left_behind(workdir)}"


def check_refusals(cases, bake, examples: int, shard_seed: int, tmp_path: Path) -> None:
    """Every drawn (answers, prompt) baked the given way is refused, naming its prompt."""
    counter = itertools.count()

    @property_settings(examples)
    @seed(shard_seed)
    @given(case=cases)
    def refused(case):
        answers, prompt = case
        workdir = tmp_path / f"example-{next(counter)}"
        assert_refused_naming(bake(answers, workdir), prompt, workdir)
        shutil.rmtree(workdir)

    refused()


@pytest.mark.parametrize("shard", range(2))
def test_an_answer_no_file_can_hold_is_refused_naming_its_prompt(shard, tmp_path):
    check_refusals(unsafe_answers(COMBINATIONS[shard::2]), bake_with_replay, 60, 1000 + shard, tmp_path)


# ---------------------------------------------------------------------------------------------
# The ways of answering, and what "the answer" is in each (tests/support/bake_paths.py)
# ---------------------------------------------------------------------------------------------

def test_typed_answers_give_the_context_cookiecutter_records(tmp_path):
    """bake_paths.typed_context builds what cookiecutter's own prompt loop builds."""
    answers = {"project_name": "Sales Flows", "description": "Moves data", "lock_requirements": "no",
               "python_version": "3.11", "task_runner": "dask"}
    recorded = bake_with_extra_context(answers, tmp_path).context
    typed = typed_context(answers)
    assert {k: v for k, v in recorded.items() if k in typed} == dict(typed)


def test_answers_without_jinja_make_the_same_project_typed_or_as_extra_context(tmp_path):
    """Text with no Jinja marker is its own rendering: both ways give the same project."""
    counter = itertools.count()

    @property_settings(25)
    @seed(2000)
    @given(answers=acceptable_answers(COMBINATIONS))
    def same_project(answers):
        typed = bake_with_replay(answers, tmp_path / f"typed-{next(counter)}")
        given_as_context = bake_with_extra_context(answers, tmp_path / f"context-{next(counter)}")
        assert typed.project and given_as_context.project, (typed.errors, given_as_context.errors)
        assert tree_digest(typed.project) == tree_digest(given_as_context.project)

    same_project()


def test_extra_context_that_jinja_renders_into_another_value_is_refused(tmp_path):
    """`--no-input description='{{ cookiecutter.project_name }} flows'`: cookiecutter renders it to
    'Sales flows' before the hooks see it, and keeps it as given in `_cookiecutter`; the hook
    compares the two and refuses, rather than write a value the user did not write."""
    outcome = bake_with_extra_context({"lock_requirements": "no", "project_name": "Sales",
                                       "description": "{{ cookiecutter.project_name }} flows"}, tmp_path)
    assert_refused_naming(outcome, "description", tmp_path)
    assert "made it 'Sales flows'" in outcome.errors


@pytest.mark.parametrize("shard", range(2))
def test_extra_context_with_jinja_syntax_is_refused_naming_its_prompt(shard, tmp_path):
    check_refusals(rendered_answers(COMBINATIONS[shard::2]), bake_with_extra_context, 20, 3000 + shard,
                   tmp_path)


def test_extra_context_giving_a_default_expression_as_it_stands_still_bakes(tmp_path):
    """project_slug's and image_name's defaults are Jinja: given as they stand, they are no answer."""
    answers = {key: COOKIECUTTER_JSON[key] for key in ("project_slug", "package_name", "image_name",
                                                       "base_image", "prefect_version")}
    outcome = bake_with_extra_context({"lock_requirements": "no", **answers}, tmp_path)
    assert outcome.project, outcome.errors
    assert outcome.context["project_slug"] == "my-data-workflow"


def test_a_path_too_long_for_the_file_system_is_refused_before_any_file(tmp_path):
    """The deepest path the project holds (src/<package_name>/components/...) joined to the output
    directory beyond PATH_MAX: refused, naming package_name, before cookiecutter writes a file."""
    path_max = os.pathconf(tmp_path, "PC_PATH_MAX")
    workdir = tmp_path
    while len(os.fsencode(str(workdir))) < path_max - 250:
        workdir = workdir / ("d" * 200)
    workdir.mkdir(parents=True)
    outcome = bake_with_extra_context({"lock_requirements": "no", "package_name": "p" * 200}, workdir)
    assert_refused_naming(outcome, "package_name", workdir)
    assert f"fewer than {path_max}" in outcome.errors


def interactive_cookiecutter(tmp_path: Path, typed: dict) -> tuple[int, str, Path]:
    """The `cookiecutter` command, answered line by line on its standard input as a user types:
    the text for a free-text prompt, the number of the option for a choice, nothing for a default."""
    lines = []
    for key in [k for k in typed_context({}) if not k.startswith("_")]:
        if key in CHOICES:
            lines.append(str(CHOICES[key].index(typed[key]) + 1) if key in typed else "")
        else:
            lines.append(typed.get(key, ""))
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({"cookiecutters_dir": str(tmp_path / "cc"),
                                  "replay_dir": str(tmp_path / "replay")}))
    output = tmp_path / "out"
    result = run([sys.executable, "-m", "cookiecutter", Path(__file__).parents[1], "--output-dir", output,
                  "--config-file", config], input="\n".join(lines) + "\n", check=False, timeout=300)
    return result.returncode, result.output, output


def test_a_typed_answer_is_kept_literally_and_a_jinja_marker_in_it_is_refused(tmp_path):
    code, output, out = interactive_cookiecutter(tmp_path, {
        "description": "Moves {{ 7*7 }} rows", "lock_requirements": "no"})
    assert code != 0 and "ERROR: description 'Moves {{ 7*7 }} rows'" in output, output
    assert not any(out.iterdir())


def test_a_typed_answer_with_quotes_makes_a_package_that_imports(tmp_path, importers):
    typed = {"project_name": 'Sales "Q3" Pipeline\'s', "description": 'Moves data for "sales"',
             "author_name": "Zoë O'Brien \\ \"Jr\"", "lock_requirements": "no"}
    code, output, out = interactive_cookiecutter(tmp_path, typed)
    assert code == 0, output
    [project] = out.iterdir()
    context = json.loads((tmp_path / "replay" / f"{Path(__file__).parents[1].name}.json").read_text())
    context = context["cookiecutter"]
    assert {k: context[k] for k in typed} == typed
    assert_project_is_sound(project, context, importers(context["prefect_version"]))


def test_no_free_text_prompt_is_left_out_of_the_strategies():
    prompts = [k for k, v in typed_context({}).items() if not k.startswith("_") and k not in CHOICES
               and k != "prefect_version"]
    assert sorted(prompts) == sorted(FREE_TEXT)
    assert len(COMBINATIONS) == len({combination_id(c) for c in COMBINATIONS})
    assert {c["prefect_version"] for c in COMBINATIONS} == {line["newest"] for line in PREFECT_LINES}


# ---------------------------------------------------------------------------------------------
# Failures that happen inside cookiecutter before any hook runs: beyond the template's reach.
# (A pre_prompt hook runs earlier, but it sees neither the extra context nor the answers.)
# ---------------------------------------------------------------------------------------------

def test_a_choice_not_in_the_list_is_refused_by_cookiecutter_before_any_hook(tmp_path):
    """generate_context checks extra context against the choices; the CLI prints this message
    under a traceback. Typed answers cannot miss: the prompt asks again."""
    outcome = bake_with_extra_context({"python_version": "2.7", "lock_requirements": "no"}, tmp_path)
    assert isinstance(outcome.exception, ValueError)
    assert "2.7 provided for choice variable python_version, but the choices are" in str(outcome.exception)
    assert outcome.project is None and not any((tmp_path / "out").iterdir())


def test_an_explicit_slug_too_long_for_a_file_name_fails_in_cookiecutter_before_any_hook(tmp_path):
    """cookiecutter creates the project directory before the pre-gen hook runs. The derived slug is
    cut to 63 characters; an explicit one of more than 255 bytes fails here, with the OS's error."""
    outcome = bake_with_extra_context({"project_slug": "a" * 256, "lock_requirements": "no"}, tmp_path)
    assert isinstance(outcome.exception, OSError) and "File name too long" in str(outcome.exception)
    assert not any((tmp_path / "out").iterdir())


def test_jinja_syntax_in_extra_context_fails_in_cookiecutter_before_any_hook(tmp_path):
    """Extra context is rendered before the hooks see it: broken Jinja in it fails there."""
    outcome = bake_with_extra_context({"description": "{{ rows", "lock_requirements": "no"}, tmp_path)
    assert type(outcome.exception).__name__ == "TemplateSyntaxError"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
