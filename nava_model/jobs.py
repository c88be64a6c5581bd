"""What `generate` is asked to do, read from its flags or a JSONL batch and checked in full before any model loads.

Every problem in every job is collected (one message each, with the batch file's line number), so a
user fixes a batch in one pass instead of meeting its errors one run at a time.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .latent_space import MODES, frames_for_duration
from .media import AUDIO_CODECS, VIDEO_SUFFIX
from .options import SamplingOptions
from .prompt import PromptError, prepare_prompt

# Keys a batch line may hold; `image_path` is upstream's name for `image`.
BATCH_KEYS = (
    "prompt", "image", "image_path", "spk_wavs", "output", "seed", "width", "height", "duration", "mode", "rewrite"
)
OUTPUT_SUFFIXES = {"av": (VIDEO_SUFFIX,), "video": (VIDEO_SUFFIX,), "audio": tuple(AUDIO_CODECS)}
VOICE_SECONDS_READ = 31.0  # NAVA embeds the first 30 s; a little more covers the resampling filter


class JobError(ValueError):
    """One or more problems in the jobs asked for; `problems` holds one message per problem."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class Job:
    """One generation: a prompt with its optional first frame and voices, its settings and output file."""

    label: str  # where it was asked for, for messages: "batch.jsonl:3" ("" for --prompt)
    prompt: str
    output: Path
    options: SamplingOptions
    image: Path | None = None
    voices: list[Path] = field(default_factory=list)
    latents: Path | None = None  # --latents-out: the final latents as safetensors
    rewrite: bool = False  # rewrite the prompt with an LLM first (see nava_model/rewrite)
    original_prompt: str | None = None  # the prompt as given, once rewritten
    rewrite_outcome: str | None = None
    line: int | None = None  # its line in the batch file

    @property
    def at(self) -> str:
        """The prefix of its messages: "batch.jsonl:3: ", or nothing for a single job."""
        return f"{self.label}: " if self.label else ""


def default_output(mode: str, stem: str = "nava", suffix: str | None = None) -> str:
    """`stem` with `suffix` if that suits `mode`, else the mode's own suffix (.mp4, or .wav for audio only)."""
    allowed = OUTPUT_SUFFIXES[mode]
    return stem + (suffix if suffix in allowed else allowed[0])


def read_batch(path: Path, base: SamplingOptions, output: str | None, out_dir: Path | None, rewrite: bool = False
               ) -> tuple[list[Job], list[str]]:
    """The jobs of a JSONL file, one per well-formed non-blank line, and a problem for each malformed one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise JobError([f"cannot read the batch file {path}: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise JobError([f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}): save it as UTF-8 JSONL"]) from None
    stem, suffix = (Path(output).with_suffix(""), Path(output).suffix) if output else (Path("nava"), None)
    jobs, problems = [], []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        label = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{label}: not valid JSON ({exc.msg} at column {exc.colno}); each line is one JSON object")
            continue
        try:
            job = _job_from_entry(entry, label, base, f"{stem}_{number:04d}", suffix, out_dir, path.parent)
            job.rewrite = job.rewrite or rewrite
            job.line = number
            jobs.append(job)
        except JobError as exc:
            problems += exc.problems
    if not jobs and not problems:
        problems.append(f"{path} holds no jobs: write one JSON object per line, e.g. {{\"prompt\": \"waves on a beach\"}}")
    return jobs, problems


def _job_from_entry(entry, label: str, base: SamplingOptions, stem: str, suffix: str | None,
                    out_dir: Path | None, batch_dir: Path) -> Job:
    if not isinstance(entry, dict):
        raise JobError([f"{label}: each line must be a JSON object {{\"prompt\": ...}}, got {type(entry).__name__}"])
    problems = []
    for key in entry:
        if key not in BATCH_KEYS:
            close = difflib.get_close_matches(key, BATCH_KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append(f"{label}: unknown key {key!r}: {hint}the keys are {', '.join(BATCH_KEYS)}")
    if "image" in entry and "image_path" in entry:
        problems.append(f"{label}: give the first frame once, as \"image\" or \"image_path\", not both")
    prompt = entry.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        problems.append(f"{label}: needs a \"prompt\" (non-empty text)")
    voices = entry.get("spk_wavs", [])
    if not isinstance(voices, list) or not all(isinstance(v, str) for v in voices):
        problems.append(f"{label}: \"spk_wavs\" must be a list of audio file paths, e.g. [\"alice.wav\"]")
        voices = []
    image = entry.get("image", entry.get("image_path"))
    if image is not None and not isinstance(image, str):
        problems.append(f"{label}: \"image\" must be a file path")
        image = None
    if "output" in entry and not isinstance(entry["output"], str):
        problems.append(f"{label}: \"output\" must be a file path")
    if "rewrite" in entry and not isinstance(entry["rewrite"], bool):
        problems.append(f"{label}: \"rewrite\" must be true or false")
    try:
        options = line_options(base, entry)
    except ValueError as exc:
        problems.append(f"{label}: {exc}")
        options = base
    if problems:
        raise JobError(problems)
    output = entry.get("output") or default_output(options.mode, stem, suffix)
    return Job(
        label=label,
        prompt=prompt,
        output=place_output(output, out_dir),
        options=options,
        image=_input_path(image, batch_dir) if image else None,
        voices=[_input_path(v, batch_dir) for v in voices],
        rewrite=entry.get("rewrite", False),
    )


def line_options(base: SamplingOptions, entry: dict) -> SamplingOptions:
    """`base` with a batch line's own seed, width, height, duration and mode."""
    changes = {}
    for key in ("seed", "width", "height"):
        if key in entry:
            if not isinstance(entry[key], int) or isinstance(entry[key], bool):
                raise ValueError(f"\"{key}\" must be a whole number, got {entry[key]!r}")
            changes[key] = entry[key]
    if "duration" in entry:
        if not isinstance(entry["duration"], (int, float)) or isinstance(entry["duration"], bool):
            raise ValueError(f"\"duration\" must be a number of seconds, got {entry['duration']!r}")
        changes["frames"] = frames_for_seconds(entry["duration"])
    if "mode" in entry:
        if entry["mode"] not in MODES:
            raise ValueError(f"\"mode\" must be one of {', '.join(MODES)}, got {entry['mode']!r}")
        changes["mode"] = entry["mode"]
    return replace(base, **changes)


def frames_for_seconds(seconds: float) -> int:
    """Pixel frames for a duration; a duration that is not positive is refused as a duration."""
    if not seconds > 0:
        raise ValueError(f"duration must be a positive number of seconds, got {seconds:g}")
    return frames_for_duration(seconds)


def place_output(output: str | os.PathLike, out_dir: Path | None) -> Path:
    """A relative output path is taken inside `out_dir` (when given)."""
    output = Path(output).expanduser()
    return out_dir / output if out_dir is not None and not output.is_absolute() else output


def _input_path(value: str, batch_dir: Path) -> Path:
    """A batch line's input file: relative to the working directory (as upstream's files are written),
    else beside the batch file."""
    path = Path(value).expanduser()
    if path.is_absolute() or path.exists() or not (batch_dir / path).exists():
        return path
    return batch_dir / path


# -- checks on the files a job names ---------------------------------------------------------------------------
def check_jobs(jobs: list[Job]) -> tuple[list[str], list[str]]:
    """Check every job's inputs and output before any model loads: (problems, warnings).

    Warnings are for what runs but disappoints: voices shorter than ReDimNet's minimum, one-frame videos.
    """
    problems, warnings = [], []
    for job in jobs:
        problems += [f"{job.at}{p}" for p in _check_prompt(job)]
        problems += [f"{job.at}{p}" for p in check_output(job.output, job.options.mode)]
        if job.image is not None:
            problems += [f"{job.at}{p}" for p in _check_image(job.image, job.options.mode)]
        for voice in job.voices:
            problem, warning = _check_voice(voice)
            problems += [f"{job.at}{problem}"] if problem else []
            warnings += [f"{job.at}{warning}"] if warning else []
        if job.options.mode != "audio" and job.options.frames == 1:
            warnings.append(f"{job.at}the video is a single frame ({1 / 24:.2f} s): give a duration of 1 s or more "
                            "for motion and sound")
    problems += _shared_outputs(jobs)
    return problems, warnings


def _check_prompt(job: Job) -> list[str]:
    try:
        prepare_prompt(job.prompt, job.voices)
    except PromptError as exc:
        return [str(exc)]
    return []


def check_output(path: Path, mode: str) -> list[str]:
    """Problems with writing a `mode` result to `path`: its suffix, a folder in its place, its folder."""
    problems = []
    allowed = OUTPUT_SUFFIXES[mode]
    if path.suffix.lower() not in allowed:
        what = "audio only" if mode == "audio" else "video"
        problems.append(f"output {path}: {what} is written as {' or '.join(allowed)}, not {path.suffix or 'a file without suffix'}: "
                        f"name it {path.with_suffix(allowed[0]).name}")
    if path.is_dir():
        return problems + [f"output {path} is a folder: give a file name inside it, e.g. {path / default_output(mode)}"]
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        problems.append(f"output {path}: {parent} is a file, not a folder: choose another output path")
    elif not os.access(parent, os.W_OK | os.X_OK):
        problems.append(f"output {path}: no permission to write in {parent}: choose a folder you can write to")
    return problems


def _check_image(path: Path, mode: str) -> list[str]:
    from PIL import Image, UnidentifiedImageError

    if mode == "audio":
        return [f"image {path}: a first frame needs a video mode (av or video), not audio only"]
    if not path.is_file():
        return [f"image {path} not found"]
    try:
        with Image.open(path) as image:
            image.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        return [f"image {path} cannot be read as an image ({exc}): give a PNG, JPEG or WebP file"]
    return []


def _check_voice(path: Path) -> tuple[str | None, str | None]:
    """(problem, warning) for a reference voice file: it must decode and hold sound; short ones are warned about."""
    from .audio_io import AudioDecodeError, load_audio
    from .speaker.redimnet import SpeakerAudioError, reference_clip, short_voice_warning

    if not path.is_file():
        return f"voice {path} not found", None
    try:
        waveform, sample_rate = load_audio(path, max_seconds=VOICE_SECONDS_READ)
        reference_clip(waveform, sample_rate)
    except (AudioDecodeError, SpeakerAudioError) as exc:
        return f"voice {path}: {exc}", None
    return None, short_voice_warning(waveform.shape[-1], sample_rate, name=f"voice {path}")


def _shared_outputs(jobs: list[Job]) -> list[str]:
    """Two jobs writing one file would lose the first result."""
    seen: dict[Path, Job] = {}
    problems = []
    for job in jobs:
        key = Path(os.path.abspath(job.output))
        if key in seen:
            problems.append(f"{job.label}: writes {job.output} as {seen[key].label} does: give each line its own \"output\"")
        seen.setdefault(key, job)
    return problems
