"""Stand-in for `comfy.model_management`: a CPU-only device policy, a loaded-model list and interrupts."""

from __future__ import annotations

import torch

current_loaded_models: list = []  # ModelPatchers, most recently loaded first
load_calls: list[list] = []  # each load_models_gpu call's patchers, for tests
memory_requests: list[tuple[int, int | None]] = []  # each call's (memory_required, minimum_memory_required)
_interrupted = False


class InterruptProcessingException(Exception):
    pass


def reset() -> None:
    global _interrupted
    current_loaded_models.clear()
    load_calls.clear()
    memory_requests.clear()
    _interrupted = False


def get_torch_device() -> torch.device:
    return torch.device("cpu")


unet_offload_device = text_encoder_device = text_encoder_offload_device = get_torch_device
vae_device = vae_offload_device = intermediate_device = get_torch_device


def should_use_bf16(device=None, model_params=0, prioritize_performance=True, manual_cast=False) -> bool:
    return False


def should_use_fp16(device=None, model_params=0, prioritize_performance=True, manual_cast=False) -> bool:
    return False


def unet_dtype(
    device=None, model_params=0, supported_dtypes=(torch.float16, torch.bfloat16, torch.float32), weight_dtype=None
):
    return torch.float32


def unet_manual_cast(weight_dtype, inference_device, supported_dtypes=(torch.float16, torch.bfloat16, torch.float32)):
    return None if weight_dtype == torch.float32 else torch.float32


def vae_dtype(device=None, allowed_dtypes=()):
    return torch.float32


def module_size(module: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in module.state_dict().values())


def load_models_gpu(
    models, memory_required=0, force_patch_weights=False, minimum_memory_required=None, force_full_load=False
):
    load_calls.append(list(models))
    memory_requests.append((memory_required, minimum_memory_required))
    for patcher in models:
        if patcher in current_loaded_models:  # ComfyUI detaches a loaded model, keeping its weights, and reloads it
            current_loaded_models.remove(patcher)
            patcher.detach(unpatch_all=False)
        patcher.model.to(patcher.load_device)
        current_loaded_models.insert(0, patcher)


def unload_all_models() -> None:
    for patcher in current_loaded_models:
        patcher.detach(unpatch_all=True)
    current_loaded_models.clear()


def interrupt_current_processing(value: bool = True) -> None:
    global _interrupted
    _interrupted = value


def processing_interrupted() -> bool:
    return _interrupted


def throw_exception_if_processing_interrupted() -> None:
    global _interrupted
    if _interrupted:
        _interrupted = False
        raise InterruptProcessingException()
