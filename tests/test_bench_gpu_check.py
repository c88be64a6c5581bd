"""bench/gpu_check.sh's CPU smoke run: every benchmark runs and writes its table (the GPU run is the same script)."""

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # compiles a block and a model with inductor on the CPU: minutes on two shared cores
def test_gpu_check_tiny_writes_every_table(tmp_path):
    out = tmp_path / "check"
    result = subprocess.run(["bash", str(REPO / "bench" / "gpu_check.sh"), "--tiny", str(out)], capture_output=True,
                            text=True, timeout=1800, env={**os.environ, "PYTHON": os.environ.get("PYTHON", "python")})
    assert result.returncode == 0, result.stdout + result.stderr
    times = (out / "times.txt").read_text()
    assert times.count("exit 0") == 4, times  # forward, guidance batching, clip, VAE decode
    tables = (out / "tables.md").read_text()
    for title in ("## MMDiT forward", "## Guidance passes per forward", "## Whole clip", "## Wan2.2 VAE decode"):
        assert title in tables
    for row in ("block, compiled", "block, upstream-style", "model, compiled", "text encoding", "tiled"):
        assert row in tables
