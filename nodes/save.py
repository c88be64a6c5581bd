"""NAVASaveAV: MP4 (h264 + AAC) or WAV/FLAC in the output folder, with a playable preview."""

from __future__ import annotations

from comfy_api.latest import io

from nava_model import media

from .files import output_path, workflow_metadata
from .sockets import OUTPUT_CATEGORY


class NAVASaveAV(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="NAVASaveAV",
            display_name="NAVA Save Audio+Video",
            category=OUTPUT_CATEGORY,
            description="Saves frames and sound as one MP4 (audio cut to the video length), or sound alone as "
            "WAV/FLAC. The prompt and workflow are embedded: drop the file on ComfyUI to get the graph back.",
            inputs=[
                io.Image.Input("frames", optional=True, tooltip="Frames from NAVA Decode (or any IMAGE batch)."),
                io.Audio.Input("audio", optional=True, tooltip="Sound from NAVA Decode (or any AUDIO)."),
                io.Float.Input(
                    "fps",
                    default=24.0,
                    min=1.0,
                    max=120.0,
                    step=0.001,
                    tooltip="Frame rate; connect NAVA Decode's fps.",
                ),
                io.String.Input(
                    "filename_prefix",
                    default="NAVA/nava",
                    tooltip="File name prefix inside the output folder; may contain sub-folders.",
                ),
                io.Combo.Input(
                    "audio_format",
                    options=["flac", "wav"],
                    default="flac",
                    tooltip="Container for sound without frames.",
                ),
            ],
            hidden=[io.Hidden.prompt, io.Hidden.extra_pnginfo],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, fps: float, filename_prefix: str, audio_format: str, frames=None, audio=None) -> io.NodeOutput:
        if frames is None and audio is None:
            raise ValueError("nothing to save: connect frames and/or audio")
        metadata = workflow_metadata(cls.hidden.prompt, cls.hidden.extra_pnginfo)
        path, subfolder, filename = output_path(filename_prefix, ".mp4" if frames is not None else f".{audio_format}")
        saved = [{"filename": filename, "subfolder": subfolder, "type": "output"}]
        if frames is None:
            media.write_audio(path, audio["waveform"], audio["sample_rate"], metadata=metadata)
            return io.NodeOutput(ui={"audio": saved})
        waveform, rate = (None, 0) if audio is None else (audio["waveform"], audio["sample_rate"])
        media.write_mp4(path, frames, fps, waveform, rate, metadata=metadata)
        return io.NodeOutput(ui={"nava_video": saved, "images": saved, "animated": [True]})
