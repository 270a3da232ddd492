"""What every generated project must be, whatever the answers were: each check asserts one promise
and says which file broke it.

`context` is the rendered answers cookiecutter used (bake_paths.Outcome.context): the answers
exactly as the project must hold them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from markdown_it import MarkdownIt
from validate_pyproject import api as pyproject_api

from support.bake_paths import render_project_file, typed_context
from support.commands import run

IMPORT_SERVER = Path(__file__).with_name("import_server.py")
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
# CommonMark with GitHub's tables and strikethrough, as GitHub and most editors render a README.
MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])
PYPROJECT_VALIDATOR = pyproject_api.Validator()


def files(project: Path, *suffixes: str) -> list[Path]:
    return sorted(p for p in project.rglob("*") if p.is_file() and p.suffix in suffixes)


# ---------------------------------------------------------------------------------------------
# Python: every file compiles, and imports in an interpreter with the project's Prefect
# ---------------------------------------------------------------------------------------------

def assert_python_compiles(project: Path) -> None:
    for path in files(project, ".py"):
        try:
            compile(path.read_text(encoding="utf-8"), str(path), "exec", dont_inherit=True)
        except SyntaxError as error:
            raise AssertionError(f"{path.relative_to(project)} does not compile: {error}") from None


class Importer:
    """A long-lived import_server.py under `python` (a virtualenv with one Prefect line)."""

    def __init__(self, python: Path, log: Path, env: dict):
        self.log = log
        self._log_file = log.open("a")
        self.process = subprocess.Popen([str(python), "-u", str(IMPORT_SERVER)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self._log_file, text=True,
                                        encoding="utf-8", env=env)

    def import_errors(self, project: Path, package: str) -> list[str]:
        request = json.dumps({"project": str(project), "package": package})
        self.process.stdin.write(request + "\n")
        self.process.stdin.flush()
        reply = self.process.stdout.readline()
        if not reply:
            raise AssertionError(f"the import server died; its log ({self.log}):\n"
                                 f"{self.log.read_text()[-4000:]}")
        return json.loads(reply)["errors"]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)
        self._log_file.close()


def assert_imports(project: Path, context: dict, importer: Importer) -> None:
    errors = importer.import_errors(project, context["package_name"])
    assert not errors, "the project does not import:\n" + "\n".join(errors)


# ---------------------------------------------------------------------------------------------
# TOML and YAML: every file parses, and holds the answers exactly
# ---------------------------------------------------------------------------------------------

def assert_pyproject_holds_the_answers(project: Path, context: dict) -> None:
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    meta = pyproject["project"]
    assert meta["name"] == context["project_slug"]
    assert meta["description"] == context["description"]
    assert meta["authors"] == [{"name": context["author_name"], "email": context["author_email"]}]
    # What setuptools checks before it builds (`pip install .`, the image).
    PYPROJECT_VALIDATOR(pyproject)


def yaml_documents(path: Path) -> list:
    try:
        return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    except yaml.YAMLError as error:
        raise AssertionError(f"{path.name} is not YAML: {error}") from None


def assert_yaml_holds_the_answers(project: Path, context: dict) -> None:
    slug, image = context["project_slug"], context["__image"]
    documents = {path: yaml_documents(path) for path in files(project, ".yaml", ".yml")}
    prefect_yaml = project / "prefect.yaml"
    if prefect_yaml.exists():
        [deployment] = documents[prefect_yaml]
        assert deployment["name"] == slug, "prefect.yaml: name"
        for step in deployment.get("build") or []:
            for name, arguments in step.items():
                if name.endswith("build_docker_image"):
                    assert arguments["image_name"] == image, "prefect.yaml: build_docker_image's image_name"
                    assert arguments.get("platform") == (context.get("__platform") or None), \
                        "prefect.yaml: build_docker_image's platform"
        for entry in deployment["deployments"]:
            assert entry["description"] == context["description"], "prefect.yaml: description"
            namespace = (entry["work_pool"].get("job_variables") or {}).get("namespace")
            assert namespace in (None, slug), "prefect.yaml: the Kubernetes namespace"
    for path, docs in documents.items():
        if "kubernetes" not in path.parts:
            continue
        for document in docs:
            metadata = document["metadata"]
            if document["kind"] == "Namespace":
                assert metadata["name"] == slug, f"{path.name}: the namespace's name"
            else:
                assert metadata.get("namespace") == slug, f"{path.name}: {document['kind']}'s namespace"
            assert metadata.get("labels", {}).get("app.kubernetes.io/part-of", slug) == slug, path.name
    for compose in (project / "deploy" / "docker-compose.dask.yml", project / "compose.yaml"):
        for name, service in (documents[compose][0]["services"].items() if compose.exists() else []):
            # Every service runs the project's own image, built from its Dockerfile.
            build_context = "." if compose.parent == project else ".."
            assert service.get("build") == build_context, f"{compose.name}: {name}"
            assert "image" not in service, f"{compose.name}: {name} names no image of its own"
            # The platform answer's first platform, on every service that builds (none: the engine's own).
            assert service.get("platform") == (context.get("__platform") or None), f"{compose.name}: {name}"
    gitlab = project / ".gitlab-ci.yml"
    if gitlab.exists() and context["__registry"]:
        assert documents[gitlab][0]["variables"]["IMAGE_REPOSITORY"] == image, ".gitlab-ci.yml"
    for path in files(project, ".json"):
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            raise AssertionError(f"{path.relative_to(project)} is not JSON: {error}") from None


# ---------------------------------------------------------------------------------------------
# The Dockerfile: the answer's base image, and hadolint finds nothing
# ---------------------------------------------------------------------------------------------

def assert_dockerfile_is_clean(project: Path, context: dict) -> None:
    dockerfile = (project / "Dockerfile").read_text(encoding="utf-8")
    # Every stage starts from the answer's image (`FROM <image> AS build`, then `FROM <image>`).
    froms = {line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")}
    assert froms == {context["base_image"]}, "Dockerfile: FROM"
    result = run([HADOLINT, "--no-color", "Dockerfile"], cwd=project, check=False)
    assert result.returncode == 0, f"hadolint:\n{result.output}"


# ---------------------------------------------------------------------------------------------
# The README: the same Markdown structure as with plain answers, the answers as its text
# ---------------------------------------------------------------------------------------------

def markdown_structure(text: str) -> list[tuple]:
    """The README's blocks (headings, paragraphs, fences, tables, lists...) and, inside each, the
    kinds of inline elements (text, code, links, emphasis...), runs of text counted as one."""
    structure = []
    for token in MARKDOWN.parse(text):
        if token.type == "inline":
            kinds = []
            for child in token.children or []:
                kind = "text" if child.type in ("text", "text_special") else child.type
                if not (kinds and kind == kinds[-1] == "text"):
                    kinds.append(kind)
            structure.append(("inline", tuple(kinds)))
        else:
            structure.append((token.type, token.tag, token.markup, token.info))
    return structure


def plain_text(inline) -> str:
    kinds = {child.type for child in inline.children}
    assert kinds <= {"text", "text_special"}, f"Markdown markup in plain text: {kinds}"
    return "".join(child.content for child in inline.children)


# Plain answers to the one-line prompts: the README they give is the structure to keep.
PLAIN_TEXT = {"project_name": "Plain Name", "description": "A plain description.",
              "author_name": "Plain Author", "author_email": "plain@example.com"}


def plain_readme_structure(context: dict) -> list[tuple]:
    """The structure of the README rendered from the same answers, with PLAIN_TEXT instead of the
    one-line ones (so every section the other answers gate in or out is there too)."""
    answers = {key: value for key, value in context.items() if not key.startswith("_")} | PLAIN_TEXT
    return markdown_structure(render_project_file("README.md", typed_context(answers)))


def assert_readme_renders(project: Path, context: dict) -> None:
    text = (project / "README.md").read_text(encoding="utf-8")
    structure, reference = markdown_structure(text), plain_readme_structure(context)
    if structure != reference:
        first = next(i for i, (a, b) in enumerate(zip(structure + [None], reference + [None], strict=False))
                     if a != b)
        raise AssertionError(f"README.md's Markdown structure differs from a plain bake's at block "
                             f"{first}: {structure[first:first + 3]} != {reference[first:first + 3]}")
    tokens = MARKDOWN.parse(text)
    h1 = next(i for i, t in enumerate(tokens) if t.type == "heading_open" and t.tag == "h1")
    assert plain_text(tokens[h1 + 1]) == context["project_name"], "README.md: the title"
    assert tokens[h1 + 3].type == "paragraph_open"
    assert plain_text(tokens[h1 + 4]) == context["description"], "README.md: the description"


def assert_project_is_sound(project: Path, context: dict, importer: Importer | None) -> None:
    """Every promise above, for one generated project."""
    assert_python_compiles(project)
    assert_pyproject_holds_the_answers(project, context)
    assert_yaml_holds_the_answers(project, context)
    assert_readme_renders(project, context)
    assert_dockerfile_is_clean(project, context)
    if importer is not None:
        assert_imports(project, context, importer)
