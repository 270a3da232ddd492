"""Run the workflow: `python workflow/flow.py`, here or in the image (it is the image's command).

This file only starts the flow, for you and for deployments (prefect.yaml's entrypoint is
workflow/flow.py:main_flow). The flow, its tasks and the components live in the installed package:

    src/my_data_workflow/flows.py
"""

from __future__ import annotations

import os
import signal
import threading

from my_data_workflow.flows import main_flow

__all__ = ["main_flow"]


def exit_promptly_on_interrupt(grace_seconds: float = 3.0) -> None:
    """Make Ctrl-C and `docker stop` (SIGINT, the image's STOPSIGNAL) end the process promptly.

    The interrupt first reaches the flow as KeyboardInterrupt, so Prefect can record it; tasks
    still busy in threads cannot be interrupted, so the process leaves after grace_seconds anyway.
    """

    def on_interrupt(signum, frame):
        timer = threading.Timer(grace_seconds, os._exit, args=(128 + signum,))
        timer.daemon = True
        timer.start()
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_interrupt)


if __name__ == "__main__":
    exit_promptly_on_interrupt()
    main_flow()
