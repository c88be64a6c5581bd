"""Wan2.2 VAE decode of a NAVA clip: time and peak memory, untiled vs tiled and with cuDNN/layout options.

Random decoder weights at the chosen width (default: the real one, bf16 on a GPU), one clip at the
chosen size. Variants, each measured in this run (ratios to the untiled row):

  untiled                       `vae.decode(latent)`
  tiled                         spatial tiles (bounded memory)
  untiled, cudnn.benchmark      cuDNN picks its fastest convolution algorithms (GPU only)
  untiled, channels_last_3d     weights and latent in NDHWC layout (GPU only)
  untiled + pipeline output     `pipeline.decode`: the clip as frames in 0..1 on the CPU (what the nodes return)

    python bench/vae_decode.py                    # GPU, 1280x704, 145 frames
    python bench/vae_decode.py --tiny             # CPU smoke run: narrow decoder, small clip
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import add_device_arguments, device_and_dtype, machine, memory_label, note, print_table, timed  # noqa: E402
from vae_tiling_memory import build_decoder  # noqa: E402

from nava_model.pipeline import AVLatent, decode  # noqa: E402
from nava_model.latent_space import check_video_size, latent_frames  # noqa: E402
from nava_model.vae.wan22.model import Wan22VAEConfig  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="decoder width 16, 128x64, 5 frames (a CPU smoke run)")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=704)
    parser.add_argument("--frames", type=int, default=145, help="pixel frames, 4k + 1")
    parser.add_argument("--dec-dim", type=int, default=256, help="decoder width")
    add_device_arguments(parser)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="append the table to this Markdown file")
    args = parser.parse_args()
    if args.tiny:
        args.width, args.height, args.frames, args.dec_dim = 128, 64, 5, 16
    check_video_size(args.width, args.height, args.frames, multiple=16)
    device, dtype = device_and_dtype(args)
    config = Wan22VAEConfig(dec_dim=args.dec_dim)
    vae = build_decoder(config, device, dtype)
    vae.device = device  # where it computes (its unused encoder stays on the meta device), as pipeline.decode reads it
    latent = torch.randn(1, config.z_dim, latent_frames(args.frames), args.height // 16, args.width // 16,
                         device=device, dtype=dtype)

    note(f"## Wan2.2 VAE decode: {machine(device)}, {str(dtype).removeprefix('torch.')}, decoder width "
         f"{config.dec_dim}, {args.width}x{args.height}x{args.frames}; memory = {memory_label(device)}; "
         f"`python bench/vae_decode.py {' '.join(sys.argv[1:])}`", args.out)
    variants = [
        ("untiled", lambda: vae.decode(latent)),
        ("tiled", lambda: vae.decode(latent, tiled=True)),
        ("untiled + pipeline output (frames 0..1 on CPU)", lambda: decode(vae, None, AVLatent(latent, None))),
    ]
    with torch.no_grad():
        vae.decode(latent[:, :, :1])  # one latent frame first: kernel and allocator start-up stay out of the table
    rows = []
    baseline = None
    for name, fn in variants:
        seconds, memory = timed(fn, device, args.repeats, warmup=0)
        baseline = baseline or seconds
        rows.append([name, f"{seconds:.2f}", f"{memory:.2f}", f"{baseline / seconds:.2f}x"])
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        seconds, memory = timed(lambda: vae.decode(latent), device, args.repeats, warmup=1)
        rows.append(["untiled, cudnn.benchmark", f"{seconds:.2f}", f"{memory:.2f}", f"{baseline / seconds:.2f}x"])
        vae.to(memory_format=torch.channels_last_3d)
        last = latent.contiguous(memory_format=torch.channels_last_3d)
        seconds, memory = timed(lambda: vae.decode(last), device, args.repeats, warmup=1)
        rows.append(["untiled, cudnn.benchmark + channels_last_3d", f"{seconds:.2f}", f"{memory:.2f}",
                     f"{baseline / seconds:.2f}x"])
    print_table(["variant", "s", "peak GiB", "speed vs untiled"], rows, args.out)


if __name__ == "__main__":
    main()
