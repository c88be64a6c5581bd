"""The MMDiT traces whole under torch.compile: no graph break in a block or in the model forward.

Graph breaks split a compiled region into pieces with host syncs between them; the forward keeps
every control-flow decision static (per-row masked flags as Python bools, lengths from shapes).
"""

import pytest
import torch

from nava_model.config import NavaConfig
from nava_model.mmdit import NavaMMDiT, SpeakerCondition
from nava_model.mmdit.blocks import Block
from nava_model.random_init import random_state_dict, state_dict_shapes

CONFIG = NavaConfig(dim=64, ffn_dim=128, num_heads=2, num_double_blocks=1, num_single_blocks=1, text_dim=64)


def seeded(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    module.load_state_dict(random_state_dict(state_dict_shapes(module), seed))
    return module.eval()


def model_inputs(batch: int = 2) -> dict:
    g = torch.Generator().manual_seed(0)
    return dict(
        video=torch.randn(batch, 48, 3, 4, 6, generator=g),
        audio=torch.randn(batch, 9, 128, generator=g),
        timestep=torch.linspace(900.0, 300.0, batch),
        context=torch.randn(batch, 11, 64, generator=g),
        speaker=SpeakerCondition(torch.randn(batch, 2, 192, generator=g), torch.tensor([[2, 7], [4, -1]][:batch])),
        clean_first_frame=True,
        cross_modal_masked=(False, True)[:batch],
    )


def assert_no_graph_break(fn, *args, **kwargs) -> None:
    torch._dynamo.reset()
    with torch.no_grad():
        report = torch._dynamo.explain(fn)(*args, **kwargs)
    reasons = [str(r.reason) for r in report.break_reasons]
    assert report.graph_break_count == 0 and report.graph_count == 1, reasons


@pytest.mark.parametrize(
    "twin_audio, kind", [(True, "sdpa"), (False, "math"), (True, "sdpa-hopper")], ids=["double", "single", "hopper"]
)
def test_a_block_traces_as_one_graph(twin_audio, kind):
    block = seeded(Block(64, 128, 2, 1e-6, twin_audio, torch.nn))
    model = NavaMMDiT(CONFIG)
    x = {"video": torch.randn(2, 72, 64), "audio": torch.randn(2, 9, 64)}
    e0 = {"video": torch.randn(2, 3, 6, 64), "audio": torch.randn(2, 1, 6, 64)}
    rope = model.rope_table((3, 2, 12), 9, torch.device("cpu"))
    assert_no_graph_break(block, x, e0, torch.randn(2, 16, 64), rope, (False, True), kind)


def test_the_model_forward_traces_as_one_graph():
    model = seeded(NavaMMDiT(CONFIG))
    model.attention_backend = "sdpa"
    assert_no_graph_break(model, **model_inputs())


@pytest.mark.slow  # inductor builds C++ kernels: minutes on two shared cores
def test_compiled_blocks_equal_eager_in_fp32():
    model = seeded(NavaMMDiT(CONFIG))
    model.attention_backend = "sdpa"
    with torch.no_grad():
        eager = model(**model_inputs())
        model.compile_blocks = "on"
        torch._dynamo.reset()
        compiled = model(**model_inputs())
    assert model._blocks.compiled is not None and not model._blocks.failed  # really ran compiled
    for a, b in zip(compiled, eager):
        error = (a - b).abs().max() / b.abs().max()
        assert error <= 1e-5, f"relative error {error:.2e}"


def test_compile_falls_back_to_eager_with_one_notice_when_the_compiler_fails(monkeypatch, caplog):
    from torch._dynamo.exc import BackendCompilerFailed

    def broken_compile(block, **kwargs):
        def run(*args):
            raise BackendCompilerFailed(None, RuntimeError("no working C++ compiler"), None)

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    model = seeded(NavaMMDiT(CONFIG))
    model.attention_backend = "sdpa"
    with torch.no_grad():
        eager = model(**model_inputs())
        model.compile_blocks = "on"
        with caplog.at_level("WARNING", logger="nava"):
            first = model(**model_inputs())
            second = model(**model_inputs())
    notices = [r.message for r in caplog.records if "torch.compile" in r.message]
    assert len(notices) == 1 and "no working C++ compiler" in notices[0]
    for out in (first, second):
        torch.testing.assert_close(out, eager, rtol=0, atol=0)


def test_compile_is_off_on_cpu_unless_asked():
    from nava_model.mmdit.compile import compile_wanted

    assert not compile_wanted("auto", torch.device("cpu"))
    assert compile_wanted("auto", torch.device("cuda", 0))
    assert compile_wanted("on", torch.device("cpu")) and not compile_wanted("off", torch.device("cuda"))
    with pytest.raises(ValueError, match="unknown compile choice"):
        NavaMMDiT(CONFIG, device="meta").compile_blocks = "yes"
