"""Bad inputs give clear errors before anything is loaded; LATENT and file-name conventions."""

import pytest
import torch
from comfy_stand_in.fixtures import comfy, comfy_tiny, node_class, sampler_widgets  # noqa: F401  (fixtures + helpers)

from nava_model.checkpoints import CheckpointError
from nava_model.pipeline import AVLatent, Conditioning
from nava_model.prompt import PromptError

VOICE = {"waveform": torch.zeros(1, 1, 16000), "sample_rate": 16000}


def handle(socket: str):
    from nodes.memory import wrap

    return wrap(socket, torch.nn.Linear(2, 2), "cpu", "cpu")


def loaded():
    import comfy.model_management

    return comfy.model_management.load_calls


def conditioning():
    return Conditioning(
        positive=torch.zeros(1, 4, 64),
        negative_video=torch.zeros(1, 4, 64),
        negative_audio=torch.zeros(1, 4, 64),
        speaker=None,
    )


def test_missing_model_file_names_the_folders_searched(comfy):
    with pytest.raises(
        FileNotFoundError, match=r"not found in models/vae or models/checkpoints .*searched models/vae: "
    ):
        node_class("NAVAAudioVAELoader").execute(vae_name="ltx-2.3-22b-dev_audio_vae.safetensors")


def test_a_file_in_the_wrong_loader_is_refused_naming_the_right_loader(comfy_tiny, tiny_models):
    (tiny_models / "vae" / "misplaced.safetensors").write_bytes(
        (tiny_models / "nava" / "NAVA.safetensors").read_bytes()
    )
    try:
        with pytest.raises(CheckpointError, match="NAVA MMDiT Loader"):
            node_class("NAVAWanVAELoader").execute(vae_name="misplaced.safetensors")
    finally:
        (tiny_models / "vae" / "misplaced.safetensors").unlink()


def test_a_model_on_the_wrong_socket_is_refused_naming_the_loader(comfy):
    from nodes import NAVASampler

    with pytest.raises(TypeError, match="model expects NAVA_MODEL from a NAVA MMDiT Loader, got NAVA_VIDEO_VAE"):
        NAVASampler.execute(model=handle("NAVA_VIDEO_VAE"), conditioning=conditioning(), **sampler_widgets())
    assert loaded() == []


def test_conditioning_from_elsewhere_is_refused(comfy):
    from nodes import NAVASampler

    with pytest.raises(TypeError, match="NAVA_CONDITIONING"):
        NAVASampler.execute(
            model=handle("NAVA_MODEL"), conditioning=[[torch.zeros(1, 512, 4096), {}]], **sampler_widgets()
        )


@pytest.mark.parametrize(
    "prompt,voices,message",
    [
        ("<S>one<E>", {"voice_1": VOICE, "voice_2": VOICE}, "2 reference voice"),
        ("no spans at all", {"voice_3": VOICE}, "3 reference voice"),
        ("<S>unclosed", {}, "never closed"),
        ("<S>a <S>nested<E><E>", {}, "cannot nest"),
    ],
)
def test_span_and_voice_mismatches_fail_before_any_model_is_loaded(comfy, prompt, voices, message):
    from nodes import NAVASpeakerSpanPrompt

    with pytest.raises(PromptError, match=message):
        NAVASpeakerSpanPrompt.execute(
            text_encoder=handle("NAVA_TEXT_ENCODER"),
            speaker_encoder=handle("NAVA_SPEAKER_ENCODER"),
            prompt=prompt,
            negative_prompt="",
            **voices,
        )
    assert loaded() == []


def test_a_voice_without_speaker_encoder_fails_before_loading(comfy):
    from nodes import NAVASpeakerSpanPrompt

    with pytest.raises(ValueError, match="speaker_encoder is not connected: connect a NAVA ReDimNet Loader"):
        NAVASpeakerSpanPrompt.execute(
            text_encoder=handle("NAVA_TEXT_ENCODER"), prompt="<S>hi<E>", negative_prompt="", voice_1=VOICE
        )
    assert loaded() == []


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"width": 100}, "width 100 is not a positive multiple of 32"),
        ({"height": 48}, "height 48 is not a positive multiple of 32"),
        ({"frames": 50}, "50 frames is not 4k \\+ 1"),
    ],
)
def test_unsupported_sizes_and_frame_counts_fail_before_loading(comfy, changes, message):
    from nodes import NAVASampler

    with pytest.raises(ValueError, match=message):
        NAVASampler.execute(model=handle("NAVA_MODEL"), conditioning=conditioning(), **sampler_widgets(**changes))
    assert loaded() == []


def test_aspect_presets_override_width_and_height(comfy):
    from nodes.sampler import sampling_options

    options = sampling_options(**sampler_widgets(aspect="704x1280", frames=0))
    assert (options.width, options.height, options.frames) == (704, 1280, 145)


def test_a_zero_guidance_scale_reaches_the_sampler_as_zero(comfy):
    from nodes.sampler import sampling_options

    options = sampling_options(**sampler_widgets(timbre_guidance=0.0, audio_align_guidance=0.0))
    assert (options.scales.timbre, options.scales.audio_align, options.scales.video) == (0.0, 0.0, 3.0)


def test_first_frame_without_video_vae_names_the_loader(comfy):
    from nodes import NAVASampler

    with pytest.raises(ValueError, match="video_vae is not connected: connect a NAVA Wan2.2 VAE Loader"):
        NAVASampler.execute(
            model=handle("NAVA_MODEL"),
            conditioning=conditioning(),
            first_frame=torch.zeros(1, 64, 64, 3),
            **sampler_widgets(),
        )


def test_decoding_video_without_video_vae_names_the_loader(comfy):
    from nodes import NAVADecodeAV
    from nodes.latents import to_comfy_latent

    latent = to_comfy_latent(AVLatent(video=torch.zeros(1, 48, 2, 4, 4), audio=None))
    with pytest.raises(ValueError, match="video_vae is not connected"):
        NAVADecodeAV.execute(
            latent=latent, tiled=False, audio_rate="48000 (vocoder)", audio_vae=handle("NAVA_AUDIO_VAE")
        )


def test_a_foreign_latent_is_refused(comfy):
    from nodes.latents import from_comfy_latent

    with pytest.raises(ValueError, match="not an LTX audio latent"):
        from_comfy_latent({"samples": torch.zeros(1, 4, 64, 64)})


def test_av_latent_follows_cores_ltx2_convention_and_round_trips(comfy):
    from comfy import latent_formats

    from nodes.latents import from_comfy_latent, to_comfy_latent

    video, audio = torch.randn(1, 48, 3, 4, 6), torch.randn(1, 26, 128)
    latent = to_comfy_latent(AVLatent(video=video, audio=audio))
    raw_video, core_audio = latent["samples"].unbind()
    torch.testing.assert_close(
        latent_formats.Wan22().process_in(raw_video), video
    )  # raw VAE space, as Core's VAE Decode takes
    assert core_audio.shape == (1, 8, 26, 16)
    torch.testing.assert_close(
        core_audio[0, 3, 5, 7], audio[0, 5, 3 * 16 + 7]
    )  # token feature = channel * 16 + mel row
    back = from_comfy_latent(latent)
    torch.testing.assert_close(back.video, video)
    torch.testing.assert_close(back.audio, audio)


def test_single_modality_latents_are_plain_core_latents(comfy):
    from nodes.latents import to_comfy_latent

    video_only = to_comfy_latent(AVLatent(video=torch.zeros(1, 48, 2, 4, 4), audio=None))
    audio_only = to_comfy_latent(AVLatent(video=None, audio=torch.zeros(1, 26, 128)))
    assert video_only["samples"].shape == (1, 48, 2, 4, 4)
    assert (audio_only["samples"].shape, audio_only["type"]) == ((1, 8, 26, 16), "audio")


@pytest.mark.parametrize("prefix", ["../escape", "/tmp/abs", "NAVA/../../escape", "C:\\Users\\x", "", "  "])
def test_filename_prefix_cannot_leave_the_output_folder(comfy, prefix):
    from nodes import NAVASaveAV
    from nodes.output_files import output_path

    with pytest.raises(ValueError, match="filename_prefix"):
        output_path(prefix, ".mp4")
    assert "filename_prefix" in NAVASaveAV.validate_inputs(filename_prefix=prefix)  # refused at queue time


def test_a_good_or_linked_filename_prefix_passes_queue_time_validation(comfy):
    from nodes import NAVASaveAV

    assert NAVASaveAV.validate_inputs(filename_prefix="NAVA/%year%-%month%/run") is True
    assert NAVASaveAV.validate_inputs(filename_prefix=None) is True  # a linked prefix is checked when Save runs


def test_output_files_are_numbered_like_cores(comfy):
    from nodes.output_files import output_path

    path, subfolder, name = output_path("NAVA/run", ".mp4")
    assert (subfolder, name, path) == ("NAVA", "run_00001_.mp4", comfy / "output" / "NAVA" / "run_00001_.mp4")
    path.write_bytes(b"")
    assert output_path("NAVA/run", ".mp4")[2] == "run_00002_.mp4"
    assert output_path("solo", ".flac")[1:] == ("", "solo_00001_.flac")


def test_a_prefix_ending_in_a_slash_names_a_folder(comfy):
    from nodes.output_files import output_path

    path, subfolder, name = output_path("NAVA/", ".mp4")
    assert (subfolder, name, path) == ("NAVA", "nava_00001_.mp4", comfy / "output" / "NAVA" / "nava_00001_.mp4")


def test_core_variables_in_the_prefix_are_filled_in(comfy):
    import time

    from nodes.output_files import output_path

    path, subfolder, name = output_path("%year%/clip_%width%x%height%", ".mp4", 64, 32)
    assert (subfolder, name) == (str(time.localtime().tm_year), "clip_64x32_00001_.mp4")


def test_save_needs_frames_or_audio(comfy):
    from nodes import NAVASaveAV

    with pytest.raises(ValueError, match="connect frames and/or audio"):
        NAVASaveAV.execute(fps=24.0, filename_prefix="NAVA/nava", audio_format="flac")
