"""The flow, run locally with Prefect 1.4.1's flow.run(), and how it is registered."""

import runpy
from pathlib import Path

from my_data_workflow.flows import extract, flow, load, total

ENTRY_POINT = Path(__file__).resolve().parents[1] / "workflow" / "flow.py"


def test_the_flow_adds_up_the_transformed_records():
    state = flow.run(parameters={"n": 4})
    assert state.is_successful()
    assert state.result[total].result == 2 * (1 + 2 + 3 + 4)


def test_reading_and_writing_are_retried():
    assert extract.max_retries == load.max_retries == 2


def test_registered_runs_load_the_flow_from_the_image():
    entry_point = runpy.run_path(str(ENTRY_POINT))
    registered = entry_point["flow"]
    assert registered.run_config.image == entry_point["IMAGE"]
    assert registered.storage.path == "/app/workflow/flow.py"
    assert registered.storage.stored_as_script
    # No hostname label: an agent on any machine may pick the registered flow's runs up.
    assert not registered.storage.labels
