"""DVC stage `features` (dvc.yaml runs `python -m stages.features`): pipeline/commands/features.py says what it reads and writes."""
import typer

from pipeline.commands.features import command

if __name__ == "__main__":
    typer.run(command)
