"""fp8 weights done right: scales kept in fp32, each weight dequantised once per block call, and the opt-in
fp8 GEMM (`torch._scaled_mm`, row-wise scales) near the dequantised result, falling back with one notice."""

import pytest
import torch
from test_mmdit_loader import _fp8_file, _forward

from nava_model import fp8
from nava_model.mmdit.loader import load_nava_mmdit


@pytest.fixture
def fp8_file(tmp_path):
    return _fp8_file(tmp_path, "[out]")


def fp8_layers(model):
    return [m for m in model.modules() if hasattr(m, "fp8_compute")]


def test_scales_are_kept_in_fp32_exactly_as_stored(fp8_file):
    from safetensors.torch import load_file

    path = fp8_file[0]
    stored = load_file(str(path))
    model = load_nava_mmdit(path)
    layers = dict(model.named_modules())
    assert fp8_layers(model)
    for name, layer in layers.items():
        if hasattr(layer, "fp8_compute"):
            assert layer.weight_scale.dtype == torch.float32
            assert torch.equal(layer.weight_scale, stored[f"backbone.{name}.weight_scale"].float())


def test_each_fp8_weight_is_dequantised_once_per_forward(fp8_file, monkeypatch):
    model = load_nava_mmdit(fp8_file[0])
    calls = []
    real = fp8.dequantize
    monkeypatch.setattr(fp8, "dequantize", lambda w, s, d: calls.append(w.data_ptr()) or real(w, s, d))
    _forward(model)  # video and audio: every block sees both streams
    assert sorted(calls) == sorted(layer.weight.data_ptr() for layer in fp8_layers(model))


def test_scaled_mm_compute_stays_near_the_dequantised_result(fp8_file):
    model = load_nava_mmdit(fp8_file[0])
    reference = _forward(model)
    assert fp8.set_fp8_compute(model, "scaled_mm") == len(fp8_layers(model))
    for ours, expected in zip(_forward(model), reference):
        error = ((ours - expected).abs().max() / expected.abs().max()).item()
        assert 0 < error <= 0.1  # activations rounded to 3 mantissa bits: close, not equal


def test_scaled_mm_falls_back_to_dequant_with_one_notice_where_it_cannot_run(fp8_file, monkeypatch, caplog):
    model = load_nava_mmdit(fp8_file[0])
    reference = _forward(model)
    monkeypatch.setattr(fp8, "_scaled_mm_unsupported", set())

    def no_kernel(*args, **kwargs):
        raise RuntimeError("torch._scaled_mm is only supported on CUDA devices with compute capability >= 8.9")

    monkeypatch.setattr(torch, "_scaled_mm", no_kernel)
    fp8.set_fp8_compute(model, "scaled_mm")
    with caplog.at_level("WARNING", logger="nava"):
        first, second = _forward(model), _forward(model)
    assert len([r for r in caplog.records if "_scaled_mm" in r.message]) == 1
    for out in (first, second):
        for ours, expected in zip(out, reference):
            torch.testing.assert_close(ours, expected, rtol=0, atol=0)


def test_an_unknown_fp8_compute_is_refused(fp8_file):
    with pytest.raises(ValueError, match="unknown fp8 compute"):
        load_nava_mmdit(fp8_file[0], fp8_compute="int8")
