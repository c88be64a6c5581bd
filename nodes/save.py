"""NAVASaveAV: MP4 (h264 + AAC) or WAV/FLAC in the output folder, shown by Core's own preview."""

from __future__ import annotations

from comfy_api.latest import io, ui

from nava_model import media

from .output_files import output_path, prefix_problem, workflow_metadata
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
                    tooltip="File name prefix inside the output folder; may contain sub-folders ('NAVA/' alone "
                    "names the folder) and Core's %year%, %month%, %day%, %width%, %height% variables.",
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
    def validate_inputs(cls, filename_prefix) -> bool | str:
        """At queue time, before any sampling: a prefix that cannot name a file stops the prompt here."""
        if not isinstance(filename_prefix, str):  # linked from another node: checked when Save runs
            return True
        return prefix_problem(filename_prefix) or True

    @classmethod
    def execute(cls, fps: float, filename_prefix: str, audio_format: str, frames=None, audio=None) -> io.NodeOutput:
        if frames is None and audio is None:
            raise ValueError("nothing to save: connect frames and/or audio")
        metadata = workflow_metadata(cls.hidden.prompt, cls.hidden.extra_pnginfo)
        if frames is None:
            path, subfolder, filename = output_path(filename_prefix, f".{audio_format}")
            media.write_audio(path, audio["waveform"], audio["sample_rate"], metadata=metadata)
            # Core's frontend has no player for a custom node's sound: web/nava.js shows this one
            return io.NodeOutput(ui=ui.SavedAudios([ui.SavedResult(filename, subfolder, io.FolderType.output)]))
        height, width = frames.shape[1:3]
        path, subfolder, filename = output_path(filename_prefix, ".mp4", width, height)
        waveform, rate = (None, 0) if audio is None else (audio["waveform"], audio["sample_rate"])
        media.write_mp4(path, frames, fps, waveform, rate, metadata=metadata)
        # the frontend's own video player (with sound) shows it, as for Core's Save Video
        return io.NodeOutput(ui=ui.PreviewVideo([ui.SavedResult(filename, subfolder, io.FolderType.output)]))
