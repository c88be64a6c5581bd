"""Factorized CFG: upstream combination parity, pass selection, batching."""

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from nava_model.config import get_preset
from nava_model.mmdit.model import NavaMMDiT, SpeakerCondition
from nava_model.random_init import random_state_dict, state_dict_shapes
from nava_model.sampling import (
    NEGATIVE_PROMPT_AUDIO,
    NEGATIVE_PROMPT_VIDEO,
    GuidanceInputs,
    GuidanceScales,
    guided_velocity,
)

FIXTURE = Path(__file__).parent / "fixtures" / "guidance_combination.safetensors"
TEXT_DIM = 8
PASS_NAMES = ("c", "u", "m", "tu")
POSITIVE, NEGATIVE = 1.0, 2.0  # constant context values that tell the fake model's rows apart


def make_inputs(voices: bool = True, positive_len: int = 6, negative_len: int = 4) -> GuidanceInputs:
    speaker = None
    if voices:
        speaker = SpeakerCondition(embeddings=torch.full((1, 2, 192), 0.1), positions=torch.tensor([[1, 3]]))
    return GuidanceInputs(
        positive=torch.full((1, positive_len, TEXT_DIM), POSITIVE),
        negative=torch.full((1, negative_len, TEXT_DIM), NEGATIVE),
        speaker=speaker,
    )


def classify_rows(context, speaker, cross_modal_masked) -> list[str]:
    """Which pass each row is: m (masked), u (negative context), c (voices written), else tu."""
    rows = context.shape[0]
    masked = (cross_modal_masked,) * rows if isinstance(cross_modal_masked, bool) else cross_modal_masked
    voiced = torch.zeros(rows, dtype=torch.bool) if speaker is None else (speaker.positions >= 0).any(dim=1)
    names = []
    for row in range(rows):
        if masked[row]:
            names.append("m")
        elif context[row, 0, 0] == NEGATIVE:
            names.append("u")
        else:
            names.append("c" if voiced[row] else "tu")
    return names


class FakeModel:
    """Row-wise deterministic velocities; records the pass names of every forward."""

    def __init__(self, velocities=None, voices: bool = True):
        self.velocities = velocities  # {pass: {modality: tensor}}; None = a smooth function of the inputs
        self.voices = voices
        self.forwards: list[list[str]] = []

    def __call__(
        self, video, audio, timestep, context, speaker=None, clean_first_frame=False, cross_modal_masked=False
    ):
        names = classify_rows(context, speaker, cross_modal_masked)
        if not self.voices:  # without voices c and tu would look alike; the c row is the unmasked positive one
            names = ["c" if n == "tu" else n for n in names]
        self.forwards.append(names)
        video_out = self.output(video, names, timestep, context, "video")
        return video_out, self.output(audio, names, timestep, context, "audio")

    def output(self, x, names, timestep, context, modality):
        if x is None:
            return None
        if self.velocities is not None:
            return torch.cat([self.velocities[n][modality] for n in names])
        code = torch.tensor([PASS_NAMES.index(n) + 1.0 for n in names])
        shape = (-1,) + (1,) * (x.ndim - 1)
        return torch.sin(x * code.view(shape)) + context[:, 0, 0].view(shape) + 1e-3 * timestep.view(shape)

    @property
    def passes(self) -> list[str]:
        return [n for forward in self.forwards for n in forward]


def latents(video=True, audio=True):
    generator = torch.Generator().manual_seed(0)
    v = torch.randn(1, 48, 2, 4, 4, generator=generator) if video else None
    a = torch.randn(1, 5, 128, generator=generator) if audio else None
    return v, a


UPSTREAM_FLAGS = {
    "align_timbre": (True, True),
    "align": (True, False),
    "timbre": (False, True),
    "plain": (False, False),
}


@pytest.mark.parametrize("scale_set", ["default", "other"])
@pytest.mark.parametrize("flags", list(UPSTREAM_FLAGS))
def test_combination_matches_upstream_sample_code(scale_set, flags):
    # Reference: NAVA pipeline_nava.py `sample` combination statements executed on seeded velocities
    # (tests/fixtures/guidance_combination.md); tolerance 1e-6 (same fp32 arithmetic, other summation order).
    reference = load_file(FIXTURE)
    align_3d_cfg, timbre_cfg = UPSTREAM_FLAGS[flags]
    with safe_open(str(FIXTURE), "pt") as f:
        scales = [float(s) for s in f.metadata()[f"scales.{scale_set}"].split(",")]
    velocities = {
        ours: {m: reference[f"{m}.{theirs}"] for m in ("video", "audio")}
        for ours, theirs in (("c", "cond"), ("u", "uncond"), ("m", "mmask"), ("tu", "timbre"))
    }
    model = FakeModel(velocities, voices=timbre_cfg)
    guidance = GuidanceScales.from_upstream(*scales, align_3d_cfg=align_3d_cfg, timbre_cfg=timbre_cfg)
    video, audio = latents()
    v_video, v_audio = guided_velocity(model, video, audio, torch.tensor([999.0]), make_inputs(timbre_cfg), guidance)
    torch.testing.assert_close(v_video, reference[f"{scale_set}.{flags}.video"], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(v_audio, reference[f"{scale_set}.{flags}.audio"], rtol=1e-6, atol=1e-6)


def test_default_scales_are_navas():
    assert GuidanceScales() == GuidanceScales(video=3.0, audio=2.0, video_align=3.0, audio_align=2.0, timbre=3.0)


def test_formula_with_all_four_passes():
    generator = torch.Generator().manual_seed(2)
    shapes = {"video": (1, 48, 2, 4, 4), "audio": (1, 5, 128)}
    velocities = {n: {k: torch.randn(shape, generator=generator) for k, shape in shapes.items()} for n in PASS_NAMES}
    scales = GuidanceScales(video=1.5, audio=0.5, video_align=2.0, audio_align=0.25, timbre=4.0)
    v_video, v_audio = guided_velocity(FakeModel(velocities), *latents(), torch.tensor([500.0]), make_inputs(), scales)
    c, u, m, tu = (velocities[n]["video"] for n in PASS_NAMES)
    torch.testing.assert_close(v_video, c + 1.5 * (c - u) + 2.0 * (c - m))
    c, u, m, tu = (velocities[n]["audio"] for n in PASS_NAMES)
    torch.testing.assert_close(v_audio, c + 0.5 * (c - u) + 0.25 * (c - m) + 4.0 * (c - tu))


def test_all_passes_run_in_one_forward_when_they_fit():
    model = FakeModel()
    guided_velocity(model, *latents(), torch.tensor([999.0]), make_inputs(), GuidanceScales(), max_batch=4)
    assert model.forwards == [["c", "u", "m", "tu"]]


def test_max_batch_splits_the_passes_into_several_forwards():
    model = FakeModel()
    guided_velocity(model, *latents(), torch.tensor([999.0]), make_inputs(), GuidanceScales(), max_batch=3)
    assert model.forwards == [["c", "u", "m"], ["tu"]]


def test_batched_passes_equal_sequential_passes():
    video, audio = latents()
    t = torch.tensor([700.0])
    batched = guided_velocity(FakeModel(), video, audio, t, make_inputs(), GuidanceScales(), max_batch=4)
    sequential = guided_velocity(FakeModel(), video, audio, t, make_inputs(), GuidanceScales(), max_batch=1)
    for one, other in zip(batched, sequential):
        torch.testing.assert_close(one, other, rtol=0, atol=0)


def tiny_mmdit() -> NavaMMDiT:
    model = NavaMMDiT(get_preset("tiny")).eval()
    model.load_state_dict(random_state_dict(state_dict_shapes(model), seed=0))
    return model


def test_batched_passes_equal_sequential_passes_on_the_tiny_mmdit():
    model = tiny_mmdit()
    generator = torch.Generator().manual_seed(1)
    video, audio = torch.randn(1, 48, 2, 4, 4, generator=generator), torch.randn(1, 5, 128, generator=generator)
    inputs = GuidanceInputs(
        positive=torch.randn(1, 9, 64, generator=generator),
        negative=torch.randn(1, 6, 64, generator=generator),
        speaker=SpeakerCondition(torch.randn(1, 2, 192, generator=generator), torch.tensor([[2, 5]])),
    )
    t = torch.tensor([640.0])
    with torch.no_grad():
        batched = guided_velocity(model, video, audio, t, inputs, GuidanceScales(), max_batch=4)
        sequential = guided_velocity(model, video, audio, t, inputs, GuidanceScales(), max_batch=1)
    # Per pass the batched forward differs from the single-row one by fp32 rounding (~1e-6 on values
    # ~4); the audio combination multiplies that by up to 1 + Σs = 8.
    for one, other in zip(batched, sequential):
        torch.testing.assert_close(one, other, rtol=0, atol=1e-4)


@pytest.mark.parametrize(
    "scales,voices,expected",
    [
        (GuidanceScales(), True, ["c", "u", "m", "tu"]),
        (GuidanceScales(), False, ["c", "u", "m"]),  # no voices: no timbre pass
        (GuidanceScales(timbre=0.0), True, ["c", "u", "m"]),
        (GuidanceScales(video_align=0.0, audio_align=0.0), True, ["c", "u", "tu"]),
        (GuidanceScales(video_align=0.0), True, ["c", "u", "m", "tu"]),  # audio still needs m
        (GuidanceScales(video=0.0, audio=0.0), True, ["c", "m", "tu"]),
        (GuidanceScales(video=0.0), True, ["c", "u", "m", "tu"]),  # audio still needs u
        (GuidanceScales(0.0, 0.0, 0.0, 0.0, 0.0), True, ["c"]),
    ],
)
def test_zero_scales_skip_their_forward(scales, voices, expected):
    model = FakeModel(voices=voices)
    guided_velocity(model, *latents(), torch.tensor([999.0]), make_inputs(voices), scales, max_batch=1)
    assert model.passes == expected
    assert len(model.forwards) == len(expected)


def test_all_zero_scales_return_the_conditional_velocity():
    model = FakeModel()
    video, audio = latents()
    v_video, v_audio = guided_velocity(
        model, video, audio, torch.tensor([10.0]), make_inputs(), GuidanceScales(0, 0, 0, 0, 0)
    )
    c_video, c_audio = model(video, audio, torch.tensor([10.0]), make_inputs().positive, make_inputs().speaker)
    torch.testing.assert_close(v_video, c_video)
    torch.testing.assert_close(v_audio, c_audio)


def test_video_only_mode_runs_no_masked_or_timbre_pass():
    model = FakeModel()
    video, _ = latents(audio=False)
    v_video, v_audio = guided_velocity(model, video, None, torch.tensor([999.0]), make_inputs(), GuidanceScales())
    assert v_audio is None and v_video.shape == video.shape
    assert model.passes == ["c", "u"]


def test_audio_only_mode_runs_no_masked_pass():
    model = FakeModel()
    _, audio = latents(video=False)
    v_video, v_audio = guided_velocity(model, None, audio, torch.tensor([999.0]), make_inputs(), GuidanceScales())
    assert v_video is None and v_audio.shape == audio.shape
    assert model.passes == ["c", "u", "tu"]


def test_only_the_conditional_row_carries_the_voices():
    seen = {}

    def model(video, audio, timestep, context, speaker=None, clean_first_frame=False, cross_modal_masked=False):
        names = classify_rows(context, speaker, cross_modal_masked)
        voiced = (speaker.positions >= 0).any(dim=1).tolist()
        seen.update(
            {n: (v, speaker.embeddings[i].abs().sum().item() > 0) for i, (n, v) in enumerate(zip(names, voiced))}
        )
        return video, audio

    guided_velocity(model, *latents(), torch.tensor([999.0]), make_inputs(), GuidanceScales())
    # Upstream runs its masked pass without speaker positions, so no voice reaches that context either.
    assert seen == {"c": (True, True), "u": (False, False), "m": (False, False), "tu": (False, False)}


def test_contexts_of_different_lengths_are_zero_padded_to_one_length():
    shapes = []

    def model(video, audio, timestep, context, speaker=None, clean_first_frame=False, cross_modal_masked=False):
        shapes.append(tuple(context.shape))
        assert context[1, 4:].abs().sum() == 0  # the u row: 4 negative rows, then zeros
        return video, audio

    guided_velocity(
        model, *latents(), torch.tensor([999.0]), make_inputs(positive_len=7, negative_len=4), GuidanceScales()
    )
    assert shapes == [(4, 7, TEXT_DIM)]


def test_clean_first_frame_and_timestep_reach_every_row():
    calls = []

    def model(video, audio, timestep, context, speaker=None, clean_first_frame=False, cross_modal_masked=False):
        calls.append((timestep.tolist(), clean_first_frame))
        return video, audio

    guided_velocity(
        model, *latents(), torch.tensor([321.0]), make_inputs(), GuidanceScales(), clean_first_frame=True, max_batch=2
    )
    assert calls == [([321.0, 321.0], True), ([321.0, 321.0], True)]


def test_missing_latents_and_bad_max_batch_are_refused():
    with pytest.raises(ValueError, match="video latent, an audio latent"):
        guided_velocity(FakeModel(), None, None, torch.tensor([1.0]), make_inputs(), GuidanceScales())
    with pytest.raises(ValueError, match="max_batch"):
        guided_velocity(FakeModel(), *latents(), torch.tensor([1.0]), make_inputs(), GuidanceScales(), max_batch=0)


def test_from_upstream_maps_the_align_off_fallback_to_scale_minus_one():
    plain = GuidanceScales.from_upstream(3.0, 2.0, 3.0, 2.0, 3.0, align_3d_cfg=False, timbre_cfg=False)
    assert plain == GuidanceScales(video=2.0, audio=1.0, video_align=0.0, audio_align=0.0, timbre=0.0)
    with_timbre = GuidanceScales.from_upstream(3.0, 2.0, 3.0, 2.0, 3.0, align_3d_cfg=False, timbre_cfg=True)
    assert with_timbre == GuidanceScales(video=2.0, audio=2.0, video_align=0.0, audio_align=0.0, timbre=3.0)
    assert GuidanceScales.from_upstream(3.0, 2.0, 3.0, 2.0, 3.0) == GuidanceScales()


def test_negative_prompts_are_upstreams():
    assert NEGATIVE_PROMPT_AUDIO == "机械音、闷糊、回音、失真、电流声、爆音、杂音"
    assert NEGATIVE_PROMPT_VIDEO.startswith("色调艳丽，过曝，静态，细节模糊不清，字幕，")
    assert NEGATIVE_PROMPT_VIDEO.endswith("背景人很多，倒着走, 音频带有机械音、闷糊、回音、失真、电流声、爆音、杂音")


# -- pass scheduling by memory -------------------------------------------------------------------------
def test_schedule_stacks_short_sequences_and_runs_long_ones_one_by_one():
    from nava_model.sampling.pass_schedule import FILL_TOKENS_CUDA, PassSchedule

    gpu = PassSchedule(max_rows=4, fill_tokens=FILL_TOKENS_CUDA)
    assert gpu.passes_per_forward(4, 1, 152, free=None) == 4  # audio only, 6 s
    assert gpu.passes_per_forward(4, 1, 3000, free=None) == 3  # a preview: stop once a forward has 8192 tokens
    assert gpu.passes_per_forward(4, 1, 32712, free=None) == 1  # 1280x704, 6 s
    assert gpu.passes_per_forward(4, 2, 152, free=None) == 2  # two rows per pass: the 4-row cap
    assert gpu.passes_per_forward(2, 1, 152, free=None) == 2  # never more than the passes left
    cpu = PassSchedule(max_rows=4, fill_tokens=1)
    assert cpu.passes_per_forward(4, 1, 152, free=None) == 1


def test_schedule_stacks_only_what_fits_in_free_memory():
    from nava_model.sampling.pass_schedule import PassSchedule

    schedule = PassSchedule(max_rows=4, fill_tokens=None, row_bytes=1000)
    assert schedule.passes_per_forward(4, 1, 100, free=None) == 4
    assert schedule.passes_per_forward(4, 1, 100, free=2999) == 2
    assert schedule.passes_per_forward(4, 1, 100, free=10) == 1  # one pass always runs (and may run out)


def test_schedule_for_the_release_model_on_a_gpu_picks_by_tokens():
    from nava_model.config import get_preset
    from nava_model.sampling.pass_schedule import PassSchedule, activation_bytes

    model = SimpleNamespace(config=get_preset("nava-6.3b"), compute_dtype=torch.bfloat16)
    schedule = PassSchedule.for_model(model, torch.device("cuda"), 32712)
    assert schedule.row_bytes == activation_bytes(32712, 3072, 14336, torch.bfloat16)
    assert 3 * 2**30 < schedule.row_bytes < 6 * 2**30  # a few GiB per 720p pass
    assert schedule.passes_per_forward(4, 1, 32712, free=80 * 2**30) == 1


class OutOfMemoryAbove(FakeModel):
    """Runs out of memory on forwards of more than `rows` rows (as a CUDA allocation would)."""

    def __init__(self, rows: int):
        super().__init__()
        self.rows = rows

    def __call__(self, video, audio, timestep, context, **kwargs):
        if context.shape[0] > self.rows:
            self.forwards.append(["OOM"])
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 9.00 GiB")
        return super().__call__(video, audio, timestep, context, **kwargs)


def test_an_out_of_memory_forward_is_retried_with_half_the_passes_and_stays_smaller():
    from nava_model.sampling.pass_schedule import PassSchedule

    model = OutOfMemoryAbove(rows=2)
    schedule = PassSchedule(max_rows=4)
    expected = guided_velocity(FakeModel(), *latents(), torch.tensor([999.0]), make_inputs(), GuidanceScales())
    for _ in range(2):  # two steps
        got = guided_velocity(model, *latents(), torch.tensor([999.0]), make_inputs(), GuidanceScales(), schedule=schedule)
    assert model.forwards == [["OOM"], ["c", "u"], ["m", "tu"], ["c", "u"], ["m", "tu"]]
    assert schedule.after_oom == 2
    for a, b in zip(got, expected):
        torch.testing.assert_close(a, b)


def test_out_of_memory_with_one_pass_and_other_errors_propagate():
    from nava_model.sampling.pass_schedule import PassSchedule

    with pytest.raises(torch.cuda.OutOfMemoryError):
        guided_velocity(OutOfMemoryAbove(rows=0), *latents(), torch.tensor([1.0]), make_inputs(), GuidanceScales(),
                        schedule=PassSchedule(max_rows=4))

    def broken(*args, **kwargs):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        guided_velocity(broken, *latents(), torch.tensor([1.0]), make_inputs(), GuidanceScales(), max_batch=4)


def test_sampling_memory_grows_with_tokens_and_passes_per_forward():
    from nava_model.config import get_preset
    from nava_model.options import SamplingOptions
    from nava_model.pipeline import sampling_memory_bytes

    model = SimpleNamespace(config=get_preset("nava-6.3b"), compute_dtype=torch.bfloat16)
    gpu = torch.device("cuda")

    def wanted(**options):
        return sampling_memory_bytes(model, SamplingOptions(**options), gpu)[0]

    preview = dict(width=320, height=192, frames=49)
    assert wanted(**preview, max_batch=1) < wanted(**preview, max_batch=2) < wanted(**preview, max_batch=4)
    assert wanted(**preview) < wanted(width=640, height=352, frames=49) < wanted(width=1280, height=704, frames=145)
    assert sampling_memory_bytes(model, SamplingOptions(), gpu)[1] == wanted(width=1280, height=704, frames=145)


def test_on_a_cpu_only_tiny_widths_stack_their_passes():
    from nava_model.sampling.pass_schedule import PassSchedule

    def per_forward(dim: int) -> int:
        model = SimpleNamespace(config=get_preset("tiny", dim=dim, ffn_dim=2 * dim), compute_dtype=torch.float32)
        return PassSchedule.for_model(model, torch.device("cpu"), 830).passes_per_forward(4, 1, 830, free=None)

    assert per_forward(64) == 4  # the demo: per-call overhead dominates
    assert per_forward(256) == 1  # bench/guidance_batching.py's default width
