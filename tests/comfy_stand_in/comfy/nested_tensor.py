"""Stand-in for `comfy.nested_tensor.NestedTensor`: several latents travelling as one LATENT."""

from __future__ import annotations


class NestedTensor:
    def __init__(self, tensors):
        self.tensors = list(tensors)
        self.is_nested = True

    def unbind(self):
        return self.tensors
