"""Loader nodes: a dropdown over the usual model folders, one component each."""

from __future__ import annotations

from comfy_api.latest import io

from . import folders, loading
from .sockets import LOADERS_CATEGORY, AudioVAE, NavaModel, SpeakerEncoder, TextEncoder, VideoVAE


class NAVAModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVAModelLoader",
            display_name="NAVA MMDiT Loader",
            category=LOADERS_CATEGORY,
            description="Loads the NAVA audio-video MMDiT (NAVA.safetensors) from models/nava or models/diffusion_models.",
            inputs=[
                io.Combo.Input(
                    "model_name",
                    options=folders.model_choices(folders.MMDIT_FOLDERS),
                    tooltip="NAVA.safetensors, from models/nava (or models/diffusion_models).",
                ),
                io.Combo.Input(
                    "weight_dtype",
                    options=["auto", "bf16", "fp16", "fp8"],
                    default="auto",
                    tooltip="Precision of the stored weights. auto: ComfyUI's choice for the device (bf16 on recent GPUs, "
                    "fp32 on CPU). fp8 halves the memory and computes in bf16.",
                ),
                io.Combo.Input(
                    "attention",
                    options=["auto", "sdpa", "flash", "math"],
                    default="auto",
                    tooltip="Attention kernel. auto: PyTorch SDPA (its cuDNN kernel on Hopper GPUs), or flash-attn when "
                    "installed on other GPUs. flash needs the flash-attn package. math is the slow reference.",
                ),
            ],
            outputs=[NavaModel.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, model_name: str, weight_dtype: str, attention: str) -> io.NodeOutput:
        path = folders.find_model(folders.MMDIT_FOLDERS, model_name)
        return io.NodeOutput(loading.load_mmdit(path, weight_dtype, attention))


class NAVAWanVAELoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVAWanVAELoader",
            display_name="NAVA Wan2.2 VAE Loader",
            category=LOADERS_CATEGORY,
            description="Loads the Wan2.2 video VAE (48 latent channels) that NAVA's video latents belong to.",
            inputs=[
                io.Combo.Input(
                    "vae_name",
                    options=folders.model_choices(folders.VIDEO_VAE_FOLDERS),
                    tooltip="wan2.2_vae.safetensors from models/vae (the same file ComfyUI's Wan 2.2 workflows use).",
                )
            ],
            outputs=[VideoVAE.Output(display_name="video_vae")],
        )

    @classmethod
    def execute(cls, vae_name: str) -> io.NodeOutput:
        return io.NodeOutput(loading.load_video_vae(folders.find_model(folders.VIDEO_VAE_FOLDERS, vae_name)))


class NAVAAudioVAELoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVAAudioVAELoader",
            display_name="NAVA LTX Audio VAE Loader",
            category=LOADERS_CATEGORY,
            description="Loads the LTX-2 audio VAE and its vocoder, from a standalone file or a full LTX-2 checkpoint.",
            inputs=[
                io.Combo.Input(
                    "vae_name",
                    options=folders.model_choices(folders.AUDIO_VAE_FOLDERS),
                    tooltip="ltx-2.3-22b-dev_audio_vae.safetensors from models/vae, or a full LTX-2 checkpoint from "
                    "models/checkpoints (only its audio VAE and vocoder are read).",
                )
            ],
            outputs=[AudioVAE.Output(display_name="audio_vae")],
        )

    @classmethod
    def execute(cls, vae_name: str) -> io.NodeOutput:
        return io.NodeOutput(loading.load_audio_vae(folders.find_model(folders.AUDIO_VAE_FOLDERS, vae_name)))


class NAVAUMT5Loader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVAUMT5Loader",
            display_name="NAVA umT5 Loader",
            category=LOADERS_CATEGORY,
            description="Loads the umT5-XXL text encoder with the tokenizer stored inside the file.",
            inputs=[
                io.Combo.Input(
                    "text_encoder_name",
                    options=folders.model_choices(folders.TEXT_ENCODER_FOLDERS),
                    tooltip="umt5_xxl_fp16.safetensors (or the fp8 file) from models/text_encoders, as used by "
                    "ComfyUI's Wan workflows.",
                )
            ],
            outputs=[TextEncoder.Output(display_name="text_encoder")],
        )

    @classmethod
    def execute(cls, text_encoder_name: str) -> io.NodeOutput:
        path = folders.find_model(folders.TEXT_ENCODER_FOLDERS, text_encoder_name)
        return io.NodeOutput(loading.load_text_encoder(path))


class NAVAReDimNetLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVAReDimNetLoader",
            display_name="NAVA ReDimNet Loader",
            category=LOADERS_CATEGORY,
            description="Loads the ReDimNet speaker encoder that turns a reference voice into a timbre embedding.",
            inputs=[
                io.Combo.Input(
                    "model_name",
                    options=folders.model_choices(folders.SPEAKER_ENCODER_FOLDERS),
                    tooltip="ReDimNet-M-vb2+vox2+cnc-ft_mix.pt from models/audio_encoders. Needed only when a "
                    "reference voice is connected.",
                )
            ],
            outputs=[SpeakerEncoder.Output(display_name="speaker_encoder")],
        )

    @classmethod
    def execute(cls, model_name: str) -> io.NodeOutput:
        path = folders.find_model(folders.SPEAKER_ENCODER_FOLDERS, model_name)
        return io.NodeOutput(loading.load_speaker_encoder(path))
