{%- if cookiecutter.__prefect_api == "1" -%}
"""The flow, run locally with Prefect {{ cookiecutter.prefect_version }}'s flow.run()."""

import importlib.util
from pathlib import Path

FLOW_FILE = Path(__file__).resolve().parents[1] / "workflow" / "flow.py"


def load_flow_module():
    spec = importlib.util.spec_from_file_location("workflow_flow", FLOW_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_flow_adds_up_the_transformed_records():
    module = load_flow_module()
    state = module.flow.run(parameters={"n": 4})
    assert state.is_successful()
    assert state.result[module.total].result == 2 * (1 + 2 + 3 + 4)


def test_registered_runs_load_the_flow_from_the_image():
    module = load_flow_module()
{%- if cookiecutter.work_pool_type in ["docker", "kubernetes"] %}
    assert module.flow.run_config.image == module.IMAGE
{%- endif %}
    assert module.flow.storage.path == "{{ cookiecutter._workdir }}/workflow/flow.py"
    assert module.flow.storage.stored_as_script
    # No hostname label: an agent on any machine may pick the registered flow's runs up.
    assert not module.flow.storage.labels
{%- else -%}
"""The flow, run against a temporary Prefect database (prefect_test_harness)."""

import importlib.util
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

FLOW_FILE = Path(__file__).resolve().parents[1] / "workflow" / "flow.py"


@pytest.fixture(scope="session")
def flow_module():
    spec = importlib.util.spec_from_file_location("workflow_flow", FLOW_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with prefect_test_harness():
        yield module


def test_the_flow_adds_up_the_transformed_records(flow_module):
    result = flow_module.main_flow(n=4)
{%- if cookiecutter.task_runner == "dask" %}
    assert result["total"] == 2 * (1 + 2 + 3 + 4)
    assert result["workers"], "every task reports the Dask worker it ran on"
{%- else %}
    assert result == 2 * (1 + 2 + 3 + 4)
{%- endif %}


def test_the_tasks_call_the_components(flow_module):
    assert flow_module.extract.fn(3) == [1, 2, 3]
{%- if cookiecutter.task_runner == "dask" %}
    assert flow_module.transform.fn(5)[0] == 10
{%- else %}
    assert flow_module.transform.fn(5) == 10
{%- endif %}
    assert flow_module.load.fn([1, 2, 3]) == 6
{%- endif %}
