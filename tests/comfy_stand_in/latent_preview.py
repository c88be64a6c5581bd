"""Stand-in for ComfyUI's `latent_preview`: a linear latent -> RGB projection of the first frame, chosen by the
preview method (`PREVIEW_METHOD`, ComfyUI's `--preview-method` / a prompt's `preview_method`)."""

from __future__ import annotations

import torch
from PIL import Image

MAX_PREVIEW_RESOLUTION = 512
PREVIEW_METHOD = "auto"


class Latent2RGBPreviewer:
    def __init__(self, latent_rgb_factors, latent_rgb_factors_bias=None, latent_rgb_factors_reshape=None):
        self.factors = torch.tensor(latent_rgb_factors)
        self.bias = torch.tensor(latent_rgb_factors_bias) if latent_rgb_factors_bias is not None else torch.zeros(3)

    def decode_latent_to_preview_image(self, preview_format, x0):
        frame = x0[0, :, 0] if x0.ndim == 5 else x0[0]
        rgb = torch.einsum("chw,cr->hwr", frame.float().cpu(), self.factors) + self.bias
        pixels = ((rgb + 1) / 2).clamp(0, 1).mul(255).to(torch.uint8).numpy()
        return preview_format, Image.fromarray(pixels), MAX_PREVIEW_RESOLUTION


def get_previewer(device, latent_format):
    if PREVIEW_METHOD == "none":
        return None
    return Latent2RGBPreviewer(latent_format.latent_rgb_factors, latent_format.latent_rgb_factors_bias)
