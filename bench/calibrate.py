"""How fast is this machine right now? A fixed pure-Python workload, best of 5.

    python3 bench/calibrate.py

The figures in docs/benchmarks.md are from a shared VM whose speed moves with its host's load:
the same code measured 1.5-2x apart within an hour with nothing else running. Each run there
names this figure next to it, so two runs can be compared for the machine as well as the code.
Lower is faster. It measures the interpreter on one core only: no disk, no database.
"""

from __future__ import annotations

import time

ROUNDS = 5
ITERATIONS = 200_000
KEYS = 1_000


def workload() -> int:
    totals: dict[int, int] = {}
    for i in range(ITERATIONS):
        key = i % KEYS
        totals[key] = totals.get(key, 0) + i
    return sum(totals.values())


def main() -> None:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        workload()
        best = min(best, time.perf_counter() - started)
    print(f"calibration: {best * 1000:.1f} ms (a fixed Python loop, best of {ROUNDS})")


if __name__ == "__main__":
    main()
