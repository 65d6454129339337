"""DVC stage `train` (dvc.yaml runs `python -m stages.train`): pipeline/commands/train.py says what it reads and writes."""
import typer

from pipeline.commands.train import command

if __name__ == "__main__":
    typer.run(command)
