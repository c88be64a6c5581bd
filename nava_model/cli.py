"""`python -m nava_model demo | generate | rewrite | info | make-tiny`.

`generate` checks the whole job first (every batch line, every input file, the output paths, the
device, the model files) and loads models only when all of it is usable. User errors exit with code 2
and one message per problem; in a batch, a line that fails while running is reported and the others
still run (exit code 1 when any failed).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from .components import COMPONENTS
from .config import PRESETS, get_preset
from .latent_space import MODES
from .options import DEFAULT_SECONDS, DEFAULTS, SAMPLERS, SamplingOptions
from .parallel.launch import add_parallel_arguments
from .rewrite.headless import add_backend_arguments, add_rewrite_command

DEFAULT_TINY_DIR = Path(os.environ.get("NAVA_TINY_DIR", Path.home() / ".cache" / "nava" / "tiny-models"))
USER_ERROR = 2
RUN_FAILED = 1
log = logging.getLogger("nava")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except for flags and options that have none."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False) or action.default is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action)


# -- info, make-tiny, demo ---------------------------------------------------------------------------------------
def _cmd_info(args: argparse.Namespace) -> int:
    from .mmdit.model import parameter_summary

    tensors, parameters = parameter_summary(get_preset(args.preset))
    print(f"preset {args.preset}: {tensors} tensors, {parameters:,} parameters")
    return 0


def _cmd_make_tiny(args: argparse.Namespace) -> int:
    from .components import make_tiny_models

    for name, path in make_tiny_models(args.dir, seed=args.seed).items():
        print(f"{name:16s} {path}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    started = time.perf_counter()
    run_demo(Path(args.models), Path(args.out), steps=args.steps, seed=args.seed)
    print(f"wrote {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


# -- generate ----------------------------------------------------------------------------------------------------
def _base_options(args: argparse.Namespace):
    from .jobs import frames_for_seconds
    from .latent_space import pixel_frames
    from .sampling.guidance import GuidanceScales

    if args.latent_frames is not None:
        if args.latent_frames < 1:
            raise ValueError(f"--latent-frames must be at least 1, got {args.latent_frames}")
        frames = pixel_frames(args.latent_frames)
    else:
        try:
            frames = frames_for_seconds(args.duration)
        except ValueError as exc:
            raise ValueError(f"--duration: {exc}") from None
    return SamplingOptions(
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


def _read_jobs(args: argparse.Namespace) -> tuple[list, list[str]]:
    """The jobs asked for, and a problem for each that is malformed."""
    from .jobs import Job, default_output, place_output, read_batch

    base = _base_options(args)
    out_dir = Path(args.out_dir).expanduser() if args.out_dir else None
    if args.prompt_file:
        given = [flag for flag, value in (("--prompt", args.prompt), ("--image", args.image), ("--spk-wav", args.spk_wav))
                 if value]
        if given:
            return [], [f"{', '.join(given)} cannot be combined with --prompt-file: put them in the batch file's "
                        "lines (\"prompt\", \"image\", \"spk_wavs\")"]
        jobs, problems = read_batch(Path(args.prompt_file), base, args.output, out_dir, rewrite=args.rewrite)
        if args.latents_out:  # one latents file per line: NAME_<line>.safetensors
            for job in jobs:
                latents = Path(args.latents_out)
                job.latents = latents.with_name(f"{latents.stem}_{job.line:04d}{latents.suffix}")
        return jobs, problems
    if not args.prompt:
        return [], ["give --prompt TEXT, or --prompt-file with one JSON job per line"]
    output = args.output or default_output(base.mode)
    job = Job("", args.prompt, place_output(output, out_dir), base, args.image, list(args.spk_wav or []),
              latents=Path(args.latents_out) if args.latents_out else None, rewrite=args.rewrite)
    return [job], []


def resolve_device(name: str | None) -> str:
    """The device to run on: `name` if this machine has it, else a ValueError saying what to use."""
    if name is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r} is not a device name: use cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            build = "a CPU-only build" if torch.version.cuda is None else f"built for CUDA {torch.version.cuda}"
            raise ValueError(f"--device {name}: torch sees no CUDA GPU (torch {torch.__version__} is {build}); "
                             "install a CUDA build of torch, or use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                             f"cuda:0 to cuda:{torch.cuda.device_count() - 1}")
    elif device.type != "cpu":
        raise ValueError(f"--device {name}: NAVA runs on cpu or cuda")
    return name


def component_flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def model_files(args: argparse.Namespace, with_speaker: bool) -> tuple[dict[str, Path], list[str]]:
    """Each component's file (the one its flag names, else the first accepted one in --models), and a problem
    for each that is missing. The speaker encoder is needed only with reference voices."""
    from .components import find_component_file

    files, problems = {}, []
    for component in COMPONENTS.values():
        if component.optional and not with_speaker:
            continue
        given = getattr(args, component.key)
        if given is None:
            try:
                files[component.key] = find_component_file(args.models, component.key)
            except FileNotFoundError as exc:
                problems.append(str(exc))
        elif given.is_file():
            files[component.key] = given
        else:
            problems.append(f"{component_flag(component.key)} {given}: file not found")
    return files, problems


def _dtype(name: str, device: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]


def _cmd_generate(args: argparse.Namespace) -> int:
    from .components import load_models
    from .jobs import JobError, check_jobs
    from .parallel.launch import launched_runtime
    from .parallel.plan import guidance_passes
    from .rewrite.headless import rewrite_jobs

    jobs, problems = _read_jobs(args)
    job_problems, warnings = check_jobs(jobs)
    problems += job_problems
    try:
        resolve_device(args.device)
    except ValueError as exc:
        problems.append(str(exc))
    files, file_problems = model_files(args, with_speaker=any(job.voices for job in jobs))
    problems += file_problems
    for warning in warnings:
        log.warning(warning)
    if problems:
        raise JobError(problems)
    passes = max(guidance_passes(job.options, bool(job.voices)) for job in jobs)
    with launched_runtime(args, passes) as (parallel, rank_device):
        if parallel is None:
            rewrite_jobs(jobs, args)  # the LLM is freed before the NAVA models load
        else:  # one rank rewrites, so that every rank samples the same prompts
            jobs = parallel.from_first_rank(lambda: rewrite_jobs(jobs, args) or jobs)
        device = str(rank_device or resolve_device(args.device))
        home = "cpu" if args.offload else device  # with --offload each model comes to the device for its phase only
        models = load_models(args.models, device=home, dtype=_dtype(args.dtype, device),
                             with_speaker=any(job.voices for job in jobs), files=files)
        models.mmdit.compile_blocks = {None: "auto", True: "on", False: "off"}[args.compile]
        failures = run_jobs(jobs if parallel is None else parallel.my_jobs(jobs), models, args.audio_rate, args.tiled,
                            parallel, device=device, offload=args.offload)
    return _exit_code(failures)


def run_jobs(jobs: list, models, audio_rate: int | None, tiled: bool, parallel=None, device=None,
             offload: bool = False) -> list[tuple[object, Exception]]:
    """Run every job; one that fails is reported and the rest still run. Returns the failures.

    With `parallel` every rank samples; the replica's leader writes. With `offload` the models wait in CPU
    memory and each comes to `device` only for its phase.
    """
    written, failures = [], []
    for job in jobs:
        started = time.perf_counter()
        try:
            path = run_job(job, models, audio_rate, tiled, parallel, device, offload)
        except Exception as exc:  # noqa: BLE001 - reported per job; the batch goes on
            failures.append((job, exc))
            if _is_user_error(exc):
                print(f"error: {job.at}{exc}", file=sys.stderr)
            else:  # not the user's doing: the traceback helps a bug report
                log.error("%sgeneration failed", job.at, exc_info=exc)
            continue
        if path is not None:
            written.append(path)
            print(f"wrote {path} in {time.perf_counter() - started:.1f} s")
    if len(jobs) > 1 or failures:
        print(f"{len(written)} of {len(jobs)} written" + "".join(f"\n  {path}" for path in written)
              + (f"; {len(failures)} failed:" if failures else "")
              + "".join(f"\n  {job.at}{exc}" for job, exc in failures))
    return failures


def run_job(job, models, audio_rate: int | None, tiled: bool, parallel=None, device=None,
            offload: bool = False) -> Path | None:
    """Sample, decode and write one job; the path written (None on a rank that does not write).

    With `offload` each model comes to `device` only for its phase: the text encoder and ReDimNet to encode,
    the MMDiT to sample, the VAEs to decode."""
    from .audio_io import load_audio
    from .jobs import VOICE_SECONDS_READ
    from .latents import save_latents
    from .media import write_audio, write_mp4
    from .offload import resident
    from .pipeline import decode, encode_conditioning, encode_first_frame, execution_device, sample

    device = torch.device(device) if device is not None else execution_device(models.mmdit)
    voices = [load_audio(path, max_seconds=VOICE_SECONDS_READ) for path in job.voices]
    with resident([models.text_encoder.model, models.speaker_encoder], device, offload):
        conditioning = encode_conditioning(models.text_encoder, models.speaker_encoder, job.prompt, voices)
    first_frame = None
    if job.image is not None:
        with resident([models.video_vae], device, offload):
            first_frame = encode_first_frame(models.video_vae, _read_image(job.image), job.options.width,
                                             job.options.height)

    def progress(step: int, total: int, _latent) -> None:
        print(f"\r  step {step + 1}/{total}", end="" if step + 1 < total else "\n", flush=True)

    shows_progress = parallel is None or parallel.rank == 0
    with resident([models.mmdit], device, offload), torch.no_grad():
        latent = sample(models.mmdit, conditioning, job.options, first_frame=first_frame,
                        callback=progress if shows_progress else None, parallel=parallel)
    writes = parallel is None or parallel.is_leader
    shares_decode = parallel is not None and tiled and latent.video is not None and parallel.tiles is not None
    if not (writes or shares_decode):
        return None  # the replica's leader decodes and writes
    metadata = {"prompt": job.prompt, "nava_options": json.dumps(asdict(job.options))}
    if job.original_prompt is not None:
        metadata |= {"nava_original_prompt": job.original_prompt, "nava_rewrite": job.rewrite_outcome}
    if writes and job.latents is not None:
        print(f"wrote {save_latents(job.latents, latent, metadata)}")
    with resident([models.video_vae, models.audio_vae], device, offload):
        result = decode(models.video_vae, models.audio_vae, latent, tiled=tiled, audio_rate=audio_rate,
                        parallel=parallel if shares_decode else None)
    if not writes:
        return None
    if result.frames is None:
        return write_audio(job.output, result.waveform, result.sample_rate, metadata)
    return write_mp4(job.output, result.frames, result.fps, result.waveform, result.sample_rate, metadata)


def _read_image(path: Path) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0)


def _exit_code(failures: list[tuple[object, Exception]]) -> int:
    if not failures:
        return 0
    return USER_ERROR if all(_is_user_error(exc) for _, exc in failures) else RUN_FAILED


def _is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, (ValueError, FileNotFoundError))


# -- the parser --------------------------------------------------------------------------------------------------
def _add_job_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("what to generate")
    group.add_argument("--prompt", help="text prompt; spoken words go in <S>...<E> spans")
    group.add_argument("--prompt-file", metavar="JSONL",
                       help="batch: one JSON object per line with \"prompt\" and optionally \"image\" (or \"image_path\"), "
                       "\"spk_wavs\", \"output\", \"seed\", \"width\", \"height\", \"duration\", \"mode\", \"rewrite\"")
    group.add_argument("--image", type=Path, help="first frame (image + text to audio+video)")
    group.add_argument("--spk-wav", type=Path, action="append", metavar="AUDIO",
                       help="reference voice, once per speech span, in order")
    group.add_argument("--output", help="file to write: .mp4 for video, .wav or .flac for audio only "
                       "(default nava.mp4 / nava.wav; in a batch, <name>_<line>.mp4 for lines without \"output\")")
    group.add_argument("--out-dir", metavar="DIR", help="folder for outputs given as relative paths")
    group.add_argument("--rewrite", action="store_true", help="rewrite every prompt into a NAVA caption with an LLM "
                       "first (a batch line may say \"rewrite\": true)")


def _add_sampling_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampling (NAVA's defaults)")
    group.add_argument("--width", type=int, default=DEFAULTS.width, help="video width, a multiple of 32")
    group.add_argument("--height", type=int, default=DEFAULTS.height, help="video height, a multiple of 32")
    length = group.add_mutually_exclusive_group()
    length.add_argument("--duration", type=float, default=DEFAULT_SECONDS,
                        help=f"seconds ({DEFAULT_SECONDS:g} s = {DEFAULTS.latent_frames} latent frames = {DEFAULTS.frames} frames)")
    length.add_argument("--latent-frames", type=int, help="latent frames instead of --duration (upstream's --frames)")
    group.add_argument("--steps", type=int, default=DEFAULTS.steps, help="denoising steps")
    group.add_argument("--seed", type=int, default=DEFAULTS.seed,
                       help="noise seed: the same seed and settings give the same file")
    group.add_argument("--shift", type=float, default=DEFAULTS.shift, help="flow-matching schedule shift")
    group.add_argument("--sampler", choices=SAMPLERS, default=DEFAULTS.sampler, help="solver")
    group.add_argument("--mode", choices=list(MODES), default=DEFAULTS.mode,
                       help=", ".join(f"{mode}: {words}" for mode, words in MODES.items()))
    scales = DEFAULTS.scales
    group.add_argument("--video-guidance-scale", type=float, default=scales.video, help="text guidance for the video")
    group.add_argument("--audio-guidance-scale", type=float, default=scales.audio, help="text guidance for the audio")
    group.add_argument("--video-align-guidance-scale", type=float, default=scales.video_align,
                       help="audio-video alignment guidance, video")
    group.add_argument("--audio-align-guidance-scale", type=float, default=scales.audio_align,
                       help="audio-video alignment guidance, audio")
    group.add_argument("--timbre-align-guidance-scale", type=float, default=scales.timbre,
                       help="reference-voice timbre guidance (used with --spk-wav)")
    group.add_argument("--max-batch", type=int, default=DEFAULTS.max_batch,
                       help="guidance passes per forward (1 = one by one)")


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("models and device")
    group.add_argument("--models", default="models", help="ComfyUI-style models/ folder; each component is found "
                       "there under any file name and folder it is published with")
    for component in COMPONENTS.values():
        group.add_argument(component_flag(component.key), type=Path, metavar="FILE",
                           help=f"{component.name}: this file instead of one in --models ({component.files_in_words})")
    group.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when a GPU is visible, else cpu)")
    group.add_argument("--dtype", choices=["auto", "bf16", "fp16", "fp32"], default="auto",
                       help="compute dtype; auto = bf16 on a GPU, fp32 on a CPU")
    group.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                       help="torch.compile the MMDiT blocks (default: on CUDA only; the first step compiles)")
    group.add_argument("--offload", action="store_true",
                       help="keep the models in CPU memory and bring each to the GPU only for its phase "
                       "(encoding, sampling, decoding): runs on 24-40 GB cards")


def _add_decode_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("decoding")
    group.add_argument("--audio-rate", type=int, choices=[16000, 48000],
                       help="48000 = vocoder output (the default), 16000 = NAVA's reference rate")
    group.add_argument("--tiled", action="store_true", help="tiled video decode (bounded memory)")
    group.add_argument("--latents-out", metavar="FILE", help="also save the final video/audio latents to this "
                       ".safetensors file (a --prompt-file adds _NNNN per line)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nava_model", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, run) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, formatter_class=_HelpFormatter)
        sub.set_defaults(run=run)
        return sub

    info = command("info", "tensor and parameter counts of a preset (no memory used)", _cmd_info)
    info.add_argument("--preset", choices=sorted(PRESETS), default="nava-6.3b", help="model preset")

    tiny = command("make-tiny", "write tiny random-weight files in the real formats", _cmd_make_tiny)
    tiny.add_argument("dir", type=Path, help="models/ folder to write into")
    tiny.add_argument("--seed", type=int, default=0, help="weight seed")

    demo = command("demo", "text + two synthetic voices to audio+video on tiny models, on a CPU", _cmd_demo)
    demo.add_argument("--out", default="demo.mp4", help="MP4 to write")
    demo.add_argument("--models", default=str(DEFAULT_TINY_DIR), help="tiny models folder (written if missing)")
    demo.add_argument("--steps", type=int, default=8, help="denoising steps")
    demo.add_argument("--seed", type=int, default=42, help="noise seed")

    generate = command("generate", "text (+ image, + voices) to audio+video, video or audio", _cmd_generate)
    _add_job_arguments(generate)
    _add_sampling_arguments(generate)
    _add_model_arguments(generate)
    _add_decode_arguments(generate)
    add_backend_arguments(generate)
    add_parallel_arguments(generate)

    add_rewrite_command(commands)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
    except (ValueError, FileNotFoundError) as exc:  # user errors: one line per problem, no traceback
        print("\n".join(f"error: {line}" for line in str(exc).splitlines()), file=sys.stderr)
        code = USER_ERROR
    if code:
        raise SystemExit(code)
