"""NavaMMDiT behaviour at the tiny preset: batching, modes, context assembly, RoPE limits, bad inputs."""

import pytest
import torch

from nava_model.config import get_preset
from nava_model.mmdit import NavaMMDiT, SpeakerCondition
from nava_model.mmdit.attention import attention, joint_attention
from nava_model.mmdit.loader import FILE_PREFIX
from nava_model.mmdit.rope import audio_angles, axis_dims
from nava_model.random_init import random_state_dict, state_dict_shapes


@pytest.fixture(scope="module")
def model() -> NavaMMDiT:
    model = NavaMMDiT(get_preset("tiny")).eval()
    shapes = {FILE_PREFIX + k: s for k, s in state_dict_shapes(model).items()}
    model.load_state_dict({k.removeprefix(FILE_PREFIX): v for k, v in random_state_dict(shapes, 3).items()})
    model.attention_backend = "math"
    return model


def inputs(batch: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    video = torch.randn(batch, 48, 3, 4, 6, generator=g)
    audio = torch.randn(batch, 9, 128, generator=g)
    context = torch.randn(batch, 11, 64, generator=g)
    return video, audio, context


def test_batched_rows_equal_each_row_alone(model):
    video, audio, context = inputs(2)
    timestep = torch.tensor([910.0, 300.0])
    embeddings = torch.randn(2, 2, 192, generator=torch.Generator().manual_seed(1))
    speaker = SpeakerCondition(embeddings, torch.tensor([[2, 7], [4, -1]]))
    masked = (True, False)
    with torch.no_grad():
        both = model(video, audio, timestep, context, speaker, clean_first_frame=True, cross_modal_masked=masked)
        for row in range(2):
            alone = model(video[row:row + 1], audio[row:row + 1], timestep[row:row + 1], context[row:row + 1],
                          SpeakerCondition(embeddings[row:row + 1], speaker.positions[row:row + 1]),
                          clean_first_frame=True, cross_modal_masked=masked[row:row + 1])
            for batched, single in zip(both, alone):
                torch.testing.assert_close(batched[row:row + 1], single, rtol=1e-5, atol=1e-5)


def test_masking_changes_only_the_masked_row(model):
    video, audio, context = inputs(2)
    timestep = torch.tensor([500.0, 500.0])
    with torch.no_grad():
        plain = model(video, audio, timestep, context)
        masked = model(video, audio, timestep, context, cross_modal_masked=(False, True))
    for a, b in zip(plain, masked):
        torch.testing.assert_close(a[0], b[0])
        assert not torch.allclose(a[1], b[1])


def test_video_only_and_audio_only_forward(model):
    video, audio, context = inputs(1)
    t = torch.tensor([700.0])
    with torch.no_grad():
        out_v, none_a = model(video, None, t, context)
        none_v, out_a = model(None, audio, t, context)
    assert out_v.shape == video.shape and none_a is None
    assert out_a.shape == audio.shape and none_v is None


def test_speaker_rows_overwrite_context_and_zero_embedding_gives_null_token(model):
    _, _, context = inputs(1)
    embeddings = torch.zeros(1, 2, 192)
    embeddings[0, 0] = 1.0
    speaker = SpeakerCondition(embeddings, torch.tensor([[5, 8]]))
    with torch.no_grad():
        plain = model.embed_context(context, None)
        with_speakers = model.embed_context(context, speaker)
        voice = model.speaker_embedding(embeddings[0, :1])
    changed = (plain != with_speakers).any(dim=-1)[0].nonzero().flatten().tolist()
    assert changed == [5, 8]
    torch.testing.assert_close(with_speakers[0, 5], voice[0])
    torch.testing.assert_close(with_speakers[0, 8], model.speaker_embedding.null_token[0])


def test_unused_speaker_slots_leave_the_context_untouched(model):
    _, _, context = inputs(1)
    speaker = SpeakerCondition(torch.randn(1, 2, 192), torch.tensor([[-1, -1]]))
    with torch.no_grad():
        torch.testing.assert_close(model.embed_context(context, speaker), model.embed_context(context, None))


def test_clean_first_frame_changes_the_output(model):
    video, audio, context = inputs(1)
    t = torch.tensor([800.0])
    with torch.no_grad():
        plain, _ = model(video, audio, t, context)
        clean, _ = model(video, audio, t, context, clean_first_frame=True)
    assert not torch.allclose(plain, clean)


def test_rope_split_follows_the_general_formula():
    assert axis_dims(128) == (44, 42, 42)
    assert axis_dims(32) == (12, 10, 10)
    assert axis_dims(96) == (32, 32, 32)


def test_audio_rope_rotates_only_the_temporal_pairs():
    angles = audio_angles(5, get_preset("nava-6.3b"))
    assert angles[:, 22:].abs().max() == 0
    torch.testing.assert_close(angles[1, 0], torch.tensor(0.24, dtype=torch.float64))


def test_more_audio_tokens_than_the_rope_table_is_a_clear_error(model):
    _, _, context = inputs(1)
    with pytest.raises(ValueError, match="1024 positions"):
        model(None, torch.zeros(1, 1025, 128), torch.tensor([1.0]), context)


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(video=None, audio=None), "needs a video latent"),
        (dict(context=torch.zeros(1, 513, 64)), "at most 512"),
        (dict(video=torch.zeros(1, 48, 2, 3, 4)), "multiples of 2"),
        (dict(timestep=torch.tensor([1.0, 2.0])), "timestep must have shape"),
        (dict(audio=torch.zeros(1, 9, 64)), "audio latent must be"),
        (dict(cross_modal_masked=(True, False)), "cross_modal_masked must be"),
        (dict(cross_modal_masked=torch.tensor([True])), "Python bool"),
    ],
)
def test_bad_inputs_are_refused_with_a_message(model, change, message):
    video, audio, context = inputs(1)
    args = dict(video=video, audio=audio, timestep=torch.tensor([1.0]), context=context)
    args.update(change)
    with pytest.raises(ValueError, match=message):
        model(**args)


def test_sdpa_and_math_attention_agree():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 30, 2, 16, generator=g) for _ in range(3))
    torch.testing.assert_close(attention(q, k, v, "sdpa"), attention(q, k, v, "math"), rtol=1e-5, atol=1e-5)
    masked = (True, False)
    torch.testing.assert_close(
        joint_attention(q, k, v, (20, 10), masked, "sdpa"), joint_attention(q, k, v, (20, 10), masked, "math"),
        rtol=1e-5, atol=1e-5,
    )


def test_masked_joint_attention_keeps_modalities_apart():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 12, 1, 8, generator=g) for _ in range(3))
    out = joint_attention(q, k, v, (8, 4), (True,), "math")
    torch.testing.assert_close(out[:, :8], attention(q[:, :8], k[:, :8], v[:, :8], "math"))
    torch.testing.assert_close(out[:, 8:], attention(q[:, 8:], k[:, 8:], v[:, 8:], "math"))


class Ops:
    """An `operations` namespace like ComfyUI's `comfy.ops`: subclasses of the torch layers."""

    class Linear(torch.nn.Linear):
        pass

    class Conv1d(torch.nn.Conv1d):
        pass

    class Conv3d(torch.nn.Conv3d):
        pass

    class LayerNorm(torch.nn.LayerNorm):
        pass


def test_every_weighted_layer_comes_from_the_operations_namespace():
    from nava_model.fp8 import swap_in_fp8_linears

    model = NavaMMDiT(get_preset("tiny"), operations=Ops, device="meta")
    swap_in_fp8_linears(model, {"single_blocks.0.ffn.0": (128,)}, operations=Ops)
    for base in (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv3d, torch.nn.LayerNorm):
        layers = [m for m in model.modules() if isinstance(m, base)]
        assert layers and all(isinstance(m, getattr(Ops, base.__name__)) for m in layers)
    assert model.single_blocks[0].ffn[0].weight.dtype == torch.float8_e4m3fn


def test_the_rope_table_is_held_by_the_model_and_dropped_when_it_moves():
    model = NavaMMDiT(get_preset("tiny"))
    cpu = torch.device("cpu")
    table = model.rope_table((2, 2, 3), 5, cpu)
    assert model.rope_table((2, 2, 3), 5, cpu) is table  # reused at every step of a clip
    assert model.rope_table((2, 2, 4), 5, cpu) is not table
    model.to(torch.float64)  # moving or casting the model drops its tables
    assert model.rope_table((2, 2, 3), 5, cpu) is not table
