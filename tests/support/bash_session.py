"""One bash session that a test feeds command by command, as a person types them in a terminal.

State carries over from one command to the next (`source .venv/bin/activate`, `export`, `cd`).
Each command's output goes to a log file of its own; a command can run in the background, like
one a person starts "in a terminal of its own", and is stopped when the session closes.
"""

from __future__ import annotations

import os
import selectors
import shlex
import signal
import subprocess
import time
from pathlib import Path


class BashSession:
    """A bash process fed one command at a time; each command's output goes to a log file of its
    own. Job control is on (`set -m`), so each background command is a process group that can be
    stopped alone; everything the session started shares its session id, for the final sweep."""

    MARK = "__journey_exit__"

    def __init__(self, cwd: Path, env: dict, logs: Path):
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        self.background: list[int] = []
        self.count = 0
        self.buffer = b""
        self._send("set -m\n")

    def _send(self, text: str) -> None:
        self.process.stdin.write(text.encode())
        self.process.stdin.flush()

    def _read_mark(self, timeout: float) -> str:
        """The value after the next MARK line bash prints; raise TimeoutError after timeout."""
        deadline = time.monotonic() + timeout
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        try:
            while True:
                for line in self.buffer.split(b"\n")[:-1]:
                    if line.startswith(self.MARK.encode()):
                        self.buffer = self.buffer.split(line + b"\n", 1)[1]
                        return line.decode().split(" ", 1)[1]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                if selector.select(remaining):
                    chunk = os.read(self.process.stdout.fileno(), 65536)
                    if not chunk:
                        raise RuntimeError("bash ended")
                    self.buffer += chunk
        finally:
            selector.close()

    def _log(self) -> Path:
        self.count += 1
        return self.logs / f"{self.count:02d}.log"

    def run(self, command: str, timeout: float) -> tuple[int | None, Path]:
        """Run command in the foreground; (exit status, log), status None after a timeout (the
        session is then ended: what it ran can no longer be trusted)."""
        log = self._log()
        self._send(f"{{ {command}\n}} </dev/null >{shlex.quote(str(log))} 2>&1; "
                   f"echo \"{self.MARK} $?\"\n")
        try:
            return int(self._read_mark(timeout)), log
        except TimeoutError:
            self.close()
            return None, log

    def start(self, command: str) -> tuple[int, Path]:
        """Start command in the background: (its process group, log)."""
        log = self._log()
        self._send(f"{{ {command}\n}} </dev/null >{shlex.quote(str(log))} 2>&1 &\n"
                   f"echo \"{self.MARK} $!\"\n")
        group = int(self._read_mark(30))
        self.background.append(group)
        return group, log

    @staticmethod
    def group_alive(group: int) -> bool:
        try:
            os.killpg(group, 0)
            return True
        except ProcessLookupError:
            return False

    def stop(self, group: int, grace: float = 10) -> None:
        """SIGINT (Ctrl-C, which Prefect's servers and workers stop on), then SIGTERM, SIGKILL."""
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and self.group_alive(group):
                time.sleep(0.2)
            if not self.group_alive(group):
                return

    def close(self) -> None:
        for group in reversed(self.background):
            self.stop(group)
        if self.process.poll() is None:
            try:
                self._send("exit\n")
                self.process.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
        # Whatever is left of this session (a foreground command cut short by a timeout).
        session = self.process.pid
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session:  # fields after the name: state, ppid, pgrp, session
                try:
                    os.kill(int(stat.parent.name), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
