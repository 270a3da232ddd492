"""ComponentB: transforms one record (the work that runs in parallel, one task per record)."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ComponentB:
    """Scale a record by factor; work_seconds stands in for real per-record work."""

    factor: int = 2
    work_seconds: float = 0.0

    def run(self, record: int) -> int:
        if self.work_seconds:
            time.sleep(self.work_seconds)
        return record * self.factor
