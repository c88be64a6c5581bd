"""The README's first command: the whole pipeline on tiny models, checked by opening the MP4; run twice, it
writes the same bytes (same seed, same settings)."""

import subprocess
import sys

import av
import pytest


@pytest.fixture(scope="module")
def two_demo_runs(tmp_path_factory):
    """The README demo run twice as a user would: the first run writes the tiny models, the second reuses them."""
    folder = tmp_path_factory.mktemp("demo")
    outputs = [folder / "first" / "demo.mp4", folder / "second" / "demo.mp4"]
    for out in outputs:
        out.parent.mkdir()
        subprocess.run(
            [sys.executable, "-m", "nava_model", "demo", "--out", str(out), "--models", str(folder / "models")],
            check=True,
            timeout=600,
        )
    return outputs


def test_demo_writes_mp4_with_24fps_video_and_stereo_audio_of_the_same_length(two_demo_runs):
    out = two_demo_runs[0]
    with av.open(str(out)) as container:
        (video,) = container.streams.video
        (audio,) = container.streams.audio
        video_seconds = float(video.duration * video.time_base)
        audio_seconds = float(audio.duration * audio.time_base)
        assert float(video.average_rate) == 24.0
        assert audio.channels == 2
        assert abs(audio_seconds - video_seconds) <= 1 / 24
    assert [p.name for p in out.parent.iterdir()] == ["demo.mp4"]  # no partial file left behind


def test_demo_run_twice_writes_identical_files(two_demo_runs):
    first, second = two_demo_runs
    assert first.read_bytes() == second.read_bytes()
