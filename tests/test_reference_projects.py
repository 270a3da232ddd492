"""The checked-in reference projects (tests/reference/<variant>/) are exactly what the template
generates now, so a template change and its effect on real projects arrive in the same diff."""

from __future__ import annotations

import pytest

from support.commands import run
from support.reference_projects import REFERENCE_DIR, REGENERATE, VARIANTS, differences, files, generate
from support.template import TEMPLATE_DIR


def test_the_reference_folder_holds_exactly_the_variants():
    folders = sorted(path.name for path in REFERENCE_DIR.iterdir() if path.is_dir())
    assert folders == sorted(VARIANTS), f"tests/reference/ is stale: run `{REGENERATE}`"


def test_git_keeps_every_file_of_the_references():
    """A generated .gitignore applies inside tests/reference/ too: a file it ignores would be
    missing from every clone (and the comparison would fail in CI only)."""
    if not (TEMPLATE_DIR / ".git").exists():
        pytest.skip("not a git checkout")
    names = [str(path) for path in files(REFERENCE_DIR).values()]
    ignored = run(["git", "check-ignore", "--no-index", *names], cwd=TEMPLATE_DIR, check=False).output
    assert ignored == "", f"git ignores these files of the reference projects:\n{ignored}"


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_the_template_generates_the_reference_project(variant, tmp_path):
    project = generate(VARIANTS[variant], tmp_path)
    report = differences(REFERENCE_DIR / variant, project)
    if report:
        pytest.fail(f"The template no longer generates tests/reference/{variant}/:\n{report}\n\n"
                    f"If the change is intended, regenerate the references and commit them with it: "
                    f"`{REGENERATE}`", pytrace=False)
