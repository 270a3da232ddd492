"""Services the deployment tests start: a free port, a background process, an HTTP endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from helpers import CommandFailed, docker


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def http_json(url: str, body=None, timeout: float = 10):
    """GET (or POST body as JSON to) url and return the decoded JSON answer; None when it fails."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (127.0.0.1)
            return json.load(response)
    except (OSError, ValueError, urllib.error.URLError):
        return None


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


def remove_containers(*names: str, label: str | None = None) -> None:
    """docker rm -f the named containers and those carrying label (key=value); ignore missing."""
    ids = list(names)
    if label:
        ids += docker("ps", "-aq", "--filter", f"label={label}", check=False).output.split()
    if ids:
        docker("rm", "-f", *ids, check=False)
