"""Progress bars, step previews and Cancel for long node work, through ComfyUI's own hooks."""

from __future__ import annotations

import comfy.utils
import latent_preview
from comfy import latent_formats, model_management

from nava_model.pipeline import AVLatent


class SamplingProgress:
    """Step callback for `pipeline.sample`: stop on Cancel, advance the bar, preview the video x0."""

    def __init__(self, steps: int):
        self.bar = comfy.utils.ProgressBar(steps)
        # Core's previewer for Wan 2.2's 48-channel latents, as ComfyUI's preview method asks (--preview-method,
        # or the prompt's own "preview_method"): None for "none", TAE when its file is in models/vae_approx,
        # else the latent -> RGB projection.
        self.previewer = latent_preview.get_previewer(model_management.get_torch_device(), latent_formats.Wan22())

    def __call__(self, step: int, total: int, x0: AVLatent) -> None:
        model_management.throw_exception_if_processing_interrupted()
        preview = None
        if x0.video is not None and self.previewer is not None:
            preview = self.previewer.decode_latent_to_preview_image("JPEG", x0.video)
        self.bar.update_absolute(step + 1, total, preview)


class DecodeProgress:
    """Frame callback for the VAE decode: stop on Cancel, advance the bar."""

    def __init__(self):
        self.bar = comfy.utils.ProgressBar(1)

    def __call__(self, done: int, total: int) -> None:
        model_management.throw_exception_if_processing_interrupted()
        self.bar.update_absolute(done, total)
