"""`python -m nava_model demo | generate | rewrite | info | make-tiny`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .config import PRESETS, get_preset
from .latent_space import MODES
from .options import DEFAULT_SECONDS, DEFAULTS, SAMPLERS, SamplingOptions
from .rewrite.headless import add_backend_arguments, add_rewrite_command

DEFAULT_TINY_DIR = Path(os.environ.get("NAVA_TINY_DIR", Path.home() / ".cache" / "nava" / "tiny-models"))
log = logging.getLogger("nava")


def _cmd_info(args: argparse.Namespace) -> None:
    from .mmdit.model import parameter_summary

    tensors, parameters = parameter_summary(get_preset(args.preset))
    print(f"preset {args.preset}: {tensors} tensors, {parameters:,} parameters")


def _cmd_make_tiny(args: argparse.Namespace) -> None:
    from .components import make_tiny_models

    for name, path in make_tiny_models(args.dir, seed=args.seed).items():
        print(f"{name:16s} {path}")


@dataclass
class Job:
    """One generation: a prompt with its optional first frame, voices and output path."""

    prompt: str
    output: Path
    image: Path | None = None
    voices: list[Path] = field(default_factory=list)
    latents: Path | None = None  # --latents-out: the final latents as safetensors
    rewrite: bool = False  # rewrite the prompt with an LLM first (see nava_model/rewrite)
    original_prompt: str | None = None  # the prompt as given, once rewritten
    rewrite_outcome: str | None = None


def _jobs(args: argparse.Namespace) -> list[Job]:
    if args.prompt_file:
        jobs = []
        for number, line in enumerate(Path(args.prompt_file).read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            entry = json.loads(line)
            if "prompt" not in entry:
                raise SystemExit(f"{args.prompt_file}:{number}: each JSONL line needs a \"prompt\"")
            output = Path(entry.get("output") or Path(args.output).with_name(f"{Path(args.output).stem}_{number:04d}.mp4"))
            image = entry.get("image")
            voices = [Path(p) for p in entry.get("spk_wavs", [])]
            rewrite = args.rewrite or bool(entry.get("rewrite", False))
            latents = Path(args.latents_out) if args.latents_out else None
            if latents is not None:
                latents = latents.with_name(f"{latents.stem}_{number:04d}{latents.suffix}")
            jobs.append(Job(entry["prompt"], output, Path(image) if image else None, voices, latents, rewrite))
        return jobs
    if not args.prompt:
        raise SystemExit("give --prompt or --prompt-file")
    latents = Path(args.latents_out) if args.latents_out else None
    return [Job(args.prompt, Path(args.output), args.image, list(args.spk_wav or []), latents, args.rewrite)]


def _options(args: argparse.Namespace):
    from .latent_space import frames_for_duration, pixel_frames
    from .sampling.guidance import GuidanceScales

    if args.latent_frames is not None:
        frames = pixel_frames(args.latent_frames)
    else:
        frames = frames_for_duration(args.duration)
    options = SamplingOptions(
        width=args.width,
        height=args.height,
        frames=frames,
        steps=args.steps,
        seed=args.seed,
        shift=args.shift,
        sampler=args.sampler,
        mode=args.mode,
        max_batch=args.max_batch,
        scales=GuidanceScales(
            video=args.video_guidance_scale,
            audio=args.audio_guidance_scale,
            video_align=args.video_align_guidance_scale,
            audio_align=args.audio_align_guidance_scale,
            timbre=args.timbre_align_guidance_scale,
        ),
    )
    return options


def run_jobs(jobs: list[Job], options, models, audio_rate: int | None, tiled: bool, parallel=None, device=None,
             offload: bool = False) -> None:
    """Sample, decode and write each job. With `parallel` every rank samples; the replica's leader writes.
    With `offload` the models wait in CPU memory and each comes to `device` only for its phase: the text
    encoder and ReDimNet for encoding, the MMDiT for sampling, the VAEs for decoding."""
    from .audio_io import load_audio
    from .latents import save_latents
    from .media import write_audio, write_mp4
    from .offload import resident
    from .pipeline import decode, encode_conditioning, encode_first_frame, execution_device, sample

    device = torch.device(device) if device is not None else execution_device(models.mmdit)
    for job in jobs:
        started = time.perf_counter()
        voices = [load_audio(path) for path in job.voices]
        with resident([models.text_encoder.model, models.speaker_encoder], device, offload):
            conditioning = encode_conditioning(models.text_encoder, models.speaker_encoder, job.prompt, voices)
        first_frame = None
        if job.image is not None:
            from PIL import Image
            import numpy as np

            image = torch.from_numpy(np.asarray(Image.open(job.image).convert("RGB"), dtype=np.float32) / 255.0)
            with resident([models.video_vae], device, offload):
                first_frame = encode_first_frame(models.video_vae, image, options.width, options.height)

        def progress(step: int, total: int, _latent) -> None:
            print(f"\r  step {step + 1}/{total}", end="" if step + 1 < total else "\n", flush=True)

        shows_progress = parallel is None or parallel.rank == 0
        with resident([models.mmdit], device, offload), torch.no_grad():
            latent = sample(models.mmdit, conditioning, options, first_frame=first_frame,
                            callback=progress if shows_progress else None, parallel=parallel)
        writes = parallel is None or parallel.is_leader
        shares_decode = parallel is not None and tiled and latent.video is not None and parallel.tiles is not None
        if not (writes or shares_decode):
            continue  # the replica's leader decodes and writes
        metadata = {"prompt": job.prompt, "nava_options": json.dumps(_options_metadata(options))}
        if job.original_prompt is not None:
            metadata |= {"nava_original_prompt": job.original_prompt, "nava_rewrite": job.rewrite_outcome}
        if writes and job.latents is not None:
            print(f"wrote {save_latents(job.latents, latent, metadata)}")
        with resident([models.video_vae, models.audio_vae], device, offload):
            result = decode(models.video_vae, models.audio_vae, latent, tiled=tiled, audio_rate=audio_rate,
                            parallel=parallel if shares_decode else None)
        if not writes:
            continue
        if result.frames is None:
            path = write_audio(job.output.with_suffix(".wav"), result.waveform, result.sample_rate, metadata)
        else:
            path = write_mp4(job.output, result.frames, result.fps, result.waveform, result.sample_rate, metadata)
        print(f"wrote {path} in {time.perf_counter() - started:.1f} s")


def _options_metadata(options) -> dict:
    from dataclasses import asdict

    return asdict(options)


def _device_dtype(args: argparse.Namespace, device: str | None = None) -> tuple[str, torch.dtype]:
    device = str(device or args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = {"auto": torch.bfloat16 if device.startswith("cuda") else torch.float32,
             "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[args.dtype]
    return device, dtype


def _cmd_generate(args: argparse.Namespace) -> None:
    from .components import load_models
    from .rewrite.headless import rewrite_jobs

    options = _options(args)
    jobs = _jobs(args)  # all inputs are checked before any model is loaded
    for job in jobs:
        for path in [job.image, *job.voices]:
            if path is not None and not Path(path).is_file():
                raise SystemExit(f"input file not found: {path}")
    from .parallel.launch import launched_runtime

    with launched_runtime(args, options, [bool(job.voices) for job in jobs]) as (parallel, rank_device):
        if parallel is None:
            rewrite_jobs(jobs, args)  # the LLM is freed before the NAVA models load
        else:  # one rank rewrites, so that every rank samples the same prompts
            jobs = parallel.from_first_rank(lambda: rewrite_jobs(jobs, args) or jobs)
        device, dtype = _device_dtype(args, rank_device)
        home = "cpu" if args.offload else device  # with --offload each model comes to the device for its phase only
        models = load_models(args.models, device=home, dtype=dtype, with_speaker=any(job.voices for job in jobs))
        models.mmdit.compile_blocks = {None: "auto", True: "on", False: "off"}[args.compile]
        run_jobs(jobs if parallel is None else parallel.my_jobs(jobs), options, models, args.audio_rate, args.tiled,
                 parallel, device=device, offload=args.offload)


def _cmd_demo(args: argparse.Namespace) -> None:
    from .components import load_models, make_tiny_models, tiny_models_present
    from .demo import DEMO_PROMPT, DEMO_SAMPLE_RATE, synthetic_voice
    from .media import write_mp4
    from .pipeline import decode, encode_conditioning, sample

    started = time.perf_counter()
    models_dir = Path(args.models)
    if not tiny_models_present(models_dir):
        print(f"writing tiny random-weight models to {models_dir}")
        make_tiny_models(models_dir)
    models = load_models(models_dir)
    voices = [synthetic_voice(f0, seed=i) for i, f0 in enumerate((120.0, 210.0))]
    options = SamplingOptions(width=320, height=192, frames=49, steps=args.steps, seed=args.seed)
    conditioning = encode_conditioning(
        models.text_encoder, models.speaker_encoder, DEMO_PROMPT, [(v, DEMO_SAMPLE_RATE) for v in voices]
    )
    with torch.no_grad():
        latent = sample(models.mmdit, conditioning, options)
    result = decode(models.video_vae, models.audio_vae, latent)
    write_mp4(args.out, result.frames, result.fps, result.waveform, result.sample_rate, {"prompt": DEMO_PROMPT})
    print(f"wrote {args.out} ({options.width}x{options.height}, {options.frames} frames, "
          f"{result.sample_rate} Hz stereo) in {time.perf_counter() - started:.1f} s")


def _add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", default="models", help="ComfyUI-style models/ tree holding the release files")
    parser.add_argument("--prompt", help="text prompt; speech goes in <S>...<E> spans")
    parser.add_argument("--prompt-file",
                        help="JSONL batch: {\"prompt\", \"image\"?, \"spk_wavs\"?, \"output\"?, \"rewrite\"?} per line")
    parser.add_argument("--image", type=Path, help="first frame (TI2AV)")
    parser.add_argument("--spk-wav", type=Path, action="append", help="reference voice, once per span in order")
    parser.add_argument("--width", type=int, default=DEFAULTS.width)
    parser.add_argument("--height", type=int, default=DEFAULTS.height)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--duration", type=float, default=DEFAULT_SECONDS,
                        help=f"seconds ({DEFAULT_SECONDS:g} s = {DEFAULTS.latent_frames} latent frames "
                        f"= {DEFAULTS.frames} frames)")
    length.add_argument("--latent-frames", type=int, help="latent frames (upstream's --frames)")
    parser.add_argument("--steps", type=int, default=DEFAULTS.steps)
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--shift", type=float, default=DEFAULTS.shift)
    parser.add_argument("--sampler", choices=SAMPLERS, default=DEFAULTS.sampler)
    parser.add_argument("--mode", choices=list(MODES), default=DEFAULTS.mode,
                        help=", ".join(f"{mode}: {words}" for mode, words in MODES.items()))
    scales = DEFAULTS.scales
    parser.add_argument("--video-guidance-scale", type=float, default=scales.video)
    parser.add_argument("--audio-guidance-scale", type=float, default=scales.audio)
    parser.add_argument("--video-align-guidance-scale", type=float, default=scales.video_align)
    parser.add_argument("--audio-align-guidance-scale", type=float, default=scales.audio_align)
    parser.add_argument("--timbre-align-guidance-scale", type=float, default=scales.timbre)
    parser.add_argument("--max-batch", type=int, default=DEFAULTS.max_batch,
                        help="guidance passes per forward (1 = sequential)")
    parser.add_argument("--audio-rate", type=int, choices=[16000, 48000], default=None,
                        help="48000 = vocoder output (default), 16000 = NAVA reference")
    parser.add_argument("--tiled", action="store_true", help="tiled video decode (bounded memory)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                        help="torch.compile the MMDiT blocks (default: on CUDA only; the first step compiles)")
    parser.add_argument("--offload", action="store_true",
                        help="keep the models in CPU memory and bring each to the GPU only for its phase "
                             "(encoding, sampling, decoding): runs on 24-40 GB cards")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", choices=["auto", "bf16", "fp16", "fp32"], default="auto")
    parser.add_argument("--output", default="nava.mp4")
    parser.add_argument("--latents-out", help="also save the final video/audio latents to this .safetensors file "
                        "(a --prompt-file adds _NNNN per line)")
    parser.add_argument("--rewrite", action="store_true",
                        help="rewrite every prompt into a NAVA caption with an LLM first (a batch line may say \"rewrite\": true)")
    add_backend_arguments(parser)
    from .parallel.launch import add_parallel_arguments

    add_parallel_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nava_model", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    info = commands.add_parser("info", help="tensor and parameter counts of a preset (no memory used)")
    info.add_argument("--preset", choices=sorted(PRESETS), default="nava-6.3b")
    info.set_defaults(run=_cmd_info)

    tiny = commands.add_parser("make-tiny", help="write tiny random-weight files in the real formats")
    tiny.add_argument("dir", type=Path)
    tiny.add_argument("--seed", type=int, default=0)
    tiny.set_defaults(run=_cmd_make_tiny)

    demo = commands.add_parser("demo", help="T2AV with two synthetic voices on the tiny models, on a CPU")
    demo.add_argument("--out", default="demo.mp4")
    demo.add_argument("--models", default=str(DEFAULT_TINY_DIR))
    demo.add_argument("--steps", type=int, default=8)
    demo.add_argument("--seed", type=int, default=42)
    demo.set_defaults(run=_cmd_demo)

    generate = commands.add_parser("generate", help="text/image (+ voices) to video with audio")
    _add_generation_arguments(generate)
    generate.set_defaults(run=_cmd_generate)

    add_rewrite_command(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as exc:  # user errors: one clear line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc
