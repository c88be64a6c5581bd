"""Headless rewriting: `rewrite` and `generate --rewrite` against a tiny random causal LM built here with
transformers, and against a stub OpenAI-compatible server on 127.0.0.1 (no network, no real weights)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import av
import pytest

IDEA = "A fisherman on a pier says <S>The boats are late again.<E>"
GOOD = "画面呈现清晨的码头，一位渔夫望向海面，语气无奈地说道：<S>The boats are late again.<E>海浪拍打木桩。"
SHORT = ("--device", "cpu", "--rewrite-max-tokens", "48")  # the random model rarely stops by itself
BROKEN = "画面呈现清晨的码头，一位渔夫望向海面，说道：<S>船又晚了。<E>"  # the span translated


def run_cli(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "nava_model", *args], capture_output=True, text=True, **kwargs)


@pytest.fixture
def cli(capsys):
    """`python -m nava_model ARGS` in this process (no interpreter start-up): (exit code, stdout, stderr)."""
    from nava_model.cli import main

    def run(*args):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
            if isinstance(exc.code, str):
                print(exc.code, file=sys.stderr)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="module")
def tiny_llm(tmp_path_factory):
    """A two-layer random Qwen2 with a byte-level tokenizer and a ChatML chat template: it answers garbage."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llm")
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {token: i for i, token in enumerate([*specials, *sorted(alphabet)])}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=specials[1:],
    )
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=8192, eos_token_id=vocab["<|im_end|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    Qwen2ForCausalLM(config).save_pretrained(folder)
    return folder


class StubServer:
    """/v1/models and /v1/chat/completions answering `answer`; the requests it got are kept."""

    def __init__(self):
        self.answer, self.requests = GOOD, []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._reply({"object": "list", "data": [{"id": "stub-qwen3-4b", "object": "model"}]})

            def do_POST(self):
                stub.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self._reply({"choices": [{"index": 0, "message": {"role": "assistant", "content": stub.answer}}]})

            def _reply(self, body):
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    stub = StubServer()
    yield stub
    stub.httpd.shutdown()
    stub.httpd.server_close()


def test_garbage_from_a_local_model_falls_back_to_the_original_prompt_with_a_warning(tiny_llm):
    result = run_cli("rewrite", IDEA, "--rewrite-model", str(tiny_llm), *SHORT, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout == IDEA + "\n"
    assert "warning: the LLM returned 0 of the 1 speech span(s)" in result.stderr
    assert "the original prompt is used unchanged" in result.stderr


def test_local_model_garbage_with_fail_policy_exits_with_the_reason(tiny_llm, cli):
    code, out, err = cli("rewrite", IDEA, "--rewrite-model", str(tiny_llm), *SHORT, "--on-broken-spans", "fail")
    assert code == 2 and out == ""
    assert "error: rewrite rejected: the LLM returned 0 of the 1 speech span(s)" in err


def test_a_server_answer_that_keeps_the_span_is_printed_and_sent_with_navas_sampling(server):
    result = run_cli("rewrite", IDEA, "--rewrite-url", server.url, timeout=120)
    assert result.returncode == 0 and result.stdout == GOOD + "\n" and result.stderr == ""
    (request,) = server.requests
    assert request["model"] == "stub-qwen3-4b"
    assert (request["temperature"], request["top_p"], request["top_k"], request["repetition_penalty"]) == (0.3, 0.75, 20, 1.05)
    system, user = request["messages"]
    assert system["role"] == "system" and "<S>" in system["content"] and user == {"role": "user", "content": IDEA}


def test_a_first_frame_goes_to_the_server_with_the_image_to_av_instructions(server, cli, tmp_path):
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 30, 30)).save(tmp_path / "frame.png")
    code, out, _ = cli("rewrite", IDEA, "--image", str(tmp_path / "frame.png"), "--rewrite-url", server.url)
    assert code == 0 and out == GOOD + "\n"
    system, user = server.requests[0]["messages"]
    assert "first frame" in system["content"]
    image, text = user["content"]
    assert image["image_url"]["url"].startswith("data:image/png;base64,") and text == {"type": "text", "text": IDEA}


def test_a_span_breaking_server_answer_is_repaired_with_a_warning(server, cli):
    server.answer = BROKEN
    code, out, err = cli("rewrite", IDEA, "--rewrite-url", server.url)
    assert code == 0
    assert out == "画面呈现清晨的码头，一位渔夫望向海面，说道：<S>The boats are late again.<E>\n"
    assert err.startswith('warning: the LLM changed the spoken words: span 1 "The boats are late again." came')


def test_a_span_breaking_server_answer_with_keep_original(server, cli):
    server.answer = BROKEN
    code, out, err = cli("rewrite", IDEA, "--rewrite-url", server.url, "--on-broken-spans", "keep-original")
    assert code == 0 and out == IDEA + "\n" and "warning:" in err


def test_an_unreachable_server_is_a_clear_error(server, cli):
    url = server.url
    server.httpd.shutdown()
    server.httpd.server_close()
    code, _, err = cli("rewrite", IDEA, "--rewrite-url", url)
    assert code == 2 and "cannot reach the rewrite server" in err


def test_rewrite_without_an_llm_or_with_a_broken_prompt_stops_before_loading_anything(tmp_path, cli):
    code, _, err = cli("rewrite", IDEA)
    assert code != 0 and "give --rewrite-model DIR" in err
    code, _, err = cli("rewrite", "He says <S>hello", "--rewrite-model", str(tmp_path))
    assert code == 2 and "never closed" in err


def test_generate_rewrite_records_both_prompts_in_the_mp4_metadata(tiny_models, tmp_path, server):
    batch = tmp_path / "batch.jsonl"
    lines = [
        {"prompt": IDEA, "output": str(tmp_path / "rewritten.mp4"), "rewrite": True},
        {"prompt": "Waves on a beach.", "output": str(tmp_path / "as_given.mp4")},
    ]
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    result = run_cli(
        "generate", "--models", str(tiny_models), "--prompt-file", str(batch), "--rewrite-url", server.url,
        "--width", "64", "--height", "32", "--latent-frames", "2", "--steps", "2", timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert len(server.requests) == 1  # only the line that asked for it
    with av.open(str(tmp_path / "rewritten.mp4")) as container:
        metadata = dict(container.metadata)
    assert metadata["prompt"] == GOOD and metadata["nava_original_prompt"] == IDEA and metadata["nava_rewrite"] == "rewritten"
    with av.open(str(tmp_path / "as_given.mp4")) as container:
        metadata = dict(container.metadata)
    assert metadata["prompt"] == "Waves on a beach." and "nava_original_prompt" not in metadata


def test_generate_rewrite_without_an_llm_stops_before_loading_models(tiny_models, tmp_path, monkeypatch, cli):
    def refuse(*args, **kwargs):
        raise AssertionError("models loaded before the rewrite was set up")

    monkeypatch.setattr("nava_model.components.load_models", refuse)
    code, _, err = cli("generate", "--models", str(tiny_models), "--prompt", IDEA, "--rewrite",
                       "--width", "64", "--height", "32", "--latent-frames", "2")
    assert code != 0 and "rewriting needs an LLM" in err


def test_generate_frees_the_local_llm_before_any_nava_model_loads(tiny_llm, tiny_models, cli, monkeypatch, tmp_path):
    import nava_model.components
    from nava_model.rewrite import runners

    events, close = [], runners.LocalLLM.close

    def recording_close(self):
        close(self)
        events.append(("llm freed", self.model))

    def stop_at_load(*args, **kwargs):
        events.append("nava models load")
        raise SystemExit(3)

    monkeypatch.setattr(runners.LocalLLM, "close", recording_close)
    monkeypatch.setattr(nava_model.components, "load_models", stop_at_load)
    code, _, err = cli("generate", "--models", str(tiny_models), "--output", str(tmp_path / "out.mp4"), "--prompt",
                       IDEA, "--rewrite", "--rewrite-model", str(tiny_llm), *SHORT,
                       "--width", "64", "--height", "32", "--latent-frames", "2")
    assert code == 3 and events == [("llm freed", None), "nava models load"]
    assert "the original prompt is used unchanged" in err  # garbage from the random model
