"""Stand-in for `comfy.model_patcher.ModelPatcher`: the unit the memory manager tracks."""

from __future__ import annotations

import comfy.model_management
from comfy.patcher_extension import CallbacksMP


class ModelPatcher:
    def __init__(self, model, load_device, offload_device, size=0, weight_inplace_update=False):
        self.model = model
        self.load_device = load_device
        self.offload_device = offload_device
        self.size = size
        self.callbacks: dict[str, dict[str, list]] = {}

    def model_size(self) -> int:
        if not self.size:
            self.size = comfy.model_management.module_size(self.model)
        return self.size

    def add_callback_with_key(self, call_type: str, key: str, callback) -> None:
        self.callbacks.setdefault(call_type, {}).setdefault(key, []).append(callback)

    def get_all_callbacks(self, call_type: str) -> list:
        return [c for callbacks in self.callbacks.get(call_type, {}).values() for c in callbacks]

    def detach(self, unpatch_all=True):
        """The memory manager unloaded this model: back to its offload device, then the ON_DETACH callbacks."""
        self.model.to(self.offload_device)
        for callback in self.get_all_callbacks(CallbacksMP.ON_DETACH):
            callback(self, unpatch_all)
        return self.model
