"""Loader nodes: a dropdown over the usual model folders, one component each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from comfy_api.latest import io

from . import folders, loading
from .memory import ModelHandle
from .sockets import LOADERS_CATEGORY, AudioVAE, NavaModel, SpeakerEncoder, TextEncoder, VideoVAE


class NAVAModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVAModelLoader",
            display_name="NAVA MMDiT Loader",
            category=LOADERS_CATEGORY,
            description="Loads the NAVA audio-video MMDiT (NAVA.safetensors) from models/nava or "
            "models/diffusion_models.",
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
                    tooltip="Precision of the stored weights. auto: ComfyUI's choice for the device (bf16 on recent "
                    "GPUs, fp32 on CPU). fp8 halves the memory and computes in bf16.",
                ),
                io.Combo.Input(
                    "attention",
                    options=["auto", "sdpa", "flash", "math"],
                    default="auto",
                    tooltip="Attention kernel. auto: PyTorch SDPA (its cuDNN kernel on Hopper GPUs), or flash-attn "
                    "when installed on other GPUs. flash needs the flash-attn package. math is the slow reference.",
                ),
                io.Boolean.Input(
                    "compile",
                    default=True,
                    optional=True,
                    tooltip="torch.compile the transformer blocks on NVIDIA/AMD GPUs: the first step of each new size "
                    "takes longer (compiling), later steps run faster. Off where it cannot run (notice in the log).",
                ),
            ],
            outputs=[NavaModel.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, model_name: str, weight_dtype: str, attention: str, compile: bool = True) -> io.NodeOutput:
        path = folders.find_model(folders.MMDIT_FOLDERS, model_name)
        return io.NodeOutput(loading.load_mmdit(path, weight_dtype, attention, compile))


class FileLoader(io.ComfyNode):
    """A loader with one dropdown over its model folders; subclasses fill in the class attributes."""

    NODE_ID: str
    DISPLAY_NAME: str
    DESCRIPTION: str
    INPUT: str  # the dropdown's input id
    FOLDERS: tuple[str, ...]
    TOOLTIP: str
    OUTPUT: type  # socket type of the handle
    OUTPUT_NAME: str
    LOAD: Callable[[Path], ModelHandle]  # read from the class, so a plain function

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id=cls.NODE_ID,
            display_name=cls.DISPLAY_NAME,
            category=LOADERS_CATEGORY,
            description=cls.DESCRIPTION,
            inputs=[io.Combo.Input(cls.INPUT, options=folders.model_choices(cls.FOLDERS), tooltip=cls.TOOLTIP)],
            outputs=[cls.OUTPUT.Output(display_name=cls.OUTPUT_NAME)],
        )

    @classmethod
    def execute(cls, **inputs: str) -> io.NodeOutput:
        return io.NodeOutput(cls.LOAD(folders.find_model(cls.FOLDERS, inputs[cls.INPUT])))


class NAVAWanVAELoader(FileLoader):
    NODE_ID, DISPLAY_NAME = "NAVAWanVAELoader", "NAVA Wan2.2 VAE Loader"
    DESCRIPTION = "Loads the Wan2.2 video VAE (48 latent channels) that NAVA's video latents belong to."
    INPUT, FOLDERS = "vae_name", folders.VIDEO_VAE_FOLDERS
    TOOLTIP = "wan2.2_vae.safetensors from models/vae (the same file ComfyUI's Wan 2.2 workflows use)."
    OUTPUT, OUTPUT_NAME, LOAD = VideoVAE, "video_vae", loading.load_video_vae


class NAVAAudioVAELoader(FileLoader):
    NODE_ID, DISPLAY_NAME = "NAVAAudioVAELoader", "NAVA LTX Audio VAE Loader"
    DESCRIPTION = "Loads the LTX-2 audio VAE and its vocoder, from a standalone file or a full LTX-2 checkpoint."
    INPUT, FOLDERS = "vae_name", folders.AUDIO_VAE_FOLDERS
    TOOLTIP = (
        "ltx-2.3-22b-dev_audio_vae.safetensors from models/vae, or a full LTX-2 checkpoint from models/checkpoints "
        "(only its audio VAE and vocoder are read)."
    )
    OUTPUT, OUTPUT_NAME, LOAD = AudioVAE, "audio_vae", loading.load_audio_vae


class NAVAUMT5Loader(FileLoader):
    NODE_ID, DISPLAY_NAME = "NAVAUMT5Loader", "NAVA umT5 Loader"
    DESCRIPTION = "Loads the umT5-XXL text encoder with the tokenizer stored inside the file."
    INPUT, FOLDERS = "text_encoder_name", folders.TEXT_ENCODER_FOLDERS
    TOOLTIP = (
        "umt5_xxl_fp16.safetensors (or the fp8 file) from models/text_encoders, as used by ComfyUI's Wan workflows."
    )
    OUTPUT, OUTPUT_NAME, LOAD = TextEncoder, "text_encoder", loading.load_text_encoder


class NAVAReDimNetLoader(FileLoader):
    NODE_ID, DISPLAY_NAME = "NAVAReDimNetLoader", "NAVA ReDimNet Loader"
    DESCRIPTION = "Loads the ReDimNet speaker encoder that turns a reference voice into a timbre embedding."
    INPUT, FOLDERS = "model_name", folders.SPEAKER_ENCODER_FOLDERS
    TOOLTIP = (
        "ReDimNet-M-vb2+vox2+cnc-ft_mix.pt from models/audio_encoders. Needed only when a reference voice is connected."
    )
    OUTPUT, OUTPUT_NAME, LOAD = SpeakerEncoder, "speaker_encoder", loading.load_speaker_encoder
