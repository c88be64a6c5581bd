"""A whole NAVA clip on one device: text encoding, sampling, decoding; wall time and peak memory of each.

Default: every component at its release size with random weights (umT5-XXL, the 6.3B MMDiT, the
Wan2.2 VAE, the LTX-2.3 audio VAE + vocoder), bf16 on a GPU, 1280x704, 6 s, the default guidance
(4 passes per step). `--steps N` samples N of the 50 steps and also prints the 50-step time
projected from them (encoding + 50 × mean step + decoding), labelled as a projection.
`--memory-cap-gb 24` caps this process's GPU memory (`torch.cuda.set_per_process_memory_fraction`),
as on a 24 GB card; `--offload` keeps each model on the GPU only while it computes (the CLI's
`--offload`).

    python bench/clip.py                                      # GPU, 50 steps
    python bench/clip.py --steps 3 --memory-cap-gb 24 --offload
    python bench/clip.py --tiny                               # CPU smoke run on the make-tiny models
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (  # noqa: E402
    add_clip_arguments, add_device_arguments, device_and_dtype, machine, memory_label, note, peak_memory_gib, print_table, randomize, reset_peak_memory, synchronize,
)

from nava_model.components import NavaModels, load_models, make_tiny_models  # noqa: E402
from nava_model.offload import CPU, resident  # noqa: E402
from nava_model.latent_space import frames_for_duration  # noqa: E402
from nava_model.options import SamplingOptions  # noqa: E402
from nava_model.pipeline import decode, encode_conditioning, sample  # noqa: E402

PROMPT = ("A woman in a red coat stands on a windy pier at dusk and says <S>The boats are coming back early "
          "tonight.<E> Gulls cry over the water.")


def release_size_models(device: torch.device, dtype: torch.dtype) -> NavaModels:
    """Every component at its release size with random weights, built straight on `device`."""
    from nava_model.config import get_preset
    from nava_model.mmdit.model import NavaMMDiT
    from nava_model.text.layout import UMT5_XXL
    from nava_model.text.tiny_tokenizer import train_tiny_spiece
    from nava_model.text.tokenizer import sentencepiece_tokenizer
    from nava_model.text.umt5 import UMT5TextEncoder, build_encoder
    from nava_model.vae.ltx_audio.autoencoder import AudioVaeConfig
    from nava_model.vae.ltx_audio.model import LTX23_VOCODER, LtxAudioVAE
    from nava_model.vae.wan22.model import Wan22VAE, Wan22VAEConfig

    def on_device(module: nn.Module, module_dtype: torch.dtype) -> nn.Module:
        return randomize(module.to_empty(device=device).to(module_dtype))

    with torch.device("meta"):
        mmdit, video_vae = NavaMMDiT(get_preset("nava-6.3b"), dtype=dtype), Wan22VAE(Wan22VAEConfig())
        audio_vae = LtxAudioVAE(AudioVaeConfig(), LTX23_VOCODER, with_encoder=False)
    encoder = on_device(build_encoder(UMT5_XXL), dtype)
    encoder.encoder.embed_tokens = encoder.shared  # tied, as in the file
    return NavaModels(
        mmdit=on_device(mmdit, dtype),
        video_vae=on_device(video_vae, dtype),
        audio_vae=on_device(audio_vae, torch.float32),
        text_encoder=UMT5TextEncoder(encoder, sentencepiece_tokenizer(train_tiny_spiece())),
        speaker_encoder=None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="the make-tiny models, 64x64, 2 steps (a CPU smoke run)")
    add_device_arguments(parser)
    add_clip_arguments(parser)
    parser.add_argument("--steps", type=int, default=50, help="steps to sample (the projection is for 50)")
    parser.add_argument("--offload", action="store_true", help="each model on the GPU only while it computes")
    parser.add_argument("--memory-cap-gb", type=float, default=None, help="cap this process's GPU memory")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile the MMDiT blocks (default: on CUDA)")
    parser.add_argument("--tiled", action="store_true", help="tiled video decode")
    parser.add_argument("--out", type=Path, default=None, help="append the table to this Markdown file")
    args = parser.parse_args()
    if args.tiny:
        args.width, args.height, args.seconds, args.steps = 64, 64, 0.25, 2
    device, dtype = device_and_dtype(args)
    if args.memory_cap_gb is not None:
        if device.type != "cuda":
            raise SystemExit("--memory-cap-gb caps GPU memory: run on a GPU")
        total = torch.cuda.get_device_properties(device).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.memory_cap_gb * 2**30 / total), device)

    home = CPU if args.offload else device
    started = time.perf_counter()
    if args.tiny:
        folder = Path(tempfile.mkdtemp(prefix="nava-clip-bench-"))
        make_tiny_models(folder)
        models = load_models(folder, device=str(home), dtype=dtype, with_speaker=False)
    else:
        models = release_size_models(home, dtype)
    models.mmdit.compile_blocks = {None: "auto", True: "on", False: "off"}[args.compile]
    build_seconds = time.perf_counter() - started
    options = SamplingOptions(width=args.width, height=args.height, frames=frames_for_duration(args.seconds),
                              steps=args.steps)

    cap = f", GPU memory capped at {args.memory_cap_gb:g} GB" if args.memory_cap_gb else ""
    note(f"## Whole clip: {machine(device)}, {str(dtype).removeprefix('torch.')}, "
         f"{'make-tiny models' if args.tiny else 'release-size models, random weights'}, "
         f"{options.width}x{options.height}, {options.frames} frames, {options.joint_tokens} joint tokens, "
         f"{options.steps} steps{', offload' if args.offload else ''}{cap}; memory = {memory_label(device)}; "
         f"models built in {build_seconds:.0f} s; `python bench/clip.py {' '.join(sys.argv[1:])}`", args.out)

    rows, step_times = [], []

    def phase(name: str, modules: list, fn):
        reset_peak_memory(device)
        start = time.perf_counter()
        with resident(modules, device, args.offload), torch.no_grad():
            result = fn()
        synchronize(device)
        rows.append([name, f"{time.perf_counter() - start:.1f}", f"{peak_memory_gib(device):.2f}"])
        return result

    def step_timer(index: int, total: int, _latent) -> None:
        synchronize(device)
        step_times.append(time.perf_counter())

    text = models.text_encoder
    conditioning = phase("text encoding", [text.model], lambda: encode_conditioning(text, None, PROMPT))
    step_times.append(time.perf_counter())
    latent = phase(f"sampling ({options.steps} steps)", [models.mmdit],
                   lambda: sample(models.mmdit, conditioning, options, callback=step_timer))
    phase("decoding (video + audio)", [models.video_vae, models.audio_vae],
          lambda: decode(models.video_vae, models.audio_vae, latent, tiled=args.tiled))
    total = sum(float(r[1]) for r in rows)
    rows.append(["total (measured)", f"{total:.1f}", f"{max(float(r[2]) for r in rows):.2f}"])
    if options.steps < 50 and len(step_times) > 2:
        later = [b - a for a, b in zip(step_times[1:], step_times[2:])]  # the first step includes compiling
        mean_step = sum(later) / len(later)
        projected = float(rows[0][1]) + 50 * mean_step + float(rows[2][1])
        rows.append([f"50-step clip, projected ({mean_step:.2f} s/step after the first)", f"{projected:.1f}", "-"])
    print_table(["phase", "s", "peak GiB"], rows, args.out)


if __name__ == "__main__":
    main()
