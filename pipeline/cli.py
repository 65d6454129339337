"""The `pipeline` console command.

Only commands that work are listed. Bad input prints a one-line error (a traceback only with
--debug) and exits with status 2.
"""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .model import DSRF, PRESETS, loss_config_from_params, model_config_from_params
from .params import load_params

app = typer.Typer(add_completion=False, no_args_is_help=True)
console = Console()
state = {"debug": False}


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    """Multimodal sentiment analysis with DSRF, from raw video to explained predictions."""
    state["debug"] = debug


def fail(error: Exception) -> None:
    if state["debug"]:
        raise error
    typer.echo(f"error: {error}", err=True)
    raise typer.Exit(2)


@app.command("model-summary")
def model_summary(
    params: Path = typer.Option(Path("params.yaml"), help="params.yaml with `model:` and `loss:` sections."),
    dataset: str = typer.Option("mosi", help=f"Which of the paper's presets to show: {', '.join(PRESETS)}."),
) -> None:
    """Build DSRF from params.yaml and print its modules, parameter counts and the paper's preset."""
    try:
        settings = load_params(params)
        config = model_config_from_params(settings.get("model", {}))
        model = DSRF(config, loss_config_from_params(settings.get("loss", {})))
        preset = PRESETS[dataset.lower()]
    except KeyError:
        fail(ValueError(f"--dataset: unknown preset {dataset!r} (known: {', '.join(PRESETS)})"))
    except ValueError as error:
        fail(error)

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
