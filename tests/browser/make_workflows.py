"""Regenerates the shipped workflows with ComfyUI's real front-end.

    COMFYUI_PATH=... COMFYUI_PYTHON=... NODE_PATH=.../node_modules python tests/browser/make_workflows.py

Each graph below is built node by node in the browser (LiteGraph.createNode, widget values by name, links by
socket name) and saved twice: `workflows/<title>.json` as the front-end serialises it (UI format, shown in
ComfyUI's template browser under that title) and `workflows/api/<key>.json` from `app.graphToPrompt()` (API format,
the `prompt` of POST /prompt), plus `workflows/<title>.jpg`, the template browser's thumbnail (names in
templates.py). The UI files carry NAVA's defaults (50 steps, 1280x704, 6 s at 24 fps).
"""

from __future__ import annotations

import json
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from browser import (  # noqa: E402
    console_errors,
    missing_tools,
    run_frontend,
    start_ui_server,
    without_display_inputs,
)

from templates import API, api_file, thumbnail_file, ui_file  # noqa: E402

from nava_model.components import COMPONENTS  # noqa: E402

# Each component's release file, folder and download address, from the component table
MODELS = {
    key: {"name": c.release.name, "directory": c.release.folder, "url": c.release.url} for key, c in COMPONENTS.items()
}
# loader node type, its file widget, the model it loads, its output
LOADERS = {
    "mmdit": ("NAVAModelLoader", "model_name", "model"),
    "video_vae": ("NAVAWanVAELoader", "vae_name", "video_vae"),
    "audio_vae": ("NAVAAudioVAELoader", "vae_name", "audio_vae"),
    "text_encoder": ("NAVAUMT5Loader", "text_encoder_name", "text_encoder"),
    "speaker_encoder": ("NAVAReDimNetLoader", "model_name", "speaker_encoder"),
}
LOADER_IDS = {"mmdit": 1, "video_vae": 2, "audio_vae": 3, "text_encoder": 4, "speaker_encoder": 5}
PROMPT, SAMPLER, DECODE, SAVE, NOTE = 10, 11, 12, 13, 20
# Columns, read left to right: the models the prompt needs and its inputs (first frame, voices); the prompt with
# the VAEs below it (they feed the sampler and the decoder); sampling; decoding with the note below; the saved file.
COLUMN = {"loaders": 0, "inputs": 0, "prompt": 1, "vaes": 1, "sampler": 2, "decode": 3, "note": 3, "save": 4}
VAES = ("video_vae", "audio_vae")


def note(title: str, models: list[str], extra: str) -> dict:
    # Bold, not `code`: the Vue node renderer draws code spans in a colour that can hardly be read on a note.
    rows = "\n".join(
        f"| [{MODELS[m]['name']}]({MODELS[m]['url']}) | **models/{MODELS[m]['directory']}/** |" for m in models
    )
    text = (
        f"## NAVA: {title}\n\n{extra}\n\n| file | put it in |\n|---|---|\n{rows}\n\n"
        "Settings are NAVA's defaults: 1280x704, 6 s at 24 fps, 50 UniPC steps, guidance 3/2/3/2/3; the seed "
        "changes after every Run. Fewer steps or a smaller size run faster at lower quality.\n\n"
        "Speech goes between **&lt;S&gt;** and **&lt;E&gt;**; voice_1 speaks the first span, voice_2 the second, "
        "and so on."
    )
    return {"id": NOTE, "type": "MarkdownNote", "col": COLUMN["note"], "minSize": [300, 560], "widgets": {"text": text}}


def loaders(models: list[str]) -> list[dict]:
    nodes = []
    for model in models:
        node_type, widget, _ = LOADERS[model]
        nodes.append({
            "id": LOADER_IDS[model], "type": node_type, "col": COLUMN["vaes" if model in VAES else "loaders"],
            "widgets": {widget: MODELS[model]["name"]}, "models": [MODELS[model]],
        })
    return nodes


def graph(title: str, text: str, *, prompt: str, models: list[str], mode: str = "audio+video", image: str | None = None,
          voices: tuple[str, ...] = (), prefix: str) -> dict:
    """One NAVA graph: loaders, optional first frame and voices, prompt, sampler, decode, save."""
    video = mode != "audio only"
    links = [[LOADER_IDS["text_encoder"], "text_encoder", PROMPT, "text_encoder"]]
    nodes = [
        {"id": PROMPT, "type": "NAVASpeakerSpanPrompt", "col": COLUMN["prompt"], "minSize": [340, 440],
         "widgets": {"prompt": prompt}},
        *loaders(models),  # a column is stacked in list order: the prompt above the VAEs
    ]
    if "speaker_encoder" in models:
        links.append([LOADER_IDS["speaker_encoder"], "speaker_encoder", PROMPT, "speaker_encoder"])
    for i, name in enumerate(voices, start=1):
        nodes.append({"id": 30 + i, "type": "LoadAudio", "col": COLUMN["inputs"], "widgets": {"audio": name}})
        links.append([30 + i, "AUDIO", PROMPT, f"voice_{i}"])
    if image:
        nodes.append({"id": 30, "type": "LoadImage", "col": COLUMN["inputs"], "minSize": [0, 320], "widgets": {"image": image}})
        links += [[30, "IMAGE", SAMPLER, "first_frame"], [LOADER_IDS["video_vae"], "video_vae", SAMPLER, "video_vae"]]
    nodes += [
        # "randomize": each Run draws a new seed (after this run), so a second Run makes and saves a new clip
        {"id": SAMPLER, "type": "NAVASampler", "col": COLUMN["sampler"],
         "widgets": {"mode": mode, "seed": 42, "control_after_generate": "randomize"}},
        {"id": DECODE, "type": "NAVADecodeAV", "col": COLUMN["decode"]},
        note(title, models, text),
        {"id": SAVE, "type": "NAVASaveAV", "col": COLUMN["save"], "minSize": [300, 340 if video else 160],
         "widgets": {"filename_prefix": prefix}},
    ]
    links += [
        [LOADER_IDS["mmdit"], "model", SAMPLER, "model"],
        [PROMPT, "conditioning", SAMPLER, "conditioning"],
        [SAMPLER, "latent", DECODE, "latent"],
        [LOADER_IDS["audio_vae"], "audio_vae", DECODE, "audio_vae"],
        [DECODE, "audio", SAVE, "audio"],
        [DECODE, "fps", SAVE, "fps"],
    ]
    if video:
        links += [[LOADER_IDS["video_vae"], "video_vae", DECODE, "video_vae"], [DECODE, "frames", SAVE, "frames"]]
    return {"nodes": nodes, "links": links}


AV = ["mmdit", "video_vae", "audio_vae", "text_encoder"]
SPECS = {
    "nava_text_to_av": graph(
        "text to audio+video",
        "Video and sound from a prompt. The speech span gets a timbre from the text; to give it a voice, "
        "see the dialogue template.",
        prompt="A woman in a red coat stands on a windy pier and says <S>The boats are late again today.<E> "
        "Waves crash behind her and gulls cry overhead.",
        models=AV, prefix="NAVA/text_to_av",
    ),
    "nava_image_to_av": graph(
        "image to audio+video",
        "Animates a first frame (Load Image) with sound. The image is scaled and centre-cropped to the size; the "
        "video VAE encodes it.",
        prompt="Sunset over a calm blue sea seen from an old wooden pier; the waves roll slowly towards the post. "
        "A man off camera says <S>Look at that sky, it was worth the wait.<E> Water laps against the wood.",
        models=AV, image="nava_first_frame.png", prefix="NAVA/image_to_av",
    ),
    "nava_dialogue_three_voices": graph(
        "three-speaker dialogue with reference voices",
        "Three speech spans, three reference voices: voice_1 speaks the first span, voice_2 the second, voice_3 the "
        "third. Use a few seconds of clean speech per voice; the ReDimNet speaker encoder turns each into a timbre.",
        prompt="Three friends sit around a campfire at night, sparks rising into the dark. A deep-voiced man leans in "
        "and says <S>Did you hear that noise in the woods?<E> The young woman beside him laughs <S>It was just the "
        "wind, relax.<E> An older man pokes the fire and mutters <S>The wind does not snap branches.<E> "
        "The fire crackles.",
        models=[*AV, "speaker_encoder"],
        voices=("nava_voice_1.wav", "nava_voice_2.wav", "nava_voice_3.wav"), prefix="NAVA/dialogue",
    ),
    "nava_audio_only": graph(
        "audio only",
        "Sound alone (speech, effects, ambience) from the same model: the sampler's mode is 'audio only', no video "
        "VAE is needed, and NAVA Save writes a FLAC file.",
        prompt="A rainy street at night: heavy rain drums on a tin roof, a car passes through puddles, and a tired "
        "man says <S>I will wait here until it stops.<E> Thunder rolls in the distance.",
        models=["mmdit", "audio_vae", "text_encoder"], mode="audio only", prefix="NAVA/audio_only",
    ),
}


# What each template makes, written across the top of its thumbnail in the template browser
CAPTIONS = {
    "nava_text_to_av": "text → video + sound",
    "nava_image_to_av": "image → video + sound",
    "nava_dialogue_three_voices": "3 voices → dialogue",
    "nava_audio_only": "text → sound only",
    "nava_rewrite_text_to_av": "idea → rewrite → video",
}


def finish(name: str, ui: dict) -> dict:
    """Stable id, and no saved view: both front-ends then fit the whole graph into the window when it opens."""
    ui["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyui-nava/workflows/{name}"))
    ui.get("extra", {}).pop("ds", None)
    return ui


def save_thumbnail(screenshot: Path, target: Path) -> None:
    from PIL import Image

    with Image.open(screenshot) as image:
        image.convert("RGB").resize((600, 360), Image.LANCZOS).save(target, quality=80, optimize=True)


def main(specs: dict = SPECS, prepare=None) -> None:
    """Build `specs` in the front-end and write them; `prepare(server)` runs first (e.g. to add model files)."""
    reason = missing_tools()
    if reason:
        sys.exit(reason)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        server = start_ui_server(base / "comfyui")
        if prepare:
            prepare(server)
        try:
            thumbnails = {name: {"path": str(base / f"{name}.png"), "caption": CAPTIONS[name]} for name in specs}
            job = {"settings": {"Comfy.VueNodes.Enabled": False}, "build": specs, "thumbnails": thumbnails}
            result = run_frontend(server, job, base)
            for name, thumbnail in thumbnails.items():
                save_thumbnail(Path(thumbnail["path"]), thumbnail_file(name))
        finally:
            server.process.terminate()
            server.process.wait(30)
    API.mkdir(exist_ok=True)
    for name, built in result["built"].items():
        ui_file(name).write_text(json.dumps(finish(name, built["ui"]), indent=2, ensure_ascii=False) + "\n")
        api = without_display_inputs(built["api"])
        api_file(name).write_text(json.dumps(api, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {ui_file(name)} and {api_file(name)}")
    errors = console_errors(result["console"])
    if errors:
        sys.exit("console errors in the front-end:\n" + "\n".join(map(str, errors)))


if __name__ == "__main__":
    main()
