"""Time of one factorized-CFG step: the guidance passes stacked in one forward vs run one by one.

The MMDiT has seeded random weights at a chosen width (default: a reduced NAVA, runnable on a CPU);
the sequence is NAVA's token layout for the given size and duration. Prints one row per setting with
the ratio to the sequential baseline measured in the same run.

    python bench/guidance_batching.py                                    # CPU-sized default
    python bench/guidance_batching.py --preset nava-6.3b --device cuda --dtype bf16 --width 1280 --height 704 --seconds 6
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import DTYPES, machine, note, print_table, randomize  # noqa: E402

from nava_model.config import get_preset  # noqa: E402
from nava_model.mmdit.model import NavaMMDiT, SpeakerCondition  # noqa: E402
from nava_model.latent_space import frames_for_duration  # noqa: E402
from nava_model.options import SamplingOptions  # noqa: E402
from nava_model.pipeline import initial_noise  # noqa: E402
from nava_model.sampling.guidance import GuidanceInputs, GuidanceScales, guided_velocity  # noqa: E402


def build_model(args: argparse.Namespace) -> NavaMMDiT:
    """Random weights drawn on the device itself (seconds even for the 6.3B model)."""
    overrides = {} if args.preset == "nava-6.3b" else dict(dim=args.dim, ffn_dim=4 * args.dim, num_heads=max(1, args.dim // 64))
    config = get_preset(args.preset, **overrides)
    return randomize(NavaMMDiT(config, device=args.device, dtype=DTYPES[args.dtype]))


def time_step(model, video, audio, inputs, max_batch: int, repeats: int) -> float:
    timestep = torch.full((1,), 500.0, device=video.device)
    with torch.no_grad():
        guided_velocity(model, video, audio, timestep, inputs, GuidanceScales(), max_batch=max_batch)  # warm-up
        if video.is_cuda:
            torch.cuda.synchronize()
        started = time.perf_counter()
        for _ in range(repeats):
            guided_velocity(model, video, audio, timestep, inputs, GuidanceScales(), max_batch=max_batch)
        if video.is_cuda:
            torch.cuda.synchronize()
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny", choices=["tiny", "nava-6.3b"])
    parser.add_argument("--dim", type=int, default=256, help="width for the reduced model (preset tiny)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None, help="append the table to this Markdown file")
    args = parser.parse_args()

    model = build_model(args)
    options = SamplingOptions(width=args.width, height=args.height, frames=frames_for_duration(args.seconds))
    video, audio = (x.to(args.device, DTYPES[args.dtype]) for x in initial_noise(options, torch.Generator().manual_seed(0)))
    text_dim = model.config.text_dim
    context = torch.randn(1, 120, text_dim, device=args.device, dtype=DTYPES[args.dtype])
    speaker = SpeakerCondition(
        embeddings=torch.randn(1, 2, 192, device=args.device, dtype=DTYPES[args.dtype]),
        positions=torch.tensor([[5, 40]], device=args.device),
    )
    inputs = GuidanceInputs(positive=context, negative=context[:, :80], speaker=speaker)

    tokens = video.shape[2] * (video.shape[3] // 2) * (video.shape[4] // 2) + audio.shape[1]
    note(f"## Guidance passes per forward: {machine(torch.device(args.device))}, {args.dtype}, {args.preset} dim "
         f"{model.config.dim}, {args.width}x{args.height}, {options.frames} frames, {tokens} joint tokens, 4 passes "
         f"(c, u, m, tu); `python bench/guidance_batching.py {' '.join(sys.argv[1:])}`", args.out)
    rows = []
    baseline = None
    for max_batch in (1, 2, 4):
        seconds = time_step(model, video, audio, inputs, max_batch, args.repeats)
        baseline = baseline or seconds
        rows.append([str(max_batch), f"{seconds:.3f}", f"{baseline / seconds:.2f}x"])
    print_table(["passes per forward", "s per step", "speed vs one by one"], rows, args.out)

if __name__ == "__main__":
    main()
