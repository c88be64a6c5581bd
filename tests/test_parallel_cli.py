"""torchrun runs of `python -m nava_model generate` on the make-tiny models write the latents of one process.

torchrun is run as `python -m torch.distributed.run` (the same program, from this interpreter's torch).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from nava_model.latents import load_latents

PROMPTS = ["rain on a tin roof", "a dog barks twice", "<S>hello there<E> says a man"]
SIZE = ["--width", "64", "--height", "64", "--latent-frames", "2", "--steps", "2"]
RTOL = 1e-5


def _generate(launcher: list[str], *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([*launcher, "-m", "nava_model", "generate", *args], capture_output=True, text=True,
                            timeout=600, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _torchrun(processes: int) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]


def _batch_file(tmp_path):
    path = tmp_path / "batch.jsonl"
    path.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in PROMPTS), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def one_prompt(tiny_models, tmp_path_factory):
    """`generate --prompt` in one plain process: the final latents."""
    latents = tmp_path_factory.mktemp("one-prompt") / "a.safetensors"
    _generate([sys.executable], "--models", str(tiny_models), "--prompt", PROMPTS[0], *SIZE,
              "--output", str(latents.with_suffix(".mp4")), "--latents-out", str(latents))
    return load_latents(latents)


@pytest.fixture(scope="module")
def one_process(tiny_models, tmp_path_factory):
    """The batch in one plain process: each line's final latents."""
    out = tmp_path_factory.mktemp("one-process")
    _generate([sys.executable], "--models", str(tiny_models), "--prompt-file", str(_batch_file(out)), *SIZE,
              "--output", str(out / "clip.mp4"), "--latents-out", str(out / "latents.safetensors"))
    return [load_latents(out / f"latents_{n:04d}.safetensors") for n in range(1, len(PROMPTS) + 1)]


def assert_same(got, expected) -> None:
    for modality in ("video", "audio"):
        a, b = getattr(got, modality), getattr(expected, modality)
        assert (a - b).norm() / b.norm() <= RTOL, modality


@pytest.mark.parametrize(
    "flags",
    [["--sp", "2"], pytest.param(["--cfg-parallel", "2"], marks=pytest.mark.slow)],  # CFG 2: also tests/test_parallel_sampling.py
    ids=["sp2", "cfg2"],
)
def test_torchrun_writes_the_latents_of_one_process(tiny_models, one_prompt, tmp_path, flags):
    latents = tmp_path / "a.safetensors"
    stdout = _generate(_torchrun(2), "--models", str(tiny_models), "--prompt", PROMPTS[0], *SIZE, *flags,
                       "--output", str(tmp_path / "a.mp4"), "--latents-out", str(latents))
    assert_same(load_latents(latents), one_prompt)
    assert stdout.count(f"wrote {latents}") == 1 and stdout.count("step 2/2") == 1  # one rank writes and reports


def test_data_parallel_batch_writes_each_file_once_equal_to_one_process(tiny_models, one_process, tmp_path):
    stdout = _generate(_torchrun(2), "--models", str(tiny_models), "--prompt-file", str(_batch_file(tmp_path)), *SIZE,
                       "--cfg-parallel", "1", "--sp", "1", "--output", str(tmp_path / "clip.mp4"),
                       "--latents-out", str(tmp_path / "latents.safetensors"))
    assert "2 replica(s)" in stdout
    for number, expected in enumerate(one_process, 1):
        latents, clip = tmp_path / f"latents_{number:04d}.safetensors", tmp_path / f"clip_{number:04d}.mp4"
        assert stdout.count(f"wrote {latents}") == 1 and stdout.count(f"wrote {clip}") == 1
        assert_same(load_latents(latents), expected)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".mp4", ".safetensors")) == sorted(
        [f"clip_{n:04d}.mp4" for n in (1, 2, 3)] + [f"latents_{n:04d}.safetensors" for n in (1, 2, 3)]
    )
