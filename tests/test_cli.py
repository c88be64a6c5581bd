"""The command line: every user error is found before a model loads, exits with code 2 and names the fix;
a batch runs on past a failing line; per-line settings and output formats; the real run on tiny models."""

import argparse
import json
import logging
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import av
import pytest
import torch

from nava_model import cli
from nava_model.media import write_audio


class _Stop(Exception):
    """Raised by the patched model loader: the job got past every check."""


@pytest.fixture
def no_model_loading(monkeypatch):
    """Model loading patched to fail, so a test proves an error came before any model was built."""
    calls = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise _Stop("models would load here")

    monkeypatch.setattr("nava_model.components.load_models", refuse)
    return calls


def _generate(capsys, *args):
    """Exit code ("loaded" when the patched loader was reached), stdout, stderr."""
    try:
        cli.main(["generate", "--width", "64", "--height", "32", "--duration", "1", *map(str, args)])
        code = 0
    except SystemExit as exc:
        code = exc.code
    except _Stop:
        code = "loaded"
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _voice(path: Path, seconds: float = 1.5, amplitude: float = 0.3) -> Path:
    t = torch.arange(int(seconds * 16000)) / 16000
    write_audio(path, amplitude * torch.sin(2 * torch.pi * 220 * t)[None], 16000)
    return path


def _batch(path: Path, *lines) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def _image(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (40, 30), (200, 100, 50)).save(path)
    return path


# -- finding 1: output path, device and image checked before anything runs ----------------------------------------
def test_output_that_is_a_folder_is_refused_before_loading(tmp_path, capsys, no_model_loading):
    code, _, err = _generate(capsys, "--prompt", "rain", "--output", tmp_path)
    assert code == 2 and not no_model_loading
    assert f"output {tmp_path} is a folder" in err and "Traceback" not in err


def test_output_whose_parent_is_a_file_is_refused_and_the_file_kept(tmp_path, capsys, no_model_loading):
    blocker = tmp_path / "clip"
    blocker.write_text("keep me")
    code, _, err = _generate(capsys, "--prompt", "rain", "--output", blocker / "out.mp4")
    assert code == 2 and not no_model_loading
    assert f"{blocker} is a file, not a folder" in err
    assert blocker.read_text() == "keep me"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA GPU")
def test_cuda_device_without_a_gpu_is_refused_before_loading(tmp_path, capsys, no_model_loading):
    code, _, err = _generate(capsys, "--prompt", "rain", "--device", "cuda", "--output", tmp_path / "a.mp4")
    assert code == 2 and not no_model_loading
    assert "--device cuda: torch sees no CUDA GPU" in err and "--device cpu" in err


def test_image_that_is_not_an_image_is_refused_before_loading(tmp_path, capsys, no_model_loading):
    fake = tmp_path / "frame.png"
    fake.write_text("not a picture")
    code, _, err = _generate(capsys, "--prompt", "rain", "--image", fake, "--output", tmp_path / "a.mp4")
    assert code == 2 and not no_model_loading
    assert f"image {fake} cannot be read as an image" in err


# -- finding 2: the whole batch checked first, every problem with its line number -----------------------------------
def test_every_bad_batch_line_is_reported_with_its_line_number_before_loading(tiny_models, tmp_path, capsys,
                                                                             no_model_loading):
    silent = _voice(tmp_path / "silent.wav", amplitude=0.0)
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("hello")
    batch = _batch(
        tmp_path / "batch.jsonl",
        {"prompt": "waves", "output": str(tmp_path / "ok.mp4")},
        '{"prompt": "broken" "output": 1}',
        {"prompt": "no span here", "spk_wavs": [str(_voice(tmp_path / "v.wav"))]},
        {"prompt": "<S>Hi.<E>", "spk_wavs": [str(silent)]},
        {"prompt": "<S>Hi.<E>", "spk_wavs": [str(not_audio)]},
    )
    code, _, err = _generate(capsys, "--models", tiny_models, "--prompt-file", batch, "--output", tmp_path / "out.mp4")
    assert code == 2 and not no_model_loading
    lines = err.strip().splitlines()
    assert len(lines) == 4  # one message per problem, line 1 has none
    assert lines[0].startswith(f"error: {batch}:2: not valid JSON")
    assert f"{batch}:3: 1 reference voice(s) but 0 speech span(s)" in lines[1]
    assert f"{batch}:4: voice {silent}: reference voice is silent" in lines[2]
    assert f"{batch}:5: voice {not_audio}: notes.wav is not an audio file" in lines[3]


def test_a_line_failing_at_run_time_is_reported_and_the_rest_still_run(tiny_models, tmp_path, capsys, caplog,
                                                                        monkeypatch):
    models = SimpleNamespace(mmdit=SimpleNamespace())
    monkeypatch.setattr("nava_model.components.load_models", lambda *args, **kwargs: models)

    def run_job(job, models, audio_rate, tiled, *parallel_device_offload):
        if job.prompt == "fails":
            raise RuntimeError("out of memory")
        job.output.write_bytes(b"mp4")
        return job.output

    monkeypatch.setattr(cli, "run_job", run_job)
    batch = _batch(tmp_path / "b.jsonl", {"prompt": "fails"}, {"prompt": "works"})
    code, out, _ = _generate(capsys, "--models", tiny_models, "--prompt-file", batch, "--out-dir", tmp_path)
    assert code == 1
    assert (tmp_path / "nava_0002.mp4").read_bytes() == b"mp4"
    assert f"{batch}:1: generation failed" in caplog.text and "RuntimeError: out of memory" in caplog.text  # with its traceback
    assert f"1 of 2 written\n  {tmp_path / 'nava_0002.mp4'}; 1 failed:\n  {batch}:1: out of memory" in out


# -- finding 3: the model files under every published name and folder, or given one by one ----------------------------
def _loaded_files(monkeypatch):
    """Model loading patched to record the files it was given, then stop."""
    seen = {}

    def record(*args, files=None, **kwargs):
        seen.update(files)
        raise _Stop("models would load here")

    monkeypatch.setattr("nava_model.components.load_models", record)
    return seen


def test_model_files_are_found_under_their_other_names_and_folders(tiny_models, tmp_path, capsys, monkeypatch):
    tree = tmp_path / "models"
    renamed = {
        "nava/NAVA.safetensors": "diffusion_models/NAVA_fp8.safetensors",
        "vae/wan2.2_vae.safetensors": "vae/wan2.2_vae.safetensors",
        "vae/ltx-2.3-22b-dev_audio_vae.safetensors": "checkpoints/ltx-2-19b-dev.safetensors",
        "text_encoders/umt5_xxl_fp16.safetensors": "text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    }
    for release, other in renamed.items():
        (tree / other).parent.mkdir(parents=True, exist_ok=True)
        (tree / other).symlink_to(tiny_models / release)
    seen = _loaded_files(monkeypatch)
    code, _, err = _generate(capsys, "--models", tree, "--prompt", "rain", "--output", tmp_path / "a.mp4")
    assert code == "loaded", err
    assert seen == {
        "mmdit": tree / "diffusion_models/NAVA_fp8.safetensors",
        "video_vae": tree / "vae/wan2.2_vae.safetensors",
        "audio_vae": tree / "checkpoints/ltx-2-19b-dev.safetensors",
        "text_encoder": tree / "text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors",
    }


def test_a_component_file_given_on_the_command_line_is_used(tiny_models, tmp_path, capsys, monkeypatch):
    mmdit = tmp_path / "elsewhere" / "my_nava.safetensors"
    mmdit.parent.mkdir()
    mmdit.symlink_to(tiny_models / "nava" / "NAVA.safetensors")
    seen = _loaded_files(monkeypatch)
    code, _, _ = _generate(capsys, "--models", tiny_models, "--mmdit", mmdit, "--prompt", "rain",
                           "--output", tmp_path / "a.mp4")
    assert code == "loaded" and seen["mmdit"] == mmdit


def test_every_missing_model_file_is_named_before_loading(tmp_path, capsys, no_model_loading):
    code, _, err = _generate(capsys, "--models", tmp_path / "empty", "--video-vae", tmp_path / "none.safetensors",
                             "--prompt", "rain", "--output", tmp_path / "a.mp4")
    assert code == 2 and not no_model_loading
    assert f"--video-vae {tmp_path / 'none.safetensors'}: file not found" in err
    for name in ("NAVA.safetensors", "ltx-2.3-22b-dev_audio_vae.safetensors", "umt5_xxl_fp16.safetensors"):
        assert name in err
    assert "ReDimNet" not in err  # no voices: no speaker encoder needed


# -- finding 4: nothing silently ignored -------------------------------------------------------------------------
def test_upstream_image_path_key_is_the_first_frame(tmp_path):
    from nava_model.jobs import read_batch
    from nava_model.options import SamplingOptions

    image = _image(tmp_path / "first.png")
    batch = _batch(tmp_path / "b.jsonl", {"prompt": "a cat", "image_path": str(image), "spk_wavs": []})
    (job,), problems = read_batch(batch, SamplingOptions(width=64, height=32, frames=5), None, None)
    assert job.image == image and not problems


def test_misspelled_key_is_an_error_that_suggests_the_right_one(tmp_path, capsys, no_model_loading):
    batch = _batch(tmp_path / "b.jsonl", {"prompt": "<S>Hi.<E>", "spk_wav": ["a.wav"]})
    code, _, err = _generate(capsys, "--prompt-file", batch)
    assert code == 2 and not no_model_loading
    assert f"{batch}:1: unknown key 'spk_wav': did you mean 'spk_wavs'?" in err


def test_prompt_image_or_voice_flags_with_a_prompt_file_are_an_error(tmp_path, capsys, no_model_loading):
    batch = _batch(tmp_path / "b.jsonl", {"prompt": "rain"})
    code, _, err = _generate(capsys, "--prompt-file", batch, "--prompt", "x", "--spk-wav", "v.wav")
    assert code == 2 and not no_model_loading
    assert "--prompt, --spk-wav cannot be combined with --prompt-file" in err


def test_prompt_beyond_the_text_window_is_warned_about(loaded_tiny_models, caplog):
    from nava_model.pipeline import encode_conditioning

    models = loaded_tiny_models
    with caplog.at_level(logging.WARNING, logger="nava"):
        encode_conditioning(models.text_encoder, None, "rain on a tin roof " * 200)
    assert "tokens longer than umT5's 512-token window" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="nava"):
        encode_conditioning(models.text_encoder, None, "rain on a tin roof")
    assert "window" not in caplog.text


# -- finding 5: the output suffix matches the mode; files get the user's umask ---------------------------------------
@pytest.mark.parametrize(
    ("mode", "name", "fix"), [("av", "x.wav", "x.mp4"), ("audio", "x.mp4", "x.wav"), ("video", "x", "x.mp4")]
)
def test_output_suffix_that_does_not_fit_the_mode_is_refused(tmp_path, capsys, no_model_loading, mode, name, fix):
    code, _, err = _generate(capsys, "--prompt", "rain", "--mode", mode, "--output", tmp_path / name)
    assert code == 2 and not no_model_loading
    assert f"name it {fix}" in err


def test_make_tiny_files_get_the_users_umask(tmp_path):
    import os

    previous = os.umask(0o022)
    try:
        cli.main(["make-tiny", str(tmp_path / "models")])
    finally:
        os.umask(previous)
    modes = {path.stat().st_mode & 0o777 for path in (tmp_path / "models").rglob("*") if path.is_file()}
    assert modes == {0o644}


# -- finding 7: help -----------------------------------------------------------------------------------------------
def test_help_shows_a_line_and_the_default_for_every_option():
    commands = next(a for a in cli.build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    generate = commands.choices["generate"]
    text = generate.format_help()
    for action in generate._actions:
        assert action.help, f"{action.option_strings} has no help"
        if action.default not in (None, False, argparse.SUPPRESS):
            assert f"(default: {action.default})" in " ".join(text.split()), action.option_strings


# -- finding 8: messages and warnings ------------------------------------------------------------------------------
def test_a_size_that_is_not_a_multiple_of_32_is_refused_before_loading(tmp_path, capsys, no_model_loading):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["generate", "--prompt", "rain", "--width", "1000", "--output", str(tmp_path / "a.mp4")])
    assert stopped.value.code == 2 and not no_model_loading
    assert "1000" in capsys.readouterr().err


def test_negative_duration_is_reported_as_a_duration(tmp_path, capsys, no_model_loading):
    with pytest.raises(SystemExit) as stopped:
        cli.main(["generate", "--prompt", "rain", "--duration", "-1", "--output", str(tmp_path / "a.mp4")])
    assert stopped.value.code == 2 and not no_model_loading
    assert "--duration: duration must be a positive number of seconds, got -1" in capsys.readouterr().err


def test_short_voice_and_single_frame_video_are_warned_about(tiny_models, tmp_path, capsys, caplog, no_model_loading):
    short = _voice(tmp_path / "short.wav", seconds=0.05)
    with caplog.at_level(logging.WARNING, logger="nava"):
        code, _, _ = _generate(capsys, "--models", tiny_models, "--prompt", "<S>Hi.<E>", "--spk-wav", short,
                               "--duration", "0.05",
                               "--output", tmp_path / "a.mp4")
    assert code == "loaded"  # warnings only: the job went on to load the models
    assert f"voice {short} is only 0.05 s long" in caplog.text
    assert "the video is a single frame" in caplog.text


# -- the real thing, on tiny models ----------------------------------------------------------------------------------
def _run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "nava_model", *args], capture_output=True, text=True, **kwargs)


def test_info_reports_the_released_model_size_without_allocating():
    result = _run("info", "--preset", "nava-6.3b", check=True)
    assert "1052 tensors, 6,296,995,520 parameters" in result.stdout


def test_batch_lines_carry_their_own_size_mode_and_output(tiny_models, tmp_path):
    batch = _batch(
        tmp_path / "batch.jsonl",
        {"prompt": "waves on a beach", "output": "beach.mp4", "width": 96, "seed": 7},
        {"prompt": "a bell rings", "mode": "audio", "output": "bell.flac"},
        {"prompt": "a dog barks", "mode": "audio"},
    )
    result = _run(
        "generate", "--models", str(tiny_models), "--prompt-file", str(batch), "--width", "64", "--height", "32",
        "--latent-frames", "2", "--steps", "2", "--out-dir", str(tmp_path / "out"), timeout=600,
    )
    assert result.returncode == 0, result.stderr
    with av.open(str(tmp_path / "out" / "beach.mp4")) as container:
        (video,) = container.streams.video
        assert (video.width, video.height) == (96, 32) and len(container.streams.audio) == 1
    with av.open(str(tmp_path / "out" / "bell.flac")) as container:
        assert container.format.name == "flac" and not container.streams.video
    with av.open(str(tmp_path / "out" / "nava_0003.wav")) as container:
        assert container.streams.audio[0].codec_context.name == "pcm_s16le"
    assert "3 of 3 written" in result.stdout


def test_compile_flag_maps_to_the_model_choice():
    parse = cli.build_parser().parse_args
    assert [parse(["generate", *flag]).compile for flag in ([], ["--compile"], ["--no-compile"])] == [None, True, False]

