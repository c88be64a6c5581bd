"""The command line: info on the meta device, and generate from a JSONL batch on the tiny models."""

import json
import subprocess
import sys

import av


def _run(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "nava_model", *args], capture_output=True, text=True, **kwargs)


def test_info_reports_the_released_model_size_without_allocating():
    result = _run("info", "--preset", "nava-6.3b", check=True)
    assert "1052 tensors, 6,296,995,520 parameters" in result.stdout


def test_generate_runs_a_jsonl_batch_and_writes_one_file_per_line(tiny_models, tmp_path):
    batch = tmp_path / "batch.jsonl"
    lines = [
        {"prompt": "waves on a beach", "output": str(tmp_path / "beach.mp4")},
        {"prompt": "a bell rings"},
    ]
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    _run(
        "generate", "--models", str(tiny_models), "--prompt-file", str(batch), "--width", "64", "--height", "32",
        "--latent-frames", "2", "--steps", "2", "--output", str(tmp_path / "out.mp4"), check=True, timeout=300,
    )
    for path in (tmp_path / "beach.mp4", tmp_path / "out_0002.mp4"):
        with av.open(str(path)) as container:
            assert len(container.streams.video) == 1 and len(container.streams.audio) == 1


def test_generate_rejects_a_bad_size_before_loading_models(tmp_path):
    result = _run("generate", "--models", str(tmp_path / "none"), "--prompt", "x", "--width", "1000")
    assert result.returncode == 2
    assert "width 1000 is not a positive multiple of 32" in result.stderr


def test_compile_flag_maps_to_the_model_choice():
    from nava_model.cli import build_parser

    parse = build_parser().parse_args
    assert [parse(["generate", *flag]).compile for flag in ([], ["--compile"], ["--no-compile"])] == [None, True, False]
