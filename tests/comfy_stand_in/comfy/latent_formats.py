"""Stand-in for `comfy.latent_formats.Wan22`: arbitrary seeded tables of the right shapes.

The real projection factors and normalisation statistics live in ComfyUI; these only make the
shapes and the raw <-> normalised round trip testable.
"""

from __future__ import annotations

import torch


class Wan22:
    latent_channels = 48

    def __init__(self):
        generator = torch.Generator().manual_seed(22)
        self.latent_rgb_factors = (0.1 * torch.randn(48, 3, generator=generator)).tolist()
        self.latent_rgb_factors_bias = [0.0, 0.0, 0.0]
        self.latents_mean = (0.2 * torch.randn(48, generator=generator)).view(1, 48, 1, 1, 1)
        self.latents_std = (0.5 + torch.rand(48, generator=generator)).view(1, 48, 1, 1, 1)

    def process_in(self, latent):
        return (latent - self.latents_mean.to(latent)) / self.latents_std.to(latent)

    def process_out(self, latent):
        return latent * self.latents_std.to(latent) + self.latents_mean.to(latent)
