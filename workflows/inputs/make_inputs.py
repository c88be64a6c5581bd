"""Writes the example inputs of the shipped workflows, deterministically, with numpy alone.

    python workflows/inputs/make_inputs.py [OUT_DIR]     # default: this folder

- `nava_first_frame.png`: a 320x176 first frame (the 1280x704 aspect; the sampler scales and crops it).
- `nava_voice_{1,2,3}.wav`: three 3-second 16 kHz mono "voices": vowel-like formant synthesis at different
  pitches and vowel sequences, so a speaker encoder sees three distinct timbres. They are stand-ins for
  a few seconds of clean recorded speech, which is what a reference voice should be.
"""

from __future__ import annotations

import struct
import sys
import wave
import zlib
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16000
SECONDS = 3.0
# (pitch Hz, vowels spoken in turn); formants F1, F2, F3 in Hz per vowel
VOICES = {
    "nava_voice_1.wav": (115.0, "aoeu"),
    "nava_voice_2.wav": (215.0, "eiao"),
    "nava_voice_3.wav": (160.0, "uoai"),
}
FORMANTS = {"a": (730, 1090, 2440), "e": (530, 1840, 2480), "i": (270, 2290, 3010), "o": (570, 840, 2410), "u": (300, 870, 2240)}
BANDWIDTH = 90.0  # Hz, each formant's half-power width


def formant_gain(frequency: np.ndarray, formants: tuple[int, ...]) -> np.ndarray:
    """Spectral envelope of a vowel: a sum of resonance peaks, evaluated at the harmonic frequencies."""
    return sum(1.0 / (1.0 + ((frequency - f) / BANDWIDTH) ** 2) for f in formants)


def voice(pitch: float, vowels: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(SECONDS * SAMPLE_RATE)) / SAMPLE_RATE
    f0 = pitch * (1 + 0.04 * np.sin(2 * np.pi * 4.5 * t) + 0.02 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
    syllable = np.minimum((t * len(vowels) / SECONDS).astype(int), len(vowels) - 1)
    signal = np.zeros_like(t)
    for k in range(1, int(3800 // pitch)):
        gains = np.array([formant_gain(np.asarray(k * pitch), FORMANTS[v]) for v in vowels])
        signal += gains[syllable] * np.sin(k * phase) / np.sqrt(k)
    # syllables: a rise and fall per vowel, with short pauses between them
    position = (t * len(vowels) / SECONDS) % 1.0
    envelope = np.clip(np.sin(np.pi * position) * 1.4, 0.0, 1.0) ** 1.5
    signal = signal * envelope + 0.003 * rng.standard_normal(t.shape)
    return 0.6 * signal / np.abs(signal).max()


def write_wav(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def first_frame(width: int = 320, height: int = 176) -> np.ndarray:
    """A sunset over the sea with a pier: smooth gradients that compress well."""
    y, x = np.mgrid[0:height, 0:width] / np.array([height, width])[:, None, None]
    horizon = 0.55
    sky = np.stack([0.95 - 0.3 * y, 0.55 - 0.2 * y + 0.25 * (1 - y), 0.45 + 0.4 * y], -1)
    sun = np.exp(-(((x - 0.7) * 2.2) ** 2 + ((y - 0.42) * 4.0) ** 2) * 6)[..., None] * np.array([0.3, 0.25, 0.05])
    sea = np.stack([0.15 + 0.2 * (1 - y), 0.3 + 0.1 * (1 - y), 0.5 + 0.15 * y], -1)
    waves = 0.04 * np.sin(60 * y + 8 * x)[..., None]
    image = np.where(y[..., None] < horizon, sky + sun, sea + waves)
    pier = (x > 0.15) & (x < 0.22) & (y > horizon - 0.05)
    image[pier] = (0.25, 0.18, 0.12)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def write_png(path: Path, rgb: np.ndarray) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    height, width, _ = rgb.shape
    rows = b"".join(b"\x00" + rgb[row].tobytes() for row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for seed, (name, (pitch, vowels)) in enumerate(VOICES.items()):
        write_wav(out / name, voice(pitch, vowels, seed))
    write_png(out / "nava_first_frame.png", first_frame())


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent)
