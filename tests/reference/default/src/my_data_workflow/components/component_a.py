"""ComponentA: produces the records one run of the workflow works on."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ComponentA:
    """Produce the records 1..n (the stand-in for reading a table, a bucket or an API)."""

    n: int

    def __post_init__(self) -> None:
        if self.n < 0:
            raise ValueError(f"n must be zero or more, not {self.n}")

    def run(self) -> list[int]:
        return list(range(1, self.n + 1))
