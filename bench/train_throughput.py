"""Training throughput of DSRF against its floor (same encoders, plain concat head, no HSF/DRI/USF).

    .venv/bin/python bench/train_throughput.py --shapes mosi --batch 32 --steps 20

Both models train on the same random batch in one process, alternating, so the ratio is measured
under the same machine load. `--device cuda --compile --bf16` for the GPU path (bench/gpu.sh runs
every combination); on a GPU each model's peak memory over one step is printed too. The last line
is a markdown row: where, shapes, batch, mode, DSRF and floor samples/s, ratio (, GPU MiB of each).
"""
from __future__ import annotations

import argparse
import time

import torch
from torch import nn

from pipeline.model import DSRF, ModelConfig
from pipeline.model.encoder import ModalityEncoder
from pipeline.model.fusion import FusionHead

SHAPES = {  # modality -> (steps, width): the standard MOSI (BERT, COVAREP, Facet) and MOSEI features
    "mosi": {"t": (50, 768), "a": (375, 5), "v": (500, 35)},
    "mosi74": {"t": (50, 768), "a": (500, 74), "v": (500, 35)},
    "mosei": {"t": (50, 768), "a": (500, 74), "v": (500, 35)},
}


class Floor(nn.Module):
    """DSRF's encoders and a concat MLP head, nothing else: what DSRF's extra modules cost is measured against it."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        c = config
        self.modalities = c.modalities
        self.encoders = nn.ModuleDict({m: ModalityEncoder(c.input_dims[m], c.hidden, c.layers, c.heads, c.dropout) for m in c.modalities})
        self.head = FusionHead("concat", len(c.modalities), c.hidden, c.heads, 1, c.dropout)

    def forward(self, inputs, lengths, present, labels):
        h = torch.stack([self.encoders[m](inputs[m], lengths[m])[0] for m in self.modalities], 1)  # (B, M, d)
        prediction = self.head(h, present).squeeze(-1)
        return (prediction - labels).abs().mean()


def batch(shapes: dict, size: int, device: torch.device):
    inputs = {m: torch.randn(size, t, d, device=device) for m, (t, d) in shapes.items()}
    lengths = {m: torch.full((size,), t, device=device) for m, (t, _) in shapes.items()}
    present = torch.ones(size, len(shapes), dtype=torch.bool, device=device)
    return inputs, lengths, present, torch.rand(size, device=device) * 6 - 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--shapes", choices=SHAPES, default="mosi")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--compile", action="store_true")
    args = parser.parse_args()

    device = torch.device(args.device)
    shapes = SHAPES[args.shapes]
    config = ModelConfig(input_dims={m: d for m, (_, d) in shapes.items()})
    torch.manual_seed(0)
    dsrf = DSRF(config).to(device)
    floor = Floor(config).to(device)
    data = batch(shapes, args.batch, device)

    def step_fn(model):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        forward = torch.compile(model, mode="reduce-overhead", dynamic=False) if args.compile else model

        def step():
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
                out = forward(*data[:3], labels=data[3]) if isinstance(model, DSRF) else forward(*data)
                loss = out.loss if isinstance(model, DSRF) else out
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return step

    steps = {"dsrf": step_fn(dsrf), "floor": step_fn(floor)}
    elapsed = {name: 0.0 for name in steps}
    for i in range(args.warmup + args.steps):
        for name, step in steps.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= args.warmup:
                elapsed[name] += time.perf_counter() - start
    rate = {name: args.steps * args.batch / seconds for name, seconds in elapsed.items()}
    memory = {name: peak_memory(step, device) for name, step in steps.items()}
    where = f"{torch.cuda.get_device_name(device)}" if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    mode = f"{'bf16' if args.bf16 else 'fp32'}, {'compiled' if args.compile else 'eager'}"
    print(f"{args.shapes} batch {args.batch} on {where}, {mode}")
    for name in steps:
        print(f"{'DSRF' if name == 'dsrf' else 'floor':5} {rate[name]:8.1f} samples/s" + (f", peak GPU memory {memory[name]:.0f} MiB" if memory[name] else ""))
    ratio = rate["floor"] / rate["dsrf"]
    print(f"DSRF costs {ratio:.2f}x the floor (target: at most 1.5x)")
    # One markdown row, for the README's table.
    gpu = f" | {memory['dsrf']:.0f} | {memory['floor']:.0f}" if device.type == "cuda" else ""
    print(f"| {where} | {args.shapes} | {args.batch} | {mode} | {rate['dsrf']:.1f} | {rate['floor']:.1f} | {ratio:.2f}{gpu} |")


def peak_memory(step, device: torch.device) -> float:
    """MiB of GPU memory at the peak of one training step of one model (the other's weights stay resident)."""
    if device.type != "cuda":
        return 0.0
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats(device)
    step()
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated(device) / 2**20


if __name__ == "__main__":
    main()
