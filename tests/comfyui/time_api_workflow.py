"""Times a shipped API workflow at its own settings on a real ComfyUI, for the headless note in workflows/api/.

    COMFYUI_PATH=... COMFYUI_PYTHON=... python tests/comfyui/time_api_workflow.py nava_text_to_av [STEPS]

Queues workflows/api/<name>.json unchanged except the sampler's steps (default 2, so the run ends in minutes),
on tiny random weights, and prints the seconds per sampling step and the decode time, read from /ws progress
events, plus the estimate for the workflow's own step count.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comfyui_server import REPO, WebSocket, start_server  # noqa: E402


def main(name: str, steps: int) -> None:
    prompt = json.loads((REPO / "workflows" / "api" / f"{name}.json").read_text())
    sampler_id, sampler = next((k, n) for k, n in prompt.items() if n["class_type"] == "NAVASampler")
    decode_id = next(k for k, n in prompt.items() if n["class_type"] == "NAVADecodeAV")
    full_steps, sampler["inputs"]["steps"] = sampler["inputs"]["steps"], steps
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp))
        try:
            for path in (REPO / "workflows" / "inputs").iterdir():
                (server.base / "input" / path.name).write_bytes(path.read_bytes())
            client_id = str(uuid.uuid4())
            socket = WebSocket(server.port, client_id)
            socket.sock.settimeout(3600)
            server.queue(prompt, client_id)
            marks: dict[str, list[float]] = {}
            steps_at: list[tuple[int, float]] = []  # (step, time): ComfyUI may skip reporting some steps
            while True:
                message = socket.message()
                if message is None:
                    continue
                kind, data = message["type"], message["data"]
                if kind == "progress" and data.get("node") == sampler_id:
                    steps_at.append((data["value"], time.monotonic()))
                if kind == "executing" and data.get("node") in (sampler_id, decode_id):
                    marks.setdefault(f"{kind}:{data['node']}", []).append(time.monotonic())
                if kind == "executing" and data.get("node") not in (sampler_id, decode_id, None):
                    marks.setdefault("other", []).append(time.monotonic())
                if kind in ("execution_success", "execution_error", "execution_interrupted"):
                    end = time.monotonic()
                    break
        finally:
            server.process.terminate()
            server.process.wait(30)
    (first, t0), (last, t1) = steps_at[0], steps_at[-1]
    per_step = (t1 - t0) / max(1, last - first)
    decode_start = marks[f"executing:{decode_id}"][0]
    decode = min(t for t in marks.get("other", [end]) + [end] if t > decode_start) - decode_start
    print(f"{name}: {kind}; {last} steps, {per_step:.1f} s/step (after the first), decode {decode:.1f} s; "
          f"at the workflow's {full_steps} steps: about {(full_steps * per_step + decode) / 60:.0f} min")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
