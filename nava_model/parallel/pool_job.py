"""One sampling job as every rank of the worker pool runs it.

Rank 0 owns the job: it broadcasts the small inputs (conditioning tensors, options, the first-frame
latent) to the other ranks through torch.distributed, then every rank runs the same denoising loop.
Each step, rank 0 runs its progress callback and decides whether the run goes on; that decision is
broadcast, so a Cancel (or any error in rank 0's callback) stops every rank at the same step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..mmdit.model import SpeakerCondition
from ..pipeline import AVLatent, Conditioning, SamplingOptions, StepCallback, sample


class Cancelled(RuntimeError):
    """Raised on the workers when rank 0's step callback stopped the run."""


@dataclass
class SampleJob:
    conditioning: Conditioning
    options: SamplingOptions
    first_frame: torch.Tensor | None = None


def on_cpu(job: SampleJob) -> SampleJob:
    """The job with every tensor on the CPU, as it travels (the text encoder may have left them on a GPU)."""
    c = job.conditioning
    speaker = None if c.speaker is None else SpeakerCondition(c.speaker.embeddings.cpu(), c.speaker.positions.cpu())
    conditioning = dataclasses.replace(
        c, positive=c.positive.cpu(), negative_video=c.negative_video.cpu(), negative_audio=c.negative_audio.cpu(),
        speaker=speaker,
    )
    first_frame = None if job.first_frame is None else job.first_frame.cpu()
    return SampleJob(conditioning, job.options, first_frame)


def broadcast_job(job: SampleJob | None) -> SampleJob:
    """Rank 0 passes its job, the others None; every rank returns rank 0's job."""
    box = [on_cpu(job) if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(box, src=0, device=_flag_device())
    return box[0]


def _flag_device() -> torch.device:
    """Where small control tensors live: NCCL moves only CUDA tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class StepSync:
    """Step callback for every rank: rank 0 reports progress, then all ranks learn whether to go on.

    Rank 0 re-raises what its callback raised; the other ranks raise Cancelled."""

    def __init__(self, callback: StepCallback | None = None):
        self.callback = callback if dist.get_rank() == 0 else None

    def __call__(self, step: int, total: int, preview: AVLatent) -> None:
        stopped = None
        if self.callback is not None:
            try:
                self.callback(step, total, preview)
            except BaseException as error:  # noqa: BLE001 - stop every rank first, then re-raise
                stopped = error
        flag = torch.tensor([stopped is not None], dtype=torch.uint8, device=_flag_device())
        dist.broadcast(flag, src=0)
        if stopped is not None:
            raise stopped
        if flag.item():
            raise Cancelled(f"rank 0 stopped the run after step {step + 1} of {total}")


def run_job(model, job: SampleJob, callback: StepCallback | None = None) -> AVLatent:
    """Run the job on this rank; `callback` (rank 0's) gets progress, and what it raises stops every rank."""
    with torch.inference_mode():
        return sample(model, job.conditioning, job.options, first_frame=job.first_frame, callback=StepSync(callback))
