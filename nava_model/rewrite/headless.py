"""The command line's rewriting: `python -m nava_model rewrite "idea"` and `generate --rewrite`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..prompt import parse_speech_spans
from .check import CheckedRewrite, SpanPolicy, check_rewrite
from .instructions import MAX_NEW_TOKENS, RewriteMode, instructions
from .runners import ChatServer, LocalLLM

POLICIES = {"repair": SpanPolicy.REPAIR, "keep-original": SpanPolicy.KEEP_ORIGINAL, "fail": SpanPolicy.FAIL}


def add_backend_arguments(parser: argparse.ArgumentParser) -> None:
    """The LLM to rewrite with and what to do when it breaks the speech spans."""
    group = parser.add_argument_group("rewriting with an LLM")
    backend = group.add_mutually_exclusive_group()
    backend.add_argument("--rewrite-model", type=Path, metavar="DIR",
                         help="local transformers model folder, e.g. Qwen/Qwen3-4B-Instruct-2507")
    backend.add_argument("--rewrite-url", metavar="URL",
                         help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1 (vllm serve ...)")
    group.add_argument("--rewrite-served-model", metavar="NAME",
                       help="model name to ask --rewrite-url for (default: the first it lists)")
    group.add_argument("--rewrite-max-tokens", type=int, default=MAX_NEW_TOKENS, metavar="N",
                       help="longest answer the LLM may give, in tokens")
    group.add_argument("--on-broken-spans", choices=sorted(POLICIES), default="repair",
                       help="when the LLM loses or changes <S>...<E> spans: repair them (else keep the original), "
                       "keep the original prompt, or fail")


def add_rewrite_command(commands) -> None:
    rewrite = commands.add_parser(
        "rewrite", help="rewrite a short idea into a NAVA caption (checked prompt on stdout, warnings on stderr)"
    )
    rewrite.add_argument("idea", help="the prompt to rewrite; speech goes in <S>...<E> spans, kept word for word")
    rewrite.add_argument("--image", type=Path, help="first frame: image-to-AV instructions (the server's model sees it)")
    rewrite.add_argument("--seed", type=int, default=42)
    rewrite.add_argument("--device", default=None)
    add_backend_arguments(rewrite)
    rewrite.set_defaults(run=_cmd_rewrite)


def _cmd_rewrite(args: argparse.Namespace) -> None:
    parse_speech_spans(args.idea)  # a broken prompt is reported before any LLM is loaded
    if args.image is not None and not args.image.is_file():
        raise SystemExit(f"input file not found: {args.image}")
    with open_llm(args) as llm:
        _image_notice(llm, [args.image])
        checked = rewrite_prompt(llm, args.idea, args.image, POLICIES[args.on_broken_spans])
    if checked.warning:
        print(f"warning: {checked.warning}", file=sys.stderr)
    print(checked.prompt)


def open_llm(args: argparse.Namespace) -> LocalLLM | ChatServer:
    if args.rewrite_url:
        return ChatServer(args.rewrite_url, model=args.rewrite_served_model, seed=args.seed,
                          max_tokens=args.rewrite_max_tokens)
    if args.rewrite_model:
        import torch

        device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
        return LocalLLM(args.rewrite_model, device=device, seed=args.seed, max_tokens=args.rewrite_max_tokens)
    raise SystemExit("rewriting needs an LLM: give --rewrite-model DIR (a transformers model folder) or --rewrite-url URL")


def rewrite_prompt(llm: LocalLLM | ChatServer, prompt: str, image: Path | None, policy: SpanPolicy) -> CheckedRewrite:
    """Rewrite one prompt; a first frame selects the image-to-AV instructions where the LLM can see it."""
    if not llm.sees_images:
        image = None
    mode = RewriteMode.IMAGE if image is not None else RewriteMode.TEXT
    return check_rewrite(prompt, llm(instructions(mode), prompt, image), policy)


def _image_notice(llm: LocalLLM | ChatServer, images: list[Path | None]) -> None:
    if any(images) and not llm.sees_images:
        print("notice: the local LLM does not see first frames; prompts with an image are rewritten with the "
              "text-to-AV instructions (use --rewrite-url with a vision-language model to describe the frame)",
              file=sys.stderr)


def rewrite_jobs(jobs: list, args: argparse.Namespace) -> None:
    """Rewrite the prompts of the jobs that ask for it, in place (the original is kept beside), then free the LLM.

    Call it after the jobs are validated and before the NAVA models load.
    """
    wanted = [job for job in jobs if job.rewrite]
    if not wanted:
        if args.rewrite_model or args.rewrite_url:
            raise SystemExit('--rewrite-model/--rewrite-url given but nothing to rewrite: add --rewrite '
                             '(or "rewrite": true on batch lines)')
        return
    for job in wanted:
        parse_speech_spans(job.prompt)
    policy = POLICIES[args.on_broken_spans]
    with open_llm(args) as llm:
        _image_notice(llm, [job.image for job in wanted])
        for job in wanted:
            checked = rewrite_prompt(llm, job.prompt, job.image, policy)
            if checked.warning:
                print(f"warning: {job.output}: {checked.warning}", file=sys.stderr)
            job.original_prompt, job.prompt, job.rewrite_outcome = job.prompt, checked.prompt, checked.outcome.value
