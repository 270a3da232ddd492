"""checkov, the policy scanner, on the generated Dockerfile: it finds nothing unexplained.

Each kind of Dockerfile the template renders is scanned: the default one (python base image, uv
in a build stage), the one on Prefect's own image, and Prefect 1's. A finding is fixed in the
template, or skipped inline there (`# checkov:skip=<id>:<reason>`), and every skip says why.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from conftest import unavailable

from support.answer_sets import DOCKERFILE_SCAN as VARIANTS
from support.checkov_scan import checkov_executable, scan

# The checks the Dockerfile skips, each with the reason it gives.
EXPLAINED = {"CKV_DOCKER_2"}  # HEALTHCHECK: a flow run is a batch job; compose and Kubernetes probe services


def test_checkov_finds_nothing_unexplained_in_the_dockerfiles(offline_project, tmp_path):
    if checkov_executable() is None:
        unavailable("checkov is not installed (tests/run makes .venv-checkov)")
    scanned = tmp_path / "scanned"
    for name, answers in VARIANTS.items():
        dockerfile = offline_project(**answers) / "Dockerfile"
        assert len(dockerfile.read_text().splitlines()) <= 60, name
        (scanned / name).mkdir(parents=True)
        shutil.copy(dockerfile, scanned / name / "Dockerfile")

    results = scan(scanned, "dockerfile")
    failed = [(check["file_path"], check["check_id"], check["check_name"])
              for check in results["failed_checks"]]
    assert failed == [], failed
    scanned_files = {Path(check["file_path"]).parts[1] for check in results["passed_checks"]}
    assert scanned_files == set(VARIANTS), scanned_files
    skipped = {}
    for check in results["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "")
        assert len(reason) > 20 and reason != "No comment provided", check
        skipped.setdefault(check["check_id"], set()).add(Path(check["file_path"]).parts[1])
    assert set(skipped) == EXPLAINED, skipped
    assert all(files == set(VARIANTS) for files in skipped.values()), skipped


def test_checkov_still_finds_what_the_skip_does_not_cover(offline_project, tmp_path):
    """The inline skip names one check only: a Dockerfile weakened on purpose is caught."""
    if checkov_executable() is None:
        unavailable("checkov is not installed (tests/run makes .venv-checkov)")
    weakened = (offline_project() / "Dockerfile").read_text()
    users = [line for line in weakened.splitlines() if line.startswith("USER ")]
    assert users, "the image runs as a user of its own"
    weakened = weakened.replace(users[-1], "USER root")
    (tmp_path / "weakened").mkdir()
    (tmp_path / "weakened" / "Dockerfile").write_text(weakened)
    results = scan(tmp_path / "weakened", "dockerfile")
    failed = {check["check_id"] for check in results["failed_checks"]}
    assert failed == {"CKV_DOCKER_8"}, results["failed_checks"]
    assert {check["check_id"] for check in results["skipped_checks"]} == {"CKV_DOCKER_2"}
