"""The one denoising loop in each mode (T2AV, TI2AV, T2V, T2A) on the tiny models."""

import pytest
import torch

from nava_model.options import SamplingOptions
from nava_model.pipeline import AVLatent, decode, encode_conditioning, encode_first_frame, sample

SMALL = dict(width=64, height=32, frames=9, steps=3)


@pytest.fixture(scope="module")
def conditioning(loaded_tiny_models):
    voice = torch.sin(torch.arange(16000) / 16000 * 2 * torch.pi * 180)[None] * 0.3
    return encode_conditioning(
        loaded_tiny_models.text_encoder,
        loaded_tiny_models.speaker_encoder,
        "A man says <S>hello there<E> and a woman says <S>hi<E>.",
        [(voice, 16000)],  # second span has no voice: null speaker token
    )


def test_conditioning_binds_voices_to_spans_in_order(conditioning):
    assert conditioning.voices_bound == [True, False]
    assert conditioning.speaker.embeddings.shape == (1, 2, 192)
    assert conditioning.speaker.embeddings[0, 1].abs().sum() == 0  # -> the model's null token
    assert (conditioning.speaker.positions >= 0).all()


@pytest.mark.parametrize("mode,has_video,has_audio", [("av", True, True), ("video", True, False), ("audio", False, True)])
def test_each_mode_denoises_only_its_modalities(loaded_tiny_models, conditioning, mode, has_video, has_audio):
    options = SamplingOptions(**SMALL, mode=mode)
    latent = sample(loaded_tiny_models.mmdit, conditioning, options)
    assert (latent.video is not None, latent.audio is not None) == (has_video, has_audio)
    if has_video:
        assert latent.video.shape == (1, 48, 3, 2, 4)
    if has_audio:
        assert latent.audio.shape == (1, options.audio_tokens, 128)
    for x in (latent.video, latent.audio):
        assert x is None or torch.isfinite(x).all()


def test_same_seed_gives_the_same_latent(loaded_tiny_models, conditioning):
    options = SamplingOptions(**SMALL)
    first, second = (sample(loaded_tiny_models.mmdit, conditioning, options) for _ in range(2))
    assert torch.equal(first.video, second.video) and torch.equal(first.audio, second.audio)


def test_image_to_video_pins_the_first_latent_frame(loaded_tiny_models, conditioning):
    image = torch.rand(40, 80, 3)
    options = SamplingOptions(**SMALL)
    first_frame = encode_first_frame(loaded_tiny_models.video_vae, image, options.width, options.height)
    latent = sample(loaded_tiny_models.mmdit, conditioning, options, first_frame=first_frame)
    assert torch.equal(latent.video[:, :, :1], first_frame)


def test_callback_sees_every_step_and_can_cancel(loaded_tiny_models, conditioning):
    seen = []

    class Cancelled(Exception):
        pass

    def callback(step, total, preview):
        seen.append((step, total, preview.video.shape))
        if step == 1:
            raise Cancelled

    with pytest.raises(Cancelled):
        sample(loaded_tiny_models.mmdit, conditioning, SamplingOptions(**SMALL), callback=callback)
    assert [s[:2] for s in seen] == [(0, 3), (1, 3)]


@pytest.mark.parametrize("audio_rate", [None, 16000])
def test_decode_gives_comfyui_layouts(loaded_tiny_models, audio_rate):
    latent = AVLatent(video=torch.randn(1, 48, 3, 2, 4), audio=torch.randn(1, 10, 128))
    result = decode(loaded_tiny_models.video_vae, loaded_tiny_models.audio_vae, latent, audio_rate=audio_rate)
    assert result.frames.shape == (9, 32, 64, 3)
    assert 0 <= result.frames.min() and result.frames.max() <= 1
    assert result.waveform.shape[:2] == (1, 2)
    assert result.sample_rate == (audio_rate or 48000)
    if audio_rate == 16000:
        assert result.waveform.abs().max() <= 0.99
