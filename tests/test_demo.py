"""The README's first command: the whole pipeline on tiny models, checked by opening the MP4."""

import subprocess
import sys

import av


def test_demo_writes_mp4_with_24fps_video_and_stereo_audio_of_the_same_length(tmp_path):
    out = tmp_path / "demo.mp4"
    subprocess.run(
        [sys.executable, "-m", "nava_model", "demo", "--out", str(out), "--models", str(tmp_path / "models")],
        check=True,
        timeout=300,
    )
    with av.open(str(out)) as container:
        (video,) = container.streams.video
        (audio,) = container.streams.audio
        video_seconds = float(video.duration * video.time_base)
        audio_seconds = float(audio.duration * audio.time_base)
        assert float(video.average_rate) == 24.0
        assert audio.channels == 2
        assert abs(audio_seconds - video_seconds) <= 1 / 24
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial file left behind
