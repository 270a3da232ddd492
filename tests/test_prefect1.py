"""The article's own system: a Prefect 0.15 / 1.x project, locked as of its pins' release day,
built into an image that installs exactly that lock, where the flow runs and where a registered
run (DockerRun + script-based Local storage) finds the flow.

The oldest line (0.15) runs on Python 3.9 (the newest Python of its day). The newest Prefect 1
runs on Python 3.11: the newest Python the template allows for Prefect 1, so this is the test of
that upper bound (on 3.9 it is installed and tested on the host in test_lock.py). Its README
journeys (install, test, run; build and run the image) are in test_journeys.py; what they cannot
run without a Prefect 1 backend, registration and an agent's run, is imitated here.
"""

from __future__ import annotations

import pytest
from packaging.version import Version

from support.answer_sets import PREFECT015, PREFECT1_IMAGES
from support.commands import UV, run
from support.containers import run_in
from support.lockfiles import (
    INSTALLED_VERSIONS_SCRIPT,
    MARKER_ENVIRONMENT_SCRIPT,
    last_json_line,
    locked_versions,
)
from support.project_names import project_name

# What `prefect register -p workflow/flow.py` does with the flow file, minus the backend, and then
# what the run's container does: rebuild the storage from the registered metadata and load the flow
# from the path it names. FLOW_IMAGE changes the image the run config names.
REGISTER_AND_RUN_AS_AN_AGENT = """
import json, os, runpy, sys
import prefect
from prefect.serialization.storage import StorageSchema

flow = runpy.run_path("workflow/flow.py", run_name="registering")["flow"]
flow.storage.add_flow(flow)
registered = flow.serialize(build=False)
storage = StorageSchema().load(registered["storage"])
state = storage.get_flow(flow.name).run(parameters={"n": 4})
os.environ["FLOW_IMAGE"] = "registry.example.com/flows:0.1.0"
overridden = runpy.run_path("workflow/flow.py", run_name="registering")["flow"]
print(json.dumps({
    "prefect": prefect.__version__, "python": "%d.%d" % sys.version_info[:2],
    "run_config": registered["run_config"]["type"], "image": registered["run_config"]["image"],
    "labels": sorted(registered["run_config"].get("labels") or []) + sorted(flow.storage.labels),
    "storage": registered["storage"]["type"], "flows": registered["storage"]["flows"],
    "succeeded": state.is_successful(), "overridden_image": overridden.run_config.image,
}))
"""


@pytest.fixture(scope="module", params=list(PREFECT1_IMAGES), ids=list(PREFECT1_IMAGES))
def built(request, bake_shared, base_image, project_image):
    answers = PREFECT1_IMAGES[request.param]
    base_image(answers["python_version"])  # the local base image must exist
    project = bake_shared(**answers)
    # The classic builder, as the README's `docker build` here: the journeys' layers.
    return answers, project, project_image(project, "classic")


# The newest Prefect 1's image runs the flow in its README journey (test_journeys.py).
@pytest.mark.parametrize("built", [f"prefect-{PREFECT015}-py3.9"], indirect=True)
def test_python_workflow_flow_py_runs_the_flow_in_the_image(built):
    _, _, image = built
    result = run_in(image, "python", "workflow/flow.py")  # raises with the output on a non-zero exit
    assert "Flow run SUCCESS: all reference tasks succeeded" in result.output
    assert "Flow run succeeded: total = 110" in result.output


def test_a_registered_run_loads_the_flow_from_the_image(built):
    answers, project, image = built
    report = last_json_line(run_in(image, "python", "-c", REGISTER_AND_RUN_AS_AN_AGENT).output)
    assert report["prefect"] == answers["prefect_version"]
    assert report["python"] == answers["python_version"]
    assert report["run_config"] == "DockerRun"
    assert report["image"] == f"{project_name(project)}:latest"  # the image the README builds
    assert report["overridden_image"] == "registry.example.com/flows:0.1.0"
    assert report["storage"] == "Local"
    assert report["flows"] == {project_name(project): "/app/workflow/flow.py"}
    assert report["labels"] == [], "a hostname label would tie the runs to one machine's agent"
    assert report["succeeded"]


def test_the_image_holds_exactly_the_locked_versions(built):
    _, project, image = built
    environment = last_json_line(run_in(image, "python", "-c", MARKER_ENVIRONMENT_SCRIPT).output)
    # What uv.lock holds for the image (no test tools), as pip's requirements: uv's own export.
    exported = run([UV, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-header",
                    "--quiet"], cwd=project).output
    locked = locked_versions(exported, environment)
    installed = last_json_line(run_in(image, "python", "-c", INSTALLED_VERSIONS_SCRIPT).output)
    assert {name: installed.get(name) for name in locked} == locked
    # Nothing else but the project itself (uv's virtualenvs hold no pip).
    assert set(installed) - set(locked) == {project_name(project)}
    # Old pins in requirements.txt alone would have pulled today's versions: these are the lock's.
    assert Version(installed["marshmallow"]).major == 3
