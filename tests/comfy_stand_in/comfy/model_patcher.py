"""Stand-in for `comfy.model_patcher.ModelPatcher`: the unit the memory manager tracks."""

from __future__ import annotations

import comfy.model_management


class ModelPatcher:
    def __init__(self, model, load_device, offload_device, size=0, weight_inplace_update=False):
        self.model = model
        self.load_device = load_device
        self.offload_device = offload_device
        self.size = size

    def model_size(self) -> int:
        if not self.size:
            self.size = comfy.model_management.module_size(self.model)
        return self.size
