"""The template repository's own house rules."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from support.commands import run
from support.template import COOKIECUTTER_JSON, TEMPLATE_DIR


def test_every_prompt_has_a_human_readable_question():
    prompts = COOKIECUTTER_JSON["__prompts__"]
    questions = [key for key in COOKIECUTTER_JSON if not key.startswith("_")]
    assert sorted(prompts) == sorted(questions)


def test_the_default_prefect_release_generates_offline_from_the_record():
    """The prompt's default is a release the template has on record (hooks/prefect-releases.json)."""
    record = json.loads((TEMPLATE_DIR / "hooks" / "prefect-releases.json").read_text())
    assert COOKIECUTTER_JSON["_prefect_default"] in [row[0] for row in record["projects"]["prefect"]]


def test_the_template_code_is_lint_free():
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    result = run([ruff, "check", "--no-cache", "hooks", "tests", "benchmarks"], cwd=TEMPLATE_DIR,
                 check=False)
    assert result.returncode == 0, result.output
