"""MMDiT parity with the reference implementations, fp32, relative tolerance 1e-5.

Fixtures were produced by tests/fixtures/make_mmdit_fixtures.py from ernie-research/NAVA
(`WanAVModel`, model_mm.py) and Wan-Video/Wan2.2 (`WanModel`, wan/modules/model.py); see the .md
notes beside them. Weights are regenerated here from the seed over the references' key names.
"""

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from nava_model.config import NavaConfig, get_preset
from nava_model.mmdit import NavaMMDiT, SpeakerCondition
from nava_model.mmdit.blocks import Block, SelfAttention
from nava_model.mmdit.loader import FILE_PREFIX, wan22_key_map
from nava_model.mmdit.model import build_meta
from nava_model.mmdit.rope import Rope, apply_rope, joint_rope, video_angles
from nava_model.random_init import random_state_dict, seeded_tensor, state_dict_shapes

FIXTURES = Path(__file__).parent / "fixtures"
RTOL = 1e-5


def wan22_to_nava(wan_state: dict[str, torch.Tensor], config: NavaConfig) -> dict[str, torch.Tensor]:
    """A full NAVA state dict from a Wan2.2 DiT state dict; parts Wan lacks get seeded random weights."""
    state = {target: wan_state[key] for key, targets in wan22_key_map(wan_state, config).items() for target in targets}
    for key, shape in state_dict_shapes(build_meta(config)).items():
        if key not in state:
            state[key] = seeded_tensor(FILE_PREFIX + key, shape)
    return state


def load_fixture(name: str) -> tuple[dict[str, torch.Tensor], dict]:
    with safe_open(str(FIXTURES / f"{name}.safetensors"), framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        meta = {k: json.loads(v) for k, v in handle.metadata().items()}
    return tensors, meta


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    error = (actual - expected).abs().max() / expected.abs().max()
    assert actual.shape == expected.shape
    assert error <= RTOL, f"relative error {error:.2e}"


def seeded(module: torch.nn.Module, seed: int, prefix: str = "") -> None:
    shapes = {prefix + k: s for k, s in state_dict_shapes(module).items()}
    weights = random_state_dict(shapes, seed)
    module.load_state_dict({k[len(prefix):]: v for k, v in weights.items()})


def small_nava(meta: dict) -> NavaMMDiT:
    model = NavaMMDiT(NavaConfig(**meta["config"])).eval()
    model.attention_backend = "math"
    seeded(model, meta["seed"], FILE_PREFIX)
    return model


def test_audio_and_video_rope_match_upstream():
    data, meta = load_fixture("mmdit_rope")
    config = get_preset("nava-6.3b")
    rope = joint_rope(tuple(meta["grid"]), meta["audio_len"], config)
    assert_close(apply_rope(data["x"], rope), data["out"])


def test_cross_modal_mask_and_joint_softmax_match_upstream():
    data, meta = load_fixture("mmdit_attention")
    dim, heads = meta["dim"], meta["num_heads"]
    config = NavaConfig(dim=dim, ffn_dim=dim, num_heads=heads, num_double_blocks=1, num_single_blocks=0, text_dim=dim)
    attn = SelfAttention(dim, heads, 1e-6, twin_audio=True, operations=torch.nn)
    seeded(attn, meta["seed"], "backbone.double_blocks.0.self_attn.")
    streams = {"video": data["x_video"], "audio": data["x_audio"]}
    rope = joint_rope(tuple(meta["grid"]), data["x_audio"].shape[1], config)
    with torch.no_grad():
        for name, masked in (("joint", False), ("masked", True)):
            out = attn(streams, rope, (masked,), "math")
            assert_close(out["video"], data[f"{name}_video"])
            assert_close(out["audio"], data[f"{name}_audio"])


@pytest.mark.parametrize("case", ["joint", "masked", "video_only", "audio_only"])
def test_full_forward_matches_upstream_wan_av_model(case):
    data, meta = load_fixture("mmdit_nava_forward")
    model = small_nava(meta)
    positions = torch.tensor([meta["speaker_positions"]])
    speaker = SpeakerCondition(data["speakers"][None], positions)
    video, audio = data["video"][None], data["audio"][None]
    kwargs = {
        "joint": dict(speaker=speaker, clean_first_frame=True),
        "masked": dict(speaker=speaker, cross_modal_masked=True),
        "video_only": dict(),
        "audio_only": dict(speaker=speaker),
    }[case]
    if case == "video_only":
        audio = None
    if case == "audio_only":
        video = None
    with torch.no_grad():
        out_v, out_a = model(video, audio, data["t"], data["context"][None], **kwargs)
    if video is not None:
        assert_close(out_v[0], data[f"{case}_video"])
    if audio is not None:
        assert_close(out_a[0], data[f"{case}_audio"])


def test_one_wan22_block_matches_wan():
    data, meta = load_fixture("mmdit_wan22_block")
    dim = data["x"].shape[-1]
    config = NavaConfig(dim=dim, ffn_dim=meta["ffn_dim"], num_heads=meta["num_heads"], num_double_blocks=0,
                        num_single_blocks=1, text_dim=dim)
    wan_weights = random_state_dict(meta["wan_shapes"], meta["seed"])
    block = Block(dim, meta["ffn_dim"], meta["num_heads"], 1e-6, twin_audio=False, operations=torch.nn)
    mapping = wan22_key_map(wan_weights, config)
    block.load_state_dict({t.removeprefix("single_blocks.0."): wan_weights[k] for k, ts in mapping.items() for t in ts})
    rope = Rope.from_angles(video_angles(tuple(meta["grid"]), config))
    with torch.no_grad():
        out = block({"video": data["x"]}, {"video": data["e0"]}, data["context"], rope, (False,), "math")
    assert_close(out["video"], data["out"])


@pytest.mark.parametrize("clean_first_frame", [False, True])
def test_reduced_wan22_dit_matches_wan_on_the_video_path(clean_first_frame):
    data, meta = load_fixture("mmdit_wan22_dit")
    config = NavaConfig(**meta["config"], num_double_blocks=2, num_single_blocks=2)
    model = NavaMMDiT(config).eval()
    model.attention_backend = "math"
    wan_weights = random_state_dict(meta["wan_shapes"], meta["seed"])
    model.load_state_dict(wan22_to_nava(wan_weights, config))
    with torch.no_grad():
        out, audio = model(data["video"][None], None, data["t"], data["context"][None],
                           clean_first_frame=clean_first_frame)
    assert audio is None
    assert_close(out[0], data["out_clean_first" if clean_first_frame else "out"])
