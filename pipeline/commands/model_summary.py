"""`pipeline model-summary`: the modules and parameter counts of the model `pipeline train` would build."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ..data.config import data_config
from ..data.store import Manifest, read_manifest
from ..features.config import stage_configs
from ..features.extract import feature_widths
from ..params import load_params
from ..setup import build_model, train_setup
from .errors import one_line_errors

console = Console()


def command(
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
            _, features = stage_configs(sections)
            data = data_config(sections.get("data"))
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
