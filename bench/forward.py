"""Speed of one MMDiT block and of the whole MMDiT forward: eager, compiled, and a Wan2.2-style baseline.

Random weights at the chosen width (default: the release 6.3B model, bf16 on a GPU); one guidance
pass (batch 1) at NAVA's token layout for the size and duration. For each variant: time per call,
TFLOP/s of the blocks' matmuls and attention (count below), % of the GPU's dense bf16 peak, and the
peak memory. Ratios are to the eager row of the same run.

  block, upstream-style: the same single-stream block computed the way Wan2.2's reference code does
                         (per-token [B, L, 6, dim] modulation tensors, RoPE through float64 complex
                         numbers, every elementwise step a separate kernel)
  block, eager / compiled: ours, plain PyTorch / under torch.compile (inductor fuses the elementwise
                         chains: q/k RMSNorm + RoPE + cast, LayerNorm + modulate + cast, gated residual)
  model, eager / compiled: the whole forward (10 double + 20 single blocks), regional compile

    python bench/forward.py                       # GPU, 1280x704, 6 s (32,712 joint tokens)
    python bench/forward.py --tiny                # CPU smoke run: reduced width, small clip
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import (  # noqa: E402
    add_clip_arguments, add_device_arguments, bf16_peak_tflops, device_and_dtype, machine, memory_label, note, print_table, randomize, timed,
)

from nava_model.config import NavaConfig, get_preset  # noqa: E402
from nava_model.mmdit.blocks import AUDIO, VIDEO, Block  # noqa: E402
from nava_model.mmdit.model import NavaMMDiT  # noqa: E402
from nava_model.mmdit.rope import audio_angles, joint_rope, video_angles  # noqa: E402
from nava_model.latent_space import frames_for_duration  # noqa: E402
from nava_model.options import SamplingOptions  # noqa: E402

TINY = dict(dim=128, ffn_dim=256, num_heads=2, num_double_blocks=1, num_single_blocks=1)


def block_flops(config: NavaConfig, tokens: int) -> float:
    """Multiply-add FLOPs (×2) of one block at batch 1: projections, FFN, self- and cross-attention."""
    d, f, text = config.dim, config.ffn_dim, config.text_len
    projections = tokens * (4 + 2) * 2 * d * d + text * 2 * 2 * d * d  # q,k,v,o + cross q,o; cross k,v on the text
    ffn = tokens * 2 * 2 * d * f
    attention = 4 * tokens * tokens * d + 4 * tokens * text * d
    return projections + ffn + attention


class UpstreamStyleBlock(nn.Module):
    """Our single-stream block's weights, computed as Wan2.2's reference block computes them."""

    def __init__(self, block: Block):
        super().__init__()
        self.block = block

    @staticmethod
    def rope(x: Tensor, freqs: Tensor) -> Tensor:
        pairs = torch.view_as_complex(x.to(torch.float64).unflatten(-1, (-1, 2)))
        return torch.view_as_real(pairs * freqs[:, None]).flatten(-2).float()

    def forward(self, x: Tensor, e: Tensor, context: Tensor, freqs: Tensor) -> Tensor:
        b, attn, cross = self.block, self.block.self_attn, self.block.cross_attn
        mod = (b.modulation.modulation.float()[:, None] + e).chunk(6, dim=2)  # e: [B, L, 6, dim] per token
        dtype = context.dtype
        h = (b.norm1(x).float() * (1 + mod[1].squeeze(2)) + mod[0].squeeze(2)).to(dtype)
        q = self.rope(attn.norm_q(attn.q(h)).unflatten(-1, (attn.num_heads, -1)), freqs).to(dtype)
        k = self.rope(attn.norm_k(attn.k(h)).unflatten(-1, (attn.num_heads, -1)), freqs).to(dtype)
        v = attn.v(h).unflatten(-1, (attn.num_heads, -1))
        y = nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        x = x + attn.o(y.transpose(1, 2).flatten(2)).float() * mod[2].squeeze(2)
        x = x + cross({VIDEO: b.norm3(x.to(dtype))}, context, "sdpa")[VIDEO].float()
        h = (b.norm2(x).float() * (1 + mod[4].squeeze(2)) + mod[3].squeeze(2)).to(dtype)
        return x + b.ffn(h).float() * mod[5].squeeze(2)


def clip_layout(args, config: NavaConfig) -> tuple[tuple[int, int, int], int]:
    options = SamplingOptions(width=args.width, height=args.height, frames=frames_for_duration(args.seconds))
    grid = (options.latent_frames, options.height // 32, options.width // 32)
    return grid, options.audio_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="reduced width and a small clip (a CPU smoke run)")
    add_device_arguments(parser)
    add_clip_arguments(parser)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-model", action="store_true", help="only the block")
    parser.add_argument("--out", type=Path, default=None, help="append the tables to this Markdown file")
    args = parser.parse_args()
    if args.tiny:
        args.width, args.height, args.seconds, args.repeats = 128, 64, 0.5, 1
    device, dtype = device_and_dtype(args)
    config = get_preset("nava-6.3b", **(TINY if args.tiny else {}))
    grid, audio_len = clip_layout(args, config)
    video_len = grid[0] * grid[1] * grid[2]
    tokens = video_len + audio_len
    peak = bf16_peak_tflops(device) if dtype == torch.bfloat16 else None

    note(f"## MMDiT forward: {machine(device)}, {str(dtype).removeprefix('torch.')}, dim {config.dim}, "
         f"{args.width}x{args.height} {args.seconds:g} s = {video_len} video + {audio_len} audio tokens, batch 1; "
         f"memory = {memory_label(device)}; `python bench/forward.py {' '.join(sys.argv[1:])}`", args.out)

    def row(name: str, seconds: float, memory: float, flops: float, baseline: float) -> list[str]:
        tflops = flops / seconds / 1e12
        return [name, f"{seconds * 1e3:.1f}", f"{tflops:.3g}", f"{100 * tflops / peak:.0f} %" if peak else "-",
                f"{memory:.2f}", f"{baseline / seconds:.2f}x"]

    header = ["variant", "ms", "TFLOP/s", "% of bf16 peak", "peak GiB", "speed vs eager"]
    torch.manual_seed(0)
    block = randomize(Block(config.dim, config.ffn_dim, config.num_heads, config.eps, False, nn, device, dtype))
    x = {VIDEO: torch.randn(1, video_len, config.dim, device=device), AUDIO: torch.randn(1, audio_len, config.dim, device=device)}
    e0 = {stream: torch.randn(1, 1, 6, config.dim, device=device) * 0.1 for stream in x}
    context = torch.randn(1, config.text_len, config.dim, device=device, dtype=dtype)
    rope = joint_rope(grid, audio_len, config, device=device)
    freqs = torch.polar(torch.ones(1, device=device, dtype=torch.float64),
                        torch.cat([video_angles(grid, config), audio_angles(audio_len, config)]).to(device))
    e_per_token = torch.cat([e0[VIDEO].expand(-1, video_len, -1, -1), e0[AUDIO].expand(-1, audio_len, -1, -1)], 1)
    joint_x = torch.cat([x[VIDEO], x[AUDIO]], dim=1)
    compiled_block = torch.compile(block, dynamic=False)
    upstream = UpstreamStyleBlock(block)
    kind = "sdpa-hopper" if device.type == "cuda" and torch.cuda.get_device_capability(device) == (9, 0) else "sdpa"

    flops = block_flops(config, tokens)
    eager_s, eager_mem = timed(lambda: block(x, e0, context, rope, (False,), kind), device, args.repeats)
    rows = [row("block, eager", eager_s, eager_mem, flops, eager_s)]
    for name, fn in (
        ("block, compiled", lambda: compiled_block(x, e0, context, rope, (False,), kind)),
        ("block, upstream-style (Wan2.2)", lambda: upstream(joint_x, e_per_token, context, freqs)),
    ):
        seconds, memory = timed(fn, device, args.repeats)
        rows.append(row(name, seconds, memory, flops, eager_s))
    print_table(header, rows, args.out)
    del compiled_block, upstream, e_per_token, block

    if args.skip_model:
        return
    model = randomize(NavaMMDiT(config, device=device, dtype=dtype))
    video = torch.randn(1, config.video_in_channels, grid[0], grid[1] * 2, grid[2] * 2, device=device, dtype=dtype)
    audio = torch.randn(1, audio_len, config.audio_in_channels, device=device, dtype=dtype)
    text = torch.randn(1, 120, config.text_dim, device=device, dtype=dtype)
    t = torch.tensor([500.0], device=device)
    model_flops = flops * (config.num_double_blocks + config.num_single_blocks)
    rows = []
    for choice in ("off", "on"):
        model.compile_blocks = choice
        seconds, memory = timed(lambda: model(video, audio, t, text), device, args.repeats)
        rows.append((f"model, {'compiled' if choice == 'on' else 'eager'}", seconds, memory))
    print_table(header, [row(name, s, m, model_flops, rows[0][1]) for name, s, m in rows], args.out)


if __name__ == "__main__":
    main()
