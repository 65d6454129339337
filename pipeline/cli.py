"""The `pipeline` console command: every command of pipeline/commands/, in the order of use.

Only commands that work are listed. Bad input prints a one-line error (a traceback only with
--debug) and exits with status 2. The DVC stages' commands are the stages' own (`pipeline train`
runs what `python -m stages.train` runs); the library never imports its stages.
"""
from __future__ import annotations

import typer

from .commands import evaluate, extract, features, model_summary, predict, tensors, train, transcribe
from .commands.errors import settings

app = typer.Typer(add_completion=False, no_args_is_help=True)


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    """Multimodal sentiment analysis with DSRF, from raw video to explained predictions."""
    settings["debug"] = debug


app.command("model-summary")(model_summary.command)
app.command("extract")(extract.extract_command)
# The DVC stages, in the order of the chain.
app.command("transcribe")(transcribe.command)
app.command("features")(features.command)
app.command("tensors")(tensors.command)
app.command("train")(train.command)
app.command("evaluate")(evaluate.command)
app.command("predict")(predict.predict_command)
