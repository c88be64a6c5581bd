"""LLMs that answer the rewrite instructions outside ComfyUI: a local transformers model folder, or an
OpenAI-compatible chat-completions server (vLLM, llama.cpp, ...) reached with the standard library.

Both take (system prompt, user message[, first frame]) and return the raw answer; `check_rewrite`
decides what of it may be used. Sampling follows NAVA upstream's rewriter (see instructions.py).
"""

from __future__ import annotations

import base64
import gc
import json
import urllib.error
import urllib.request
from pathlib import Path

import torch

from .check import RewriteError
from .instructions import MAX_NEW_TOKENS, REPETITION_PENALTY, TEMPERATURE, TOP_K, TOP_P

class LocalLLM:
    """A causal LM folder (config, weights, tokenizer with a chat template) loaded with transformers.

    Use it as a context manager: the weights are freed on exit, before anything else is loaded.
    """

    sees_images = False

    def __init__(self, folder: str | Path, device: str = "cpu", seed: int = 42, max_tokens: int = MAX_NEW_TOKENS):
        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise RewriteError(
                f"--rewrite-model {folder}: no config.json there; give a Hugging Face model folder such as a "
                "download of Qwen/Qwen3-4B-Instruct-2507"
            )
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        if not self.tokenizer.chat_template:
            raise RewriteError(f"--rewrite-model {folder}: its tokenizer has no chat template; use an instruct/chat model")
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval()
        self.device, self.seed, self.max_tokens = device, seed, max_tokens

    def __enter__(self) -> LocalLLM:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.model = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    @torch.no_grad()
    def __call__(self, system: str, user: str, image: Path | None = None) -> str:
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        # enable_thinking=False is Qwen3's switch for answering without a reasoning block; templates without it ignore it
        text = self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, enable_thinking=False
        )
        inputs = self.tokenizer(text, return_tensors="pt", add_special_tokens=False).to(self.device)
        torch.manual_seed(self.seed)
        output = self.model.generate(
            **inputs,
            do_sample=True,
            temperature=TEMPERATURE,
            top_p=TOP_P,
            top_k=TOP_K,
            repetition_penalty=REPETITION_PENALTY,
            max_new_tokens=self.max_tokens,
            pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
        )
        return self.tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


class ChatServer:
    """An OpenAI-compatible endpoint, e.g. `http://127.0.0.1:8000/v1` of `vllm serve Qwen/Qwen3-4B-Instruct-2507`.

    The model name is the server's first listed model unless given. A first frame is sent as an image part,
    which a vision-language model (e.g. Qwen3-VL) can describe.
    """

    sees_images = True

    def __init__(
        self, url: str, model: str | None = None, timeout: float = 300.0, seed: int = 42, max_tokens: int = MAX_NEW_TOKENS
    ):
        if not url.startswith(("http://", "https://")):
            raise RewriteError(f"--rewrite-url {url!r}: give the server's base address, e.g. http://127.0.0.1:8000/v1")
        self.url, self.timeout, self.seed, self.max_tokens = url.rstrip("/"), timeout, seed, max_tokens
        self.model = model or self._first_model()

    def __enter__(self) -> ChatServer:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def __call__(self, system: str, user: str, image: Path | None = None) -> str:
        content: str | list = user
        if image is not None:
            data = base64.b64encode(Path(image).read_bytes()).decode("ascii")
            mime = "image/png" if Path(image).suffix.lower() == ".png" else "image/jpeg"
            content = [{"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}, {"type": "text", "text": user}]
        answer = self._request(
            "/chat/completions",
            {
                "model": self.model,
                "messages": [{"role": "system", "content": system}, {"role": "user", "content": content}],
                "temperature": TEMPERATURE,
                "top_p": TOP_P,
                "top_k": TOP_K,  # vLLM's extensions; servers without them ignore the fields
                "repetition_penalty": REPETITION_PENALTY,
                "max_tokens": self.max_tokens,
                "seed": self.seed,
            },
        )
        try:
            return answer["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise RewriteError(f"{self.url}/chat/completions answered without choices[0].message.content: {str(answer)[:200]}") from None

    def _first_model(self) -> str:
        listing = self._request("/models")
        try:
            return listing["data"][0]["id"]
        except (KeyError, IndexError, TypeError):
            raise RewriteError(f"{self.url}/models lists no model; start the server with a model loaded") from None

    def _request(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            raise RewriteError(f"{self.url}{path} answered HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise RewriteError(
                f"cannot reach the rewrite server at {self.url} ({getattr(exc, 'reason', exc)}); start it "
                "(e.g. `vllm serve Qwen/Qwen3-4B-Instruct-2507`) or fix --rewrite-url"
            ) from None
        except json.JSONDecodeError:
            raise RewriteError(f"{self.url}{path} did not answer JSON; is it an OpenAI-compatible /v1 address?") from None
