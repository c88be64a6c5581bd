"""Peak memory and time of a Wan2.2 VAE decode with spatial tiling on and off.

Default: the NAVA size, 1280x704 and 145 frames (37 latent frames), the real decoder width,
random weights, bf16 on a GPU. Peak memory is `torch.cuda.max_memory_allocated` on a GPU, else
the peak resident set of the process (VmHWM, reset before each run through /proc/self/clear_refs).

    python bench/vae_tiling_memory.py                                   # GPU, NAVA size
    python bench/vae_tiling_memory.py --device cpu --width 256 --height 160 --frames 9 --dec-dim 16
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import peak_memory_gib, reset_peak_memory  # noqa: E402

from nava_model.random_init import random_state_dict  # noqa: E402
from nava_model.latent_space import check_video_size, latent_frames  # noqa: E402
from nava_model.vae.wan22.model import Wan22VAE, Wan22VAEConfig, official_shapes  # noqa: E402
from nava_model.vae.wan22.tiling import Tiling, tile_grid  # noqa: E402


def build_decoder(config: Wan22VAEConfig, device: torch.device, dtype: torch.dtype) -> Wan22VAE:
    """A VAE whose decoder has seeded random weights; the encoder stays on the meta device (unused)."""
    with torch.device("meta"):
        vae = Wan22VAE(config)
    shapes = {k: s for k, s in official_shapes(config).items() if k.startswith(("decoder.", "conv2."))}
    for key, shape in shapes.items():
        vae.load_state_dict({key: random_state_dict({key: shape}, seed=0)[key].to(device, dtype)}, strict=False, assign=True)
    return vae.eval().requires_grad_(False)


def run(vae: Wan22VAE, latent: torch.Tensor, tiling: Tiling | None, device: torch.device) -> tuple[float, float]:
    reset_peak_memory(device)
    start = time.perf_counter()
    video = vae.decode(latent, tiled=tiling or False)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    del video
    return peak_memory_gib(device), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=704)
    parser.add_argument("--frames", type=int, default=145, help="pixel frames, 4k + 1")
    parser.add_argument("--dec-dim", type=int, default=256, help="decoder width")
    parser.add_argument("--tile", type=int, default=Tiling.size, help="tile side in latent pixels")
    parser.add_argument("--overlap", type=int, default=Tiling.overlap, help="tile overlap in latent pixels")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), default=None, help="default: bf16 on GPU, fp32 on CPU")
    args = parser.parse_args()

    check_video_size(args.width, args.height, args.frames, multiple=16)
    device = torch.device(args.device)
    dtype_name = args.dtype or ("bf16" if device.type == "cuda" else "fp32")
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[dtype_name]
    config = Wan22VAEConfig(dec_dim=args.dec_dim)
    vae = build_decoder(config, device, dtype)
    grid = (args.height // 16, args.width // 16)
    latent = torch.randn(1, config.z_dim, latent_frames(args.frames), *grid, device=device, dtype=dtype)
    tiling = Tiling(args.tile, args.overlap)
    tiles = len(tile_grid(grid, tiling))
    weights_gib = sum(p.numel() * p.element_size() for p in vae.decoder.parameters()) / 2**30

    hardware = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"Wan2.2 VAE decode {args.width}x{args.height}x{args.frames} ({latent.shape[2]} latent frames), "
          f"dec_dim {config.dec_dim}, {dtype_name} on {device} ({hardware})")
    print(f"decoder weights {weights_gib:.2f} GiB; tiling = {tiles} tiles of {tiling.size} latent px, overlap {tiling.overlap}")
    reset_peak_memory(device)
    resident = "weights, latent" if device.type == "cuda" else "weights, latent, libraries"
    print(f"before decoding ({resident}): {peak_memory_gib(device):.2f} GiB")
    print(f"{'tiling':<8} {'peak memory (GiB)':>18} {'time (s)':>10}")
    memory_label = "peak allocated" if device.type == "cuda" else "peak RSS of the process"
    for name, choice in (("on", tiling), ("off", None)):
        memory, seconds = run(vae, latent, choice, device)
        print(f"{name:<8} {memory:>18.2f} {seconds:>10.1f}")
    print(f"(memory = {memory_label}, including weights and the fp32 output video)")


if __name__ == "__main__":
    main()
