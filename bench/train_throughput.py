"""Training throughput and size of each model (DSRF, its floor `concat`, the baselines) at standard shapes.

    .venv/bin/python bench/train_throughput.py --shapes mosi --batch 32 --steps 20
    .venv/bin/python bench/train_throughput.py --models dsrf concat tfn mult misa self_mm --shapes mosi

The models train on the same random batch in one process, one step each in turn, so their rates are
measured under the same machine load. `--device cuda --compile --bf16` for the GPU path
(bench/gpu.sh runs every combination for DSRF and its floor); on a GPU each model's peak memory over
one step is printed too. The last lines are markdown rows: per model its parameters and samples/s;
with the default pair, the DSRF-vs-floor row of bench/gpu.sh (where, shapes, batch, mode, DSRF and
floor samples/s, ratio (, GPU MiB of each)).
"""
from __future__ import annotations

import argparse
import time

import torch

from pipeline.model import MODEL_NAMES, ModelConfig, build_model, own_config
from pipeline.model.registry import for_store

SHAPES = {  # modality -> (steps, width): the standard MOSI (BERT, COVAREP, Facet) and MOSEI features
    "mosi": {"t": (50, 768), "a": (375, 5), "v": (500, 35)},
    "mosi74": {"t": (50, 768), "a": (500, 74), "v": (500, 35)},
    "mosei": {"t": (50, 768), "a": (500, 74), "v": (500, 35)},
}


def batch(shapes: dict, size: int, device: torch.device):
    inputs = {m: torch.randn(size, t, d, device=device) for m, (t, d) in shapes.items()}
    lengths = {m: torch.full((size,), t, device=device) for m, (t, _) in shapes.items()}
    present = torch.ones(size, len(shapes), dtype=torch.bool, device=device)
    return inputs, lengths, present, torch.rand(size, device=device) * 6 - 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=["dsrf", "concat"])
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
    torch.manual_seed(0)
    data = batch(shapes, args.batch, device)
    index = torch.arange(args.batch, device=device)  # Self-MM's per-clip state: the batch is the training split
    models = {}
    for name in args.models:
        config = ModelConfig(name=name, input_dims={m: d for m, (_, d) in shapes.items()})
        models[name] = build_model(config, for_store(own_config(name, {}), args.batch)).to(device)

    def step_fn(model):
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
        forward = torch.compile(model, mode="reduce-overhead", dynamic=False) if args.compile else model

        def step():
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
                loss = forward(*data[:3], labels=data[3], index=index).loss
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return step

    steps = {name: step_fn(model) for name, model in models.items()}
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
    print("| model | parameters | samples/s |" + (" peak GPU MiB |" if device.type == "cuda" else ""))
    print("|---|---|---|" + ("---|" if device.type == "cuda" else ""))
    for name, model in models.items():
        parameters = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {parameters:,} | {rate[name]:.1f} |" + (f" {memory[name]:.0f} |" if device.type == "cuda" else ""))
    if {"dsrf", "concat"} <= set(rate):
        ratio = rate["concat"] / rate["dsrf"]
        print(f"DSRF costs {ratio:.2f}x its floor (target: at most 1.5x)")
        # One markdown row, for the GPU table of docs/results.md (bench/gpu.sh keeps the last line).
        gpu = f" | {memory['dsrf']:.0f} | {memory['concat']:.0f}" if device.type == "cuda" else ""
        print(f"| {where} | {args.shapes} | {args.batch} | {mode} | {rate['dsrf']:.1f} | {rate['concat']:.1f} | {ratio:.2f}{gpu} |")


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
