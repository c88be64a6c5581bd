"""Acceptance tests against a real ComfyUI server (skipped without COMFYUI_PATH; see comfyui_server.py).

Every API workflow in workflows/api/ (plus the pack's own minimal graph) is queued through
POST /prompt with small settings so it runs on the tiny weights on a CPU: each NAVASampler gets
2 steps, a custom 64x64 size and 1 second (25 frames). The saved files are then opened.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import av
import pytest
from comfyui_server import COMFYUI_PATH, COMFYUI_PYTHON, REPO, SKIP_REASON, WebSocket, saved_files, start_server

pytestmark = [pytest.mark.comfyui, pytest.mark.skipif(not COMFYUI_PATH, reason=SKIP_REASON)]

SMALL = {"steps": 2, "aspect": "custom", "width": 64, "height": 64, "seconds": 1.0, "frames": 0}
FPS = 24.0


def pack_graph(
    mode: str = "audio+video", prefix: str = "NAVA/pack", voice: bool = False, weight_dtype: str = "auto", **sampler
) -> dict:
    """The pack's own minimal T2AV graph: loaders, prompt, sampler, decode, save (+ Core's LoadAudio as voice_1)."""
    widgets = {
        "mode": mode,
        "aspect": "custom",
        "width": 64,
        "height": 64,
        "seconds": 1.0,
        "frames": 0,
        "steps": 2,
        "seed": 42,
        "sampler": "unipc",
        "shift": 5.0,
        "video_guidance": 3.0,
        "audio_guidance": 2.0,
        "video_align_guidance": 3.0,
        "audio_align_guidance": 2.0,
        "timbre_guidance": 3.0,
    } | sampler
    graph = {
        "1": {
            "class_type": "NAVAModelLoader",
            "inputs": {"model_name": "NAVA.safetensors", "weight_dtype": weight_dtype, "attention": "auto"},
        },
        "2": {"class_type": "NAVAWanVAELoader", "inputs": {"vae_name": "wan2.2_vae.safetensors"}},
        "3": {"class_type": "NAVAAudioVAELoader", "inputs": {"vae_name": "ltx-2.3-22b-dev_audio_vae.safetensors"}},
        "4": {"class_type": "NAVAUMT5Loader", "inputs": {"text_encoder_name": "umt5_xxl_fp16.safetensors"}},
        "5": {"class_type": "NAVAReDimNetLoader", "inputs": {"model_name": "M-vb2+vox2+cnc-ft_mix.pt"}},
        "6": {
            "class_type": "NAVASpeakerSpanPrompt",
            "inputs": {
                "text_encoder": ["4", 0],
                "speaker_encoder": ["5", 0],
                "negative_prompt": "low quality",
                "prompt": "A man on a pier says <S>The boats are late again.<E> Gulls cry.",
            },
        },
        "7": {"class_type": "NAVASampler", "inputs": {"model": ["1", 0], "conditioning": ["6", 0], **widgets}},
        "8": {
            "class_type": "NAVADecodeAV",
            "inputs": {
                "latent": ["7", 0],
                "video_vae": ["2", 0],
                "audio_vae": ["3", 0],
                "tiled": False,
                "audio_rate": "48000 (vocoder)",
            },
        },
        "9": {
            "class_type": "NAVASaveAV",
            "inputs": {
                "frames": ["8", 0],
                "audio": ["8", 1],
                "fps": ["8", 2],
                "filename_prefix": prefix,
                "audio_format": "flac",
            },
        },
    }
    if voice:
        graph["10"] = {"class_type": "LoadAudio", "inputs": {"audio": "pack_voice.wav"}}
        graph["6"]["inputs"]["voice_1"] = ["10", 0]
    return graph


def core_save_graph() -> dict:
    """The pack graph ending in Core's nodes: CreateVideo(frames, audio, fps) -> SaveVideo, and PreviewAudio."""
    graph = pack_graph()
    graph["9"] = {"class_type": "CreateVideo", "inputs": {"images": ["8", 0], "audio": ["8", 1], "fps": ["8", 2]}}
    graph["11"] = {
        "class_type": "SaveVideo",
        "inputs": {"video": ["9", 0], "filename_prefix": "core/nava", "format": "auto", "codec": "auto"},
    }
    graph["12"] = {"class_type": "PreviewAudio", "inputs": {"audio": ["8", 1]}}
    return graph


def core_separate_graph() -> dict:
    """The AV latent split by Core's LTXVSeparateAVLatent, each half decoded on its own, then saved together."""
    graph = pack_graph()
    graph["13"] = {"class_type": "LTXVSeparateAVLatent", "inputs": {"av_latent": ["7", 0]}}
    decode = graph["8"]["inputs"]
    graph["8"]["inputs"] = decode | {"latent": ["13", 0]}
    graph["14"] = {"class_type": "NAVADecodeAV", "inputs": decode | {"latent": ["13", 1]}}
    graph["9"]["inputs"]["audio"] = ["14", 1]
    return graph


def api_workflows() -> dict[str, dict]:
    workflows = {
        "pack_graph": pack_graph(),
        "pack_graph_voice": pack_graph(voice=True),
        "pack_graph_fp8": pack_graph(weight_dtype="fp8"),
        "pack_graph_bf16": pack_graph(weight_dtype="bf16"),
        "core_save_graph": core_save_graph(),
        "core_separate_graph": core_separate_graph(),
    }
    for path in sorted((REPO / "workflows" / "api").glob("*.json")):
        if path.stem == "nava_rewrite_text_to_av":
            continue  # runs only with an LLM file: test_rewrite_server.py validates it and runs its NAVA half
        data = json.loads(path.read_text())
        workflows[path.stem] = data.get("prompt", data) if isinstance(data.get("prompt"), dict) else data
    return workflows


WORKFLOWS = api_workflows()


def prepare(prompt: dict, input_dir: Path) -> dict:
    """Small sampler settings, and the input files LoadAudio / LoadImage nodes name (from workflows/inputs/,
    else synthesised)."""
    import torch
    from PIL import Image

    from nava_model.demo import synthetic_voice
    from nava_model.media import write_audio

    prompt = copy.deepcopy(prompt)
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "NAVASampler":
            inputs.update(SMALL)
        elif (
            node["class_type"] in ("LoadAudio", "LoadImage")
            and (REPO / "workflows" / "inputs" / inputs.get("audio", inputs.get("image", ""))).is_file()
        ):
            name = inputs.get("audio", inputs.get("image"))
            shutil.copy(REPO / "workflows" / "inputs" / name, input_dir / name)
        elif node["class_type"] == "LoadAudio":
            write_audio(input_dir / inputs["audio"], synthetic_voice(150.0)[None], 16000)
        elif node["class_type"] == "LoadImage":
            Image.fromarray(torch.randint(0, 255, (96, 128, 3), dtype=torch.uint8).numpy()).save(
                input_dir / inputs["image"]
            )
    return prompt


def failure(history: dict) -> str:
    """The node error of a failed prompt: type, node, message and the end of the traceback."""
    for event, data in history["status"]["messages"]:
        if event == "execution_error":
            trace = "".join(data.get("traceback", []))[-2000:]
            return f"{data['node_type']} (node {data['node_id']}): {data['exception_message']}\n{trace}"
    return json.dumps(history["status"])[-2000:]


def durations(path: Path) -> tuple[list[float], list[float]]:
    with av.open(str(path)) as container:
        return (
            [float(s.duration * s.time_base) for s in container.streams.video],
            [float(s.duration * s.time_base) for s in container.streams.audio],
        )


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = start_server(tmp_path_factory.mktemp("comfyui"))
    yield server
    server.process.terminate()
    server.process.wait(30)


def test_pack_loads_with_every_node_listed(server):
    info = server.get("/object_info")
    assert {n for n in info if n.startswith("NAVA")} == {
        "NAVAModelLoader",
        "NAVAWanVAELoader",
        "NAVAAudioVAELoader",
        "NAVAUMT5Loader",
        "NAVAReDimNetLoader",
        "NAVAMultiGPU",
        "NAVASpeakerSpanPrompt",
        "NAVASampler",
        "NAVADecodeAV",
        "NAVASaveAV",
        "NAVAStructuredCaption",
        "NAVARewriteInstructions",
        "NAVARewrittenPrompt",
    }
    assert info["NAVAModelLoader"]["input"]["required"]["model_name"][1]["options"] == ["NAVA.safetensors"]
    assert not [line for line in server.log().splitlines() if "Cannot import" in line and "comfyui-nava" in line]


@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_workflow_runs_and_saves_media_with_matching_streams(server, name):
    prompt = prepare(WORKFLOWS[name], server.base / "input")
    history = server.wait(server.queue(prompt, str(uuid.uuid4())))
    assert history["status"]["status_str"] == "success", failure(history)
    cached = {n for event, data in history["status"]["messages"] if event == "execution_cached" for n in data["nodes"]}
    for node_id, node in prompt.items():  # the prompt node shows its spans and voices (when it ran, not cached)
        if node["class_type"] == "NAVASpeakerSpanPrompt" and node_id not in cached:
            assert "speech span" in history["outputs"][node_id]["text"][0]
    modes = {n["inputs"]["mode"] for n in prompt.values() if n["class_type"] == "NAVASampler"}
    files = {(f["subfolder"], f["filename"]) for f in saved_files(history) if f["type"] == "output"}
    assert files, f"{name} saved nothing: {history['outputs']}"
    for subfolder, filename in files:
        path = server.base / "output" / subfolder / filename
        video, audio = durations(path)
        if path.suffix == ".mp4":
            assert len(video) == 1, f"{filename}: {len(video)} video streams"
            if modes != {"video only"}:
                assert len(audio) == 1 and abs(video[0] - audio[0]) <= 1 / FPS, (
                    f"{filename}: video {video}, audio {audio}"
                )
        else:
            assert modes == {"audio only"} and video == [] and audio[0] == pytest.approx(25 / FPS, abs=0.05)


def watch(server, prompt: dict, on_message=None, **extra_data) -> tuple[str, list[str], int]:
    """Queues `prompt` and reads /ws until it ends, calling `on_message(message, prompt_id)` on each JSON message:
    (prompt id, message types, binary preview frames)."""
    client_id = str(uuid.uuid4())
    socket = WebSocket(server.port, client_id)
    events, previews = [], 0
    try:
        prompt_id = server.queue(prompt, client_id, **extra_data)
        while True:
            message = socket.message()
            if message is None:
                previews += 1
                continue
            events.append(message["type"])
            if on_message:
                on_message(message, prompt_id)
            ended = message["type"] in ("execution_success", "execution_error", "execution_interrupted")
            if ended and message["data"].get("prompt_id") == prompt_id:
                return prompt_id, events, previews
    finally:
        socket.close()


def test_interrupt_stops_sampling_within_one_step_and_leaves_no_file(server):
    steps = {"at_interrupt": None, "last": 0}

    def interrupt_at_first_step(message, prompt_id):
        if message["type"] == "progress" and message["data"].get("node") == "7":
            steps["last"] = message["data"]["value"]
            if steps["at_interrupt"] is None:
                steps["at_interrupt"] = steps["last"]
                server.post("/interrupt", {"prompt_id": prompt_id})

    prompt = pack_graph(prefix="interrupted/run", steps=40, width=640, height=352, seconds=2.0)
    # preview_method: ComfyUI's own default is no previews
    prompt_id, events, previews = watch(server, prompt, interrupt_at_first_step, preview_method="auto")
    at_interrupt, last = steps["at_interrupt"], steps["last"]
    print(f"interrupt sent at step {at_interrupt}, last step reported {last}, {previews} previews")
    assert events[-1] == "execution_interrupted", events[-10:]
    assert last <= at_interrupt + 1, f"interrupted at step {at_interrupt}, sampling went on to step {last}"
    assert previews >= at_interrupt  # a Latent2RGB preview came with each step
    assert server.wait(prompt_id)["status"]["status_str"] == "error"
    leftovers = [p for p in (server.base / "output").rglob("*") if "interrupted" in str(p) or ".partial" in p.name]
    assert leftovers in ([], [server.base / "output" / "interrupted"]) and not any(p.is_file() for p in leftovers)


def test_preview_method_none_sends_no_step_previews(server):
    """ComfyUI's preview setting (here a prompt's own "preview_method") decides whether steps send previews."""
    graph = pack_graph(prefix="previews/run", steps=3, seed=7)
    _, events, previews = watch(server, graph, preview_method="none")
    assert events[-1] == "execution_success" and "progress" in events and previews == 0


def test_preview_method_latent2rgb_sends_step_previews(server):
    _, events, previews = watch(server, pack_graph(prefix="previews/rgb", steps=3, seed=8), preview_method="latent2rgb")
    assert events[-1] == "execution_success" and previews >= 1


@pytest.mark.parametrize("prefix", ["../outside", "/tmp/nava_abs", "NAVA/../../outside", ""])
def test_a_bad_filename_prefix_is_refused_when_queued_before_anything_runs(server, prefix):
    answer = server.refused(pack_graph(prefix=prefix))
    (error,) = answer["node_errors"]["9"]["errors"]
    assert error["type"] == "custom_validation_failed" and "filename_prefix" in error["details"], error
    assert answer["node_errors"]["9"]["class_type"] == "NAVASaveAV"


def test_a_prefix_naming_a_folder_saves_into_that_folder(server):
    history = server.wait(server.queue(prepare(pack_graph(prefix="NAVA/", seed=5), server.base / "input"), "x"))
    assert history["status"]["status_str"] == "success", failure(history)
    (saved,) = saved_files(history)
    assert saved["subfolder"] == "NAVA" and saved["filename"].startswith("nava_") and saved["filename"].endswith(".mp4")
    assert (server.base / "output" / "NAVA" / saved["filename"]).is_file()


def test_save_shows_one_player_cores_video_preview(server):
    history = server.wait(server.queue(prepare(pack_graph(prefix="one/player", seed=6), server.base / "input"), "x"))
    assert history["status"]["status_str"] == "success", failure(history)
    (saved,) = saved_files(history)
    assert history["outputs"]["9"] == {"images": [saved], "animated": [True]}  # no second, private player entry


def test_a_20_ms_reference_voice_is_used_with_a_warning_on_the_prompt_node(server):
    import torch

    from nava_model.media import write_audio

    graph = prepare(pack_graph(voice=True, prefix="short/voice", seed=9), server.base / "input")
    graph["10"]["inputs"]["audio"] = "short_voice.wav"
    write_audio(server.base / "input" / "short_voice.wav", 0.5 * torch.sin(torch.arange(320) / 16000 * 1257)[None], 16000)
    history = server.wait(server.queue(graph, str(uuid.uuid4())))
    assert history["status"]["status_str"] == "success", failure(history)
    shown = history["outputs"]["6"]["text"][0]
    assert "⚠ voice_1 is only 0.02 s long, shorter than the speaker encoder's 1 s window" in shown, shown
    assert "voice_1 is only 0.02 s long" in server.log()


def test_comfyuis_memory_manager_holds_and_frees_every_nava_model(tmp_path):
    from comfyui_server import make_tree

    yaml = make_tree(tmp_path)
    (tmp_path / "prompt.json").write_text(json.dumps(prepare(pack_graph(voice=True), tmp_path / "input")))
    result = subprocess.run(
        [
            COMFYUI_PYTHON,
            str(Path(__file__).with_name("run_inprocess.py")),
            str(yaml),
            str(tmp_path / "custom_nodes" / "comfyui-nava"),
            str(tmp_path / "input"),
            str(tmp_path / "output"),
            str(tmp_path / "prompt.json"),
        ],
        cwd=COMFYUI_PATH,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    print(json.dumps(report, indent=1))
    assert report["success"]
    held = {m["class"] for m in report["after_run"]}
    assert held == {"NavaMMDiT", "Wan22VAE", "LtxAudioVAE", "UMT5TextEncoder", "ReDimNetSpeakerEncoder"}
    assert all(m["loaded_bytes"] == m["bytes"] > 0 for m in report["after_run"])
    assert report["after_free_memory"]["managed"] == []
    assert set(report["after_free_memory"]["loaded_bytes"].values()) == {0}
    assert report["alive_after_free"] == []
