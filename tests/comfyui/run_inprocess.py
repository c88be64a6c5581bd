"""Run one prompt through ComfyUI's PromptExecutor in this process and report what its memory manager holds.

Run by test_server.py with the ComfyUI interpreter, in the ComfyUI checkout:
    python run_inprocess.py PATHS_YAML PACK_DIR INPUT_DIR OUTPUT_DIR PROMPT_JSON
Prints one JSON line with the managed models after the run, after ComfyUI frees memory for another
model, and after the /free route's unload + cache reset (did any module survive?).
"""

import asyncio
import gc
import json
import os
import sys
import uuid
import weakref

paths_yaml, pack_dir, input_dir, output_dir, prompt_file = sys.argv[1:6]
sys.argv = [sys.argv[0], "--cpu", "--disable-api-nodes"]
sys.path.insert(0, os.getcwd())

import comfy.options  # noqa: E402

comfy.options.enable_args_parsing()
import utils.extra_config  # noqa: E402  (before `nodes`, as main.py does)

utils.extra_config.load_extra_path_config(paths_yaml)
import folder_paths  # noqa: E402

folder_paths.set_input_directory(input_dir)  # main.py does these from its flags
folder_paths.set_output_directory(output_dir)
import comfy.model_management as mm  # noqa: E402
import execution  # noqa: E402

import nodes  # noqa: E402


class StubServer:
    client_id = None
    last_node_id = None
    last_prompt_id = None
    sockets_metadata = {}

    def send_sync(self, event, data, sid=None):
        pass

    def queue_updated(self):
        pass


def name(module) -> str:
    return type(getattr(module, "inner", module)).__name__  # the pack's Holder around a transformers model


def managed():
    return [
        {"class": name(m.model.model), "loaded_bytes": m.model.loaded_size(), "bytes": m.model.model_size()}
        for m in mm.current_loaded_models
        if m.model is not None
    ]


async def main():
    await nodes.init_extra_nodes(init_custom_nodes=False, init_api_nodes=False)
    if not await nodes.load_custom_node(pack_dir):
        raise SystemExit(f"the pack at {pack_dir} did not load")
    prompt = json.loads(open(prompt_file).read())
    prompt_id = str(uuid.uuid4())
    valid, error, outputs, node_errors = await execution.validate_prompt(prompt_id, prompt, None)
    if not valid:
        raise SystemExit(json.dumps({"error": error, "node_errors": node_errors}))
    # main.py's cache_args with no LRU and no RAM headroom ("ram_inactive": read by 0.33, not by 0.8.0)
    cache_args = {"lru": 0, "ram": 0, "ram_inactive": 0}
    executor = execution.PromptExecutor(StubServer(), cache_type=execution.CacheType.CLASSIC, cache_args=cache_args)
    await executor.execute_async(prompt, prompt_id, {"client_id": None}, outputs)
    report = {"success": executor.success, "after_run": managed()}
    patchers = [weakref.ref(m.model) for m in mm.current_loaded_models if m.model is not None]
    modules = [weakref.ref(p().model) for p in patchers]

    mm.free_memory(1e30, mm.get_torch_device())  # what ComfyUI does when another model needs the room
    report["after_free_memory"] = {
        "managed": managed(),
        "loaded_bytes": {name(p().model): p().loaded_size() for p in patchers if p() is not None},
    }

    mm.unload_all_models()  # POST /free {"unload_models": true, "free_memory": true}
    executor.reset()
    gc.collect()
    report["alive_after_free"] = [name(ref()) for ref in modules if ref() is not None]
    print(json.dumps(report))


asyncio.run(main())
