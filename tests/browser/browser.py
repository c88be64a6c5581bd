"""ComfyUI's real front-end in headless Chromium: what the browser tests and `make_workflows.py` share.

Needs a ComfyUI checkout (`COMFYUI_PATH`, interpreter `COMFYUI_PYTHON`; see tests/comfyui/comfyui_server.py), Node.js,
Chromium (`CHROMIUM`, default Debian's /usr/bin/chromium) and the npm package playwright-core where Node finds
it (`NODE_PATH=<dir>/node_modules` after `npm install --prefix <dir> playwright-core`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
INPUTS = REPO / "workflows" / "inputs"
DRIVER = HERE / "frontend.mjs"
sys.path[:0] = [str(REPO), str(REPO / "tests" / "comfyui")]  # nava_model (tiny weights), and the server harness

import comfyui_server as harness  # noqa: E402  (tests/comfyui: the real server, our repo mounted as a pack)

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The first-run template browser and the minimap would cover the canvas in screenshots.
SETTINGS = {"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False}


def missing_tools() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if not harness.COMFYUI_PATH:
        return harness.SKIP_REASON
    if not shutil.which("node"):
        return "node is not on PATH: the browser tests drive Chromium through a Node.js script"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium, or set CHROMIUM)"
    found = subprocess.run(["node", "-e", "require.resolve('playwright-core')"], capture_output=True, env=os.environ)
    if found.returncode != 0:
        return "Node cannot find playwright-core: npm install --prefix DIR playwright-core and set NODE_PATH=DIR/node_modules"
    return None


def start_ui_server(base: Path) -> harness.Server:
    """A ComfyUI with the pack, tiny weights, the example inputs in its input folder, and no first-run dialog."""
    server = harness.start_server(base)
    for path in INPUTS.iterdir():
        if path.suffix in (".png", ".wav"):
            shutil.copy(path, base / "input" / path.name)
    settings = base / "user" / "default" / "comfy.settings.json"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(json.dumps(SETTINGS))
    return server


def run_frontend(server: harness.Server, job: dict, workdir: Path, timeout: float = 600) -> dict:
    """Runs frontend.mjs on `job` against the server's web UI; returns its result (see frontend.mjs)."""
    job_path, result_path = workdir / "job.json", workdir / "result.json"
    job_path.write_text(json.dumps(job))
    done = subprocess.run(
        ["node", str(DRIVER), server.url, str(job_path), str(result_path)],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, "CHROMIUM": CHROMIUM},
    )
    if done.returncode != 0 or not result_path.is_file():
        raise RuntimeError(f"frontend.mjs failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(result_path.read_text())


# Display-only widgets that some front-end versions put into `graphToPrompt()` and the server ignores
# (1.35's LoadAudio player; 1.49 no longer sends it).
DISPLAY_ONLY_INPUTS = {"audioUI"}


def without_display_inputs(prompt: dict) -> dict:
    """The API prompt as the server reads it: display-only widget values dropped."""
    return {
        node_id: {**node, "inputs": {k: v for k, v in node["inputs"].items() if k not in DISPLAY_ONLY_INPUTS}}
        for node_id, node in prompt.items()
    }


def canonical(prompt: dict) -> dict:
    """An API prompt with its node ids replaced by ids that depend only on the graph (class, inputs, wiring)."""
    prompt = without_display_inputs(prompt)
    signatures: dict[str, str] = {}

    def signature(node_id: str) -> str:
        if node_id not in signatures:
            node = prompt[node_id]
            inputs = {
                name: ["link", signature(value[0]), value[1]] if is_link(value) else value
                for name, value in sorted(node["inputs"].items())
            }
            signatures[node_id] = json.dumps([node["class_type"], inputs, node.get("_meta")], sort_keys=True)
        return signatures[node_id]

    order = sorted(prompt, key=lambda node_id: (signature(node_id), int(node_id) if node_id.isdigit() else node_id))
    new_id = {old: str(i + 1) for i, old in enumerate(order)}
    return {
        new_id[old]: {
            **prompt[old],
            "inputs": {
                name: [new_id[value[0]], value[1]] if is_link(value) else value
                for name, value in prompt[old]["inputs"].items()
            },
        }
        for old in order
    }


def is_link(value) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


# What a fresh user folder makes the front-end itself ask for in vain (no custom CSS, no saved workflows, ...)
FRESH_USER_404 = re.compile(r"/user\.css$|/favicon\.ico$|/api/userdata[/?]")
# Errors the front-end logs by itself, with no custom node pack involved: frontend 1.49 (ComfyUI 0.33) touches its
# graph once before setup finishes, and its missing-models panel asks huggingface.co for file sizes, which
# ComfyUI's own Content-Security-Policy blocks.
FRONTEND_OWN_ERRORS = ("ComfyApp graph accessed before initialization", "violates the document's Content Security",
                       "violates the following Content Security Policy")


def console_errors(console: list[dict]) -> list[dict]:
    """Console errors and uncaught exceptions, except the front-end's own: 404s for a fresh user folder, and
    the messages it logs with no pack at all."""
    return [
        entry for entry in console
        if entry["type"] in ("error", "pageerror")
        and not ("status of 404" in entry["text"] and FRESH_USER_404.search(entry["url"]))
        and not any(text in entry["text"] for text in FRONTEND_OWN_ERRORS)
    ]


def legibility_problems(opened: dict) -> list[str]:
    """What keeps a template, as `frontend.mjs` saw it open, from being read in the window: a zoom below the front-end's
    low-quality threshold (nodes drawn as grey boxes without text), a node outside the window, a title not drawn or
    text cut short with "…" (classic renderer), nodes drawn over each other (Vue renderer)."""
    problems = []
    if opened["threshold"] is None or opened["scale"] < opened["threshold"]:
        problems.append(f"opens at zoom {opened['scale']:.4f}, below the low-quality threshold {opened['threshold']}")
    left, top, right, bottom = opened["view"]
    for node in opened["nodes"]:
        x0, y0, x1, y1 = node["box"]
        if not (left <= x0 and top <= y0 and x1 <= right and y1 <= bottom):
            problems.append(f"{node['title']} lies outside the window: {node['box']}")
    if opened["vue"]:
        boxes = opened["domBoxes"]
        problems += [
            f"{a['title']} and {b['title']} overlap" for i, a in enumerate(boxes) for b in boxes[i + 1:] if overlap(a, b)
        ]
    else:
        drawn = opened["drawn"]
        problems += [f"title {node['title']!r} not drawn" for node in opened["nodes"] if node["title"] not in drawn]
        problems += [f"cut short: {text!r}" for text in drawn if "…" in text]
    return problems


def overlap(a: dict, b: dict) -> bool:
    """Whether two screen boxes [left, top, right, bottom] share any area."""
    (a0, a1, a2, a3), (b0, b1, b2, b3) = a["box"], b["box"]
    return a0 < b2 and b0 < a2 and a1 < b3 and b1 < a3
