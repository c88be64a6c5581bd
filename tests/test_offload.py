"""--offload: each model is on the device only for its phase and back in CPU memory after it."""

import torch

from nava_model import offload
from nava_model.cli import build_parser, run_jobs
from nava_model.jobs import Job
from nava_model.pipeline import SamplingOptions


class Recorded(torch.nn.Linear):
    """A module that records where it is sent."""

    def __init__(self):
        super().__init__(2, 2)
        self.moves = []

    def to(self, *args, **kwargs):
        self.moves.append(torch.device(args[0]))
        return super().to(*args, **kwargs)


def test_resident_brings_modules_to_the_device_and_back_only_when_offloading():
    module = Recorded()
    with offload.resident([module, None], torch.device("cpu"), offload=True):
        assert module.moves == [torch.device("cpu")]
    assert module.moves == [torch.device("cpu"), offload.CPU]
    kept = Recorded()
    with offload.resident([kept], torch.device("cpu"), offload=False):
        pass
    assert kept.moves == []


def test_generate_with_offload_moves_each_model_for_its_phase(loaded_tiny_models, tmp_path, monkeypatch):
    phases = []
    real = offload.resident

    def recording(modules, device, enabled):
        phases.append(sorted(type(m).__name__ for m in modules if m is not None))
        return real(modules, device, enabled)

    monkeypatch.setattr(offload, "resident", recording)
    options = SamplingOptions(width=64, height=32, frames=5, steps=1)
    failures = run_jobs([Job("", "a bell rings", tmp_path / "bell.mp4", options)], loaded_tiny_models, None, False,
                        device="cpu", offload=True)
    assert failures == []
    assert (tmp_path / "bell.mp4").is_file()
    text_encoder = type(loaded_tiny_models.text_encoder.model).__name__
    speaker = type(loaded_tiny_models.speaker_encoder).__name__
    vaes = sorted(type(m).__name__ for m in (loaded_tiny_models.video_vae, loaded_tiny_models.audio_vae))
    assert phases == [sorted([text_encoder, speaker]), ["NavaMMDiT"], vaes]


def test_offload_flag_is_parsed():
    assert build_parser().parse_args(["generate", "--offload"]).offload
    assert not build_parser().parse_args(["generate"]).offload
