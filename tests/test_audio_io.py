"""load_audio: decoding through PyAV, and clear errors for files that hold no usable audio."""

import wave

import av
import numpy as np
import pytest
from PIL import Image

from nava_model.audio_io import AudioDecodeError, load_audio

RATE = 16000


def tone(seconds: float = 0.5, rate: int = RATE) -> np.ndarray:
    """Stereo float32 [2, N]: 440 Hz left, 220 Hz at half level right."""
    t = np.arange(int(seconds * rate)) / rate
    return np.stack([0.8 * np.sin(2 * np.pi * 440 * t), 0.4 * np.sin(2 * np.pi * 220 * t)]).astype(np.float32)


def write_wav(path, samples: np.ndarray, rate: int = RATE):
    pcm = np.round(samples.T * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(samples.shape[0])
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def write_encoded(path, codec: str, samples: np.ndarray, rate: int = 44100):
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout="stereo")
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


def test_wav_decodes_to_float_channels_first(tmp_path):
    samples = tone()
    waveform, rate = load_audio(write_wav(tmp_path / "voice.wav", samples))
    assert rate == RATE and waveform.dtype.is_floating_point and waveform.shape == samples.shape
    assert np.abs(waveform.numpy() - samples).max() < 1e-4


def test_mono_wav_has_one_channel(tmp_path):
    waveform, _ = load_audio(write_wav(tmp_path / "mono.wav", tone()[:1]))
    assert waveform.shape == (1, RATE // 2)


@pytest.mark.parametrize("suffix,codec", [("flac", "flac"), ("mp3", "libmp3lame"), ("m4a", "aac")])
def test_compressed_formats_decode(tmp_path, suffix, codec):
    samples = tone(1.0, 44100)
    waveform, rate = load_audio(write_encoded(tmp_path / f"voice.{suffix}", codec, samples))
    assert rate == 44100 and waveform.shape[0] == 2 and waveform.shape[1] >= 44100 * 0.9
    assert 0.5 < waveform[0].abs().max() < 1.5


def test_max_seconds_keeps_only_the_start(tmp_path):
    samples = tone(2.0)
    waveform, _ = load_audio(write_wav(tmp_path / "long.wav", samples), max_seconds=0.5)
    assert waveform.shape == (2, RATE // 2)
    assert np.abs(waveform.numpy() - samples[:, : RATE // 2]).max() < 1e-4


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(AudioDecodeError, match="not found"):
        load_audio(tmp_path / "absent.wav")


def test_text_file_renamed_wav_is_reported(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("these are meeting notes, not a recording\n" * 20)
    with pytest.raises(AudioDecodeError, match="not an audio file"):
        load_audio(path)


def test_wav_truncated_inside_its_header_is_reported(tmp_path):
    full = write_wav(tmp_path / "full.wav", tone())
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[:30])
    with pytest.raises(AudioDecodeError, match="not an audio file"):
        load_audio(cut)


def test_wav_with_no_samples_is_reported(tmp_path):
    with pytest.raises(AudioDecodeError, match="no audio samples"):
        load_audio(write_wav(tmp_path / "empty.wav", np.zeros((2, 0), np.float32)))


def test_file_without_audio_stream_is_reported(tmp_path):
    path = tmp_path / "picture.png"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(AudioDecodeError, match="no audio stream"):
        load_audio(path)
