"""Every node's execute path on the tiny models, wired as the shipped workflows wire them."""

import av
import pytest
import torch
from comfy_stand_in.fixtures import comfy_tiny, node_class, sampler_widgets  # noqa: F401  (fixtures + helpers)

from nava_model.demo import synthetic_voice

PROMPT = "Two friends on a balcony. One says <S>Good morning!<E> and the other answers <S>Hello there.<E>"


def load_all():
    import nodes

    return {
        "model": nodes.NAVAModelLoader.execute(model_name="NAVA.safetensors", weight_dtype="auto", attention="auto")[0],
        "video_vae": node_class("NAVAWanVAELoader").execute(vae_name="wan2.2_vae.safetensors")[0],
        "audio_vae": node_class("NAVAAudioVAELoader").execute(vae_name="ltx-2.3-22b-dev_audio_vae.safetensors")[0],
        "text_encoder": node_class("NAVAUMT5Loader").execute(text_encoder_name="umt5_xxl_fp16.safetensors")[0],
        "speaker_encoder": node_class("NAVAReDimNetLoader").execute(model_name="M-vb2+vox2+cnc-ft_mix.pt")[0],
    }


def encode(models, prompt=PROMPT, **voices):
    from nodes import NAVASpeakerSpanPrompt

    return NAVASpeakerSpanPrompt.execute(
        text_encoder=models["text_encoder"],
        speaker_encoder=models["speaker_encoder"],
        prompt=prompt,
        negative_prompt="low quality",
        **voices,
    )


def run_sampler(models, conditioning, mode="audio+video", **extra):
    from nodes import NAVASampler

    return NAVASampler.execute(model=models["model"], conditioning=conditioning, **sampler_widgets(mode=mode, **extra))


def decode(models, latent, audio_rate="48000 (vocoder)"):
    from nodes import NAVADecodeAV

    return NAVADecodeAV.execute(
        latent=latent, tiled=False, audio_rate=audio_rate, video_vae=models["video_vae"], audio_vae=models["audio_vae"]
    )


def streams(path):
    with av.open(str(path)) as container:
        return (
            [float(s.duration * s.time_base) for s in container.streams.video],
            [float(s.duration * s.time_base) for s in container.streams.audio],
            dict(container.metadata),
        )


@pytest.fixture(scope="module")
def models(tiny_models, tmp_path_factory):
    """The five loaders' outputs, loaded once for the module (each test then re-installs the stand-ins)."""
    from comfy_stand_in import install

    install(tmp_path_factory.mktemp("loaders"), tiny_models)
    import nodes

    nodes.register_model_folders()
    return load_all()


def test_t2av_graph_with_one_voice_saves_an_mp4_with_matching_video_and_audio(comfy_tiny, models):
    from nodes import NAVASaveAV

    prompt_out = encode(models, voice_1={"waveform": synthetic_voice(140.0)[None], "sample_rate": 16000})
    assert prompt_out.ui["text"][0].splitlines() == [
        "2 speech span(s):",
        '1. "Good morning!" -> voice_1',
        '2. "Hello there." -> no reference voice (the model picks one)',
    ]
    latent, fps = run_sampler(models, prompt_out[0])
    frames, audio, fps = decode(models, latent)
    assert frames.shape == (5, 64, 64, 3) and fps == 24.0
    assert audio["sample_rate"] == 48000 and audio["waveform"].shape[:2] == (1, 2)

    NAVASaveAV.hidden.prompt, NAVASaveAV.hidden.extra_pnginfo = (
        {"1": {"class_type": "NAVASampler"}},
        {"workflow": {"nodes": []}},
    )
    ui = NAVASaveAV.execute(frames=frames, audio=audio, fps=fps, filename_prefix="NAVA/t2av", audio_format="flac").ui
    saved = {"filename": "t2av_00001_.mp4", "subfolder": "NAVA", "type": "output"}
    assert ui.as_dict() == {"images": [saved], "animated": (True,)}  # Core's video preview, and only it
    (video_seconds,), (audio_seconds,), metadata = streams(comfy_tiny / "output" / "NAVA" / "t2av_00001_.mp4")
    assert abs(video_seconds - audio_seconds) <= 1 / 24
    assert "NAVASampler" in metadata["prompt"] and metadata["workflow"] == '{"nodes": []}'


def test_a_very_short_reference_voice_is_used_with_a_warning(comfy_tiny, models, caplog):
    tone = 0.5 * torch.sin(torch.arange(320) / 16000 * 2 * torch.pi * 200)  # 20 ms at 16 kHz
    out = encode(models, voice_1={"waveform": tone[None, None], "sample_rate": 16000})
    warning = "voice_1 is only 0.02 s long, shorter than the speaker encoder's 1 s window"
    assert out.ui["text"][0].splitlines()[-1].startswith(f"⚠ {warning}")
    assert warning in caplog.text
    assert out[0].voices_bound[0]  # a warning, not an error: the voice is still used


def test_plain_t2av_needs_no_voice_and_no_speaker_encoder(comfy_tiny, models):
    from nodes import NAVASpeakerSpanPrompt

    out = NAVASpeakerSpanPrompt.execute(
        text_encoder=models["text_encoder"], prompt="Rain on a tin roof.", negative_prompt=""
    )
    assert out[0].speaker is None and out.ui["text"][0].startswith("No speech spans")


def test_sampling_reports_each_step_with_a_preview_and_loads_through_comfys_manager(comfy_tiny, models):
    import comfy.model_management
    import comfy.utils

    updates = []
    comfy.utils.PROGRESS_BAR_HOOK = lambda value, total, preview: updates.append((value, total, preview))
    run_sampler(models, encode(models)[0], steps=3)
    assert [(v, t) for v, t, _ in updates] == [(1, 3), (2, 3), (3, 3)]
    assert all(p[0] == "JPEG" and p[1].size == (4, 4) for _, _, p in updates)  # a 64x64 video is a 4x4 latent
    assert models["model"].patcher in comfy.model_management.load_calls[-1]


def test_preview_method_none_sends_no_previews(comfy_tiny, models):
    import comfy.utils
    import latent_preview

    latent_preview.PREVIEW_METHOD = "none"  # ComfyUI's --preview-method none, or a prompt's "preview_method"
    updates = []
    comfy.utils.PROGRESS_BAR_HOOK = lambda value, total, preview: updates.append((value, total, preview))
    run_sampler(models, encode(models)[0], steps=2)
    assert updates == [(1, 2, None), (2, 2, None)]


@pytest.mark.parametrize("weight_dtype", ["fp8", "bf16", "fp16"])
def test_mmdit_stored_in_a_smaller_dtype_samples_through_manual_cast_layers(comfy_tiny, models, weight_dtype):
    import comfy.ops

    from nodes import NAVAModelLoader

    (model,) = NAVAModelLoader.execute(model_name="NAVA.safetensors", weight_dtype=weight_dtype, attention="auto").args
    assert any(isinstance(m, comfy.ops.manual_cast.Linear) for m in model.runner.modules())
    latent, _ = run_sampler(models | {"model": model}, encode(models)[0])
    assert all(part.isfinite().all() for part in latent["samples"].unbind())


def test_cancel_stops_sampling_within_one_step(comfy_tiny, models):
    import comfy.model_management
    import comfy.utils

    steps = []

    def cancel_after_first(value, total, preview):
        steps.append(value)
        comfy.model_management.interrupt_current_processing()

    comfy.utils.PROGRESS_BAR_HOOK = cancel_after_first
    with pytest.raises(comfy.model_management.InterruptProcessingException):
        run_sampler(models, encode(models)[0], steps=5)
    assert steps == [1]


def test_cancel_during_decode_stops_it(comfy_tiny, models):
    import comfy.model_management

    latent, _ = run_sampler(models, encode(models)[0], mode="video only")
    comfy.model_management.interrupt_current_processing()
    with pytest.raises(comfy.model_management.InterruptProcessingException):
        decode(models, latent)


def test_tiled_decode_gives_frames_of_the_same_size(comfy_tiny, models):
    from nodes import NAVADecodeAV

    latent, _ = run_sampler(models, encode(models)[0], mode="video only")
    frames, _, _ = NAVADecodeAV.execute(
        latent=latent, tiled=True, audio_rate="48000 (vocoder)", video_vae=models["video_vae"]
    )
    assert frames.shape == (5, 64, 64, 3)


def test_ti2av_keeps_the_encoded_first_frame_in_the_latent(comfy_tiny, models):
    from comfy import latent_formats

    from nava_model.pipeline import encode_first_frame

    image = torch.rand(1, 80, 96, 3, generator=torch.Generator().manual_seed(0))
    latent, _ = run_sampler(models, encode(models)[0], first_frame=image, video_vae=models["video_vae"])
    video, _ = latent["samples"].unbind()
    expected = encode_first_frame(models["video_vae"].runner, image, 64, 64)
    torch.testing.assert_close(latent_formats.Wan22().process_in(video[:, :, :1]), expected, atol=1e-5, rtol=1e-5)


def test_audio_only_graph_saves_a_wav_without_loading_the_video_vae(comfy_tiny, models):
    import comfy.model_management

    from nodes import NAVADecodeAV, NAVASaveAV

    latent, _ = run_sampler(models, encode(models)[0], mode="audio only")
    frames, audio, _ = NAVADecodeAV.execute(
        latent=latent, tiled=False, audio_rate="16000 (as NAVA)", audio_vae=models["audio_vae"]
    )
    assert frames is None and audio["sample_rate"] == 16000
    assert comfy.model_management.load_calls[-1] == [models["audio_vae"].patcher]
    ui = NAVASaveAV.execute(audio=audio, fps=24.0, filename_prefix="speech", audio_format="wav").ui
    assert ui.as_dict() == {"audio": [{"filename": "speech_00001_.wav", "subfolder": "", "type": "output"}]}
    ([], (seconds,), _) = streams(comfy_tiny / "output" / "speech_00001_.wav")
    assert seconds == pytest.approx(5 / 24, abs=0.01)


def test_video_only_graph_saves_an_mp4_without_audio(comfy_tiny, models):
    from nodes import NAVASaveAV

    latent, _ = run_sampler(models, encode(models)[0], mode="video only")
    frames, audio, fps = decode(models, latent)
    assert audio is None
    NAVASaveAV.execute(frames=frames, fps=fps, filename_prefix="NAVA/silent", audio_format="flac")
    ((video_seconds,), audio_streams, _) = streams(comfy_tiny / "output" / "NAVA" / "silent_00001_.mp4")
    assert audio_streams == [] and video_seconds == pytest.approx(5 / 24, abs=1e-3)


@pytest.mark.parametrize("compile, expected", [(True, "auto"), (False, "off")])
def test_mmdit_loader_compile_widget_reaches_the_model(comfy_tiny, compile, expected):
    from nodes import NAVAModelLoader

    (model,) = NAVAModelLoader.execute(
        model_name="NAVA.safetensors", weight_dtype="auto", attention="auto", compile=compile
    ).args
    assert model.runner.compile_blocks == expected


def test_sampler_asks_comfy_for_activation_memory_that_grows_with_the_clip(comfy_tiny, models):
    import comfy.model_management

    conditioning = encode(models, prompt="Rain on a tin roof.")[0]
    requests = []
    for width, steps_frames in ((64, 5), (128, 5), (128, 9)):
        comfy.model_management.memory_requests.clear()
        run_sampler(models, conditioning, aspect="custom", width=width, height=64, frames=steps_frames, steps=1)
        (request,) = comfy.model_management.memory_requests
        requests.append(request)
    wanted = [w for w, _ in requests]
    assert all(minimum is not None and 0 < minimum <= w for w, minimum in requests)
    assert wanted[0] < wanted[1] < wanted[2]  # more pixels, then more frames: more tokens per pass
