"""Names of the Wan2.2 VAE weights in the diffusers `AutoencoderKLWan` layout.

Our modules use the official key names (`Wan2.2_VAE.pth`, ComfyUI's `wan2.2_vae.safetensors`).
`diffusers_name` maps an official key to its diffusers twin; a loader inverts it over the known
official keys, so one rule table serves both directions.
"""

from __future__ import annotations

import re

# Block-level renames, applied in order (the first match wins).
_BLOCK_RULES = (
    (r"^conv1\.", "quant_conv."),
    (r"^conv2\.", "post_quant_conv."),
    (r"^(encoder|decoder)\.conv1\.", r"\1.conv_in."),
    (r"^(encoder|decoder)\.middle\.0\.", r"\1.mid_block.resnets.0."),
    (r"^(encoder|decoder)\.middle\.1\.", r"\1.mid_block.attentions.0."),
    (r"^(encoder|decoder)\.middle\.2\.", r"\1.mid_block.resnets.1."),
    (r"^(encoder|decoder)\.head\.0\.", r"\1.norm_out."),
    (r"^(encoder|decoder)\.head\.2\.", r"\1.conv_out."),
    (r"^encoder\.downsamples\.(\d+)\.downsamples\.\d+\.(resample|time_conv)\.", r"encoder.down_blocks.\1.downsampler.\2."),
    (r"^encoder\.downsamples\.(\d+)\.downsamples\.(\d+)\.", r"encoder.down_blocks.\1.resnets.\2."),
    (r"^decoder\.upsamples\.(\d+)\.upsamples\.\d+\.(resample|time_conv)\.", r"decoder.up_blocks.\1.upsampler.\2."),
    (r"^decoder\.upsamples\.(\d+)\.upsamples\.(\d+)\.", r"decoder.up_blocks.\1.resnets.\2."),
)

# Inside a residual block: the official Sequential slots get names.
_RESIDUAL_RULES = (
    (".residual.0.", ".norm1."),
    (".residual.2.", ".conv1."),
    (".residual.3.", ".norm2."),
    (".residual.6.", ".conv2."),
    (".shortcut.", ".conv_shortcut."),
)


def diffusers_name(official: str) -> str:
    for pattern, replacement in _BLOCK_RULES:
        renamed, count = re.subn(pattern, replacement, official)
        if count:
            break
    else:
        raise KeyError(f"no diffusers name known for {official}")
    for old, new in _RESIDUAL_RULES:
        renamed = renamed.replace(old, new)
    return renamed


def is_diffusers_layout(keys) -> bool:
    return "quant_conv.weight" in keys or "encoder.conv_in.weight" in keys
