"""NAVADecodeAV: latents -> IMAGE frames, AUDIO and fps (standard types, for Core's video and audio nodes)."""

from __future__ import annotations

from comfy_api.latest import io

from nava_model import pipeline

from .latents import from_comfy_latent
from .memory import expect, load
from .progress import DecodeProgress
from .sockets import COMPONENT_NODES, OUTPUT_CATEGORY

AUDIO_RATES = {"48000 (vocoder)": None, "16000 (as NAVA)": 16000}


class NAVADecodeAV(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVADecodeAV",
            display_name="NAVA Decode Audio+Video",
            category=OUTPUT_CATEGORY,
            description="Decodes NAVA latents into frames (IMAGE), sound (AUDIO) and the frame rate, ready for NAVA "
            "Save or Core's Create Video / Save Video / Preview Audio.",
            inputs=[
                io.Latent.Input("latent", tooltip="From NAVA Sampler."),
                COMPONENT_NODES["video_vae"].input(optional=True, needed="needed when the latent has video"),
                COMPONENT_NODES["audio_vae"].input(optional=True, needed="needed when the latent has audio"),
                io.Boolean.Input(
                    "tiled", default=False, tooltip="Decode the video in overlapping tiles: less VRAM, a little slower."
                ),
                io.Combo.Input(
                    "audio_rate",
                    options=list(AUDIO_RATES),
                    default="48000 (vocoder)",
                    tooltip="48 kHz: the vocoder's full-band output. "
                    "16 kHz: resampled and clamped exactly as NAVA's reference.",
                ),
            ],
            outputs=[
                io.Image.Output(display_name="frames"),
                io.Audio.Output(display_name="audio"),
                io.Float.Output(display_name="fps"),
            ],
        )

    @classmethod
    def execute(cls, latent: dict, tiled: bool, audio_rate: str, video_vae=None, audio_vae=None) -> io.NodeOutput:
        av = from_comfy_latent(latent)
        video = None if av.video is None else expect(video_vae, "video_vae")
        audio = None if av.audio is None else expect(audio_vae, "audio_vae")
        video_model, audio_model = load(video, audio)
        decoded = pipeline.decode(
            video_model, audio_model, av, tiled=tiled, audio_rate=AUDIO_RATES[audio_rate], on_progress=DecodeProgress()
        )
        sound = None if decoded.waveform is None else {"waveform": decoded.waveform, "sample_rate": decoded.sample_rate}
        return io.NodeOutput(decoded.frames, sound, decoded.fps)
