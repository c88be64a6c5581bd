"""bench/parallel.py runs on CPU with --tiny (the smoke test the GPU benchmark's code path needs)."""

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "parallel.py"


def test_parallel_bench_prints_a_row_per_plan_on_cpu():
    result = subprocess.run([sys.executable, str(BENCH), "--tiny", "--steps", "1"], capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "| 1 | one process |" in result.stdout
    for plan in ("| 2 | CFG 1 x Ulysses 2 |", "| 2 | CFG 2 x Ulysses 1 |"):
        row = next(line for line in lines if line.startswith(plan))
        assert "x |" in row  # a measured speed-up
    assert "| 8 | CFG 4 x Ulysses 2 | not run (--max-world) |" in result.stdout
    assert "one pass alone (s): c " in result.stdout
