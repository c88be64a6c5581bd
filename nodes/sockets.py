"""Socket types private to the pack, and the one table from a NAVA component to its socket and loader node.

Model sockets carry a `ModelHandle`; NAVA conditioning has its own socket; everything else is Core's.
The loader nodes, the model sockets, the checks on model inputs (`memory.expect`) and the model
folders are all read from `COMPONENT_NODES`. Node ids, input names and socket names are stored in
saved workflows: they never change.
"""

from __future__ import annotations

from dataclasses import dataclass

from comfy_api.latest import io

from nava_model.components import AUDIO_VAE, MMDIT, SPEAKER_ENCODER, TEXT_ENCODER, VIDEO_VAE, Component

LOADERS_CATEGORY = "NAVA/loaders"
SAMPLING_CATEGORY = "NAVA/sampling"  # prompt and sampler
OUTPUT_CATEGORY = "NAVA/output"  # decode and save
PROMPT_CATEGORY = "NAVA/prompt"  # rewriting and caption building


@dataclass(frozen=True)
class ComponentNode:
    """How one NAVA component appears in ComfyUI: its socket, its loader node and that node's file dropdown."""

    component: Component  # nava_model's record: name, release files, models/ folders
    socket: type  # io.Custom(...): what the loader outputs and the other nodes take
    input_name: str  # the name other nodes give this socket (and the loader's output)
    loader_id: str
    loader_name: str
    file_input: str  # the loader's file dropdown
    description: str
    file_note: str = ""  # said after the accepted files in the dropdown's tooltip
    devices: str = "vae"  # ComfyUI's device pair that runs it: "vae" or "text_encoder" (the MMDiT has its own)

    @property
    def socket_name(self) -> str:
        return self.socket.io_type

    @property
    def folders(self) -> tuple[str, ...]:
        """ComfyUI's model folder names, which are the models/ sub-folders nava_model names."""
        return self.component.folders

    @property
    def file_tooltip(self) -> str:
        return f"{self.component.files_in_words}. {self.file_note}".strip()

    def input(self, optional: bool = False, needed: str = "") -> io.Input:
        """This socket as an input of another node; `needed` says when it must be connected."""
        tooltip = f"From {self.loader_name}" + (f"; {needed}." if needed else ".")
        return self.socket.Input(self.input_name, optional=optional, tooltip=tooltip)


COMPONENT_NODES: dict[str, ComponentNode] = {
    node.component.key: node
    for node in (
        ComponentNode(
            MMDIT, io.Custom("NAVA_MODEL"), "model", "NAVAModelLoader", "NAVA MMDiT Loader", "model_name",
            description="Loads the NAVA audio-video MMDiT.",
        ),
        ComponentNode(
            VIDEO_VAE, io.Custom("NAVA_VIDEO_VAE"), "video_vae", "NAVAWanVAELoader", "NAVA Wan2.2 VAE Loader",
            "vae_name",
            description="Loads the Wan2.2 video VAE (48 latent channels) that NAVA's video latents belong to.",
            file_note="The same file ComfyUI's Wan 2.2 workflows use.",
        ),
        ComponentNode(
            AUDIO_VAE, io.Custom("NAVA_AUDIO_VAE"), "audio_vae", "NAVAAudioVAELoader", "NAVA LTX Audio VAE Loader",
            "vae_name",
            description="Loads the LTX-2 audio VAE and its vocoder, from a standalone file or a full LTX-2 "
            "checkpoint.",
            file_note="Any full LTX-2 checkpoint in models/checkpoints works too: only its audio VAE and vocoder "
            "are read.",
        ),
        ComponentNode(
            TEXT_ENCODER, io.Custom("NAVA_TEXT_ENCODER"), "text_encoder", "NAVAUMT5Loader", "NAVA umT5 Loader",
            "text_encoder_name",
            description="Loads the umT5-XXL text encoder with the tokenizer stored inside the file.",
            file_note="The files ComfyUI's Wan workflows use.",
            devices="text_encoder",
        ),
        ComponentNode(
            SPEAKER_ENCODER, io.Custom("NAVA_SPEAKER_ENCODER"), "speaker_encoder", "NAVAReDimNetLoader",
            "NAVA ReDimNet Loader", "model_name",
            description="Loads the ReDimNet speaker encoder that turns a reference voice into a timbre embedding.",
            file_note="Needed only when a reference voice is connected.",
            devices="text_encoder",
        ),
    )
}

NavaModel = COMPONENT_NODES["mmdit"].socket
VideoVAE = COMPONENT_NODES["video_vae"].socket
AudioVAE = COMPONENT_NODES["audio_vae"].socket
TextEncoder = COMPONENT_NODES["text_encoder"].socket
SpeakerEncoder = COMPONENT_NODES["speaker_encoder"].socket
NavaConditioning = io.Custom("NAVA_CONDITIONING")
