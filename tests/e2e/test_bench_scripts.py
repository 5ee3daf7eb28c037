"""The benchmark scripts still run against the code: each is run briefly, as a process, and
must check its own data. (They reach into the writer by name, so a rename would otherwise only
show the next time someone measures.) Figures are not judged here: bench/ prints them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def run_bench(script: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, f"{script} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.slow
def test_writer_phases_times_every_load_and_leaves_a_ledger_that_verifies(
    pg_admin_url: str, tmp_path: Path
) -> None:
    out = run_bench(
        "writer_phases.py",
        *("--seconds", "0.3", "--warmup", "0.1", "--threads", "4", "--accounts", "4"),
        *("--batch-size", "50", "--pg-url", pg_admin_url, "--sqlite-dir", str(tmp_path)),
    )
    rows = [line for line in out.splitlines() if "wall ms:" in line or "whole call" in line]
    for load in ("raw 1/commit", "one-step", "4 acc", "1 hot acc", "batch 50"):
        mine = [row for row in rows if row.startswith(f"  {load} ")]
        assert len(mine) == 2, out  # a row on SQLite and one on PostgreSQL
    assert out.count("ok=True") == 2, out
    assert out.count("-> match") == 2, out
    sqlite = out.split("== PostgreSQL ==")[0]
    frames = [
        line.split("wall ms:")[0].split()[-1]
        for line in sqlite.splitlines()
        if "wall ms:" in line and not line.startswith("  load ")
    ]
    assert frames and all(float(f) > 0 for f in frames), sqlite  # pages per commit, counted


@pytest.mark.slow
def test_the_ledger_benchmark_checks_its_rows_on_both_databases(
    pg_admin_url: str, tmp_path: Path
) -> None:
    out = run_bench(
        "ledger.py",
        *("--seconds", "0.3", "--rounds", "1", "--warmup", "0.1", "--threads", "4"),
        *("--accounts", "4", "--batch-size", "50", "--raw-txn-size", "10"),
        *("--pg-url", pg_admin_url, "--sqlite-dir", str(tmp_path)),
    )
    assert "SQLite: data OK" in out, out
    assert "PostgreSQL: data OK" in out, out
