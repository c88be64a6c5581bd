"""One sampling job as every rank of the worker pool runs it.

Rank 0 owns the job: it broadcasts the small inputs (conditioning tensors, options, the first-frame
latent) to the other ranks through torch.distributed, then every rank runs the one denoising loop
with the pool's ParallelRuntime, which splits each step's guidance passes (and, with Ulysses, the
tokens) over the ranks. Only rank 0 runs the progress callback; what it raises (a Cancel) stops every
rank in the same step, and the other ranks raise RunCancelled.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..mmdit.model import SpeakerCondition
from ..pipeline import AVLatent, Conditioning, SamplingOptions, StepCallback, sample
from .runtime import ParallelRuntime, collective_device


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
    dist.broadcast_object_list(box, src=0, device=collective_device())
    return box[0]


def run_job(model, job: SampleJob, runtime: ParallelRuntime, callback: StepCallback | None = None) -> AVLatent:
    """Run the job on this rank; `callback` (rank 0's) gets progress, and what it raises stops every rank."""
    with torch.inference_mode():
        return sample(
            model, job.conditioning, job.options, first_frame=job.first_frame, callback=callback, parallel=runtime
        )
