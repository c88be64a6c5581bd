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
