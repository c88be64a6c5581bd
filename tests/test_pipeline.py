"""Pipeline rules that need no real model: sizes, durations, validation order, noise layout."""

import pytest
import torch

from nava_model.latent_space import frames_for_duration
from nava_model.options import SamplingOptions
from nava_model.pipeline import Conditioning, encode_conditioning, initial_noise, negative_context
from nava_model.prompt import PromptError


class RecordingTextEncoder:
    """Fails the test if anything is encoded: validation must come first."""

    placeholder_token_id = 7

    def encode(self, texts):
        raise AssertionError(f"encoded {texts!r} although the prompt is invalid")


@pytest.mark.parametrize(
    "prompt,voices",
    [
        ("<S>hello", []),  # <S> without <E>
        ("<S>one<E> and <S>two<E>", [(torch.zeros(1, 16000), 16000)] * 3),  # more voices than spans
    ],
)
def test_invalid_prompt_is_rejected_before_encoding(prompt, voices):
    with pytest.raises(PromptError):
        encode_conditioning(RecordingTextEncoder(), None, prompt, voices)


def test_voices_without_speaker_encoder_are_rejected_before_encoding():
    with pytest.raises(PromptError, match="ReDimNet"):
        encode_conditioning(RecordingTextEncoder(), None, "<S>hi<E>", [(torch.zeros(1, 16000), 16000)])


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"width": 1000}, "multiple of 32"),
        ({"height": 0}, "multiple of 32"),
        ({"frames": 144}, "4k \\+ 1"),
        ({"steps": 0}, "steps"),
        ({"mode": "stereo"}, "mode"),
        ({"sampler": "ddim"}, "sampler"),
    ],
)
def test_bad_sampling_options_name_the_fix(changes, message):
    with pytest.raises(ValueError, match=message):
        SamplingOptions(**changes)


def test_default_options_are_navas_six_seconds():
    options = SamplingOptions()
    assert (options.latent_frames, options.audio_tokens) == (37, 152)
    assert options.duration == pytest.approx(6.042, abs=1e-3)


@pytest.mark.parametrize("seconds,frames", [(6, 145), (1, 25), (10, 241), (2, 49)])
def test_duration_maps_to_six_latent_frames_per_second(seconds, frames):
    assert frames_for_duration(seconds) == frames


def test_noise_is_drawn_video_token_major_then_audio():
    options = SamplingOptions(width=64, height=32, frames=5)
    video, audio = initial_noise(options, torch.Generator().manual_seed(3))
    reference = torch.randn(2 * 2 * 4 * 48 + options.audio_tokens * 128, generator=torch.Generator().manual_seed(3))
    assert torch.equal(video[0].permute(1, 2, 3, 0).reshape(-1), reference[: 2 * 2 * 4 * 48])
    assert torch.equal(audio.reshape(-1), reference[2 * 2 * 4 * 48 :])


@pytest.mark.parametrize("mode,negative", [("av", "video"), ("video", "video"), ("audio", "audio")])
def test_only_audio_only_runs_use_the_audio_negative_prompt(mode, negative):
    contexts = {"video": torch.zeros(1, 2, 4), "audio": torch.ones(1, 3, 4)}
    conditioning = Conditioning(torch.zeros(1, 1, 4), contexts["video"], contexts["audio"], speaker=None)
    assert negative_context(conditioning, mode) is contexts[negative]
