"""A real ComfyUI, started headless for the pack's acceptance tests, and a small client for it.

`COMFYUI_PATH` names a ComfyUI checkout (0.8.0 is the version these tests were written against) and
`COMFYUI_PYTHON` the interpreter of its environment (default: this one). Our repository is mounted
as a custom-node pack through an extra_model_paths.yaml `custom_nodes:` key, and tiny weights sit
in a temporary models/ tree. Nothing is copied into the ComfyUI checkout.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMFYUI_PATH = os.environ.get("COMFYUI_PATH")
COMFYUI_PYTHON = os.environ.get("COMFYUI_PYTHON", sys.executable)
SKIP_REASON = "COMFYUI_PATH is not set: these tests need a ComfyUI checkout (see tests/comfyui/comfyui_server.py)"
STARTUP_TIMEOUT = 300  # s; a loaded 2-core machine needs minutes to import ComfyUI and its nodes
MODEL_FOLDERS = ("nava", "diffusion_models", "vae", "checkpoints", "text_encoders", "audio_encoders")


def make_tree(base: Path) -> Path:
    """Tiny weights, input/output folders, our repo as a pack, and the yaml that mounts them; returns the yaml."""
    from nava_model.components import make_tiny_models

    make_tiny_models(base / "models")
    (base / "custom_nodes").mkdir()
    (base / "custom_nodes" / "comfyui-nava").symlink_to(REPO, target_is_directory=True)
    for folder in ("input", "output", "temp", "user"):
        (base / folder).mkdir()
    lines = ["nava_tests:", f"  base_path: {base}", "  custom_nodes: custom_nodes"]
    lines += [f"  {folder}: models/{folder}" for folder in MODEL_FOLDERS]
    (base / "paths.yaml").write_text("\n".join(lines) + "\n")
    return base / "paths.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    base: Path
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return (self.base / "server.log").read_text(errors="replace")

    def get(self, route: str):
        with urllib.request.urlopen(self.url + route, timeout=30) as response:
            return json.loads(response.read())

    def post(self, route: str, body: dict):
        request = urllib.request.Request(
            self.url + route, json.dumps(body).encode(), {"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            data = response.read()
            return json.loads(data) if data else None

    def queue(self, prompt: dict, client_id: str, workflow: dict | None = None, **extra_data) -> str:
        """POST /prompt; `extra_data` goes beside the workflow (e.g. preview_method="none")."""
        extra = {"extra_pnginfo": {"workflow": workflow or {}}, **extra_data}
        return self.post("/prompt", {"prompt": prompt, "client_id": client_id, "extra_data": extra})["prompt_id"]

    def refused(self, prompt: dict) -> dict:
        """POST /prompt for a prompt the server must refuse: the HTTP 400 body ({"error", "node_errors"})."""
        try:
            answer = self.post("/prompt", {"prompt": prompt, "client_id": str(uuid.uuid4())})
        except urllib.error.HTTPError as error:
            assert error.code == 400, error.code
            return json.loads(error.read())
        raise AssertionError(f"the server accepted the prompt: {answer}")

    def wait(self, prompt_id: str, timeout: float = 300.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                return history[prompt_id]
            time.sleep(0.2)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout} s; server log tail:\n{self.log()[-3000:]}")


def start_server(base: Path) -> Server:
    yaml = make_tree(base)
    port = free_port()
    command = [
        COMFYUI_PYTHON,
        "main.py",
        "--cpu",
        "--listen",
        "127.0.0.1",
        "--port",
        str(port),
        "--disable-auto-launch",
        "--dont-print-server",
        "--disable-api-nodes",
        "--output-directory",
        str(base / "output"),
        "--temp-directory",
        str(base / "temp"),
        "--input-directory",
        str(base / "input"),
        "--user-directory",
        str(base / "user"),
        "--database-url",
        "sqlite:///:memory:",
        "--extra-model-paths-config",
        str(yaml),
    ]
    log = open(base / "server.log", "w")
    server = Server(base, port, subprocess.Popen(command, cwd=COMFYUI_PATH, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"ComfyUI exited with {server.process.returncode}:\n{server.log()[-3000:]}")
        try:
            server.get("/system_stats")
            return server
        except OSError:
            time.sleep(0.5)
    server.process.kill()
    raise TimeoutError(f"ComfyUI did not answer in {STARTUP_TIMEOUT} s:\n{server.log()[-3000:]}")


class WebSocket:
    """Just enough of RFC 6455 to read ComfyUI's /ws messages (text frames as JSON, binary frames skipped)."""

    def __init__(self, port: int, client_id: str):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        key = base64.b64encode(uuid.uuid4().bytes).decode()
        self.sock.sendall(
            f"GET /ws?clientId={client_id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        header = b""
        while b"\r\n\r\n" not in header:
            header += self.sock.recv(1)
        if b" 101 " not in header.split(b"\r\n")[0]:
            raise ConnectionError(header.decode(errors="replace"))

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("websocket closed")
            data += chunk
        return data

    def message(self) -> dict | None:
        """The next text message as JSON; None for a binary (preview) frame."""
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", self._read(8))
        payload = self._read(length)
        return json.loads(payload) if first & 0x0F == 1 else None

    def close(self) -> None:
        self.sock.close()


def saved_files(history: dict) -> list[dict]:
    """Every file entry the prompt's nodes reported in their ui outputs."""
    entries = []
    for output in history["outputs"].values():
        for key, values in output.items():
            if key != "animated" and isinstance(values, list):
                entries += [v for v in values if isinstance(v, dict) and "filename" in v]
    return entries
