"""Attention backend safety: the math kernel refused where its scores cannot fit, the backend resolved
once per model and device, the Hopper kernel order on torch versions without `set_priority`."""

import pytest
import torch

from nava_model.config import get_preset
from nava_model.mmdit import NavaMMDiT, model as model_module
from nava_model.mmdit import attention as attention_module
from nava_model.mmdit.attention import attention, check_math_fits, row_runs
from nava_model.random_init import random_state_dict, state_dict_shapes


@pytest.fixture(scope="module")
def tiny_model() -> NavaMMDiT:
    model = NavaMMDiT(get_preset("tiny")).eval()
    model.load_state_dict(random_state_dict(state_dict_shapes(model), 0))
    return model


def tiny_inputs():
    g = torch.Generator().manual_seed(0)
    return torch.randn(1, 48, 2, 4, 4, generator=g), torch.randn(1, 5, 128, generator=g), torch.randn(1, 7, 64, generator=g)


def test_math_is_refused_at_nava_size_and_allowed_at_a_small_one():
    with pytest.raises(ValueError, match=r"'math' attention backend .* use the 'auto' or 'sdpa' backend"):
        check_math_fits(1, 24, 32712, 32712, torch.bfloat16)  # 1280x704, 6 s: ~48 GiB of scores per row
    check_math_fits(4, 24, 832, 832, torch.float32)


def test_the_model_refuses_math_before_running_its_blocks(tiny_model, monkeypatch):
    video, audio, context = tiny_inputs()
    tokens = 2 * 2 * 2 + 5  # video grid (2, 2, 2) and 5 audio tokens
    monkeypatch.setattr(attention_module, "MATH_MAX_SCORE_BYTES", 2 * tokens * tokens * 4 - 1)  # 2 heads, fp32
    monkeypatch.setattr(type(tiny_model.double_blocks[0]), "forward", lambda *a: pytest.fail("a block ran"))
    tiny_model.attention_backend = "math"
    with pytest.raises(ValueError, match="score matrix"), torch.no_grad():
        tiny_model(video, audio, torch.tensor([500.0]), context)


def test_the_backend_is_resolved_once_per_model_and_device(tiny_model, monkeypatch):
    calls = []
    real = model_module.resolve_backend
    monkeypatch.setattr(model_module, "resolve_backend", lambda b, d: calls.append((b, d)) or real(b, d))
    tiny_model.attention_backend = "auto"
    video, audio, context = tiny_inputs()
    with torch.no_grad():
        for _ in range(3):
            tiny_model(video, audio, torch.tensor([500.0]), context)
    assert calls == [("auto", torch.device("cpu"))]
    tiny_model.attention_backend = "sdpa"  # a new choice is resolved again
    with torch.no_grad():
        tiny_model(video, audio, torch.tensor([500.0]), context)
    assert calls[1:] == [("sdpa", torch.device("cpu"))]


def test_an_unknown_backend_is_refused_when_set(tiny_model):
    with pytest.raises(ValueError, match="unknown attention backend"):
        tiny_model.attention_backend = "xformers"
    with pytest.raises(ValueError, match="resolve 'auto'"):
        attention(*(torch.zeros(1, 2, 1, 4) for _ in range(3)), kind="auto")


@pytest.mark.parametrize("has_priority", [True, False])
def test_hopper_kernel_order_runs_with_and_without_set_priority(monkeypatch, has_priority):
    seen = []
    real = attention_module.sdpa_kernel

    def recording_sdpa_kernel(backends, **kwargs):
        seen.append(kwargs)
        return real(backends, **kwargs)

    monkeypatch.setattr(attention_module, "sdpa_kernel", recording_sdpa_kernel)
    monkeypatch.setattr(attention_module, "_SDPA_HAS_PRIORITY", has_priority)
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 10, 2, 8, generator=g) for _ in range(3))
    torch.testing.assert_close(attention(q, k, v, "sdpa-hopper"), attention(q, k, v, "math"), rtol=1e-5, atol=1e-5)
    assert seen == [{"set_priority": True} if has_priority else {}]


def test_row_runs_group_consecutive_flags():
    assert row_runs((False, False, True, False)) == [(slice(0, 2), False), (slice(2, 3), True), (slice(3, 4), False)]
    assert row_runs((True,)) == [(slice(0, 1), True)]
