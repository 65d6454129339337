"""The `pipeline` console command.

Only commands that work are listed. Bad input prints a one-line error (a traceback only with
--debug) and exits with status 2.
"""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .data.config import data_params
from .data.store import Manifest, read_manifest
from .errors import one_line_errors, settings
from .features.extract import feature_widths
from .features.settings import stage_settings
from .params import load_params
from .train import build_model, train_setup

app = typer.Typer(add_completion=False, no_args_is_help=True)
console = Console()


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    """Multimodal sentiment analysis with DSRF, from raw video to explained predictions."""
    settings["debug"] = debug


@app.command("model-summary")
def model_summary(
    params: Path = typer.Option(Path("params.yaml"), help="params.yaml: the model params.yaml trains (sections data, features, model, loss, train)."),
) -> None:
    """Print the modules and parameter counts of the model `pipeline train` would build from params.yaml."""
    with one_line_errors():
        sections = load_params(params)
        setup = train_setup(sections)
        source = setup.train.store
        try:
            manifest = read_manifest(source)
        except ValueError:  # no store yet: the widths the features settings make
            _, features = stage_settings(sections)
            data = data_params(sections.get("data"))
            source = f"features settings ({features.text.model}, {features.audio.feature_set}, {features.face.backend})"
            manifest = Manifest(modalities=setup.modalities, dims=feature_widths(features), dataset=data.dataset,
                                label_range=data.label_range, splits={}, features={}, max_lengths={}, truncate={},
                                dtype="float32", norm={})
        model = build_model(setup, manifest)
    config = model.config
    table = Table(title="DSRF")
    table.add_column("module")
    table.add_column("parameters", justify="right")
    for name, module in model.named_children():
        table.add_row(name, f"{sum(p.numel() for p in module.parameters()):,}")
    table.add_row("total", f"{sum(p.numel() for p in model.parameters()):,}", style="bold")
    console.print(table)
    console.print(f"input widths {config.input_dims}, from {source}")
    switches = ", ".join(f"{k}={getattr(config, k)}" for k in ("hidden", "use_hsf", "use_dri", "use_usf", "fusion", "task"))
    console.print(f"modalities {list(config.modalities)}; {config.num_classes} classes; {switches}")
    train = setup.train
    console.print(f"training: lr {train.lr:g}, batch {train.batch_size}, weight decay {train.weight_decay:g}"
                  + (f" (paper preset {train.preset})" if train.preset else ""))


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
