"""Processes the deployment tests start and wait on: a command in the background, a condition polled."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from support.commands import CommandFailed


def wait_until(condition, timeout: float, what: str, interval: float = 0.5):
    """Poll condition() until it returns something truthy; raise CommandFailed after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise CommandFailed(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


class Background:
    """A command running in its own process group, its output in a log file; stop() ends the
    whole group (a `prefect server start` has a uvicorn child): SIGINT (Prefect's workers and
    servers stop on it; a worker may sit out SIGTERM), then SIGKILL."""

    def __init__(self, args, log: Path, **kwargs):
        self.args = [str(a) for a in args]
        self.log = Path(log)
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT,
                                            start_new_session=True, **kwargs)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, grace: float = 10) -> None:
        import signal

        for sig, wait in ((signal.SIGINT, grace), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(timeout=wait)
                # The leader is gone; make sure no child of it lingers.
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            except subprocess.TimeoutExpired:
                continue
            return
