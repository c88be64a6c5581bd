"""Spawned gloo worlds for the parallel tests: one world runs many cases, each rank saves what it got.

Spawning (and importing torch in) a process costs seconds on the 2-core CI machine, so each test module
starts one world per size and runs all its cases in it; the tests then compare the saved results with a
single-process run of the same job computed in the test process.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from nava_model.config import get_preset
from nava_model.mmdit import NavaMMDiT, SpeakerCondition
from nava_model.mmdit.loader import FILE_PREFIX
from nava_model.parallel import ParallelPlan, ParallelRuntime
from nava_model.options import SamplingOptions
from nava_model.pipeline import AVLatent, Conditioning, sample
from nava_model.random_init import random_state_dict, state_dict_shapes
from nava_model.vae.wan22.model import TINY_CONFIG, Wan22VAE, official_shapes

TIMEOUT = datetime.timedelta(seconds=120)


def tiny_mmdit(num_heads: int = 4, dtype: torch.dtype = torch.float32) -> NavaMMDiT:
    """The tiny preset with 4 heads (so Ulysses 4 divides them), seeded weights, fp32 (or fp64)."""
    model = NavaMMDiT(get_preset("tiny", num_heads=num_heads)).eval()
    shapes = {FILE_PREFIX + k: s for k, s in state_dict_shapes(model).items()}
    model.load_state_dict({k.removeprefix(FILE_PREFIX): v for k, v in random_state_dict(shapes, 5).items()})
    model.to(dtype).compute_dtype = dtype
    return model


def tiny_vae() -> Wan22VAE:
    vae = Wan22VAE(TINY_CONFIG).eval()
    vae.load_state_dict(random_state_dict(official_shapes(TINY_CONFIG), 2))
    return vae


def decode_latent() -> torch.Tensor:
    return torch.randn(1, 48, 2, 4, 6, generator=torch.Generator().manual_seed(6))


@dataclass(frozen=True)
class Job:
    """A sampling job at 96x32 px, whose token counts need padding: 25 frames -> 7 latent frames of 3x1
    patches = 21 video tokens and 27 audio tokens; 5 frames -> 6 and 6 (on 4 ranks, the last one holds
    padding only, in both streams)."""

    mode: str = "av"
    frames: int = 25
    voices: int = 2
    first_frame: bool = False
    steps: int = 2
    seed: int = 11

    def options(self) -> SamplingOptions:
        return SamplingOptions(width=96, height=32, frames=self.frames, steps=self.steps, seed=self.seed, mode=self.mode)

    def conditioning(self) -> Conditioning:
        g = torch.Generator().manual_seed(self.seed)
        speaker = None
        if self.voices:
            embeddings = torch.randn(1, self.voices, 192, generator=g)
            speaker = SpeakerCondition(embeddings, torch.tensor([[2, 8][: self.voices]]))
        return Conditioning(
            positive=torch.randn(1, 13, 64, generator=g),
            negative_video=torch.randn(1, 9, 64, generator=g),
            negative_audio=torch.randn(1, 7, 64, generator=g),
            speaker=speaker,
        )

    def first_frame_latent(self) -> torch.Tensor | None:
        if not self.first_frame:
            return None
        return torch.randn(1, 48, 1, 2, 6, generator=torch.Generator().manual_seed(self.seed + 1))

    def run(self, model, parallel: ParallelRuntime | None = None, callback=None) -> AVLatent:
        with torch.no_grad():
            return sample(model, self.conditioning(), self.options(), self.first_frame_latent(), callback, parallel)


JOBS = {
    "t2av": Job(),
    "ti2av": Job(first_frame=True),
    "t2a": Job(mode="audio", voices=1),
    "t2v": Job(mode="video", voices=0),
    "t2av_short": Job(frames=5),
}
KINDS = ("t2av", "ti2av", "t2a", "t2v")  # T2AV with two voices, TI2AV (clean first frame), T2A, T2V


def forward_inputs() -> dict:
    """One forward of two rows, the second with cross-modal attention masked (the alignment pass), a clean
    first frame and two voices; 21 video and 27 audio tokens."""
    g = torch.Generator().manual_seed(4)
    return dict(
        video=torch.randn(2, 48, 7, 2, 6, generator=g),
        audio=torch.randn(2, 27, 128, generator=g),
        timestep=torch.tensor([910.0, 300.0]),
        context=torch.randn(2, 13, 64, generator=g),
        speaker=SpeakerCondition(torch.randn(2, 2, 192, generator=g), torch.tensor([[2, 8], [4, -1]])),
        clean_first_frame=True,
        cross_modal_masked=(False, True),
    )


def plan_for(world_size: int, cfg: int, sp: int) -> ParallelPlan:
    return ParallelPlan(world_size, cfg, sp, world_size // (cfg * sp))


def save(out_dir: Path, name: str, rank: int, value: dict) -> None:
    torch.save(value, out_dir / f"{name}.rank{rank}.pt")


def load(out_dir: Path, name: str, rank: int) -> dict:
    return torch.load(out_dir / f"{name}.rank{rank}.pt")


def _world_main(rank: int, world_size: int, store: str, out_dir: str, body) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size, timeout=TIMEOUT)
    try:
        body(rank, world_size, Path(out_dir))
    finally:
        dist.destroy_process_group()


def run_world(world_size: int, out_dir: Path, body) -> None:
    """Run body(rank, world_size, out_dir) in `world_size` spawned processes of one gloo world.

    `body` must be a module-level function (spawned processes import it by name)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    store = out_dir / "store"
    store.unlink(missing_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    mp.start_processes(
        _world_main, args=(world_size, str(store), str(out_dir), body), nprocs=world_size, start_method="spawn"
    )
