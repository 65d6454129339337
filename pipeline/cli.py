"""The `pipeline` console command.

Only commands that work are listed. Bad input prints a one-line error (a traceback only with
--debug) and exits with status 2.
"""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .errors import one_line_errors, settings
from .model import DSRF, PRESETS, loss_config_from_params, model_config_from_params
from .params import load_params

app = typer.Typer(add_completion=False, no_args_is_help=True)
console = Console()


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    """Multimodal sentiment analysis with DSRF, from raw video to explained predictions."""
    settings["debug"] = debug


@app.command("model-summary")
def model_summary(
    params: Path = typer.Option(Path("params.yaml"), help="params.yaml with `model:` and `loss:` sections."),
    dataset: str = typer.Option("mosi", help=f"Which of the paper's presets to show: {', '.join(PRESETS)}."),
) -> None:
    """Build DSRF from params.yaml and print its modules, parameter counts and the paper's preset."""
    with one_line_errors():
        sections = load_params(params)
        config = model_config_from_params(sections.get("model", {}))
        model = DSRF(config, loss_config_from_params(sections.get("loss", {})))
        if dataset.lower() not in PRESETS:
            raise ValueError(f"--dataset: unknown preset {dataset!r} (known: {', '.join(PRESETS)})")
        preset = PRESETS[dataset.lower()]

    table = Table(title=f"DSRF from {params} (input widths {config.input_dims})")
    table.add_column("module")
    table.add_column("parameters", justify="right")
    for name, module in model.named_children():
        table.add_row(name, f"{sum(p.numel() for p in module.parameters()):,}")
    table.add_row("total", f"{sum(p.numel() for p in model.parameters()):,}", style="bold")
    console.print(table)
    switches = ", ".join(f"{k}={getattr(config, k)}" for k in ("use_hsf", "use_dri", "use_usf", "fusion", "task"))
    console.print(f"modalities {list(config.modalities)}; {switches}")
    console.print(
        f"paper preset {dataset}: lr {preset.lr:g}, batch {preset.batch_size}, hidden {preset.hidden}, "
        f"weight decay {preset.weight_decay:g}, {preset.num_classes} classes"
    )


# Commands in the order of the chain; each lives beside the code it drives (stages/ for DVC
# stages). Imported here, after `app`, because those modules import this package.
from stages.evaluate import command as evaluate_command  # noqa: E402
from stages.features import command as features_command  # noqa: E402
from stages.tensors import command as tensors_command  # noqa: E402
from stages.train import command as train_command  # noqa: E402
from stages.transcribe import command as transcribe_command  # noqa: E402

from .features.cli import extract_command  # noqa: E402
from .predict_cli import predict_command  # noqa: E402

for name, command in (("extract", extract_command), ("transcribe", transcribe_command), ("features", features_command),
                      ("tensors", tensors_command), ("train", train_command), ("evaluate", evaluate_command),
                      ("predict", predict_command)):
    app.command(name)(command)
