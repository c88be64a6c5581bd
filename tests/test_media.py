"""MP4 / WAV / FLAC writing: streams, durations, atomic replacement."""

import av
import pytest
import torch

from nava_model.media import write_audio, write_mp4


def _streams(path):
    with av.open(str(path)) as container:
        video = container.streams.video
        audio = container.streams.audio
        return (
            [(s.codec_context.name, float(s.average_rate), float(s.duration * s.time_base)) for s in video],
            [(s.codec_context.name, s.rate, s.channels, float(s.duration * s.time_base)) for s in audio],
            dict(container.metadata),
        )


def test_mp4_has_h264_and_stereo_aac_cut_to_video_length(tmp_path):
    frames = torch.rand(25, 64, 96, 3)
    waveform = 0.1 * torch.randn(1, 2, 48000 * 3)  # 3 s of audio for ~1.04 s of video
    path = write_mp4(tmp_path / "clip.mp4", frames, 24.0, waveform, 48000, {"prompt": "a test"})
    videos, audios, metadata = _streams(path)
    assert [v[:2] for v in videos] == [("h264", 24.0)]
    assert [a[:3] for a in audios] == [("aac", 48000, 2)]
    assert abs(audios[0][3] - videos[0][2]) <= 1 / 24
    assert metadata["prompt"] == "a test"


def test_mp4_rejects_odd_frame_size_before_writing(tmp_path):
    target = tmp_path / "odd.mp4"
    with pytest.raises(ValueError, match="even"):
        write_mp4(target, torch.rand(5, 63, 64, 3), 24.0)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_keeps_existing_file_and_leaves_no_partial(tmp_path):
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"previous result")
    with pytest.raises(ValueError):
        write_mp4(target, torch.rand(5, 32, 32, 3), 24.0, torch.zeros(3, 100), 48000)  # 3 channels: invalid
    assert target.read_bytes() == b"previous result"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


@pytest.mark.parametrize("suffix,codec", [(".wav", "pcm_s16le"), (".flac", "flac")])
def test_audio_file_round_trips_duration_and_channels(tmp_path, suffix, codec):
    path = write_audio(tmp_path / f"voice{suffix}", 0.2 * torch.randn(2, 32000), 16000)
    _, audios, _ = _streams(path)
    assert audios[0][:3] == (codec, 16000, 2)
    assert audios[0][3] == pytest.approx(2.0, abs=1e-3)


def test_audio_rejects_unknown_suffix(tmp_path):
    with pytest.raises(ValueError, match=".wav or .flac"):
        write_audio(tmp_path / "x.ogg", torch.zeros(1, 10), 16000)


@pytest.fixture
def busy_cpu():
    """A thread keeping the CPU busy: x264's output used to depend on timing, which load changes."""
    import threading

    stop = threading.Event()

    def burn():
        x = torch.randn(256, 256)
        while not stop.is_set():
            x = (x @ x).tanh()

    thread = threading.Thread(target=burn)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_same_frames_and_sound_always_encode_to_the_same_bytes(tmp_path, busy_cpu):
    generator = torch.Generator().manual_seed(0)
    # Smooth random blobs, like the tiny demo's frames: with x264's macroblock tree on, 5 encodes gave 5 files.
    coarse = torch.rand(49, 3, 12, 20, generator=generator)
    frames = torch.nn.functional.interpolate(coarse, size=(192, 320), mode="bilinear").permute(0, 2, 3, 1)
    waveform = 0.1 * torch.randn(1, 2, 98400, generator=generator)
    files = {write_mp4(tmp_path / f"{i}.mp4", frames, 24.0, waveform, 48000, {"prompt": "p"}).read_bytes()
             for i in range(4)}
    assert len(files) == 1


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_written_files_get_the_users_umask(tmp_path, umask):
    import os

    previous = os.umask(umask)
    try:
        video = write_mp4(tmp_path / "clip.mp4", torch.rand(5, 32, 32, 3), 24.0)
        sound = write_audio(tmp_path / "voice.flac", torch.zeros(1, 100), 16000)
    finally:
        os.umask(previous)
    assert {path.stat().st_mode & 0o777 for path in (video, sound)} == {0o666 & ~umask}
