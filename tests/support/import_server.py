"""Import a generated project's Python files, fresh, on request: one long-lived interpreter per
Prefect line, so that hundreds of projects do not each pay for importing Prefect.

Runs under the Python of a virtualenv that has the line's Prefect and the project's other
requirements (standard library only here). Protocol: one JSON request per line on stdin,
{"project": "<path>", "package": "<name>"}; one JSON reply per line, {"errors": [...]}, on the
original stdout. What the imported code prints goes to stderr.

Every module of the package is imported by name from <project>/src (as the installed package is),
then every file of workflow/ and tests/ by path (as `python workflow/flow.py` and pytest load
them). Afterwards the project's modules are dropped, so the next project's package of the same
name is imported anew.
"""

import importlib
import importlib.util
import json
import os
import sys
import traceback
from pathlib import Path


def drop(prefixes):
    for name in list(sys.modules):
        if any(name == p or name.startswith(p + ".") for p in prefixes):
            del sys.modules[name]


def import_project(project: Path, package: str) -> list:
    errors = []
    src = project / "src"
    sys.path.insert(0, str(src))
    importlib.invalidate_caches()
    drop([package])
    loaded = [package]
    try:
        for path in sorted((src / package).rglob("*.py")):
            parts = path.relative_to(src).with_suffix("").parts
            module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            try:
                importlib.import_module(module)
            except BaseException:
                errors.append(f"{path.relative_to(project)}:\n{traceback.format_exc()}")
        for folder in ("workflow", "tests"):
            for path in sorted((project / folder).glob("*.py")):
                name = f"generated_{folder}_{path.stem}"
                loaded.append(name)
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    errors.append(f"{path.relative_to(project)}:\n{traceback.format_exc()}")
    finally:
        sys.path.remove(str(src))
        drop(loaded)
    return errors


def main() -> None:
    # Imported code may print (even from C or a subprocess): file descriptor 1 goes to stderr,
    # and the replies keep a descriptor of their own.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    for request in sys.stdin:
        request = json.loads(request)
        errors = import_project(Path(request["project"]), request["package"])
        replies.write(json.dumps({"errors": errors}) + "\n")
        replies.flush()


if __name__ == "__main__":
    main()
