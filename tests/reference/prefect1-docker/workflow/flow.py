"""Run or register the workflow (Prefect 1.4.1).

`python workflow/flow.py` runs the flow here or in the image (it is the image's command);
`prefect register --project <project> -p workflow/flow.py` registers it with a Prefect backend.
This file says how registered runs find the flow: in which image, and where in it. The flow, its
tasks and the components live in the installed package:

    src/my_data_workflow/flows.py
"""

from __future__ import annotations

import os

from prefect.run_configs import DockerRun
from prefect.storage import Local

from my_data_workflow.flows import flow, total

# The image this project builds (see the Dockerfile and the README); FLOW_IMAGE overrides it,
# e.g. with the tag you pushed.
IMAGE = os.environ.get("FLOW_IMAGE", "my-data-workflow:latest")

flow.run_config = DockerRun(image=IMAGE)
# The flow's code travels inside the image: the agent's run loads it from this file there.
# Without add_default_labels=False the flow would carry the registering machine's hostname as a
# label, and only an agent on that machine would run it.
flow.storage = Local(
    path="/app/workflow/flow.py",
    stored_as_script=True,
    add_default_labels=False,
)


if __name__ == "__main__":
    state = flow.run()
    outcome = "succeeded" if state.is_successful() else "failed"
    print(f"Flow run {outcome}: total = {state.result[total].result}")
    raise SystemExit(0 if state.is_successful() else 1)
